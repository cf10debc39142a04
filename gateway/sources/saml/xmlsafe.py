"""Turning untrusted bytes into an XML tree, refusing everything a SAML message never needs.

No DTD, no entities, no network, no processing instructions, no huge trees, and a
size cap before and after inflation: the defences pysaml2 leaves to its caller
(attacks.md S-10, S-17..S-19, S-38).
"""

from __future__ import annotations

import base64
import binascii
import zlib

from lxml import etree

from gateway.sources.saml.errors import malformed

# A SAML response posted by a browser; AD FS responses with many groups reach ~60 KB.
MAX_ENCODED = 256 * 1024
MAX_XML = 512 * 1024
# AWS's SAMLAssertion parameter limit.
MAX_STS_ASSERTION = 100_000

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=False,  # kept so comment-split values can be refused, not silently joined
    remove_pis=False,
    collect_ids=False,
)


def b64decode(value: str | bytes, *, limit: int = MAX_ENCODED) -> bytes:
    """Strict base64 (whitespace allowed, as IdPs wrap lines); refuses oversize input."""
    raw = value.encode("ascii", "replace") if isinstance(value, str) else value
    if len(raw) > limit:
        raise malformed("The SAML message is too large.", f"{len(raw)} encoded bytes")
    compact = b"".join(raw.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise malformed("The SAML message is not valid base64.") from None


def inflate(data: bytes, *, limit: int = MAX_XML) -> bytes:
    """Raw DEFLATE (Redirect binding), stopping at `limit` bytes instead of exhausting memory."""
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise malformed("The SAML message is not valid DEFLATE data.") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise malformed("The SAML message inflates beyond the size limit.")
    return out


def parse(xml: bytes, *, limit: int = MAX_XML) -> etree._Element:
    """The document's root element; anything but plain elements, text and comments is refused."""
    if len(xml) > limit:
        raise malformed("The SAML message is too large.", f"{len(xml)} bytes")
    lowered = xml.lower()
    # Refused before parsing (libxml2 would otherwise at least read the internal subset),
    # anywhere in the document: a prolog can be padded, and CDATA can hide one (S-10).
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise malformed("The SAML message contains a DOCTYPE; SAML messages never do.")
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise malformed("The SAML message is not well-formed XML.", str(exc)[:200]) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise malformed("The SAML message contains a DOCTYPE; SAML messages never do.")
    outside = [*root.itersiblings(preceding=True), *root.itersiblings()]
    for node in [*outside, *root.iter(etree.PI, etree.Entity)]:
        if isinstance(node, etree._ProcessingInstruction | etree._Entity):
            raise malformed("The SAML message contains processing instructions or entities.",
                            repr(node)[:100])
    return root
