"""Single logout both ways, Redirect and POST bindings, signatures required."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from lxml import etree
from saml2 import saml, samlp

from gateway.sources.saml import bindings, ns, times
from gateway.store import audit
from tests.sources.saml import forge
from tests.web.saml_support import DEVELOPER, Browser, World, demo_signer, world_with_redis


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_with_redis(tmp_path_factory.mktemp("saml-slo")) as running:
        yield running


def mint(browser: Browser, w: World) -> dict[str, str]:
    page = browser.http.post(f"{w.url}/console/credentials",
                             data={"csrf_token": browser.csrf(), "role_arn": DEVELOPER}).text
    found = {name: re.search(rf'id="{name}">([^<]+)<', page) for name in
             ("access-key-id", "secret-access-key", "session-token")}
    return {k: m.group(1) for k, m in found.items() if m}


def caller(w: World, creds: dict[str, str]) -> Any:
    return boto3.client(
        "sts", endpoint_url=f"{w.url}/sts", region_name="us-east-1",
        aws_access_key_id=creds["access-key-id"],
        aws_secret_access_key=creds["secret-access-key"],
        aws_session_token=creds["session-token"],
    ).get_caller_identity()


def test_sp_initiated_logout_signs_out_here_and_at_the_idp(w: World) -> None:
    browser = Browser(w)
    browser.sign_in("alice")
    creds = mint(browser, w)
    assert caller(w, creds)["Account"] == "222222222222"
    before = len(w.idp.idp.logged_out)
    answer = browser.http.post(f"{w.url}/saml/logout", data={"csrf_token": browser.csrf()})
    # Followed: gateway → IdP (signed LogoutRequest) → gateway (signed LogoutResponse).
    assert answer.status_code == 200
    assert "You are signed out of the gateway and of Demo corporate sign-in" in answer.text
    assert w.idp.idp.logged_out[before:] == ["alice@example.com"]
    assert browser.http.get(f"{w.url}/console", allow_redirects=False).status_code == 303
    # The demo provider's policy revokes credentials at logout.
    with pytest.raises(ClientError) as caught:
        caller(w, creds)
    assert caught.value.response["Error"]["Code"] in ("InvalidClientTokenId", "ExpiredToken",
                                                      "AccessDenied")
    events = audit.recent(w.rt.engine, audit.AuditFilter(event_type="signout"), limit=2)
    assert {e.detail.get("initiated_by") for e in events if e.detail} == {"sp"}


def test_idp_initiated_logout_ends_the_browser_session(w: World) -> None:
    browser = Browser(w)
    browser.sign_in("bob")
    assert browser.http.get(f"{w.url}/console", allow_redirects=False).status_code == 200
    # The IdP sends the browser to our SLO endpoint; we answer it with a LogoutResponse.
    answer = browser.http.get(f"{w.idp.idp.base_url}/logout?user=bob")
    assert answer.status_code == 200
    assert "The gateway answered the logout: Success" in answer.text
    assert browser.http.get(f"{w.url}/console", allow_redirects=False).status_code == 303
    event = audit.recent(w.rt.engine, audit.AuditFilter(event_type="signout"), limit=1)[0]
    assert event.detail and event.detail["initiated_by"] == "idp"
    assert event.detail["sessions_ended"] == 1


def test_idp_initiated_logout_reaches_sessions_in_other_browsers(w: World) -> None:
    """Back-channel style: the LogoutRequest arrives without the user's cookie."""
    browser = Browser(w)
    browser.sign_in("carol")
    url = w.idp.idp.logout_url("carol")
    stranger = Browser(w).http.get(url, allow_redirects=False)
    assert stranger.status_code == 303  # answered with a LogoutResponse to the IdP
    assert browser.http.get(f"{w.url}/console", allow_redirects=False).status_code == 303


def _logout_request(w: World, name_id: str, session_index: str) -> bytes:
    return bytes(samlp.LogoutRequest(
        id="_lr" + session_index, version="2.0",
        issue_instant=times.format_instant(datetime.now(UTC)), destination=f"{w.url}/saml/slo",
        issuer=saml.Issuer(text=w.idp.idp.entity_id, format=ns.NAMEID_ENTITY),
        name_id=saml.NameID(text=name_id, format=ns.NAMEID_EMAIL),
        session_index=[samlp.SessionIndex(text=session_index)],
    ).to_string())


def test_post_binding_logout_request_must_be_signed(w: World) -> None:
    browser = Browser(w)
    browser.sign_in("alice")
    name_id, session_index = w.idp.idp.sessions["alice"]
    unsigned = _logout_request(w, name_id, session_index)
    refused = Browser(w).post(f"{w.url}/saml/slo",
                              {"SAMLRequest": base64.b64encode(unsigned).decode()})
    assert refused.status_code == 403
    assert "not signed" in refused.text
    assert browser.http.get(f"{w.url}/console", allow_redirects=False).status_code == 200
    # Signed by the IdP (enveloped XML signature, POST binding): accepted.
    root = etree.fromstring(unsigned)
    demo_signer().sign(root)
    accepted = Browser(w).post(f"{w.url}/saml/slo",
                               {"SAMLRequest": forge.b64(forge.text(root))})
    assert accepted.status_code == 303
    assert browser.http.get(f"{w.url}/console", allow_redirects=False).status_code == 303


def test_redirect_binding_logout_request_with_a_bad_signature_is_refused(w: World) -> None:
    browser = Browser(w)
    browser.sign_in("bob")
    name_id, session_index = w.idp.idp.sessions["bob"]
    attacker_key = forge.key_pair("attacker", "attacker")[0]
    url = bindings.redirect_url(f"{w.url}/saml/slo", "SAMLRequest",
                                _logout_request(w, name_id, session_index),
                                relay_state=None, private_pem=attacker_key)
    refused = Browser(w).http.get(url, allow_redirects=False)
    assert refused.status_code == 403
    assert "signature is invalid" in refused.text
    unsigned = url.split("&SigAlg=")[0]
    assert Browser(w).http.get(unsigned, allow_redirects=False).status_code == 403
    assert browser.http.get(f"{w.url}/console", allow_redirects=False).status_code == 200


def test_a_logout_response_nobody_asked_for_is_refused(w: World) -> None:
    signer_key = forge.key_pair("demo", "idp")[0]
    answer = bytes(samlp.LogoutResponse(
        id="_unasked", version="2.0", issue_instant=times.format_instant(datetime.now(UTC)),
        destination=f"{w.url}/saml/slo", in_response_to="id-" + "0" * 40,
        issuer=saml.Issuer(text=w.idp.idp.entity_id, format=ns.NAMEID_ENTITY),
        status=samlp.Status(status_code=samlp.StatusCode(value=ns.STATUS_SUCCESS)),
    ).to_string())
    url = bindings.redirect_url(f"{w.url}/saml/slo", "SAMLResponse", answer, relay_state=None,
                                private_pem=signer_key)
    refused = Browser(w).http.get(url, allow_redirects=False)
    assert refused.status_code == 403
    assert "answers no logout" in refused.text
