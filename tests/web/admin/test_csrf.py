"""CSRF: every browser form needs the session's token; machine endpoints need none."""

from __future__ import annotations

import pytest
from botocore.config import Config

from gateway.web.csrf import exempt
from tests.sts_world import first_credentials
from tests.web.admin.support import AdminBrowser, BoundServer

FORMS = [
    ("/admin/accounts", {"id": "333333333333"}),
    ("/admin/accounts/111111111111/alias", {"alias": "hijacked"}),
    ("/admin/roles/111111111111/Base/revoke-sessions", {}),
    ("/admin/roles/111111111111/Base/delete", {}),
    ("/admin/providers/corp/delete", {}),
    ("/admin/providers/corp/admin-rules",
     {"admin-0-claim": "sub", "admin-0-operator": "equals", "admin-0-value": "mallory"}),
    ("/admin/config", {"yaml": "accounts: []\nidentity_providers: []\n", "action": "import"}),
    ("/admin/signout", {}),
]


def test_an_admin_post_without_the_csrf_token_is_refused_and_changes_nothing(
    admin: AdminBrowser, gateway: BoundServer
) -> None:
    before = admin.get("/admin/config/export.yaml").text
    for path, data in FORMS:
        response = admin.post_raw(path, data)
        assert response.status_code == 400, path
        assert "CSRF" in response.text
        assert admin.get("/admin/config/export.yaml").text == before
        assert admin.get("/admin/").status_code == 200  # still signed in


def test_a_wrong_csrf_token_is_refused(admin: AdminBrowser) -> None:
    response = admin.post_raw("/admin/accounts", {"id": "333333333333", "csrf_token": "forged"})
    assert response.status_code == 400


def test_the_token_of_another_session_is_refused(admin: AdminBrowser,
                                                 gateway: BoundServer,
                                                 env: dict[str, str]) -> None:
    from tests.web.admin.support import admin_link, csrf_token

    other = AdminBrowser(gateway.url)
    other.sign_in(admin_link(env))
    theirs = csrf_token(other.get("/admin/accounts").text)
    response = admin.post_raw("/admin/accounts", {"id": "333333333333", "csrf_token": theirs})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        ("/sts", "POST", True),
        ("/", "POST", True),
        ("/api/v1/token", "POST", True),
        ("/api/v1/authorize", "POST", True),
        ("/saml/acs", "POST", True),
        ("/saml/slo", "POST", True),
        ("/admin/accounts", "POST", False),
        ("/admin/link/abc", "POST", False),
        ("/stsx", "POST", False),
        ("/saml/acsx", "POST", False),
        ("/admin/accounts", "GET", True),
        ("/anything-new", "POST", False),
    ],
)
def test_only_the_listed_machine_endpoints_are_exempt(
    path: str, method: str, expected: bool
) -> None:
    assert exempt(path, method) is expected


def test_the_sts_endpoint_still_takes_posts_without_a_token(gateway: BoundServer) -> None:
    import boto3

    creds = first_credentials(gateway.app)
    client = boto3.client("sts", endpoint_url=f"{gateway.url}/sts", region_name="us-east-1",
                          config=Config(retries={"max_attempts": 1}), **creds.boto_kwargs())
    assert client.get_caller_identity()["Account"] == "111111111111"
