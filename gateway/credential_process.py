"""`credential_process` for the AWS CLI and SDKs: assume a role on the gateway, print JSON.

    [profile deploy]
    credential_process = python -m gateway.credential_process --source-profile signin
        --role-arn arn:aws:iam::111111111111:role/Deploy --endpoint-url https://sso.example.com/sts

Runs on the user's machine, with boto3 (which the AWS CLI and SDK users have already):
calls `AssumeRole` on the gateway with the source profile's credentials and prints what
the CLI and SDKs expect (Version 1, AccessKeyId, SecretAccessKey, SessionToken,
Expiration, AccountId). Without `--endpoint-url`, boto3 finds the gateway the usual way
(`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url` or
`services` section). Errors go to stderr with exit status 1; secrets never do.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.credential_process",
        description="Assume a role on the gateway and print credential_process JSON.",
    )
    parser.add_argument("--role-arn", required=True, help="the role to assume")
    parser.add_argument("--source-profile",
                        help="profile whose credentials call AssumeRole (default: boto3's chain)")
    parser.add_argument("--endpoint-url",
                        help="the gateway's STS URL, e.g. https://sso.example.com/sts")
    parser.add_argument("--region", help="signing region (default: the profile's, else us-east-1)")
    parser.add_argument("--role-session-name",
                        help="session name (default: gateway-cli-<epoch seconds>)")
    parser.add_argument("--duration-seconds", type=int, help="900 up to the role's maximum")
    parser.add_argument("--external-id", help="sts:ExternalId, if the role's trust requires one")
    return parser.parse_args(argv)


def credentials_json(answer: dict[str, Any]) -> dict[str, Any]:
    """The credential_process document for an AssumeRole answer (botocore's parsed shape)."""
    creds = answer["Credentials"]
    expiration = creds["Expiration"]
    if isinstance(expiration, datetime):
        expiration = expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out: dict[str, Any] = {
        "Version": 1,
        "AccessKeyId": creds["AccessKeyId"],
        "SecretAccessKey": creds["SecretAccessKey"],
        "SessionToken": creds["SessionToken"],
        "Expiration": expiration,
    }
    arn = answer.get("AssumedRoleUser", {}).get("Arn", "")
    account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    if account:
        out["AccountId"] = account
    return out


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = parse_args(argv)
    try:
        import boto3  # type: ignore[import-untyped]
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
        )
    except ImportError:
        print("credential_process needs boto3: pip install boto3", file=sys.stderr)
        return 1
    try:
        session = boto3.Session(profile_name=args.source_profile)
        client = session.client(
            "sts", endpoint_url=args.endpoint_url,
            region_name=args.region or session.region_name or "us-east-1",
        )
        params: dict[str, Any] = {
            "RoleArn": args.role_arn,
            "RoleSessionName": args.role_session_name or f"gateway-cli-{int(time.time())}",
        }
        if args.duration_seconds is not None:
            params["DurationSeconds"] = args.duration_seconds
        if args.external_id is not None:
            params["ExternalId"] = args.external_id
        answer = client.assume_role(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"AssumeRole refused: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"AssumeRole failed: {exc}", file=sys.stderr)
        return 1
    json.dump(credentials_json(answer), out)
    out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
