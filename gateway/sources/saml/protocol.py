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
from functools import cache
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
    from saml2 import samlp
    from saml2.attribute_converter import ac_factory
    from saml2.response import AuthnResponse
    from saml2.sigver import DecryptError, SecurityContext, SignatureError

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
            # only samlp:Response reaches here (checked before), so parse once.
            response = samlp.response_from_string(decoded_xml)
            if not response:
                raise TypeError("Not a Response")
            if response.signature:
                self._check_signature(decoded_xml, response)
            elif require_response_signature:
                raise SignatureError("Signature missing for response")
            return response

    converters = list(ac_factory())  # pysaml2's name maps (basic, URI, SHIB, AD FS)

    def authn_response(verified_ids: frozenset[str], **kwargs: Any) -> Any:
        return AuthnResponse(VerifiedContext(verified_ids), converters, **kwargs)

    return authn_response, converters


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
