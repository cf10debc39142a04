"""A SAML response an administrator pasted into the simulator.

*Validated*: the browser ACS's own validation (`response.validate`) against the chosen
provider's metadata, this gateway's entity id and ACS URL, and the clock. Two things a
pasted response cannot have are left out, and nothing is consumed: InResponseTo (only
the browser that made the request can answer for it) and the replay cache, which is
only read, so a response already used is reported, not refused.

*Unverified* ("ignore signature and time", for offline testing with an old or edited
response): `response.read_unverified`, plus what full validation says about the same
document, so the page can mark the result as NOT validated and say why it would fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

from gateway.identity import FederatedIdentity
from gateway.sources.saml import attributes, response, state, xmlsafe
from gateway.sources.saml.errors import SamlRefusal, malformed
from gateway.sources.saml.service import Service
from gateway.store.snapshot import IdentityProvider


@dataclass(frozen=True)
class Pasted:
    validated: response.Validated  # from `read_unverified` when `verified` is False
    identity: FederatedIdentity
    verified: bool  # False: signatures and time windows were NOT checked
    would_refuse: str | None  # unverified only: full validation's refusal (None: it passes)
    already_used: bool  # the ACS or AssumeRoleWithSAML accepted this assertion already


def decode(text: str) -> bytes:
    """The XML of a pasted response: raw XML, base64, or URL-encoded base64 (form data)."""
    pasted = text.strip()
    if not pasted:
        raise malformed("Paste a SAML response: base64 as posted to the ACS, or its XML.")
    if pasted.startswith("<"):
        xml = pasted.encode("utf-8")
        if len(xml) > xmlsafe.MAX_XML:
            raise malformed("The SAML message is too large.", f"{len(xml)} bytes")
        return xml
    if "%" in pasted:  # copied from a browser's network panel: still URL-encoded
        pasted = unquote(pasted)
    return xmlsafe.b64decode(pasted)


def inspect(svc: Service, provider: IdentityProvider, text: str, *, now: datetime,
            verify: bool) -> Pasted:
    """The pasted response read for `provider`; SamlRefusal says why it cannot be."""
    if provider.kind != "saml":
        raise SamlRefusal("not_saml", f"{provider.name} is not a SAML identity provider.",
                          status=400)
    xml = decode(text)
    idp = svc.idp(provider, now)
    expected = response.Expected(svc.sp, check_in_response_to=False)
    keys = svc.keys().decryption_keys
    envelope = response.open_response(xml)
    would_refuse: str | None = None
    if verify:
        validated = response.validate(envelope, idp, expected, decryption_keys=keys, now=now)
    else:
        try:  # on its own parse: validation decrypts in place
            response.validate(response.open_response(xml), idp, expected, decryption_keys=keys,
                              now=now)
        except SamlRefusal as exc:
            would_refuse = exc.message
        validated = response.read_unverified(envelope, idp, expected, decryption_keys=keys)
    identity = attributes.to_identity(validated)
    used = state.was_seen(svc.rt.redis, svc.rt.keys, validated.issuer, validated.assertion_id)
    return Pasted(validated, identity, verify, would_refuse, used)
