"""SAML sign-in over real HTTP: the gateway and the demo IdP as servers, the browser as
requests (the Playwright tests drive a real browser through the same flows).

Every refusal is an HTML page naming the reason, with its status and an audit event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from lxml import etree

from gateway.sources.saml import ns, xmldsig
from gateway.store import audit
from tests.sources.saml import forge
from tests.web.saml_support import (
    ADMIN,
    DEVELOPER,
    READONLY_DEV,
    READONLY_PROD,
    Browser,
    World,
    demo_signer,
    spec_for,
    world_with_redis,
)


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_with_redis(tmp_path_factory.mktemp("saml-acs")) as running:
        yield running


def text_of(html_page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_page))


def last_event(w: World, event_type: str) -> audit.AuditEvent:
    events = audit.recent(w.rt.engine, audit.AuditFilter(event_type=event_type), limit=1)
    assert events, f"no {event_type} event"
    return events[0]


# ---------------------------------------------------------------- signing in


def test_sp_initiated_sign_in_lands_on_the_console_with_every_role(w: World) -> None:
    browser = Browser(w)
    console = browser.sign_in("alice")
    assert console.url == f"{w.url}/console"
    page = text_of(console.text)
    assert "Signed in as alice@example.com" in page
    for arn in (ADMIN, READONLY_PROD, DEVELOPER, READONLY_DEV):
        assert arn in page
    assert 'rule 1: groups equals "admins"' in page.replace("&#34;", '"')
    assert "SAML Role attribute" in page
    event = last_event(w, audit.SIGNIN)
    assert (event.outcome, event.provider, event.subject) == (
        "success", "demo-saml", "alice@example.com")
    # The claims are kept so the admin simulator can replay this sign-in.
    assert "admins" in (event.detail or {})["attributes"]["groups"]


def test_sign_in_gives_a_new_session_id_and_a_small_session(w: World) -> None:
    browser = Browser(w)
    browser.http.get(f"{w.url}/login")  # no session yet
    browser.start()
    before = browser.http.cookies.get("gw_session")
    assert before  # remembering the last provider made a pre-login session
    browser.sign_in("alice")
    after = browser.http.cookies.get("gw_session")
    assert after and after != before  # session fixation (W-03)
    assert not w.rt.redis.exists(w.rt.keys.session(before))
    stored = w.rt.redis.get(w.rt.keys.session(after))
    assert stored is not None and len(stored) <= 2048, len(stored or b"")
    data = json.loads(stored)
    assert data["identity"]["s"] == "alice@example.com"


def test_one_role_and_no_role_users(w: World) -> None:
    bob = text_of(Browser(w).sign_in("bob").text)
    assert READONLY_PROD in bob and ADMIN not in bob and DEVELOPER not in bob
    carol = text_of(Browser(w).sign_in("carol").text)
    assert "No mapping rule matched your attributes" in carol


def test_console_mints_working_credentials_with_their_expiry(w: World) -> None:
    browser = Browser(w)
    browser.sign_in("alice")
    answer = browser.http.post(f"{w.url}/console/credentials",
                               data={"csrf_token": browser.csrf(), "role_arn": DEVELOPER})
    assert answer.status_code == 200
    key = re.search(r'id="access-key-id">([A-Z0-9]+)<', answer.text)
    secret = re.search(r'id="secret-access-key">([^<]+)<', answer.text)
    token = re.search(r'id="session-token">([^<]+)<', answer.text)
    expiry = re.search(r'id="expiration">([^<]+)<', answer.text)
    assert key and secret and token and expiry
    expires = datetime.strptime(expiry.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    # The IdP asserted SessionDuration 3600: the honest maximum is one hour.
    assert timedelta(minutes=58) < expires - datetime.now(UTC) <= timedelta(hours=1)
    sts = boto3.client("sts", endpoint_url=f"{w.url}/sts", region_name="us-east-1",
                       aws_access_key_id=key.group(1), aws_secret_access_key=secret.group(1),
                       aws_session_token=token.group(1))
    who = sts.get_caller_identity()
    assert who["Arn"] == (
        "arn:aws:sts::222222222222:assumed-role/Developer/alice@example.com"
    )


def test_console_refuses_a_role_not_offered_and_forms_without_the_token(w: World) -> None:
    browser = Browser(w)
    browser.sign_in("bob")
    denied = browser.http.post(f"{w.url}/console/credentials",
                               data={"csrf_token": browser.csrf(), "role_arn": ADMIN})
    assert denied.status_code == 403
    assert "Not authorized to perform sts:AssumeRoleWithSAML" in denied.text
    forged = browser.http.post(f"{w.url}/console/credentials",
                               data={"csrf_token": "wrong", "role_arn": READONLY_PROD})
    assert forged.status_code == 400


def test_a_response_for_another_browser_is_refused(w: World) -> None:
    """S-26: the request was made by browser A; browser B posts the answer."""
    a, b = Browser(w), Browser(w)
    action, fields = a.idp_login(a.start(), "alice")
    b.start()  # B has its own pending sign-in and binding cookie
    refused = b.post(action, fields)
    assert refused.status_code == 403
    assert "started in another browser session" in text_of(refused.text)
    assert last_event(w, "signin.refused").error_code == "request_other_session"
    # A can still complete its own sign-in: the refusal did not consume A's request.
    assert a.post(action, fields).status_code == 303


def test_a_replayed_response_is_refused(w: World) -> None:
    browser = Browser(w)
    action, fields = browser.idp_login(browser.start(), "alice")
    assert browser.post(action, fields).status_code == 303
    again = browser.post(action, fields)
    assert again.status_code == 403
    # Unsolicited replay: the assertion id is in the replay cache.
    xml = w.idp.idp.response_b64("alice")
    first = Browser(w).post(f"{w.url}/saml/acs", {"SAMLResponse": xml})
    second = Browser(w).post(f"{w.url}/saml/acs", {"SAMLResponse": xml})
    assert first.status_code == 303
    assert second.status_code == 403
    assert "already used" in text_of(second.text)
    assert last_event(w, "signin.refused").error_code == "replayed_assertion"


def test_idp_initiated_relay_state_is_followed_only_when_allowed(w: World) -> None:
    xml = w.idp.idp.response_b64("alice")
    allowed = Browser(w).post(f"{w.url}/saml/acs",
                              {"SAMLResponse": xml, "RelayState": f"{w.url}/console?tab=x"})
    assert allowed.headers["Location"] == f"{w.url}/console?tab=x"
    for relay in ("https://evil.example/", "//evil.example", "/%09/evil.example",
                  "javascript:alert(1)"):
        other = Browser(w).post(f"{w.url}/saml/acs", {
            "SAMLResponse": w.idp.idp.response_b64("alice"), "RelayState": relay})
        assert other.status_code == 303
        assert other.headers["Location"] == "/console"


def test_next_after_sign_in_must_stay_on_this_site(w: World) -> None:
    for next_path, expected in (("/console?x=1", "/console?x=1"),
                                ("//evil.example", "/console"),
                                ("https://evil.example/", "/console")):
        browser = Browser(w)
        action, fields = browser.idp_login(browser.start(next_path=next_path), "bob")
        assert browser.post(action, fields).headers["Location"] == expected


# ---------------------------------------------------------------- the attack corpus


def _corpus(w: World) -> dict[str, bytes]:
    signer = demo_signer()

    def good(**changes: object) -> etree._Element:
        return forge.signed(spec_for(w, **changes), signer)

    other = forge.Signer.fixture("attacker", "attacker")
    comment_spec = spec_for(w, name_id="alice@example.com.evil.test")
    substituted = forge.build(spec_for(w))
    other.sign(forge.assertion_of(substituted), certificate_pem=signer.certificate_pem)
    two = forge.signed(spec_for(w), signer, response=False)
    extra = forge.build(spec_for(w, assertion_id="_second"))
    two.append(forge.assertion_of(extra))
    wrapped = {
        name: forge.XSW[name](forge.signed(spec_for(w), signer,
                                           response=name in ("xsw1", "xsw2"),
                                           assertion=name not in ("xsw1", "xsw2")))
        for name in forge.XSW
    }
    return {
        **wrapped,
        "keyinfo_substitution": forge.text(substituted),
        "two_assertions": forge.text(two),
        "signature_stripped": forge.signature_stripped(good()),
        "tampered": forge.tampered(good()),
        "other_key": forge.text(forge.signed(spec_for(w), other)),
        "comment_nameid": forge.comment_injected(forge.text(forge.signed(comment_spec, signer))),
        "xxe": forge.with_prolog(forge.XXE, forge.text(good()), "x"),
        "billion_laughs": forge.with_prolog(forge.BILLION_LAUGHS, forge.text(good()), "j"),
        "expired": forge.text(good(not_on_or_after=timedelta(minutes=-10))),
        "not_yet_valid": forge.text(good(not_before=timedelta(minutes=10))),
        "wrong_audience": forge.text(good(audience="https://other.example/sp")),
        "wrong_recipient": forge.text(good(recipient="https://evil.example/acs")),
        "wrong_destination": forge.text(good(destination="https://evil.example/acs")),
        "wrong_issuer": forge.text(good(issuer="https://other-idp.example")),
        "sha1": forge.text(forge.signed(spec_for(w), signer, algorithm=ns.RSA_SHA1,
                                        digest=ns.SHA1)),
        "encrypted_wrong_key": forge.text(forge.signed(
            spec_for(w), signer,
            encrypt_to=forge.key_pair("attacker", "attacker")[1])),
    }


EXPECTED = {
    "xsw1": (400, "malformed"), "xsw2": (400, "malformed"), "xsw3": (403, "assertion_count"),
    "xsw4": (400, "malformed"), "xsw5": (403, "assertion_count"), "xsw6": (400, "malformed"),
    "xsw7": (400, "malformed"), "xsw8": (400, "malformed"),
    "keyinfo_substitution": (403, "signature_invalid"), "two_assertions": (403, "assertion_count"),
    "signature_stripped": (403, "signature_missing"), "tampered": (403, "signature_invalid"),
    "other_key": (403, "signature_invalid"), "comment_nameid": (403, "comment_injection"),
    "xxe": (400, "malformed"), "billion_laughs": (400, "malformed"),
    "expired": (403, "expired"), "not_yet_valid": (403, "not_yet_valid"),
    "wrong_audience": (403, "audience_mismatch"), "wrong_recipient": (403, "recipient_mismatch"),
    "wrong_destination": (403, "destination_mismatch"),
    "wrong_issuer": (403, "unknown_issuer"), "sha1": (403, "weak_signature_alg"),
    "encrypted_wrong_key": (403, "decryption_failed"),
}


@pytest.mark.parametrize("attack", sorted(EXPECTED))
def test_each_attack_is_refused_with_a_page_a_status_and_an_audit_event(
    w: World, attack: str
) -> None:
    xml = _corpus(w)[attack]
    answer = Browser(w).post(f"{w.url}/saml/acs", {"SAMLResponse": forge.b64(xml)})
    status, code = EXPECTED[attack]
    assert answer.status_code == status, text_of(answer.text)[:300]
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "gw_session" not in answer.headers.get("Set-Cookie", "")
    page = text_of(answer.text)
    assert "SignInRefused" in page or "BadRequest" in page
    assert "Traceback" not in answer.text and "<saml" not in answer.text
    event = last_event(w, "signin.refused")
    assert (event.outcome, event.error_code) == ("failure", code)
    assert event.request_id == answer.headers["X-Request-Id"]


def test_oversized_posts_are_refused_before_parsing(w: World) -> None:
    answer = Browser(w).post(f"{w.url}/saml/acs", {"SAMLResponse": "A" * (300 * 1024)})
    assert answer.status_code == 413


def test_missing_response_is_a_bad_request(w: World) -> None:
    answer = Browser(w).post(f"{w.url}/saml/acs", {"RelayState": "x"})
    assert answer.status_code == 400
    assert "no SAMLResponse" in answer.text


def _budget_key(w: World) -> str:
    from gateway.sources.saml.service import service

    with w.gateway.app.app_context():
        return service().budget_key("saml-acs", "127.0.0.1")


def test_refusals_are_rate_limited_per_address(w: World) -> None:
    app = w.gateway.app
    w.rt.redis.delete(_budget_key(w))
    app.config["GATEWAY_SAML_REFUSALS_PER_MINUTE"] = 3
    try:
        statuses = [Browser(w).post(f"{w.url}/saml/acs", {"SAMLResponse": "junk"}).status_code
                    for _ in range(5)]
        assert statuses == [400, 400, 400, 429, 429]
        # Throttled even for a valid response, without any XML work.
        valid = Browser(w).post(f"{w.url}/saml/acs",
                                {"SAMLResponse": w.idp.idp.response_b64("bob")})
        assert valid.status_code == 429
    finally:
        app.config["GATEWAY_SAML_REFUSALS_PER_MINUTE"] = 10_000
        w.rt.redis.delete(_budget_key(w))


def test_unknown_provider_and_wrong_kind_are_404(w: World) -> None:
    assert Browser(w).http.get(f"{w.url}/saml/login/nope").status_code == 404
    assert Browser(w).http.get(f"{w.url}/saml/login/google").status_code == 404


# ---------------------------------------------------------------- metadata


def test_metadata_is_signed_and_publishes_current_and_next_keys(w: World) -> None:
    answer = Browser(w).http.get(f"{w.url}/saml/metadata")
    assert answer.headers["Content-Type"].startswith("application/samlmetadata+xml")
    root = etree.fromstring(answer.content)
    assert root.get("entityID") == f"{w.url}/saml/metadata"
    md = {"md": ns.MD, "ds": ns.DS}
    signing = root.findall(".//md:KeyDescriptor[@use='signing']", md)
    encryption = root.findall(".//md:KeyDescriptor[@use='encryption']", md)
    assert len(signing) == 2 and len(encryption) == 2
    certs = [e.findtext(".//ds:X509Certificate", namespaces=md) for e in signing]
    assert certs[0] != certs[1]
    acs = root.find(".//md:AssertionConsumerService", md)
    assert acs is not None and acs.get("Location") == f"{w.url}/saml/acs"
    assert acs.get("Binding") == ns.BINDING_POST
    slo = {e.get("Binding") for e in root.findall(".//md:SingleLogoutService", md)}
    assert slo == {ns.BINDING_POST, ns.BINDING_REDIRECT}
    signature = root.find(ns.SIGNATURE)
    assert signature is not None
    xmldsig.check_profile(signature, root, allow_sha1=False)
    assert xmldsig.verify(root, signature, [xmldsig.certificate_key(certs[0] or "")])
    assert not xmldsig.verify(root, signature, [xmldsig.certificate_key(certs[1] or "")])


def test_sp_keys_are_created_once_and_kept_in_the_database(w: World, tmp_path: Path) -> None:
    from gateway.sources.saml import sp_keys
    from gateway.store.models import SamlSpKey

    first = Browser(w).http.get(f"{w.url}/saml/metadata").content
    second = Browser(w).http.get(f"{w.url}/saml/metadata").content
    assert _certs(first) == _certs(second)
    from sqlalchemy.orm import Session

    with Session(w.rt.engine) as session:
        rows = session.query(SamlSpKey).all()
    assert len(rows) == 2
    assert all(b"PRIVATE KEY" not in row.wrapped_key for row in rows)
    loaded = sp_keys.load(w.rt.engine, w.rt.master_key, "127.0.0.1")
    assert {loaded.current.kid, loaded.next.kid} == {row.kid for row in rows}


def _certs(xml: bytes) -> list[str]:
    root = etree.fromstring(xml)
    return [e.text or "" for e in root.iter(ns.q(ns.DS, "X509Certificate"))]


def test_login_page_lists_providers_and_remembers_the_last_choice(w: World) -> None:
    browser = Browser(w)
    page = browser.http.get(f"{w.url}/login").text
    assert 'href="/saml/login/demo-saml"' in page
    assert 'href="/oidc/google/login"' in page
    assert "used last time" not in page
    browser.start()
    page = browser.http.get(f"{w.url}/login").text
    first = re.search(r'id="idp-([\w-]+)"', page)
    assert first and first.group(1) == "demo-saml"
    assert "used last time" in page


def test_expiring_certificates_are_reported(w: World) -> None:
    from gateway.sources.saml.health import certificate_warnings
    from gateway.sources.saml.service import service

    Browser(w).sign_in("bob")  # the demo IdP's metadata is now loaded
    with w.gateway.app.app_context():
        svc = service()
        now = datetime.now(UTC)
        assert certificate_warnings(svc, now) == []
        later = certificate_warnings(svc, now + timedelta(days=365 * 20 - 5))
    assert any("identity provider demo-saml" in line for line in later)
    assert any("the gateway's SAML key" in line for line in later)


def test_console_accepts_sessions_that_stored_only_the_identity(w: World) -> None:
    """Other sources (OIDC) store just `identity`; the console still works for them."""
    browser = Browser(w)
    browser.sign_in("bob")
    key = w.rt.keys.session(browser.http.cookies["gw_session"])
    data = json.loads(w.rt.redis.get(key) or b"{}")
    del data["signin"]
    w.rt.redis.set(key, json.dumps(data), keepttl=True)
    page = browser.http.get(f"{w.url}/console")
    assert page.status_code == 200 and READONLY_PROD in page.text
    minted = browser.http.post(f"{w.url}/console/credentials",
                               data={"csrf_token": browser.csrf(), "role_arn": READONLY_PROD})
    assert 'id="access-key-id">ASIA' in minted.text
