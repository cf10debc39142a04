"""`next` and RelayState: one shared check, tested with the known open-redirect tricks."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest

from gateway.web.redirects import safe_next
from tests.conftest import RedisServer
from tests.web.saml_support import Browser, World, world

ATTACKS = [
    "//evil.example",
    "///evil.example",
    "/\t/evil.example",  # what `/%09/evil.example` decodes to: followed as //evil.example
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%09/evil.example",  # decoded once more by a later hop
    "/%5Cevil.example",
    "/%2F/evil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    " /console",
    "evil.example",
    "",
    "/" + "a" * 600,
]


@pytest.mark.parametrize("value", ATTACKS)
def test_unsafe_targets_are_refused(value: str) -> None:
    assert safe_next(value) is None


@pytest.mark.parametrize("value", ["/console", "/console?tab=x&q=a%20b", "/console/session",
                                   "/admin/roles#x"])
def test_same_origin_paths_are_kept(value: str) -> None:
    assert safe_next(value) == value


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("portal-redirects")
    redis_server = RedisServer(tmp / "redis")
    redis_server.start()
    try:
        with world(tmp, redis_server.url) as running:
            yield running
    finally:
        redis_server.stop()


@pytest.mark.parametrize("attack", ["/%09/evil.example", "//evil.example", "/%5Cevil.example",
                                    "https%3A%2F%2Fevil.example", "/%0D%0A/evil.example",
                                    "%2F%09%2Fevil.example"])
def test_a_sign_in_with_a_hostile_next_lands_on_the_console(w: World, attack: str) -> None:
    browser = Browser(w)
    login = browser.start(next_path=attack)
    action, fields = browser.idp_login(login, "alice")
    answer = browser.post(action, fields)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/console"
    page = browser.http.get(f"{w.url}/login?next={attack}")
    assert "evil.example" not in page.text


def test_the_portal_sends_a_signed_out_person_back_after_sign_in(w: World) -> None:
    browser = Browser(w)
    first = browser.http.get(f"{w.url}/console/session?x=1", allow_redirects=False)
    assert first.status_code == 303
    assert first.headers["Location"] == f"/login?next={quote('/console/session?x=1', safe='')}"
    picker = browser.http.get(f"{w.url}{first.headers['Location']}")
    assert "/saml/login/demo-saml?next=/console/session%3Fx%3D1" in picker.text
    login = browser.http.get(f"{w.url}/saml/login/demo-saml?next=%2Fconsole%2Fsession%3Fx%3D1")
    action, fields = browser.idp_login(login, "alice")
    answer = browser.post(action, fields)
    assert answer.headers["Location"] == "/console/session?x=1"
    # The console itself needs no `next`: it is where everyone lands.
    other = Browser(w).http.get(f"{w.url}/console", allow_redirects=False)
    assert other.headers["Location"] == "/login"


def test_an_idp_initiated_relay_state_elsewhere_is_ignored(w: World) -> None:
    from tests.sources.saml import forge
    from tests.web.saml_support import demo_signer, spec_for

    for n, relay in enumerate((f"{w.url}/console/%09/evil.example", "https://evil.example/",
                               f"{w.url}\t/console", "//evil.example")):
        spec = spec_for(w, assertion_id=f"_relay{n:028d}", response_id=f"_resp{n:029d}")
        xml = forge.b64(forge.signed(spec, demo_signer()))
        answer = Browser(w).post(f"{w.url}/saml/acs", {"SAMLResponse": xml,
                                                        "RelayState": relay})
        assert answer.status_code == 303, answer.text[:300]
        location = urlsplit(answer.headers["Location"])
        assert location.netloc in ("", urlsplit(w.url).netloc), location
        assert location.path.startswith("/console") and "\t" not in location.path

