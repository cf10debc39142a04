"""The request context: who asks, for what action on which resource, with which condition keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from gateway.iam.arn import (
    account_root_arn,
    is_account_id,
    parse_arn,
    parse_role_arn,
    parse_session_arn,
)

Values = tuple[str, ...]
Keys = Mapping[str, Values]
PrincipalType = Literal["AWS", "Federated", "Service", "Anonymous"]

# Identity providers AWS names by host in `Principal.Federated` rather than by provider ARN.
FEDERATED_HOSTS = frozenset(
    {
        "accounts.google.com",
        "graph.facebook.com",
        "www.amazon.com",
        "cognito-identity.amazonaws.com",
    }
)

GLOBAL_KEYS = (
    "aws:CalledVia",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:FederatedProvider",
    "aws:MultiFactorAuthAge",
    "aws:MultiFactorAuthPresent",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:PrincipalIsAWSService",
    "aws:PrincipalOrgID",
    "aws:PrincipalType",
    "aws:Referer",
    "aws:RequestedRegion",
    "aws:ResourceAccount",
    "aws:SecureTransport",
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceIdentity",
    "aws:SourceIp",
    "aws:TagKeys",
    "aws:TokenIssueTime",
    "aws:UserAgent",
    "aws:userid",
    "aws:username",
    "aws:ViaAWSService",
)
TAG_KEY_PREFIXES = ("aws:PrincipalTag/", "aws:RequestTag/", "aws:ResourceTag/")
STS_KEYS = (
    "sts:AWSServiceName",
    "sts:DurationSeconds",
    "sts:ExternalId",
    "sts:RoleSessionName",
    "sts:SourceIdentity",
    "sts:TransitiveTagKeys",
)
SAML_KEYS = (
    "saml:aud",
    "saml:cn",
    "saml:commonName",
    "saml:doc",
    "saml:eduorghomepageuri",
    "saml:eduorgidentityauthnpolicyuri",
    "saml:eduorglegalname",
    "saml:eduorgsuperioruri",
    "saml:eduorgwhitepagesuri",
    "saml:edupersonaffiliation",
    "saml:edupersonassurance",
    "saml:edupersonentitlement",
    "saml:edupersonnickname",
    "saml:edupersonorgdn",
    "saml:edupersonorgunitdn",
    "saml:edupersonprimaryaffiliation",
    "saml:edupersonprimaryorgunitdn",
    "saml:edupersonprincipalname",
    "saml:edupersonscopedaffiliation",
    "saml:edupersontargetedid",
    "saml:givenName",
    "saml:iss",
    "saml:mail",
    "saml:name",
    "saml:namequalifier",
    "saml:organizationStatus",
    "saml:primaryGroupSID",
    "saml:sub",
    "saml:sub_type",
    "saml:surname",
    "saml:uid",
    "saml:x500UniqueIdentifier",
)
WEB_IDENTITY_KEYS = (
    "accounts.google.com:aud",
    "accounts.google.com:oaud",
    "accounts.google.com:sub",
    "cognito-identity.amazonaws.com:amr",
    "cognito-identity.amazonaws.com:aud",
    "cognito-identity.amazonaws.com:sub",
    "graph.facebook.com:app_id",
    "graph.facebook.com:id",
    "www.amazon.com:app_id",
    "www.amazon.com:user_id",
)
# Any OpenID provider contributes `<issuer host/path>:aud|sub|amr`.
OIDC_KEY_SUFFIXES = ("aud", "sub", "amr")

# Keys that carry a set of values; everything else has at most one.
MULTI_VALUED_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:CalledVia",
        "aws:TagKeys",
        "sts:TransitiveTagKeys",
        "cognito-identity.amazonaws.com:amr",
        "saml:cn",
        "saml:eduorghomepageuri",
        "saml:eduorgidentityauthnpolicyuri",
        "saml:eduorglegalname",
        "saml:eduorgsuperioruri",
        "saml:eduorgwhitepagesuri",
        "saml:edupersonaffiliation",
        "saml:edupersonassurance",
        "saml:edupersonentitlement",
        "saml:edupersonnickname",
        "saml:edupersonorgunitdn",
        "saml:edupersonscopedaffiliation",
        "saml:edupersontargetedid",
    )
)

_KNOWN = frozenset(key.lower() for key in (*GLOBAL_KEYS, *STS_KEYS, *SAML_KEYS, *WEB_IDENTITY_KEYS))
_KNOWN_PREFIXES = tuple(prefix.lower() for prefix in TAG_KEY_PREFIXES)


def is_known_key(key: str) -> bool:
    """Whether `key` is a condition key this gateway can put in a context (any OIDC issuer too)."""
    lowered = key.lower()
    if lowered in _KNOWN or (lowered.startswith(_KNOWN_PREFIXES) and "/" in lowered):
        return True
    issuer, _, suffix = lowered.rpartition(":")
    return suffix in OIDC_KEY_SUFFIXES and "." in issuer and not issuer.startswith("aws")


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller as policies see it: an ARN, a federated provider, a service, or anonymous."""

    type: PrincipalType
    id: str
    account: str | None = None
    # (account, lower-cased role name) for a role or a session of it: IAM role names are unique
    # per account regardless of case and path, so this is how a role ARN in a policy matches.
    role: tuple[str, str] | None = None

    @classmethod
    def aws(cls, arn_or_account: str) -> Principal:
        """An IAM/STS principal from its ARN (session, role, user, root) or a bare account id."""
        if is_account_id(arn_or_account):
            return cls("AWS", account_root_arn(arn_or_account), arn_or_account)
        session = parse_session_arn(arn_or_account)
        if session is not None:
            role = (session.account, session.role_name.lower())
            return cls("AWS", arn_or_account, session.account, role)
        role_ref = parse_role_arn(arn_or_account)
        if role_ref is not None:
            role = (role_ref.account, role_ref.name.lower())
            return cls("AWS", arn_or_account, role_ref.account, role)
        arn = parse_arn(arn_or_account)
        account = arn.account if arn is not None and is_account_id(arn.account) else None
        return cls("AWS", arn_or_account, account)

    @classmethod
    def federated(cls, provider: str) -> Principal:
        """A web-identity or SAML caller: provider ARN or a host such as `accounts.google.com`."""
        arn = parse_arn(provider)
        account = arn.account if arn is not None and is_account_id(arn.account) else None
        return cls("Federated", provider, account)

    @classmethod
    def service(cls, name: str) -> Principal:
        """An AWS-style service principal such as `ec2.amazonaws.com`."""
        return cls("Service", name)

    @classmethod
    def anonymous(cls) -> Principal:
        """An unauthenticated caller: only `"Principal": "*"` matches it."""
        return cls("Anonymous", "*")

    @classmethod
    def parse(cls, text: str) -> Principal:
        """Best guess from one string, for command lines: providers, services, else an ARN."""
        if text == "*":
            return cls.anonymous()
        if text in FEDERATED_HOSTS or ":saml-provider/" in text or ":oidc-provider/" in text:
            return cls.federated(text)
        if text.endswith(".amazonaws.com"):
            return cls.service(text)
        return cls.aws(text)


class RequestContext:
    """Action, resource, caller and condition keys (lower-cased) → tuples of string values.

    `keys` accepts str, bool, int, Decimal, datetime or iterables of them, and None for absent;
    `aws:CurrentTime` and `aws:EpochTime` are added from `now` (default: the clock) when absent.
    Immutable once built.
    """

    __slots__ = ("action", "action_lower", "keys", "now", "principal", "resource")

    action: str
    action_lower: str
    resource: str
    principal: Principal | None
    keys: Keys
    now: datetime | None

    def __init__(
        self,
        action: str,
        resource: str,
        principal: Principal | None = None,
        keys: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> None:
        normalized = normalize_keys(keys or {})
        if "aws:currenttime" not in normalized or "aws:epochtime" not in normalized:
            current, epoch = _clock_values(int((now or datetime.now(UTC)).timestamp()))
            normalized.setdefault("aws:currenttime", current)
            normalized.setdefault("aws:epochtime", epoch)
        setter = object.__setattr__
        setter(self, "action", action)
        setter(self, "action_lower", action.lower())
        setter(self, "resource", resource)
        setter(self, "principal", principal)
        setter(self, "keys", normalized)
        setter(self, "now", now)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"RequestContext is immutable; cannot set {name}")

    def __repr__(self) -> str:
        return (
            f"RequestContext(action={self.action!r}, resource={self.resource!r}, "
            f"principal={self.principal!r}, keys={dict(self.keys)!r})"
        )

    def get(self, key: str) -> Values | None:
        """The values of a condition key (any case), or None when absent."""
        return self.keys.get(key.lower())

    @classmethod
    def from_normalized(
        cls,
        action: str,
        resource: str,
        principal: Principal | None,
        keys: dict[str, Values],
        now: datetime,
    ) -> RequestContext:
        """A context over keys already normalized (lower-case names, tuples of strings).

        For hot paths that normalize a session's keys once (the authorization API); `keys`
        is taken over, not copied, and gets the clock keys from `now` when absent.
        """
        if "aws:currenttime" not in keys or "aws:epochtime" not in keys:
            current, epoch = _clock_values(int(now.timestamp()))
            keys.setdefault("aws:currenttime", current)
            keys.setdefault("aws:epochtime", epoch)
        ctx = object.__new__(cls)
        setter = object.__setattr__
        setter(ctx, "action", action)
        setter(ctx, "action_lower", action.lower())
        setter(ctx, "resource", resource)
        setter(ctx, "principal", principal)
        setter(ctx, "keys", keys)
        setter(ctx, "now", now)
        return ctx

    def with_action(self, action: str) -> RequestContext:
        """The same request for another action (keys are shared, not normalized again)."""
        copy = object.__new__(RequestContext)
        for name in self.__slots__:
            object.__setattr__(copy, name, getattr(self, name))
        object.__setattr__(copy, "action", action)
        object.__setattr__(copy, "action_lower", action.lower())
        return copy


@lru_cache(maxsize=64)
def _clock_values(epoch_seconds: int) -> tuple[Values, Values]:
    """aws:CurrentTime and aws:EpochTime for one second (AWS renders whole seconds)."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return (format_time(moment),), (str(epoch_seconds),)


def format_time(moment: datetime) -> str:
    """W3C/ISO 8601 in UTC with a `Z`, as AWS renders date keys."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def normalize_value(value: Any) -> Values:
    """Context values as a tuple of strings; None and empty collections give ()."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, int | Decimal | float):
        return (str(value),)
    if isinstance(value, datetime):
        return (format_time(value),)
    if isinstance(value, bytes):
        raise TypeError("binary context values must be given base64-encoded as str")
    if isinstance(value, Iterable):
        out: list[str] = []
        for item in value:
            out.extend(normalize_value(item))
        return tuple(out)
    raise TypeError(f"unsupported context value type: {type(value).__name__}")


def normalize_keys(keys: Mapping[str, Any]) -> dict[str, Values]:
    """Lower-cased keys mapped to string tuples; None or empty values mean absent.

    Keys that differ only in case are one key: the later one wins (an empty later value
    removes it), so overriding a default never silently makes a key multi-valued.
    """
    out: dict[str, Values] = {}
    for key, value in keys.items():
        # Fast paths for the common shapes: a plain string, or an already-normalized tuple.
        if type(value) is str:
            values: Values = (value,)
        elif type(value) is tuple and all(type(v) is str for v in value):
            values = value
        else:
            values = normalize_value(value)
        if values:
            out[key.lower()] = values
        else:
            out.pop(key.lower(), None)
    return out


def tag_keys(
    kind: Literal["PrincipalTag", "RequestTag", "ResourceTag"], tags: Mapping[str, str]
) -> dict[str, Values]:
    """`aws:<kind>/<key>` for each tag, plus `aws:TagKeys` for request tags."""
    out: dict[str, Values] = {f"aws:{kind.lower()}/{k.lower()}": (v,) for k, v in tags.items()}
    if kind == "RequestTag" and tags:
        out["aws:tagkeys"] = tuple(tags)
    return out


def session_keys(
    *,
    session_arn: str,
    role_arn: str,
    role_id: str | None = None,
    token_issue_time: datetime | None = None,
    principal_tags: Mapping[str, str] | None = None,
    source_identity: str | None = None,
    federated_provider: str | None = None,
    mfa_present: bool | None = None,
) -> dict[str, Values]:
    """The keys AWS sets on every request made with a role session's credentials."""
    session = parse_session_arn(session_arn)
    if session is None:
        raise ValueError(f"not an assumed-role session ARN: {session_arn}")
    keys: dict[str, Any] = {
        "aws:principalarn": role_arn,
        "aws:principalaccount": session.account,
        "aws:principaltype": "AssumedRole",
        "aws:userid": f"{role_id}:{session.session_name}" if role_id else None,
        "aws:tokenissuetime": token_issue_time,
        "aws:sourceidentity": source_identity,
        "aws:federatedprovider": federated_provider,
        "aws:multifactorauthpresent": mfa_present,
    }
    out = normalize_keys(keys)
    out.update(tag_keys("PrincipalTag", principal_tags or {}))
    return out


def saml_keys(
    *,
    aud: str,
    iss: str,
    sub: str,
    sub_type: str,
    namequalifier: str,
    doc: str,
    attributes: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Values]:
    """`saml:*` keys from a validated assertion; `attributes` are already named by their key."""
    keys: dict[str, Any] = {
        "saml:aud": aud,
        "saml:iss": iss,
        "saml:sub": sub,
        "saml:sub_type": sub_type,
        "saml:namequalifier": namequalifier,
        "saml:doc": doc,
    }
    for name, values in (attributes or {}).items():
        key = name if name.lower().startswith("saml:") else f"saml:{name}"
        keys[key.removesuffix("[]")] = tuple(values)
    return normalize_keys(keys)


def web_identity_keys(provider: str, claims: Mapping[str, Any]) -> dict[str, Values]:
    """Web-identity keys AWS derives from a token's claims for `provider`.

    `provider` is `accounts.google.com`, `graph.facebook.com`, `www.amazon.com`, or an OpenID
    issuer URL (the `https://` is dropped, as in AWS's `<issuer>:sub` keys).
    """
    host = provider.removeprefix("https://").rstrip("/")
    keys: dict[str, Any] = {"aws:federatedprovider": provider}
    if host == "accounts.google.com":
        # AWS puts the authorized party in :aud when present, and the raw audience in :oaud.
        keys[f"{host}:aud"] = claims.get("azp") or claims.get("aud")
        keys[f"{host}:oaud"] = claims.get("aud")
        keys[f"{host}:sub"] = claims.get("sub")
    elif host == "graph.facebook.com":
        keys[f"{host}:app_id"] = claims.get("app_id")
        keys[f"{host}:id"] = claims.get("id")
    elif host == "www.amazon.com":
        keys[f"{host}:app_id"] = claims.get("app_id")
        keys[f"{host}:user_id"] = claims.get("user_id")
    else:
        keys[f"{host}:aud"] = claims.get("aud")
        keys[f"{host}:sub"] = claims.get("sub")
        keys[f"{host}:amr"] = claims.get("amr")
    return normalize_keys({k: v for k, v in keys.items() if _scalar_or_strings(v)})


def _scalar_or_strings(value: Any) -> bool:
    """Claims of other shapes (objects, nested lists) are not condition values; drop them."""
    if value is None or isinstance(value, str | bool | int):
        return True
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
