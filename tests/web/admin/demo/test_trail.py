"""The audit trail view over real sign-ins (demo SAML IdP) and real issuances: from any
event of a sign-in, one page with the upstream assertion, the sign-in, each issuance with
the rule that fired, refreshes, chained sessions and revocations, in time order."""

from __future__ import annotations

import html
import re
from typing import Any

import requests

from gateway.store import audit
from tests.web.admin.support import AdminBrowser
from tests.web.saml_support import ADMIN, DEVELOPER, Browser, World

ACCOUNT_PROD = "111111111111"


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def kinds(page: str) -> list[str]:
    return re.findall(r'<li class="step [^"]*" data-kind="([a-z]+)"', page)


def mint(browser: Browser, role: str, **extra: str) -> str:
    answer = browser.http.post(f"{browser.w.url}/console/credentials", data={
        "csrf_token": browser.csrf(), "role_arn": role, "duration": "900", **extra})
    assert answer.status_code == 200, answer.text[-500:]
    found = re.search(r'id="access-key-id"[^>]*>(ASIA[A-Z0-9]+)<', answer.text)
    assert found, answer.text[-1000:]
    return found.group(1)


def signin_event(w: World, subject: str) -> audit.AuditEvent:
    return audit.recent(w.rt.engine, audit.AuditFilter(event_type=audit.SIGNIN,
                                                       subject=subject), limit=1)[0]


def issued(w: World, access_key_id: str) -> audit.AuditEvent:
    return audit.recent(w.rt.engine, audit.AuditFilter(
        event_type=audit.CREDENTIALS_ISSUED, access_key_id=access_key_id), limit=1)[0]


def revoke(admin: AdminBrowser, role_path: str, access_key_id: str) -> None:
    answer = admin.post(f"/admin/roles/{role_path}/sessions/revoke",
                        {"access_key_id": access_key_id}, page=f"/admin/roles/{role_path}")
    assert answer.status_code == 303, answer.text[-500:]


def test_sign_in_and_issuance_records_carry_what_the_trail_follows(w: World) -> None:
    bob = Browser(w)
    bob.sign_in("bob")
    signin = signin_event(w, "bob@example.com")
    detail: dict[str, Any] = signin.detail or {}
    assert detail["assertion_id"] and detail["signin_id"]
    ak = mint(bob, "arn:aws:iam::111111111111:role/ReadOnly")
    record = issued(w, ak).detail or {}
    assert record["signin_id"] == detail["signin_id"]
    assert record["upstream_id"] == detail["assertion_id"]
    assert record["via"] == 'rule 3: email matches "*@example.com"'
    assert "refresh" not in record
    again = mint(bob, "arn:aws:iam::111111111111:role/ReadOnly", refresh="1")
    assert (issued(w, again).detail or {})["refresh"] is True


def test_the_trail_of_a_sign_in_shows_every_step_in_time_order(
    admin: AdminBrowser, w: World
) -> None:
    alice = Browser(w)
    alice.sign_in("alice")
    first = mint(alice, DEVELOPER)
    refreshed = mint(alice, DEVELOPER, refresh="1")
    # Open a console for Admin and chain from it to Developer (AssumeRole).
    opened = alice.http.post(f"{w.url}/console/open", data={
        "csrf_token": alice.csrf(), "role_arn": ADMIN, "duration": "900"})
    assert opened.status_code == 200 and opened.url.endswith("/console/session")
    console_key = audit.recent(w.rt.engine, audit.AuditFilter(
        event_type=audit.CREDENTIALS_ISSUED, role_arn=ADMIN, subject="alice@example.com"),
        limit=1)[0].access_key_id
    switched = alice.http.post(f"{w.url}/console/switch", data={
        "csrf_token": alice.csrf(), "role_arn": DEVELOPER})
    assert switched.status_code == 200
    chained = audit.recent(w.rt.engine, audit.AuditFilter(
        event_type=audit.CREDENTIALS_ISSUED, subject="alice@example.com"), limit=1)[0]
    assert (chained.detail or {})["action"] == "AssumeRole"
    revoke(admin, "222222222222/Developer", first)
    # Another person's sign-in at the same time stays out of alice's trail.
    Browser(w).sign_in("bob")

    signin = signin_event(w, "alice@example.com")
    page = admin.get(f"/admin/audit/trail/{signin.id}")
    assert page.status_code == 200
    assert kinds(page.text) == ["signin", "issued", "refresh", "issued", "chained", "revoked"]
    text = text_of(page.text)
    assert (signin.detail or {})["assertion_id"] in text
    assert 'Rule that fired rule 2: groups equals "engineering"' in text
    assert 'Rule that fired rule 1: groups equals "admins"' in text
    for key in (first, refreshed, console_key, chained.access_key_id):
        assert key in text
    assert "bob@example.com" not in text
    order = [text.index(k) for k in (first, refreshed, console_key, chained.access_key_id)]
    assert order == sorted(order)

    # The same trail from the revocation, and from the chained issuance.
    revoked = audit.recent(w.rt.engine, audit.AuditFilter(
        event_type="credentials.revoked", access_key_id=first), limit=1)[0]
    for event_id in (revoked.id, chained.id):
        other = admin.get(f"/admin/audit/trail/{event_id}")
        assert kinds(other.text) == kinds(page.text)
        assert f'id="event-{event_id}"' in other.text


def test_a_role_wide_revocation_is_part_of_the_trail(admin: AdminBrowser, w: World) -> None:
    bob = Browser(w)
    bob.sign_in("bob")
    key = mint(bob, "arn:aws:iam::111111111111:role/ReadOnly")
    answer = admin.post("/admin/roles/111111111111/ReadOnly/revoke-sessions", {},
                        page="/admin/roles/111111111111/ReadOnly")
    assert answer.status_code == 303
    page = admin.get(f"/admin/audit/trail/{issued(w, key).id}")
    assert kinds(page.text)[:2] == ["signin", "issued"]
    assert 'data-kind="cutoff"' in page.text
    text = text_of(page.text)
    assert "All sessions of the role revoked" in text and key in text


def test_the_audit_list_links_rows_to_their_trail_and_unknown_events_are_404(
    admin: AdminBrowser, w: World
) -> None:
    bob = Browser(w)
    bob.sign_in("bob")
    signin = signin_event(w, "bob@example.com")
    listing = admin.get("/admin/audit?event_type=signin").text
    assert f'href="/admin/audit/trail/{signin.id}"' in listing
    assert admin.get("/admin/audit/trail/999999999").status_code == 404
    assert admin.get("/admin/audit/trail/nope").status_code == 404
    # An event that links to nothing is shown on its own, said so.
    lone = audit.record(w.rt.engine, audit.AuditEvent(event_type="admin.link.used",
                                                      outcome="success", subject="x"))
    page = admin.get(f"/admin/audit/trail/{lone.id}")
    assert page.status_code == 200 and "it stands on its own" in page.text


def test_the_trail_is_for_admins_only(w: World) -> None:
    assert requests.get(f"{w.url}/admin/audit/trail/1", allow_redirects=False,
                        timeout=10).status_code == 401



def caller_identity(w: World, creds: tuple[str, str, str]) -> int:
    """GetCallerIdentity with (access key id, secret, token): the HTTP status."""
    import boto3
    from botocore.exceptions import ClientError

    key, secret, token = creds
    client = boto3.client(
        "sts", endpoint_url=f"{w.url}/sts", region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
    )
    try:
        client.get_caller_identity()
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return 200


def mint_whole(browser: Browser, role: str, **extra: str) -> tuple[str, str, str]:
    """`mint`, keeping the secret and token too, to use the credentials afterwards."""
    answer = browser.http.post(f"{browser.w.url}/console/credentials", data={
        "csrf_token": browser.csrf(), "role_arn": role, "duration": "900", **extra})
    assert answer.status_code == 200, answer.text[-500:]
    found = [re.search(rf'id="{name}"[^>]*>([^<]+)<', answer.text)
             for name in ("access-key-id", "secret-access-key", "session-token")]
    key, secret, token = (html.unescape(m.group(1)) if m else "" for m in found)
    assert key.startswith("ASIA") and secret and token, answer.text[-1000:]
    return key, secret, token


def revoked_events(w: World, access_key_id: str) -> list[audit.AuditEvent]:
    return audit.recent(w.rt.engine, audit.AuditFilter(
        event_type="credentials.revoked", access_key_id=access_key_id), limit=10)


def test_credentials_revoked_at_sp_initiated_logout_are_each_audited_and_in_the_trail(
    admin: AdminBrowser, w: World
) -> None:
    alice = Browser(w)
    alice.sign_in("alice")
    minted = [mint_whole(alice, DEVELOPER), mint_whole(alice, DEVELOPER, refresh="1")]
    assert [caller_identity(w, creds) for creds in minted] == [200, 200]
    signin = signin_event(w, "alice@example.com")
    signin_id = (signin.detail or {})["signin_id"]

    answer = alice.http.post(f"{w.url}/saml/logout", data={"csrf_token": alice.csrf()})
    assert answer.status_code == 200
    # The demo provider revokes at logout: the credentials are refused ...
    assert [caller_identity(w, creds) for creds in minted] == [403, 403]
    # ... and each revocation is one event in the shape of an admin's per-session revoke.
    for key, _, _ in minted:
        [event] = revoked_events(w, key)
        issuance = issued(w, key)
        assert event.outcome == "success"
        assert (event.principal_arn, event.role_arn, event.account, event.session_id) == (
            issuance.principal_arn, issuance.role_arn, issuance.account, issuance.session_id)
        assert (event.provider, event.subject) == (issuance.provider, "alice@example.com")
        assert event.principal_arn and event.role_arn == DEVELOPER and event.session_id
        assert event.detail == {
            "actor": "saml-logout", "scope": "session",
            "expires_at": (issuance.detail or {})["expires_at"],
            "signin_id": signin_id, "initiated_by": "sp",
        }
    page = admin.get(f"/admin/audit/trail/{signin.id}")
    assert kinds(page.text)[:3] == ["signin", "issued", "refresh"]
    assert kinds(page.text).count("revoked") == 2
    # From a revocation, the same trail.
    first = revoked_events(w, minted[0][0])[0]
    assert kinds(admin.get(f"/admin/audit/trail/{first.id}").text) == kinds(page.text)


def test_credentials_revoked_at_idp_initiated_logout_are_each_audited(w: World) -> None:
    bob = Browser(w)
    bob.sign_in("bob")
    creds = mint_whole(bob, "arn:aws:iam::111111111111:role/ReadOnly")
    answer = bob.http.get(f"{w.idp.idp.base_url}/logout?user=bob")
    assert "The gateway answered the logout: Success" in answer.text
    assert caller_identity(w, creds) == 403
    [event] = revoked_events(w, creds[0])
    assert event.subject == "bob@example.com"
    assert event.session_id == issued(w, creds[0]).session_id
    assert (event.detail or {})["initiated_by"] == "idp"
    assert (event.detail or {})["actor"] == "saml-logout"
