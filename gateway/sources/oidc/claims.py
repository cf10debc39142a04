"""Validated claims → FederatedIdentity, the same for ID tokens and social profiles."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.iam.context import web_identity_keys
from gateway.identity import FederatedIdentity, SourceKind
from gateway.store.snapshot import IdentityProvider

# AWS's claims for session tags and source identity (IAM "Passing session tags using
# AssumeRoleWithWebIdentity", "Monitor and control actions taken with assumed roles").
TAGS_CLAIM = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM = "https://aws.amazon.com/source_identity"
_SESSION_NAME_BAD = re.compile(r"[^\w+=,.@-]", re.ASCII)
_MAX_VALUE = 2048
_MAX_VALUES = 256


def attribute_values(value: Any) -> tuple[str, ...] | None:
    """A claim as strings (mapping rules compare strings); objects are not attributes."""
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, str):
        return (value[:_MAX_VALUE],)
    if isinstance(value, int | float):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v[:_MAX_VALUE] for v in value[:_MAX_VALUES])
    return None


def verified(claims: Mapping[str, Any], name: str = "email_verified") -> bool:
    """Whether a boolean-ish claim is true (some providers send the string "true")."""
    value = claims.get(name)
    return value is True or value == "true"


def attributes(claims: Mapping[str, Any], *, email_is_verified: bool) -> dict[str, tuple[str, ...]]:
    """Claims by name as string tuples; an unverified email is kept out of reach of rules."""
    out: dict[str, tuple[str, ...]] = {}
    for name, value in claims.items():
        values = attribute_values(value)
        if values is not None:
            out[name] = values
    if not email_is_verified:
        # Mapping rules on `email` must never match an address nobody proved they own
        # (the "nOAuth" class of takeovers); the raw value stays visible under its own name.
        unverified = out.pop("email", None)
        if unverified is not None:
            out["email_unverified"] = unverified
    return out


def session_name(*candidates: object) -> str:
    """A RoleSessionName (2-64 of [\\w+=,.@-]) from the first usable candidate."""
    for candidate in candidates:
        if isinstance(candidate, str):
            name = _SESSION_NAME_BAD.sub("-", candidate)[:64]
            if len(name) >= 2:
                return name
    return "federated-user"


def session_tags(claims: Mapping[str, Any]) -> tuple[dict[str, str], tuple[str, ...]]:
    """Principal tags and transitive keys from AWS's tags claim (single-valued lists)."""
    raw = claims.get(TAGS_CLAIM)
    if not isinstance(raw, dict):
        return {}, ()
    tags: dict[str, str] = {}
    principal = raw.get("principal_tags")
    if isinstance(principal, dict):
        for key, value in principal.items():
            if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
                tags[str(key)] = value[0]
    transitive = raw.get("transitive_tag_keys")
    keys: tuple[str, ...] = ()
    if isinstance(transitive, list):
        keys = tuple(k for k in transitive if isinstance(k, str))
    return tags, keys


def upstream_id(claims: Mapping[str, Any], token: str) -> str:
    jti = claims.get("jti")
    if isinstance(jti, str) and 0 < len(jti) <= 128:
        return jti
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def from_id_token(
    provider: IdentityProvider,
    claims: Mapping[str, Any],
    token: str,
    *,
    issuer: str,
    condition_provider: str,
    email_is_verified: bool,
) -> FederatedIdentity:
    """The identity an OpenID Connect ID token (or Facebook Limited Login JWT) proves."""
    tags, transitive = session_tags(claims)
    source_identity = claims.get(SOURCE_IDENTITY_CLAIM)
    auth_time = claims.get("auth_time", claims.get("iat"))
    keyed: dict[str, Any] = dict(claims)
    if provider.kind == "facebook":
        # Limited Login: AWS's Facebook keys are the app id (audience) and user id.
        keyed = {"app_id": claims.get("aud"), "id": claims.get("sub")}
    kind: SourceKind = provider.kind if provider.kind != "saml" else "oidc"
    aud = claims.get("aud")
    return FederatedIdentity(
        provider=provider.name,
        kind=kind,
        issuer=issuer,
        subject=str(claims["sub"]),
        subject_type="oidc",
        audience=(aud,) if isinstance(aud, str) else tuple(aud or ()),
        attributes=attributes(claims, email_is_verified=email_is_verified),
        auth_time=_time(auth_time),
        session_not_on_or_after=None,
        upstream_id=upstream_id(claims, token),
        condition_keys=web_identity_keys(condition_provider, keyed),
        session_name=session_name(
            claims.get("preferred_username"),
            claims.get("email") if email_is_verified else None,
            claims.get("sub"),
        ),
        session_tags=tags,
        transitive_tag_keys=transitive,
        source_identity=source_identity if isinstance(source_identity, str) else None,
    )


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None  # an auth_time no calendar holds (found by tests/fuzz): unknown
    return None
