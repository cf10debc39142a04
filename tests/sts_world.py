"""A small two-account world for STS tests, and a way to hand out the first credentials.

The first credentials of a test come from the keyring directly (a sign-in would mint
them the same way); everything after that goes through the live server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Flask

from gateway.runtime import Runtime
from gateway.store.config_io import import_config
from gateway.sts.credentials import Credentials, SessionClaims, mint

ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
BASE_ROLE = f"arn:aws:iam::{ACCOUNT_A}:role/Base"
CHAINED_ROLE = f"arn:aws:iam::{ACCOUNT_A}:role/Chained"
CROSS_ROLE = f"arn:aws:iam::{ACCOUNT_B}:role/CrossAccount"
CLOSED_ROLE = f"arn:aws:iam::{ACCOUNT_B}:role/Closed"

WORLD = f"""
accounts:
  - id: "{ACCOUNT_A}"
    alias: team-a
    roles:
      - name: Base
        max_session_duration: 43200
        trust_policy:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Principal: {{Federated: "arn:aws:iam::{ACCOUNT_A}:saml-provider/corp"}}
              Action: sts:AssumeRoleWithSAML
        policies:
          Work:
            Version: "2012-10-17"
            Statement:
              - Sid: AssumeIntoB
                Effect: Allow
                Action: sts:AssumeRole
                Resource: "arn:aws:iam::{ACCOUNT_B}:role/*"
              - Sid: Read
                Effect: Allow
                Action: ["s3:GetObject", "sts:DecodeAuthorizationMessage"]
                Resource: "*"
      - name: Chained
        trust_policy:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Principal: {{AWS: "arn:aws:iam::{ACCOUNT_A}:role/Base"}}
              Action: [sts:AssumeRole, sts:TagSession, sts:SetSourceIdentity]
        policies:
          Nothing:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: s3:ListBucket
                Resource: "*"
  - id: "{ACCOUNT_B}"
    alias: team-b
    roles:
      - name: CrossAccount
        trust_policy:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Principal: {{AWS: "arn:aws:iam::{ACCOUNT_A}:root"}}
              Action: sts:AssumeRole
              Condition:
                StringEquals: {{"sts:ExternalId": "partner-42"}}
        policies:
          Read:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: s3:GetObject
                Resource: "arn:aws:s3:::b-bucket/*"
      - name: Closed
        trust_policy:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Principal: {{AWS: "arn:aws:iam::333333333333:root"}}
              Action: sts:AssumeRole
identity_providers:
  - name: corp
    kind: saml
    account: "{ACCOUNT_A}"
"""


@dataclass(frozen=True)
class Minted:
    claims: SessionClaims
    credentials: Credentials

    def boto_kwargs(self) -> dict[str, str]:
        return {
            "aws_access_key_id": self.credentials.access_key_id,
            "aws_secret_access_key": self.credentials.secret_access_key,
            "aws_session_token": self.credentials.session_token,
        }


def load_world(app: Flask) -> Runtime:
    rt: Runtime = app.extensions["gateway"]
    import_config(rt.engine, WORLD, actor="test")
    rt.config.bump()
    return rt


def first_credentials(
    app: Flask,
    role_arn: str = BASE_ROLE,
    *,
    session_name: str = "alice",
    issued_ago: int = 0,
    lifetime: int = 3600,
) -> Minted:
    """Credentials as a sign-in would mint them (optionally issued in the past)."""
    rt: Runtime = app.extensions["gateway"]
    loaded = rt.config.current()
    role = loaded.snapshot.roles_by_arn[role_arn]
    issued = int(time.time()) - issued_ago
    claims = SessionClaims(
        account=role.account_id, role_arn=role.arn, role_id=role.role_id,
        session_name=session_name, issued_at=issued, expires_at=issued + lifetime,
        provider="arn:aws:iam::111111111111:saml-provider/corp", subject=session_name,
    )
    return Minted(claims, mint(loaded.keyring, claims))
