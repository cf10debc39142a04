"""Strict validation of a SAML Response: the gateway's checks, then pysaml2's.

Order: structure (one assertion, unique IDs, signatures only where SAML puts them)
→ signatures verified in process against the IdP's metadata keys → decryption →
the Web SSO profile rules pysaml2 leaves open (Destination required, every
confirmation bearer with Recipient and NotOnOrAfter, an AudienceRestriction naming
us, InResponseTo bound, no comments inside the assertion) → pysaml2's own protocol
checks on the very tree that was verified → the identity read from that result.
Each refusal names its reason; nothing is read from an element that was not verified.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import xmlsec
from lxml import etree

from gateway.sources.saml import ns, protocol, schema, times, xmldsig, xmlenc, xmlsafe
from gateway.sources.saml.errors import SamlRefusal, bad_signature, malformed
from gateway.sources.saml.providers import Idp
from gateway.sources.saml.sp import ServiceProvider

MAX_RESPONSE_AGE = timedelta(hours=1)
_N = {"saml": ns.SAML, "samlp": ns.SAMLP}


@dataclass(frozen=True)
class Envelope:
    """A parsed, schema-valid Response, before anything in it is trusted."""

    root: etree._Element
    response_id: str
    issuer: str | None  # Response or Assertion Issuer, as claimed
    in_response_to: str | None  # as claimed


@dataclass(frozen=True)
class Expected:
    """What this response must be: for us, and (when solicited) for our request."""

    sp: ServiceProvider
    request_id: str | None = None  # the outstanding AuthnRequest this browser made
    check_in_response_to: bool = True  # False for AssumeRoleWithSAML: unsolicited by nature


@dataclass(frozen=True)
class Attribute:
    name: str
    name_format: str | None
    friendly_name: str | None
    values: tuple[str, ...]


@dataclass(frozen=True)
class Validated:
    """A verified assertion: everything downstream reads only this."""

    idp: Idp
    response_id: str
    assertion_id: str
    issuer: str
    name_id: str
    name_id_format: str | None
    recipient: str
    in_response_to: str | None
    issue_instant: datetime
    not_on_or_after: datetime  # when the assertion stops being acceptable (replay cache TTL)
    authn_instant: datetime | None
    session_not_on_or_after: datetime | None
    session_index: str | None
    attributes: tuple[Attribute, ...]
    friendly: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # pysaml2's names


def open_response(xml: bytes) -> Envelope:
    """Parse and schema-check; peek at the claimed issuer and InResponseTo for routing."""
    root = xmlsafe.parse(xml)
    if root.tag != ns.RESPONSE:
        raise malformed("The SAML message is not a Response.", str(root.tag)[:100])
    schema.validate(root)
    issuer = root.findtext("saml:Issuer", namespaces=_N)
    if issuer is None:
        issuer = root.findtext("saml:Assertion/saml:Issuer", namespaces=_N)
    return Envelope(
        root=root,
        response_id=root.get("ID", ""),
        issuer=issuer.strip() if issuer else None,
        in_response_to=root.get("InResponseTo"),
    )


def validate(
    envelope: Envelope,
    idp: Idp,
    expected: Expected,
    *,
    decryption_keys: Sequence[xmlsec.Key],
    now: datetime,
) -> Validated:
    """Every check, in order; raises SamlRefusal naming the first that fails."""
    root = envelope.root
    policy = idp.policy
    skew = timedelta(seconds=expected.sp.clock_skew)
    _status_success(root)
    holder = _single_assertion(root)
    _unique_ids(root)
    _signatures_placed(root, holder)
    _issuer(root.find(ns.ISSUER), idp, required=False)

    response_verified = False
    signature = root.find(ns.SIGNATURE)
    if signature is not None:
        xmldsig.check_profile(signature, root, allow_sha1=policy.allow_sha1)
        if not xmldsig.verify(root, signature, idp.metadata.signing_keys):
            raise bad_signature("The response signature does not verify with the identity "
                                "provider's certificate.")
        response_verified = True
    elif policy.require_signed_response:
        raise SamlRefusal("signature_missing", "The response is not signed, and this identity "
                          "provider must sign its responses.")

    assertion = holder
    if holder.tag == ns.ENCRYPTED_ASSERTION:
        assertion = xmlenc.decrypt_assertion(holder, decryption_keys)
        _single_assertion(root)
        _unique_ids(root)
        _signatures_placed(root, assertion)

    assertion_verified = False
    signature = assertion.find(ns.SIGNATURE)
    if signature is not None:
        xmldsig.check_profile(signature, assertion, allow_sha1=policy.allow_sha1)
        if not response_verified or policy.require_signed_assertion:
            if not xmldsig.verify(assertion, signature, idp.metadata.signing_keys):
                raise bad_signature("The assertion signature does not verify with the identity "
                                    "provider's certificate.")
            assertion_verified = True
    if policy.require_signed_assertion and not assertion_verified:
        raise SamlRefusal("signature_missing", "The assertion is not signed, and this identity "
                          "provider must sign its assertions.")
    if not (response_verified or assertion_verified):
        raise SamlRefusal("signature_missing", "Neither the response nor the assertion is "
                          "signed; unsigned assertions are never accepted.")

    # From here on the assertion is authentic: the remaining checks are about its meaning.
    _no_comments(assertion)
    issuer = _issuer(assertion.find(ns.ISSUER), idp, required=True)
    _destination(root, expected)
    request_id = expected.request_id
    if expected.check_in_response_to and root.get("InResponseTo") != request_id:
        raise _in_response_to(request_id, root.get("InResponseTo"))
    issue_instant = _instant(root, "IssueInstant")
    for instant in (issue_instant, _instant(assertion, "IssueInstant")):
        if instant > now + skew:
            raise SamlRefusal("not_yet_valid", "The response was issued in the future; check "
                              "the identity provider's clock.", sts="invalid")
        if instant < now - MAX_RESPONSE_AGE - skew:
            raise SamlRefusal("expired", "The response is too old to be accepted.", sts="expired")
    recipient, confirmation_end = _bearer(assertion, expected, now, skew)
    conditions_end = _conditions(assertion, expected.sp.entity_id, now, skew)
    session_end, session_index, authn_instant = _authn_statement(assertion, now, skew)

    verified_ids = {assertion.get("ID", "")}
    if response_verified:
        verified_ids.add(root.get("ID", ""))
    result = protocol.check(
        etree.tostring(root),
        verified_ids=frozenset(verified_ids),
        entity_id=expected.sp.entity_id,
        acs_url=expected.sp.acs_url,
        request_id=request_id if expected.check_in_response_to else None,
        clock_skew=expected.sp.clock_skew,
        require_signed_response=policy.require_signed_response,
        require_signed_assertion=policy.require_signed_assertion,
    )
    name_id = result.name_id
    if name_id is None or not (name_id.text or "").strip():
        raise SamlRefusal("no_subject", "The assertion names no subject (NameID).")
    ends = [t for t in (conditions_end, confirmation_end) if t is not None]
    return Validated(
        idp=idp,
        response_id=root.get("ID", ""),
        assertion_id=assertion.get("ID", ""),
        issuer=issuer,
        name_id=name_id.text.strip(),
        name_id_format=name_id.format,
        recipient=recipient,
        in_response_to=root.get("InResponseTo"),
        issue_instant=issue_instant,
        not_on_or_after=min(ends),
        authn_instant=authn_instant,
        session_not_on_or_after=session_end,
        session_index=session_index,
        attributes=_attributes(result.assertion),
        friendly={k: tuple(str(v) for v in vs) for k, vs in (result.ava or {}).items()},
    )


def read_unverified(
    envelope: Envelope,
    idp: Idp,
    expected: Expected,
    *,
    decryption_keys: Sequence[xmlsec.Key],
) -> Validated:
    """The admin simulator's "ignore signature and time": NEVER for a sign-in.

    Every check `validate` makes except the signatures and the time windows (and
    InResponseTo, which only the browser that made the request can answer): structure,
    status, the issuer against `idp`, decryption, comments, Destination, bearer
    Recipient, audience, subject and AuthnStatement. The attributes are read by the
    same pysaml2 code as a validated response's, from an assertion nobody vouched for.
    """
    root = envelope.root
    skew = timedelta(seconds=expected.sp.clock_skew)
    _status_success(root)
    holder = _single_assertion(root)
    _unique_ids(root)
    _signatures_placed(root, holder)
    _issuer(root.find(ns.ISSUER), idp, required=False)
    assertion = holder
    if holder.tag == ns.ENCRYPTED_ASSERTION:
        assertion = xmlenc.decrypt_assertion(holder, decryption_keys)
        _single_assertion(root)
        _unique_ids(root)
        _signatures_placed(root, assertion)
    _no_comments(assertion)
    issuer = _issuer(assertion.find(ns.ISSUER), idp, required=True)
    _destination(root, expected)
    recipient, confirmation_end = _bearer(
        assertion, Expected(expected.sp, check_in_response_to=False), None, skew
    )
    conditions_end = _conditions(assertion, expected.sp.entity_id, None, skew)
    session_end, session_index, authn_instant = _authn_statement(assertion, None, skew)
    name_id = assertion.find("saml:Subject/saml:NameID", _N)
    name_id_text = (name_id.text or "").strip() if name_id is not None else ""
    if not name_id_text:
        raise SamlRefusal("no_subject", "The assertion names no subject (NameID).")
    assert name_id is not None
    parsed, friendly = protocol.read_attributes(etree.tostring(assertion))
    ends = [t for t in (conditions_end, confirmation_end) if t is not None]
    return Validated(
        idp=idp,
        response_id=root.get("ID", ""),
        assertion_id=assertion.get("ID", ""),
        issuer=issuer,
        name_id=name_id_text,
        name_id_format=name_id.get("Format"),
        recipient=recipient,
        in_response_to=root.get("InResponseTo"),
        issue_instant=_instant(root, "IssueInstant"),
        not_on_or_after=min(ends),
        authn_instant=authn_instant,
        session_not_on_or_after=session_end,
        session_index=session_index,
        attributes=_attributes(parsed),
        friendly=friendly,
    )


# ---------------------------------------------------------------- structure


def _status_success(root: etree._Element) -> None:
    code = root.find("samlp:Status/samlp:StatusCode", _N)
    value = code.get("Value") if code is not None else None
    if value != ns.STATUS_SUCCESS:
        inner = root.find("samlp:Status/samlp:StatusCode/samlp:StatusCode", _N)
        reason = (inner.get("Value") if inner is not None else None) or value or "none"
        raise SamlRefusal(
            "idp_status",
            "The identity provider did not sign you in (status "
            f"{reason.rsplit(':', 1)[-1]}).",
            sts="rejected", detail=reason[:200],
        )


def _single_assertion(root: etree._Element) -> etree._Element:
    found = [*root.iter(ns.ASSERTION, ns.ENCRYPTED_ASSERTION)]
    if len(found) != 1 or found[0].getparent() is not root:
        raise SamlRefusal(
            "assertion_count",
            "The response must carry exactly one assertion, directly inside it.",
            detail=f"{len(found)} assertions",
        )
    return found[0]


def _unique_ids(root: etree._Element) -> None:
    counts = Counter(e.get("ID") for e in root.iter() if e.get("ID"))
    duplicated = [k for k, n in counts.items() if n > 1]
    if duplicated:
        raise bad_signature(detail=f"duplicate IDs {duplicated[:3]!r}"[:200])


def _signatures_placed(root: etree._Element, assertion: etree._Element) -> None:
    for signature in root.iter(ns.SIGNATURE):
        if signature.getparent() not in (root, assertion):
            raise bad_signature(detail="signature outside the Response and Assertion")


def _issuer(element: etree._Element | None, idp: Idp, *, required: bool) -> str:
    if element is None:
        if required:
            raise SamlRefusal("issuer_mismatch", "The assertion has no Issuer.")
        return ""
    fmt = element.get("Format")
    value = (element.text or "").strip()
    if (fmt not in (None, ns.NAMEID_ENTITY)) or value != idp.entity_id:
        raise SamlRefusal(
            "issuer_mismatch",
            "The response was issued by another identity provider than the one configured.",
            detail=f"Issuer={value!r}"[:200],
        )
    return value


def _destination(root: etree._Element, expected: Expected) -> None:
    destination = root.get("Destination")
    if destination != expected.sp.acs_url:
        raise SamlRefusal(
            "destination_mismatch",
            "The response is addressed to another endpoint (Destination is not this gateway's "
            "assertion consumer service)." if destination else
            "The response has no Destination; signed responses must name this gateway.",
            detail=f"Destination={destination!r}"[:200],
        )


def _no_comments(assertion: etree._Element) -> None:
    # Exclusive c14n drops comments, so "admin@x<!---->.evil" keeps a valid signature and a
    # careless reader sees "admin@x" (attacks.md S-16): refuse instead of guessing.
    for _ in assertion.iter(etree.Comment):
        raise SamlRefusal("comment_injection",
                          "The assertion contains XML comments; it is refused.")


# ---------------------------------------------------------------- semantics


def _instant(element: etree._Element, name: str) -> datetime:
    value = times.parse_instant(element.get(name))
    if value is None:
        raise malformed(f"The SAML message has no valid {name}.")
    return value


def _in_response_to(expected: str | None, got: str | None) -> SamlRefusal:
    if expected is None:
        return SamlRefusal(
            "in_response_to_mismatch",
            "The response answers a sign-in request this browser did not make.",
            detail=f"InResponseTo={got!r}"[:200],
        )
    return SamlRefusal(
        "in_response_to_mismatch",
        "The response does not answer the sign-in request this browser made.",
        detail=f"InResponseTo={got!r}"[:200],
    )


def _bearer(
    assertion: etree._Element, expected: Expected, now: datetime | None, skew: timedelta
) -> tuple[str, datetime]:
    """Recipient and the earliest NotOnOrAfter; `now` None skips the time checks."""
    confirmations = assertion.findall("saml:Subject/saml:SubjectConfirmation", _N)
    if not confirmations:
        raise SamlRefusal("subject_confirmation", "The assertion has no subject confirmation.")
    recipient = ""
    end: datetime | None = None
    for confirmation in confirmations:
        if confirmation.get("Method") != ns.CM_BEARER:
            raise SamlRefusal(
                "subject_confirmation",
                "The assertion uses a subject confirmation method other than bearer, which "
                "browser sign-in does not allow.",
                detail=str(confirmation.get("Method"))[:200],
            )
        data = confirmation.find("saml:SubjectConfirmationData", _N)
        if data is None:
            raise SamlRefusal("subject_confirmation",
                              "The bearer confirmation has no SubjectConfirmationData.")
        recipient = data.get("Recipient") or ""
        if recipient != expected.sp.acs_url:
            raise SamlRefusal(
                "recipient_mismatch",
                "The assertion is meant for another recipient than this gateway's assertion "
                "consumer service.",
                detail=f"Recipient={recipient!r}"[:200],
            )
        not_after = times.parse_instant(data.get("NotOnOrAfter"))
        if not_after is None:
            raise SamlRefusal("subject_confirmation",
                              "The bearer confirmation has no NotOnOrAfter time limit.")
        if now is not None and now >= not_after + skew:
            raise SamlRefusal("expired", "The assertion has expired.", sts="expired",
                              detail=f"SubjectConfirmationData NotOnOrAfter {not_after}")
        not_before = times.parse_instant(data.get("NotBefore"))
        if now is not None and not_before is not None and now + skew < not_before:
            raise SamlRefusal("not_yet_valid", "The assertion is not valid yet; check the "
                              "identity provider's clock.")
        if expected.check_in_response_to and data.get("InResponseTo") != expected.request_id:
            raise _in_response_to(expected.request_id, data.get("InResponseTo"))
        end = not_after if end is None else min(end, not_after)
    assert end is not None
    return recipient, end


def _conditions(
    assertion: etree._Element, entity_id: str, now: datetime | None, skew: timedelta
) -> datetime | None:
    conditions = assertion.find("saml:Conditions", _N)
    if conditions is None:
        raise SamlRefusal("audience_mismatch", "The assertion has no Conditions, so it names no "
                          "audience; it could have been issued for any service.")
    not_before = times.parse_instant(conditions.get("NotBefore"))
    not_after = times.parse_instant(conditions.get("NotOnOrAfter"))
    if now is not None and not_before is not None and now + skew < not_before:
        raise SamlRefusal("not_yet_valid", "The assertion is not valid yet; check the identity "
                          "provider's clock.")
    if now is not None and not_after is not None and now >= not_after + skew:
        raise SamlRefusal("expired", "The assertion has expired.", sts="expired",
                          detail=f"Conditions NotOnOrAfter {not_after}")
    restrictions = conditions.findall("saml:AudienceRestriction", _N)
    if not restrictions:
        raise SamlRefusal("audience_mismatch", "The assertion names no audience; it could have "
                          "been issued for any service.")
    for restriction in restrictions:
        audiences = [(a.text or "").strip() for a in restriction.findall("saml:Audience", _N)]
        if entity_id not in audiences:
            raise SamlRefusal(
                "audience_mismatch",
                "The assertion was issued for another service (its audience is not this "
                "gateway).",
                detail=f"Audience={audiences[:3]!r}"[:200],
            )
    return not_after


def _authn_statement(
    assertion: etree._Element, now: datetime | None, skew: timedelta
) -> tuple[datetime | None, str | None, datetime | None]:
    statement = assertion.find("saml:AuthnStatement", _N)
    if statement is None:
        raise SamlRefusal("no_authn_statement",
                          "The assertion does not say how you authenticated (no AuthnStatement).")
    session_end = times.parse_instant(statement.get("SessionNotOnOrAfter"))
    if now is not None and session_end is not None and now >= session_end + skew:
        raise SamlRefusal("expired", "Your session at the identity provider has ended.",
                          sts="expired")
    return session_end, statement.get("SessionIndex"), times.parse_instant(
        statement.get("AuthnInstant")
    )


def _attributes(assertion: Any) -> tuple[Attribute, ...]:
    out: list[Attribute] = []
    for statement in assertion.attribute_statement or ():
        for attribute in statement.attribute or ():
            values = tuple(
                (value.text or "").strip() for value in attribute.attribute_value or ()
                if value.text is not None
            )
            out.append(Attribute(attribute.name or "", attribute.name_format,
                                 attribute.friendly_name, values))
    return tuple(out)
