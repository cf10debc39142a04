"""pysaml2's protocol checks, run on a document whose signatures the gateway has verified.

pysaml2's `AuthnResponse` checks version, status, issue instant, conditions, audience,
subject confirmation, recipient and InResponseTo, and decodes attributes. Its
signature step is replaced: the security context below answers "verified" exactly
for the element ids the gateway verified itself (in process, against metadata keys,
after the profile checks), and refuses everything else.
"""

from __future__ import annotations

import logging
import threading
from functools import cache, lru_cache
from typing import Any

from gateway.sources.saml.errors import SamlRefusal

# pysaml2 logs whole NameIDs and documents at INFO/DEBUG: personal data, and attacker
# XML (attacks.md S-41). Its warnings and errors are enough.
logging.getLogger("saml2").setLevel(logging.WARNING)


@cache
def _pysaml2() -> tuple[Any, Any]:
    """pysaml2's response machinery, imported on first use.

    `saml2.sigver` compiles pysaml2's xmlschema validator at import (~0.5 s): importing it
    lazily keeps that out of every worker's start-up and out of processes that never see
    a SAML response.
    """
    from xml.etree import ElementTree

    from gateway.sources.saml import lazy_schema

    lazy_schema.defer()  # pysaml2's own validator (11 MB) is never called on this path
    from saml2 import create_class_from_element_tree, samlp
    from saml2.attribute_converter import ac_factory
    from saml2.response import AuthnResponse
    from saml2.sigver import DecryptError, SecurityContext, SignatureError

    _remember_instants()

    class VerifiedContext(SecurityContext):  # type: ignore[misc]
        """A pysaml2 security context that trusts only the gateway's own verification."""

        def __init__(self, verified_ids: frozenset[str]) -> None:
            # SecurityContext.__init__ reads key and certificate files; none are needed.
            self.verified_ids = verified_ids
            self.metadata = None
            self.only_use_keys_in_metadata = True

        def _check_signature(self, decoded_xml: Any, item: Any, *args: Any,
                             **kwargs: Any) -> Any:
            if getattr(item, "id", None) in self.verified_ids:
                return item
            raise SignatureError("element not verified by the gateway")

        def decrypt_keys(self, *args: Any, **kwargs: Any) -> Any:
            raise DecryptError("the gateway decrypts assertions before protocol checks")

        def correctly_signed_response(self, decoded_xml: Any, must: bool = False,
                                      origdoc: Any = None, only_valid_cert: bool = False,
                                      require_response_signature: bool = False,
                                      **kwargs: Any) -> Any:
            # pysaml2's version tries three message types, parsing the document each time;
            # only samlp:Response reaches here (checked before), so parse once, and with
            # the standard library's C parser rather than defusedxml's pure-Python one
            # (a tenth of pysaml2's time): the text is the gateway's own serialization of
            # a tree `xmlsafe.parse` accepted, so it has no DTD and no entity to defuse.
            # The check below holds that promise should the input ever change.
            raw = decoded_xml.encode("utf-8") if isinstance(decoded_xml, str) else decoded_xml
            lowered = raw.lower()
            if b"<!doctype" in lowered or b"<!entity" in lowered:
                raise SignatureError("a DOCTYPE in the protocol check's input")
            tree = ElementTree.fromstring(raw)  # noqa: S314 (no DTD, see above)
            response = create_class_from_element_tree(samlp.Response, tree)
            if not response:
                raise TypeError("Not a Response")
            if response.signature:
                self._check_signature(decoded_xml, response)
            elif require_response_signature:
                raise SignatureError("Signature missing for response")
            return response

    class QuietAuthnResponse(AuthnResponse):  # type: ignore[misc]
        """pysaml2's AuthnResponse, but `get_identity` does not serialize every
        AttributeStatement back to XML for a DEBUG message that is never emitted (an
        f-string, so it ran regardless of the level: ~5 % of a sign-in's CPU). Otherwise
        the same code as pysaml2 7.5.5's; a test holds the two to the same result."""

        def get_identity(self) -> dict[str, Any]:
            ava: dict[str, Any] = {}
            for assertion in self.assertions:
                if assertion.advice and assertion.advice.assertion:
                    for advised in assertion.advice.assertion:
                        if advised.attribute_statement:
                            if len(advised.attribute_statement) != 1:
                                raise ValueError(
                                    "Invalid number of AuthnStatement found in Response: "
                                    f"{len(advised.attribute_statement)}"
                                )
                            ava.update(
                                self.read_attribute_statement(advised.attribute_statement[0])
                            )
                for statement in assertion.attribute_statement or ():
                    ava.update(self.read_attribute_statement(statement))
            return ava

    converters = list(ac_factory())  # pysaml2's name maps (basic, URI, SHIB, AD FS)

    def authn_response(verified_ids: frozenset[str], **kwargs: Any) -> Any:
        return QuietAuthnResponse(VerifiedContext(verified_ids), converters, **kwargs)

    return authn_response, converters


def _remember_instants() -> None:
    """Make pysaml2 parse each distinct timestamp once.

    pysaml2 reads every xs:dateTime with `time.strptime`, 16 times per response for the 4
    or 5 distinct instants it carries (~0.1 ms, about a tenth of its checks). The parse is
    a pure function returning an immutable `struct_time` (or raising, which is not
    remembered), so a bounded memo in front of it changes nothing but the time. pysaml2's
    modules call it through `saml2.time_util` or their own imported name; both are set.
    """
    from saml2 import response as saml2_response
    from saml2 import time_util

    if getattr(time_util.str_to_time, "cache_info", None) is not None:
        return  # already in place
    remembered = lru_cache(maxsize=1024)(time_util.str_to_time)
    time_util.str_to_time = remembered
    saml2_response.str_to_time = remembered


def read_attributes(assertion_xml: bytes) -> tuple[Any, dict[str, tuple[str, ...]]]:
    """pysaml2's reading of an assertion's attributes, without any check (the simulator's
    unverified mode): its Assertion object and its friendly names → values, as `check`
    gives them for a verified response."""
    from saml2 import saml
    from saml2.attribute_converter import to_local

    _, converters = _pysaml2()
    try:
        assertion = saml.assertion_from_string(assertion_xml.decode("utf-8"))
        friendly: dict[str, list[Any]] = {}
        for statement in (assertion.attribute_statement or ()) if assertion else ():
            friendly.update(to_local(converters, statement, allow_unknown_attributes=True))
    except Exception as exc:  # pysaml2 raises many unrelated types; all of them mean "no".
        raise SamlRefusal("protocol", "The assertion's attributes could not be read.",
                          detail=f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if assertion is None:
        raise SamlRefusal("protocol", "The assertion could not be read.")
    return assertion, {k: tuple(str(v) for v in vs) for k, vs in friendly.items()}


def warm_up() -> None:
    """Import pysaml2 in the background, so the first sign-in does not wait for it."""
    threading.Thread(target=_pysaml2, name="pysaml2-import", daemon=True).start()


def check(
    xml: bytes,
    *,
    verified_ids: frozenset[str],
    entity_id: str,
    acs_url: str,
    request_id: str | None,
    clock_skew: int,
    require_signed_response: bool,
    require_signed_assertion: bool,
) -> Any:
    """pysaml2's verdict on the response; its AuthnResponse, or a SamlRefusal."""
    authn_response, _ = _pysaml2()
    response = authn_response(
        verified_ids,
        entity_id=entity_id,
        return_addrs=[acs_url],
        outstanding_queries={request_id: acs_url} if request_id else {},
        timeslack=clock_skew,
        asynchop=True,
        allow_unsolicited=request_id is None,
        allow_unknown_attributes=True,
        want_assertions_signed=require_signed_assertion,
        want_assertions_or_response_signed=True,
        want_response_signed=require_signed_response,
        # The recipient check needs conv_info (attacks.md §0.1 finding 1); no remote_addr,
        # so SubjectConfirmationData/@Address is not compared (it breaks behind NAT).
        conv_info={"entity_id": entity_id},
    )
    try:
        response.loads(xml.decode("utf-8"), decode=False)
        verified = response.verify()
    except SamlRefusal:
        raise
    except Exception as exc:  # pysaml2 raises many unrelated types; all of them mean "no".
        raise SamlRefusal(
            "protocol", "The response failed the SAML protocol checks.",
            detail=f"{type(exc).__name__}: {str(exc)[:200]}",
        ) from None
    # pysaml2 signals some failures (a wrong Destination, …) with None or no assertion.
    if verified is None or getattr(verified, "assertion", None) is None:
        raise SamlRefusal("protocol", "The response failed the SAML protocol checks.",
                          detail="pysaml2 returned no assertion")
    return verified
