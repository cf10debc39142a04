"""AWS naming rules and the ARNs the store derives from names.

The rules follow IAM's documented limits so that configurations written here
stay meaningful to AWS tooling (ARNs are parsed by SDKs and shown in the CLI).
"""

from __future__ import annotations

import re
import secrets
import string
from typing import Final
from urllib.parse import urlsplit

ACCOUNT_ID: Final = re.compile(r"\d{12}")
# 3-63 lowercase letters, digits and single hyphens, not starting or ending with one.
ACCOUNT_ALIAS: Final = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]")
ROLE_NAME: Final = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
# IAM: "/" alone, or "/" + segments + "/", printable ASCII without spaces.
ROLE_PATH: Final = re.compile(r"/(?:[\x21-\x7e]+/)?")
ROLE_PATH_MAX: Final = 512
POLICY_NAME: Final = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
# Provider names appear in URLs (/oidc/<name>/callback) and in SAML provider ARNs.
PROVIDER_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ROLE_ID: Final = re.compile(r"AROA[A-Z0-9]{17}")
TAG_KEY: Final = re.compile(r"[\w.:/=+\-@ ]{1,128}")
TAG_VALUE: Final = re.compile(r"[\w.:/=+\-@ ]{0,256}")
ROLE_ARN: Final = re.compile(
    r"arn:aws:iam::(\d{12}):role(/(?:[\x21-\x7e]+/)?)([\w+=,.@-]{1,64})", re.ASCII
)

# How AWS trust policies name the social providers (Principal.Federated and the
# prefix of their condition keys, e.g. `accounts.google.com:aud`).
SOCIAL_PRINCIPALS: Final = {
    "google": "accounts.google.com",
    "facebook": "graph.facebook.com",
    "amazon": "www.amazon.com",
}

MIN_SESSION_DURATION: Final = 3600
MAX_SESSION_DURATION: Final = 43200

_ROLE_ID_ALPHABET: Final = string.ascii_uppercase + string.digits


def role_arn(account_id: str, path: str, name: str) -> str:
    """`arn:aws:iam::<acct>:role<path><name>`; the path starts and ends with '/'."""
    return f"arn:aws:iam::{account_id}:role{path}{name}"


def parse_role_arn(arn: str) -> tuple[str, str, str] | None:
    """(account id, path, name) of a role ARN, or None when it is not one."""
    match = ROLE_ARN.fullmatch(arn)
    if match is None or len(match.group(2)) > ROLE_PATH_MAX:
        return None
    return match.group(1), match.group(2), match.group(3)


def saml_provider_arn(account_id: str, name: str) -> str:
    """`arn:aws:iam::<acct>:saml-provider/<name>`."""
    return f"arn:aws:iam::{account_id}:saml-provider/{name}"


def oidc_provider_arn(account_id: str, issuer: str) -> str:
    """`arn:aws:iam::<acct>:oidc-provider/<host+path>`, as AWS names OIDC providers."""
    parts = urlsplit(issuer)
    return f"arn:aws:iam::{account_id}:oidc-provider/{parts.netloc}{parts.path.rstrip('/')}"


def new_role_id() -> str:
    """A fresh unique role id: `AROA` + 17 characters [A-Z0-9], like AWS."""
    return "AROA" + "".join(secrets.choice(_ROLE_ID_ALPHABET) for _ in range(17))
