"""Who gets into /admin: break-glass links (once, briefly, audited), and nobody else."""

from __future__ import annotations

import time

import requests
from click.testing import CliRunner

from gateway.cli import cli
from gateway.runtime import Runtime
from gateway.store import audit
from tests.web.admin.support import AdminBrowser, BoundServer, admin_link, csrf_token

ADMIN_PAGES = ["/admin", "/admin/", "/admin/accounts", "/admin/providers", "/admin/roles",
               "/admin/roles/111111111111/Base", "/admin/providers/corp/rules",
               "/admin/simulator", "/admin/audit", "/admin/audit/export.csv", "/admin/config",
               "/admin/config/export.yaml"]


def test_a_signed_out_visitor_gets_401_with_a_way_to_sign_in_and_no_redirect(
    gateway: BoundServer,
) -> None:
    for path in ADMIN_PAGES:
        response = requests.get(gateway.url + path, allow_redirects=False, timeout=10)
        assert response.status_code == 401, path
        assert "Location" not in response.headers
        assert "Sign in" in response.text
        assert "gateway admin link" in response.text


def test_following_the_sign_in_link_from_the_401_page_does_not_loop(
    gateway: BoundServer,
) -> None:
    browser = requests.Session()
    page = browser.get(gateway.url + "/admin/roles", timeout=10)
    assert page.status_code == 401
    target = page.text.split('<a href="', 1)[1].split('"', 1)[0]
    landing = browser.get(gateway.url + target, timeout=10)
    assert landing.status_code == 200
    assert len(landing.history) <= 1


def test_every_admin_action_is_refused_to_a_signed_out_visitor(
    gateway: BoundServer, env: dict[str, str]
) -> None:
    browser = AdminBrowser(gateway.url)
    # A session holding a valid CSRF token (from a link's confirmation page), not signed in.
    page = browser.get("/admin/link/" + admin_link(env).rsplit("/", 1)[1])
    token = csrf_token(page.text)
    for path in ["/admin/accounts", "/admin/roles", "/admin/config",
                 "/admin/providers/corp/rules"]:
        response = browser.post_raw(path, {"csrf_token": token, "id": "333333333333"})
        assert response.status_code == 401, path
    assert "333333333333" not in gateway.runtime.snapshot.accounts_by_id


def test_the_cli_prints_a_link_that_signs_in_once(
    gateway: BoundServer, env: dict[str, str], rt: Runtime
) -> None:
    link = admin_link(env, "--minutes", "5", "--reason", "test run")
    assert link.startswith(f"{gateway.url}/admin/link/")
    browser = AdminBrowser(gateway.url)
    before = browser.get("/admin/link/" + link.rsplit("/", 1)[1])
    assert before.status_code == 200 and "Sign in as administrator" in before.text
    # The confirmation page does not use the link up (chat previews fetch links too).
    assert browser.get("/admin/link/" + link.rsplit("/", 1)[1]).status_code == 200
    response = browser.sign_in(link)
    old_cookie = before.cookies.get("gw_session")
    assert response.cookies.get("gw_session") not in (None, old_cookie)  # new session id
    assert browser.get("/admin/").status_code == 200

    again = AdminBrowser(gateway.url)
    refused = again.get("/admin/link/" + link.rsplit("/", 1)[1])
    assert refused.status_code == 404
    assert "used already" in refused.text
    events = {e.event_type: e for e in audit.recent(rt.engine, limit=20)}
    link_id = events["admin.link.created"].detail["link"]  # type: ignore[index]
    assert events["admin.link.created"].detail["reason"] == "test run"  # type: ignore[index]
    assert events["admin.link.used"].detail["link"] == link_id  # type: ignore[index]
    assert events["admin.link.refused"].outcome == "failure"
    assert link.rsplit("/", 1)[1] not in str(events["admin.link.created"].detail)


def test_two_browsers_racing_for_one_link_cannot_both_win(
    gateway: BoundServer, env: dict[str, str]
) -> None:
    link = admin_link(env)
    path = "/admin/link/" + link.rsplit("/", 1)[1]
    first, second = AdminBrowser(gateway.url), AdminBrowser(gateway.url)
    tokens = [csrf_token(b.get(path).text) for b in (first, second)]
    results = [b.post_raw(path, {"csrf_token": t}).status_code
               for b, t in zip((first, second), tokens, strict=True)]
    assert sorted(results) == [303, 404]


def test_an_expired_link_is_refused(gateway: BoundServer, env: dict[str, str],
                                    rt: Runtime) -> None:
    link = admin_link(env, "--minutes", "1")
    token = link.rsplit("/", 1)[1]
    key = rt.keys.admin_link(token)
    rt.redis.pexpire(key, 1)  # as if the minute had passed
    while rt.redis.exists(key):  # a request inside that millisecond would still find it
        time.sleep(0.001)
    response = requests.get(link, timeout=10)
    assert response.status_code == 404


def test_the_link_is_stored_hashed(gateway: BoundServer, env: dict[str, str],
                                   rt: Runtime) -> None:
    token = admin_link(env).rsplit("/", 1)[1]
    keys = [k.decode() for k in rt.redis.keys("*admin:link:*")]
    assert len(keys) == 1 and token not in keys[0]
    assert 0 < int(rt.redis.ttl(keys[0])) <= 600


def test_the_cli_refuses_when_no_gateway_redis_answers(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["admin", "link"],
                                env={**env, "GATEWAY_REDIS_URL": ""})
    assert result.exit_code != 0
    assert "no running gateway found" in result.output


def test_signing_out_ends_the_break_glass_grant(admin: AdminBrowser) -> None:
    response = admin.post("/admin/signout", page="/admin/")
    assert response.status_code == 303
    assert admin.get("/admin/").status_code == 401


def test_garbage_link_tokens_are_refused_without_a_500(gateway: BoundServer) -> None:
    browser = AdminBrowser(gateway.url)
    for token in ["a", "%00", "x" * 500, "../../etc/passwd", "<script>"]:
        response = browser.get("/admin/link/" + token)
        assert response.status_code == 404, token
