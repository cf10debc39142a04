"""SAML protocol messages the gateway sends, built with pysaml2's message classes:
AuthnRequest, LogoutRequest and LogoutResponse."""

from __future__ import annotations

from datetime import datetime

from saml2 import saml, samlp

from gateway.sources.saml import ns, times
from gateway.sources.saml.sp import ServiceProvider


def _issuer(sp: ServiceProvider) -> saml.Issuer:
    return saml.Issuer(text=sp.entity_id, format=ns.NAMEID_ENTITY)


def authn_request(sp: ServiceProvider, *, request_id: str, destination: str,
                  now: datetime) -> bytes:
    """An AuthnRequest asking for the POST binding at our ACS."""
    request = samlp.AuthnRequest(
        id=request_id,
        version="2.0",
        issue_instant=times.format_instant(now),
        destination=destination,
        protocol_binding=ns.BINDING_POST,
        assertion_consumer_service_url=sp.acs_url,
        issuer=_issuer(sp),
        name_id_policy=samlp.NameIDPolicy(allow_create="true"),
    )
    return bytes(request.to_string())


def logout_request(
    sp: ServiceProvider, *, request_id: str, destination: str, name_id: str,
    name_id_format: str | None, session_index: str | None, now: datetime,
) -> bytes:
    request = samlp.LogoutRequest(
        id=request_id,
        version="2.0",
        issue_instant=times.format_instant(now),
        destination=destination,
        issuer=_issuer(sp),
        name_id=saml.NameID(text=name_id, format=name_id_format),
        session_index=[samlp.SessionIndex(text=session_index)] if session_index else None,
    )
    return bytes(request.to_string())


def logout_response(
    sp: ServiceProvider, *, response_id: str, destination: str, in_response_to: str,
    success: bool, now: datetime,
) -> bytes:
    status_code = samlp.StatusCode(
        value=ns.STATUS_SUCCESS if success else "urn:oasis:names:tc:SAML:2.0:status:Responder"
    )
    response = samlp.LogoutResponse(
        id=response_id,
        version="2.0",
        issue_instant=times.format_instant(now),
        destination=destination,
        in_response_to=in_response_to,
        issuer=_issuer(sp),
        status=samlp.Status(status_code=status_code),
    )
    return bytes(response.to_string())
