"""Craft SAML responses for tests: legitimate ones signed by a fixture IdP key, and the
attack corpus built from them (attacks.md S-01..S-41), each a named transformation.

Every knob of a legitimate response is a keyword; attacks then mutate the signed XML
the way SAML Raider and the papers describe.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lxml import etree

from gateway.sources.saml import ns, xmldsig, xmlenc
from gateway.sources.saml.times import format_instant

FIXTURES = Path(__file__).resolve().parents[3] / "idp-fixtures"
SAMLP = ns.SAMLP
SAML = ns.SAML
DS = ns.DS


def key_pair(name: str, file: str) -> tuple[bytes, str]:
    directory = FIXTURES / name
    return (directory / f"{file}.key").read_bytes(), (directory / f"{file}.crt").read_text()


@dataclass
class Signer:
    private_pem: bytes
    certificate_pem: str

    @classmethod
    def fixture(cls, name: str, file: str = "signing") -> Signer:
        return cls(*key_pair(name, file))

    def sign(self, element: etree._Element, *, algorithm: str = ns.RSA_SHA256,
             digest: str = ns.SHA256, certificate_pem: str | None = None) -> None:
        xmldsig.sign(element, xmldsig.private_key(self.private_pem), certificate_pem
                     or self.certificate_pem, algorithm=algorithm, digest=digest)


@dataclass
class Spec:
    """Everything a legitimate response says; change a field to craft a variant."""

    issuer: str
    acs_url: str
    audience: str
    name_id: str = "alice@example.com"
    name_id_format: str = ns.NAMEID_EMAIL
    in_response_to: str | None = None
    destination: str | None = "acs"  # "acs": the ACS URL
    recipient: str | None = "acs"
    method: str = ns.CM_BEARER
    status: str = ns.STATUS_SUCCESS
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    issue_offset: timedelta = timedelta(0)
    not_before: timedelta | None = timedelta(seconds=-30)
    not_on_or_after: timedelta | None = timedelta(minutes=5)
    scd_not_on_or_after: timedelta | None = timedelta(minutes=5)
    session_not_on_or_after: timedelta | None = timedelta(hours=8)
    conditions: bool = True
    audience_restriction: bool = True
    response_issuer: str | None = "issuer"  # "issuer": same as the assertion's
    attributes: Mapping[str, Sequence[str]] = field(default_factory=lambda: {
        "https://aws.amazon.com/SAML/Attributes/RoleSessionName": ["alice"],
        "email": ["alice@example.com"],
        "groups": ["engineering"],
    })
    attribute_name_format: str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
    assertion_id: str = "_a1b2c3d4e5f60718293a4b5c6d7e8f90"
    response_id: str = "_r1b2c3d4e5f60718293a4b5c6d7e8f90"


def _e(parent: etree._Element | None, namespace: str, local: str, text: str | None = None,
       **attrs: str | None) -> etree._Element:
    tag = ns.q(namespace, local)
    clean = {k: v for k, v in attrs.items() if v is not None}
    element = (etree.SubElement(parent, tag, clean) if parent is not None
               else etree.Element(tag, clean, nsmap={"samlp": SAMLP, "saml": SAML}))
    if text is not None:
        element.text = text
    return element


def build(spec: Spec) -> etree._Element:
    """An unsigned Response as a tree (sign it with `Signer`)."""
    now = spec.now
    at = format_instant(now + spec.issue_offset)

    def when(delta: timedelta | None) -> str | None:
        return format_instant(now + delta) if delta is not None else None

    acs = spec.acs_url
    response = _e(None, SAMLP, "Response", ID=spec.response_id, Version="2.0", IssueInstant=at,
                  Destination=acs if spec.destination == "acs" else spec.destination,
                  InResponseTo=spec.in_response_to)
    if spec.response_issuer is not None:
        _e(response, SAML, "Issuer",
           spec.issuer if spec.response_issuer == "issuer" else spec.response_issuer)
    status = _e(response, SAMLP, "Status")
    _e(status, SAMLP, "StatusCode", Value=spec.status)
    assertion = _e(response, SAML, "Assertion", ID=spec.assertion_id, Version="2.0",
                   IssueInstant=at)
    _e(assertion, SAML, "Issuer", spec.issuer)
    subject = _e(assertion, SAML, "Subject")
    _e(subject, SAML, "NameID", spec.name_id, Format=spec.name_id_format)
    confirmation = _e(subject, SAML, "SubjectConfirmation", Method=spec.method)
    _e(confirmation, SAML, "SubjectConfirmationData",
       NotOnOrAfter=when(spec.scd_not_on_or_after),
       Recipient=acs if spec.recipient == "acs" else spec.recipient,
       InResponseTo=spec.in_response_to)
    if spec.conditions:
        conditions = _e(assertion, SAML, "Conditions", NotBefore=when(spec.not_before),
                        NotOnOrAfter=when(spec.not_on_or_after))
        if spec.audience_restriction:
            restriction = _e(conditions, SAML, "AudienceRestriction")
            _e(restriction, SAML, "Audience", spec.audience)
    statement = _e(assertion, SAML, "AuthnStatement", AuthnInstant=at,
                   SessionIndex="_s1", SessionNotOnOrAfter=when(spec.session_not_on_or_after))
    context = _e(statement, SAML, "AuthnContext")
    _e(context, SAML, "AuthnContextClassRef",
       "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
    if spec.attributes:
        attributes = _e(assertion, SAML, "AttributeStatement")
        for name, values in spec.attributes.items():
            attribute = _e(attributes, SAML, "Attribute", Name=name,
                           NameFormat=spec.attribute_name_format)
            for value in values:
                _e(attribute, SAML, "AttributeValue", value)
    return response


def assertion_of(root: etree._Element) -> etree._Element:
    found = root.find(ns.ASSERTION)
    assert found is not None
    return found


def signed(spec: Spec, signer: Signer, *, response: bool = True, assertion: bool = True,
           algorithm: str = ns.RSA_SHA256, digest: str = ns.SHA256,
           encrypt_to: str | None = None) -> etree._Element:
    """A legitimate response: assertion signed first, then (optionally encrypted, then)
    the response signed over all of it."""
    root = build(spec)
    if assertion:
        signer.sign(assertion_of(root), algorithm=algorithm, digest=digest)
    if encrypt_to is not None:
        xmlenc.encrypt_assertion(assertion_of(root), encrypt_to)
    if response:
        signer.sign(root, algorithm=algorithm, digest=digest)
    return reparse(root)


def reparse(root: etree._Element) -> etree._Element:
    """A fresh tree: lxml's path searches do not see nodes libxmlsec created in place."""
    return etree.fromstring(etree.tostring(root))


def b64(root: etree._Element | bytes) -> str:
    data = root if isinstance(root, bytes) else etree.tostring(root)
    return base64.b64encode(data).decode()


def text(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root))


# ---------------------------------------------------------------- the attack corpus
#
# Each attack takes a legitimate signed response (a fresh tree) and the attacker's
# signer, and returns the bytes the attacker posts. "evil" means NameID admin@example.com
# and the admins group.

EVIL = "admin@example.com"


def _make_evil(assertion: etree._Element, new_id: str | None = None) -> None:
    name_id = assertion.find(f"{ns.q(SAML, 'Subject')}/{ns.q(SAML, 'NameID')}")
    assert name_id is not None
    name_id.text = EVIL
    for value in assertion.iter(ns.q(SAML, "AttributeValue")):
        if value.text == "engineering":
            value.text = "admins"
    if new_id is not None:
        assertion.set("ID", new_id)


def _strip_signature(element: etree._Element) -> None:
    for signature in element.findall(ns.SIGNATURE):
        element.remove(signature)


def xsw1(root: etree._Element) -> bytes:
    """S-01: unsigned evil copy of the Response inside the Response's own Signature."""
    signature = root.find(ns.SIGNATURE)
    assert signature is not None
    clone = copy.deepcopy(root)
    _strip_signature(clone)
    signature.append(clone)
    root.set("ID", "_evil_response_ID")
    _make_evil(assertion_of(root))
    return text(root)


def xsw2(root: etree._Element) -> bytes:
    """S-02: the signed copy detached before the Signature; outer Response evil."""
    signature = root.find(ns.SIGNATURE)
    assert signature is not None
    clone = copy.deepcopy(root)
    _strip_signature(clone)
    signature.addprevious(clone)
    root.set("ID", "_evil_response_ID")
    _make_evil(assertion_of(root))
    return text(root)


def _evil_copy(assertion: etree._Element, new_id: str | None = "_evil_assertion_ID"
               ) -> etree._Element:
    evil = copy.deepcopy(assertion)
    _strip_signature(evil)
    _make_evil(evil, new_id)
    return evil


def xsw3(root: etree._Element) -> bytes:
    """S-03: evil unsigned assertion before the signed one."""
    assertion = assertion_of(root)
    assertion.addprevious(_evil_copy(assertion))
    return text(root)


def xsw4(root: etree._Element) -> bytes:
    """S-04: the signed assertion moved inside the evil one."""
    assertion = assertion_of(root)
    evil = _evil_copy(assertion)
    parent = assertion.getparent()
    assert parent is not None
    parent.replace(assertion, evil)
    evil.append(assertion)
    return text(root)


def xsw5(root: etree._Element) -> bytes:
    """S-05: edited in place (signature kept), clean unsigned copy appended."""
    assertion = assertion_of(root)
    clean = copy.deepcopy(assertion)
    _strip_signature(clean)
    _make_evil(assertion, "_evil_assertion_ID")
    root.append(clean)
    return text(root)


def xsw6(root: etree._Element) -> bytes:
    """S-06: edited in place, clean copy inside the evil assertion's Signature."""
    assertion = assertion_of(root)
    clean = copy.deepcopy(assertion)
    _strip_signature(clean)
    _make_evil(assertion, "_evil_assertion_ID")
    signature = assertion.find(ns.SIGNATURE)
    assert signature is not None
    signature.append(clean)
    return text(root)


def xsw7(root: etree._Element) -> bytes:
    """S-07: evil copy (same ID) inside samlp:Extensions before the signed assertion."""
    assertion = assertion_of(root)
    extensions = etree.Element(ns.q(SAMLP, "Extensions"))
    extensions.append(_evil_copy(assertion, new_id=None))
    status = root.find(ns.q(SAMLP, "Status"))
    assert status is not None
    status.addprevious(extensions)
    return text(root)


def xsw8(root: etree._Element) -> bytes:
    """S-08: edited in place (ID kept), clean copy inside ds:Object in its Signature."""
    assertion = assertion_of(root)
    clean = copy.deepcopy(assertion)
    _strip_signature(clean)
    _make_evil(assertion)
    signature = assertion.find(ns.SIGNATURE)
    assert signature is not None
    obj = etree.SubElement(signature, ns.q(DS, "Object"))
    obj.append(clean)
    return text(root)


def signature_stripped(root: etree._Element) -> bytes:
    """S-11: every signature removed, identity edited."""
    for signature in list(root.iter(ns.SIGNATURE)):
        parent = signature.getparent()
        assert parent is not None
        parent.remove(signature)
    _make_evil(assertion_of(root))
    return text(root)


def response_signature_stripped(root: etree._Element) -> bytes:
    """S-12a: the response signed only; its signature removed and the assertion edited."""
    _strip_signature(root)
    _make_evil(assertion_of(root))
    return text(root)


def tampered(root: etree._Element) -> bytes:
    """A signed response edited after signing (signatures kept)."""
    _make_evil(assertion_of(root))
    return text(root)


XSW: Mapping[str, Callable[[etree._Element], bytes]] = {
    "xsw1": xsw1, "xsw2": xsw2, "xsw3": xsw3, "xsw4": xsw4,
    "xsw5": xsw5, "xsw6": xsw6, "xsw7": xsw7, "xsw8": xsw8,
}


def comment_injected(xml: bytes) -> bytes:
    """S-16: a comment inside the NameID of a validly signed response (c14n drops it)."""
    return xml.replace(b">alice@example.com.evil.test<",
                       b">alice@example.com<!---->.evil.test<", 1)


XXE = (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n')
BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
    )
    + b"]>\n"
)
EXTERNAL_DTD = b'<?xml version="1.0"?>\n<!DOCTYPE samlp:Response SYSTEM "http://127.0.0.1:9/x.dtd">\n'


def with_prolog(prolog: bytes, xml: bytes, entity: str | None = None) -> bytes:
    body = xml
    if entity is not None:
        body = body.replace(b">alice@example.com<", f">&{entity};<".encode(), 1)
    return prolog + body
