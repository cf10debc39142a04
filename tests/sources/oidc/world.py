"""A configuration whose OpenID and social providers are the running emulators."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import yaml

from gateway.devtools.emulators import (
    AMAZON_CLIENT,
    FACEBOOK_APP,
    GOOGLE_CLIENT,
    OIDC_CLIENT,
    Emulators,
    provider_overrides,
)

ACCOUNT = "111111111111"
OIDC_READER = f"arn:aws:iam::{ACCOUNT}:role/OidcReader"
OIDC_BUILDER = f"arn:aws:iam::{ACCOUNT}:role/OidcBuilder"
GOOGLE_READER = f"arn:aws:iam::{ACCOUNT}:role/GoogleReader"
FACEBOOK_READER = f"arn:aws:iam::{ACCOUNT}:role/FacebookReader"
AMAZON_READER = f"arn:aws:iam::{ACCOUNT}:role/AmazonReader"
CLOSED = f"arn:aws:iam::{ACCOUNT}:role/Closed"

_READ = {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def _role(name: str, principal: str, conditions: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "max_session_duration": 7200,
        "trust_policy": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": principal},
            "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
            "Condition": {"StringEquals": conditions},
        }]},
        "policies": {"Read": json.loads(json.dumps(_READ))},
        **extra,
    }


def world(emulators: Emulators, *, provider_options: dict[str, Any] | None = None,
          extra_rules: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The configuration document; `provider_options` adds options per provider name."""
    over = provider_overrides(emulators, discover_oidc=True)
    issuer = emulators.oidc.issuer
    parts = urlsplit(issuer)
    host_path = f"{parts.netloc}{parts.path.rstrip('/')}"
    oidc_arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host_path}"
    providers: list[dict[str, Any]] = [
        {
            "name": "test-oidc", "kind": "oidc", "account": ACCOUNT, "issuer": issuer,
            "client_ids": [OIDC_CLIENT[0]], "client_secret": OIDC_CLIENT[1],
            "scopes": ["openid", "email", "profile", "groups"],
            "mapping_rules": [
                {"when": [{"claim": "groups", "operator": "equals", "value": "engineering"}],
                 "role": OIDC_READER},
                {"when": [{"claim": "groups", "operator": "equals", "value": "admins"}],
                 "role": OIDC_BUILDER},
            ],
        },
        {
            "name": "google", "kind": "google", "account": ACCOUNT,
            "client_ids": [GOOGLE_CLIENT[0]], **over["google"],
            "mapping_rules": [
                {"when": [{"claim": "hd", "operator": "equals", "value": "example.com"}],
                 "role": GOOGLE_READER},
            ],
        },
        {
            "name": "facebook", "kind": "facebook", "account": ACCOUNT,
            "client_ids": [FACEBOOK_APP[0]], **over["facebook"],
            "mapping_rules": [
                {"when": [{"claim": "sub", "operator": "starts_with", "value": "1"}],
                 "role": FACEBOOK_READER},
            ],
        },
        {
            "name": "amazon", "kind": "amazon", "account": ACCOUNT,
            "client_ids": [AMAZON_CLIENT[0]], **over["amazon"],
            "mapping_rules": [
                {"when": [{"claim": "email", "operator": "contains", "value": "@example.com"}],
                 "role": AMAZON_READER},
            ],
        },
    ]
    for provider in providers:
        provider["options"] = dict((provider_options or {}).get(provider["name"], {}))
        if not provider["options"]:
            del provider["options"]
        provider["mapping_rules"] += (extra_rules or {}).get(provider["name"], [])
    return {
        "accounts": [{"id": ACCOUNT, "alias": "oidc-tests", "roles": [
            _role("OidcReader", oidc_arn, {f"{host_path}:aud": OIDC_CLIENT[0]}),
            _role("OidcBuilder", oidc_arn, {f"{host_path}:aud": OIDC_CLIENT[0]}),
            _role("GoogleReader", "accounts.google.com",
                  {"accounts.google.com:aud": GOOGLE_CLIENT[0]}),
            _role("FacebookReader", "graph.facebook.com",
                  {"graph.facebook.com:app_id": FACEBOOK_APP[0]}),
            _role("AmazonReader", "www.amazon.com", {"www.amazon.com:app_id": AMAZON_CLIENT[0]}),
            _role("Closed", oidc_arn, {f"{host_path}:aud": "nobody"}),
        ]}],
        "identity_providers": providers,
    }


def world_yaml(emulators: Emulators, **kwargs: Any) -> str:
    return yaml.safe_dump(world(emulators, **kwargs), sort_keys=False)
