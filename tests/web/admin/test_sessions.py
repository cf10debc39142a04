"""Revoking from the admin console: the credentials are refused by /sts at once."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from gateway.runtime import Runtime
from gateway.store import audit
from tests.sts_world import ACCOUNT_A, BASE_ROLE, CHAINED_ROLE, first_credentials
from tests.web.admin.support import AdminBrowser, BoundServer

CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10)


def sts(gateway: BoundServer, keys: dict[str, str]) -> Any:
    return boto3.client("sts", endpoint_url=f"{gateway.url}/sts", region_name="us-east-1",
                        config=CONFIG, **keys)


def chained_session(gateway: BoundServer, name: str) -> dict[str, str]:
    """Credentials for the Chained role from a real AssumeRole call (audited as issued)."""
    base = sts(gateway, first_credentials(gateway.app).boto_kwargs())
    creds = base.assume_role(RoleArn=CHAINED_ROLE, RoleSessionName=name)["Credentials"]
    return {"aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"]}


def code_of(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    return str(excinfo.value.response["Error"]["Code"])


def test_revoking_one_live_session_refuses_its_credentials_and_no_others(
    admin: AdminBrowser, gateway: BoundServer, rt: Runtime
) -> None:
    doomed = chained_session(gateway, "doomed")
    spared = chained_session(gateway, "spared")
    page = admin.get(f"/admin/roles/{ACCOUNT_A}/Chained").text
    assert doomed["aws_access_key_id"] in page and spared["aws_access_key_id"] in page
    assert "doomed" in page

    response = admin.post(f"/admin/roles/{ACCOUNT_A}/Chained/sessions/revoke",
                          {"access_key_id": doomed["aws_access_key_id"]},
                          page=f"/admin/roles/{ACCOUNT_A}/Chained")
    assert response.status_code == 303
    assert code_of(sts(gateway, doomed).get_caller_identity) == "InvalidClientTokenId"
    assert sts(gateway, spared).get_caller_identity()["Arn"].endswith("/spared")

    page = admin.get(f"/admin/roles/{ACCOUNT_A}/Chained").text
    assert doomed["aws_access_key_id"] not in page.split('id="sessions"', 1)[1]
    revoked = audit.recent(rt.engine, audit.AuditFilter(event_type="credentials.revoked"))
    assert [e.access_key_id for e in revoked] == [doomed["aws_access_key_id"]]
    assert revoked[0].detail["actor"].startswith("break-glass:")  # type: ignore[index]


def test_a_session_of_another_role_cannot_be_revoked_through_this_role(
    admin: AdminBrowser, gateway: BoundServer
) -> None:
    session = chained_session(gateway, "elsewhere")
    response = admin.post(f"/admin/roles/{ACCOUNT_A}/Base/sessions/revoke",
                          {"access_key_id": session["aws_access_key_id"]},
                          page=f"/admin/roles/{ACCOUNT_A}/Base")
    assert response.status_code == 404
    assert sts(gateway, session).get_caller_identity()["Account"] == ACCOUNT_A


def test_revoking_all_active_sessions_denies_what_they_were_allowed(
    admin: AdminBrowser, gateway: BoundServer, rt: Runtime
) -> None:
    before = first_credentials(gateway.app, issued_ago=5)
    client = sts(gateway, before.boto_kwargs())
    assert client.assume_role(RoleArn=CHAINED_ROLE, RoleSessionName="ok")
    response = admin.post(f"/admin/roles/{ACCOUNT_A}/Base/revoke-sessions",
                          page=f"/admin/roles/{ACCOUNT_A}/Base")
    assert response.status_code == 303
    assert rt.snapshot.roles_by_arn[BASE_ROLE].revoke_sessions_before is not None
    assert code_of(client.assume_role, RoleArn=CHAINED_ROLE,
                   RoleSessionName="after") == "AccessDenied"
    # The revocation is configuration: an import of an older file cannot undo it.
    assert "revoke_sessions_before" in admin.get("/admin/config/export.yaml").text
