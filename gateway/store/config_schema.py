"""The configuration as data: validation, the normalized form, and its document shape.

Three forms of one configuration meet here:

* a *document*: plain nested data as written in YAML (or posted by the admin page);
* a `ConfigSpec`: the validated, normalized, immutable form, sorted and with policies
  as canonical JSON text, so that two equal configurations compare equal;
* the database rows (see `config_db`).

`parse_config` turns a document into a spec (raising `Invalid` with every problem),
`config_document` turns a spec back into the document that export writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast

from gateway import iam
from gateway.problems import Invalid, Problem, join
from gateway.store import names
from gateway.store.checks import Reader

ProviderKind = Literal["saml", "oidc", "google", "facebook", "amazon"]
Operator = Literal[
    "equals", "not_equals", "contains", "starts_with", "matches", "regex", "in", "in_group"
]
OptionValue = bool | tuple[str, ...]

PROVIDER_KINDS: Final[tuple[ProviderKind, ...]] = ("saml", "oidc", "google", "facebook", "amazon")
OIDC_KINDS: Final = frozenset({"oidc", "google", "facebook", "amazon"})
OPERATORS: Final[tuple[Operator, ...]] = (
    "equals", "not_equals", "contains", "starts_with", "matches", "regex", "in", "in_group"
)
# A provider's `default_role` is kept as a last rule without conditions; it applies
# only when no other rule matched (see gateway.roles.rules.matching_rules).
DEFAULT_ROLE_DESCRIPTION: Final = "default role"
# Where the social providers issue tokens; an explicit issuer overrides these.
DEFAULT_ISSUERS: Final[Mapping[str, str]] = {
    "google": "https://accounts.google.com",
    "facebook": "https://www.facebook.com",
    "amazon": "https://www.amazon.com",
}
ENDPOINT_KEYS: Final = (
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "end_session_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
)
# Per kind: option name → "bool" | "urls" | "certificates". Unknown options are typos, so
# they are refused.
OPTIONS: Final[Mapping[str, Mapping[str, str]]] = {
    "saml": {
        "allow_idp_initiated": "bool",
        "allow_sha1": "bool",
        "metadata_signing_certificates": "certificates",
        "relay_state_allowlist": "urls",
        "require_signed_assertion": "bool",
        "require_signed_response": "bool",
        "revoke_on_logout": "bool",
    },
    **{
        kind: {"revoke_on_logout": "bool", "cors_origins": "urls"}
        for kind in ("oidc", "facebook", "amazon")
    },
    "google": {"revoke_on_logout": "bool", "cors_origins": "urls", "hosted_domains": "domains"},
}
MAX_TAGS: Final = 50
MAX_DESCRIPTION: Final = 1000

# Conventional IAM key order; keys not listed follow in code-point order.
_POLICY_KEY_ORDER: Final = ("Version", "Id", "Statement")
_STATEMENT_KEY_ORDER: Final = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)


# ---------------------------------------------------------------- the normalized form


@dataclass(frozen=True, slots=True)
class AccountSpec:
    id: str
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class RoleSpec:
    """A role; `role_id` is None only for a new role read from a file that gave none."""

    account_id: str
    name: str
    trust_policy: str  # canonical JSON text, see `policy_text`
    path: str = "/"
    role_id: str | None = None
    description: str = ""
    max_session_duration: int = names.MIN_SESSION_DURATION
    policies: tuple[tuple[str, str], ...] = ()  # (name, canonical JSON text), by name
    tags: tuple[tuple[str, str], ...] = ()  # by key
    revoke_sessions_before: datetime | None = None

    @property
    def arn(self) -> str:
        return names.role_arn(self.account_id, self.path, self.name)

    @property
    def key(self) -> tuple[str, str]:
        """What identifies a role across imports: IAM role names are unique per account."""
        return (self.account_id, self.name)


@dataclass(frozen=True, slots=True)
class ConditionSpec:
    claim: str
    operator: Operator
    values: tuple[str, ...]  # exactly one unless operator is "in"


@dataclass(frozen=True, slots=True)
class RuleSpec:
    role_arn: str
    conditions: tuple[ConditionSpec, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class AdminRuleSpec:
    """Who signing in through a provider is an administrator: every condition must hold."""

    conditions: tuple[ConditionSpec, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    kind: ProviderKind
    account_id: str
    display_name: str | None = None
    metadata_url: str | None = None
    metadata_xml: str | None = None
    issuer: str | None = None
    client_ids: tuple[str, ...] = ()
    client_secret: str | None = None
    scopes: tuple[str, ...] = ()
    endpoints: tuple[tuple[str, str], ...] = ()  # by key
    options: tuple[tuple[str, OptionValue], ...] = ()  # by key
    rules: tuple[RuleSpec, ...] = ()
    admin_rules: tuple[AdminRuleSpec, ...] = ()
    enabled: bool = True  # False: signs nobody in, its tokens are refused

    @property
    def arn(self) -> str:
        if self.kind == "saml" or self.issuer is None:
            return names.saml_provider_arn(self.account_id, self.name)
        return names.oidc_provider_arn(self.account_id, self.issuer)


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    """The whole configuration, each collection sorted by its key."""

    accounts: tuple[AccountSpec, ...] = ()
    roles: tuple[RoleSpec, ...] = ()
    providers: tuple[ProviderSpec, ...] = field(default=())

    @staticmethod
    def of(
        accounts: Collection[AccountSpec],
        roles: Collection[RoleSpec],
        providers: Collection[ProviderSpec],
    ) -> ConfigSpec:
        """Sorted by key in code-point order, which no database collation changes."""
        return ConfigSpec(
            accounts=tuple(sorted(accounts, key=lambda a: a.id)),
            roles=tuple(sorted(roles, key=lambda r: r.key)),
            providers=tuple(sorted(providers, key=lambda p: p.name)),
        )


# ---------------------------------------------------------------- policies as text


def canonical_policy(document: Mapping[str, Any]) -> dict[str, Any]:
    """The same policy with keys in a fixed order: conventional IAM order, then sorted."""
    result = _ordered(document, _POLICY_KEY_ORDER)
    statements = result.get("Statement")
    if isinstance(statements, list):
        result["Statement"] = [
            _ordered(s, _STATEMENT_KEY_ORDER) if isinstance(s, Mapping) else _sorted(s)
            for s in statements
        ]
    elif isinstance(statements, Mapping):
        result["Statement"] = _ordered(statements, _STATEMENT_KEY_ORDER)
    return result


def _ordered(mapping: Mapping[str, Any], first: tuple[str, ...]) -> dict[str, Any]:
    keys = [k for k in first if k in mapping] + sorted(k for k in mapping if k not in first)
    return {k: _sorted(mapping[k]) for k in keys}


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [_sorted(v) for v in value]
    return value


def policy_text(document: Mapping[str, Any]) -> str:
    """Canonical JSON text of a policy: what the store keeps and compares."""
    return json.dumps(canonical_policy(document), ensure_ascii=False, separators=(",", ":"))


def policy_document(text: str) -> dict[str, Any]:
    """The mapping back from stored text, key order kept."""
    return cast(dict[str, Any], json.loads(text))


# ---------------------------------------------------------------- document → spec

_TOP_KEYS: Final = ("accounts", "identity_providers")
_ACCOUNT_KEYS: Final = ("id", "alias", "roles")
_ROLE_REQUIRED: Final = ("name", "trust_policy")
_ROLE_OPTIONAL: Final = (
    "id",
    "path",
    "description",
    "max_session_duration",
    "revoke_sessions_before",
    "tags",
    "policies",
)
_PROVIDER_REQUIRED: Final = ("name", "kind", "account")
_SAML_KEYS: Final = ("metadata_url", "metadata_xml")
_OIDC_KEYS: Final = (
    "issuer", "client_ids", "client_secret", "scopes", "endpoints", "default_role"
)
_PROVIDER_COMMON: Final = (
    "display_name", "enabled", "options", "mapping_rules", "admin_rules"
)
_RULE_KEYS: Final = ("description", "when", "role")
_CONDITION_KEYS: Final = ("claim", "operator", "value", "values")

_ACCOUNT_ID_EXPECTED: Final = "12 digits"
_ALIAS_EXPECTED: Final = "3-63 lowercase letters, digits and single hyphens, not at either end"
_ROLE_NAME_EXPECTED: Final = "1-64 characters from letters, digits and +=,.@_-"
_PATH_EXPECTED: Final = 'a path "/" or "/segment/.../" of printable ASCII without spaces'
_ROLE_ID_EXPECTED: Final = "AROA followed by 17 uppercase letters or digits"
_POLICY_NAME_EXPECTED: Final = "1-128 characters from letters, digits and +=,.@_-"
_PROVIDER_NAME_EXPECTED: Final = "1-128 letters, digits, '.', '_' or '-', starting alphanumeric"
_ROLE_ARN_EXPECTED: Final = "a role ARN arn:aws:iam::<12 digits>:role/<path/><name>"
_SCOPE_EXPECTED: Final = "a scope without spaces"
_NO_SPACES: Final = re.compile(r"\S+")
_DOMAIN: Final = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def parse_config(data: Any) -> ConfigSpec:
    """The normalized configuration, or `Invalid` listing every problem."""
    reader = Reader()
    spec = _read_config(reader, data)
    if reader.problems or spec is None:
        raise Invalid(reader.problems)
    return spec


def validate_config(data: Any) -> list[Problem]:
    """Every problem with a configuration document; empty when it is valid."""
    reader = Reader()
    _read_config(reader, data)
    return reader.problems


def validate_role(data: Any, *, account_id: str, path: str = "") -> list[Problem]:
    """Every problem with one role document (as under `accounts[i].roles`)."""
    reader = Reader()
    _read_role(reader, data, path, account_id)
    return reader.problems


def parse_role(data: Any, *, account_id: str, path: str = "") -> RoleSpec:
    """One role document (as under `accounts[i].roles`) as a spec, or `Invalid` listing every
    problem with it: the checks `parse_config` makes of each role, nothing weaker. What
    involves other entities (unique names and ids, rules naming the role) is the caller's."""
    reader = Reader()
    role = _read_role(reader, data, path, account_id)
    if reader.problems or role is None:
        raise Invalid(reader.problems or [Problem(path, "expected a role")])
    return role


def validate_identity_provider(
    data: Any,
    *,
    path: str = "",
    account_ids: Collection[str] | None = None,
    role_arns: Collection[str] | None = None,
) -> list[Problem]:
    """Every problem with one identity provider document; references to accounts and
    roles are checked when the collections they must be in are given."""
    reader = Reader()
    _read_provider(reader, data, path, account_ids, role_arns)
    return reader.problems


def _read_config(reader: Reader, data: Any) -> ConfigSpec | None:
    top = reader.mapping(
        data, "", required=_TOP_KEYS, what="a mapping with accounts and identity_providers"
    )
    if top is None:
        return None
    accounts: list[AccountSpec] = []
    roles: list[RoleSpec] = []
    account_paths: dict[str, str] = {}
    alias_paths: dict[str, str] = {}
    role_id_paths: dict[str, str] = {}
    raw_accounts = reader.sequence(top["accounts"], "accounts") if "accounts" in top else None
    for index, raw in enumerate(raw_accounts or ()):
        path = join("accounts", index)
        account = _read_account(reader, raw, path)
        if account is None:
            continue
        duplicate = _duplicate(reader, account_paths, account.id, join(path, "id"), "account id")
        if account.alias is not None:
            _duplicate(reader, alias_paths, account.alias, join(path, "alias"), "alias")
        # Roles are read even under a bad or duplicate account: report everything at once.
        for role, role_path in _read_roles(
            reader, raw.get("roles"), join(path, "roles"), account.id
        ):
            if role.role_id is not None:
                _duplicate(reader, role_id_paths, role.role_id, join(role_path, "id"), "role id")
            roles.append(role)
        if not duplicate:
            accounts.append(account)

    providers: list[ProviderSpec] = []
    # Rules may name any role the file declares, valid or not: a role with a bad
    # policy is reported once, not again by every rule that maps to it.
    role_arns = _declared_role_arns(raw_accounts or [])
    name_paths: dict[str, str] = {}
    issuer_paths: dict[str, str] = {}
    raw_providers = (
        reader.sequence(top["identity_providers"], "identity_providers")
        if "identity_providers" in top
        else None
    )
    for index, raw in enumerate(raw_providers or ()):
        path = join("identity_providers", index)
        provider = _read_provider(reader, raw, path, account_paths.keys(), role_arns)
        if provider is None:
            continue
        # Names appear in URLs, where case is not a reliable difference.
        if _duplicate(
            reader, name_paths, provider.name.lower(), join(path, "name"), "identity provider name"
        ):
            continue
        # One configuration per issuer: an incoming token's `iss` must pick exactly one.
        if provider.issuer is not None and _duplicate(
            reader, issuer_paths, provider.issuer.rstrip("/"), join(path, "issuer"), "issuer"
        ):
            continue
        providers.append(provider)
    return ConfigSpec.of(accounts, roles, providers)


def _declared_role_arns(raw_accounts: list[Any]) -> set[str]:
    arns = set()
    for account in raw_accounts:
        roles = account.get("roles") if isinstance(account, Mapping) else None
        for role in roles if isinstance(roles, list) else ():
            if not isinstance(role, Mapping):
                continue
            path = role.get("path") or "/"
            if isinstance(role.get("name"), str) and isinstance(path, str):
                arns.add(names.role_arn(str(account.get("id")), path, role["name"]))
    return arns


def _duplicate(reader: Reader, seen: dict[str, str], key: str, path: str, what: str) -> bool:
    """Report `key` when an earlier entry at seen[key] already used it."""
    if key in seen:
        reader.problem(path, f"duplicate {what}: already used at {seen[key]}")
        return True
    seen[key] = path
    return False


def _read_account(reader: Reader, raw: Any, path: str) -> AccountSpec | None:
    """The account, or None when it is not even a mapping; a bad id still yields one
    (with the id as given) so that its roles are checked too."""
    account = reader.mapping(raw, path, required=("id",), optional=("alias", "roles"))
    if account is None:
        return None
    raw_id = account.get("id")
    if "id" in account:
        reader.string(
            raw_id, join(path, "id"), pattern=names.ACCOUNT_ID, expected=_ACCOUNT_ID_EXPECTED
        )
    alias = None
    if account.get("alias") is not None:
        alias = reader.string(
            account["alias"],
            join(path, "alias"),
            pattern=names.ACCOUNT_ALIAS,
            expected=_ALIAS_EXPECTED,
        )
    if account.get("roles") is not None:
        reader.sequence(account["roles"], join(path, "roles"))
    return AccountSpec(str(raw_id), alias)


def _read_roles(reader: Reader, raw: Any, path: str, account_id: str) -> list[tuple[RoleSpec, str]]:
    if not isinstance(raw, list):
        return []  # absent, or already reported by _read_account
    roles: list[tuple[RoleSpec, str]] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(raw):
        role_path = join(path, index)
        role = _read_role(reader, item, role_path, account_id)
        # IAM role names are unique per account regardless of case.
        if role is not None and not _duplicate(
            reader, seen, role.name.lower(), join(role_path, "name"), "role name in this account"
        ):
            roles.append((role, role_path))
    return roles


def _read_role(reader: Reader, raw: Any, path: str, account_id: str) -> RoleSpec | None:
    role = reader.mapping(raw, path, required=_ROLE_REQUIRED, optional=_ROLE_OPTIONAL)
    if role is None:
        return None
    before = len(reader.problems)
    name = (
        reader.string(
            role.get("name"),
            join(path, "name"),
            pattern=names.ROLE_NAME,
            expected=_ROLE_NAME_EXPECTED,
        )
        if "name" in role
        else None
    )
    role_path = "/"
    if role.get("path") is not None:
        role_path = (
            reader.string(
                role["path"],
                join(path, "path"),
                pattern=names.ROLE_PATH,
                expected=_PATH_EXPECTED,
                max_length=names.ROLE_PATH_MAX,
            )
            or "/"
        )
    role_id = None
    if role.get("id") is not None:
        role_id = reader.string(
            role["id"], join(path, "id"), pattern=names.ROLE_ID, expected=_ROLE_ID_EXPECTED
        )
    description = ""
    if role.get("description") is not None:
        description = (
            reader.string(
                role["description"], join(path, "description"), max_length=MAX_DESCRIPTION
            )
            or ""
        )
    duration = names.MIN_SESSION_DURATION
    if "max_session_duration" in role:
        duration = (
            reader.integer(
                role["max_session_duration"],
                join(path, "max_session_duration"),
                low=names.MIN_SESSION_DURATION,
                high=names.MAX_SESSION_DURATION,
                unit="seconds",
            )
            or duration
        )
    revoke = None
    if role.get("revoke_sessions_before") is not None:
        revoke = _read_instant(
            reader, role["revoke_sessions_before"], join(path, "revoke_sessions_before")
        )
    trust = None
    if "trust_policy" in role:
        trust = _read_policy(reader, role["trust_policy"], join(path, "trust_policy"), "trust")
    policies: list[tuple[str, str]] = []
    if role.get("policies") is not None:
        for policy_name, document in reader.items(role["policies"], join(path, "policies")) or ():
            policy_path = join(join(path, "policies"), policy_name)
            if (
                reader.string(
                    policy_name,
                    policy_path,
                    pattern=names.POLICY_NAME,
                    expected=_POLICY_NAME_EXPECTED,
                )
                is None
            ):
                continue
            text = _read_policy(reader, document, policy_path, "identity")
            if text is not None:
                policies.append((policy_name, text))
    tags = (
        _read_tags(reader, role.get("tags"), join(path, "tags"))
        if role.get("tags") is not None
        else ()
    )
    if len(reader.problems) > before or name is None or trust is None:
        return None
    return RoleSpec(
        account_id=account_id,
        name=name,
        path=role_path,
        role_id=role_id,
        description=description,
        max_session_duration=duration,
        trust_policy=trust,
        policies=tuple(sorted(policies)),
        tags=tags,
        revoke_sessions_before=revoke,
    )


def _read_policy(reader: Reader, raw: Any, path: str, kind: iam.PolicyKind) -> str | None:
    document = reader.json_document(raw, path)
    if document is None:
        return None
    # Called through the module so the policy engine that replaces the stub is the one used.
    problems = iam.validate_policy(document, kind=kind, path=path)
    if problems:
        reader.problems.extend(problems)
        return None
    return policy_text(document)


def _read_tags(reader: Reader, raw: Any, path: str) -> tuple[tuple[str, str], ...]:
    entries = reader.items(raw, path)
    if entries is None:
        return ()
    if len(entries) > MAX_TAGS:
        reader.problem(path, f"at most {MAX_TAGS} tags, got {len(entries)}")
    tags: list[tuple[str, str]] = []
    for key, value in entries:
        tag_path = join(path, key)
        if not names.TAG_KEY.fullmatch(key):
            reader.problem(tag_path, "tag keys are 1-128 letters, digits, spaces and _.:/=+-@")
            continue
        if key.lower().startswith("aws:"):
            reader.problem(tag_path, 'tag keys must not start with "aws:"')
            continue
        text = reader.string(
            value,
            tag_path,
            pattern=names.TAG_VALUE,
            expected="a tag value: 0-256 letters, digits, spaces and _.:/=+-@",
        )
        if text is not None:
            tags.append((key, text))
    return tuple(sorted(tags))


def _read_instant(reader: Reader, raw: Any, path: str) -> datetime | None:
    expected = "an ISO 8601 time with a time zone, e.g. 2024-05-01T12:00:00Z"
    text = reader.string(raw, path, expected=expected)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        reader.problem(path, f"expected {expected}, got {text!r}")
        return None
    if value.tzinfo is None:
        reader.problem(path, f"expected {expected}: the time zone is missing")
        return None
    return value.astimezone(UTC)


def _read_provider(
    reader: Reader,
    raw: Any,
    path: str,
    account_ids: Collection[str] | None,
    role_arns: Collection[str] | None,
) -> ProviderSpec | None:
    kind_value = raw.get("kind") if isinstance(raw, Mapping) else None
    kind_specific: tuple[str, ...] = ()
    if kind_value == "saml":
        kind_specific = _SAML_KEYS
    elif isinstance(kind_value, str) and kind_value in OIDC_KINDS:  # a list is not hashable
        kind_specific = _OIDC_KEYS
    provider = reader.mapping(
        raw,
        path,
        required=_PROVIDER_REQUIRED,
        optional=(*_PROVIDER_COMMON, *kind_specific)
        if kind_specific
        else (*_PROVIDER_COMMON, *_SAML_KEYS, *_OIDC_KEYS),
    )
    if provider is None:
        return None
    before = len(reader.problems)
    name = (
        reader.string(
            provider.get("name"),
            join(path, "name"),
            pattern=names.PROVIDER_NAME,
            expected=_PROVIDER_NAME_EXPECTED,
        )
        if "name" in provider
        else None
    )
    kind = (
        reader.choice(kind_value, join(path, "kind"), PROVIDER_KINDS)
        if "kind" in provider
        else None
    )
    account = None
    if "account" in provider:
        account = reader.string(
            provider["account"],
            join(path, "account"),
            pattern=names.ACCOUNT_ID,
            expected=_ACCOUNT_ID_EXPECTED,
        )
        if account is not None and account_ids is not None and account not in account_ids:
            reader.problem(join(path, "account"), f"no account {account} in this configuration")
    display_name = None
    if provider.get("display_name") is not None:
        display_name = reader.string(
            provider["display_name"], join(path, "display_name"), max_length=128
        )
    enabled = True
    if provider.get("enabled") is not None:
        enabled = reader.boolean(provider["enabled"], join(path, "enabled")) is not False
    fields: dict[str, Any] = {}
    if kind == "saml":
        if provider.get("metadata_url") is not None:
            fields["metadata_url"] = reader.url(
                provider["metadata_url"], join(path, "metadata_url")
            )
        if provider.get("metadata_xml") is not None:
            fields["metadata_xml"] = reader.string(
                provider["metadata_xml"], join(path, "metadata_xml"), allow_empty=False
            )
    elif kind is not None:
        fields.update(_read_oidc_fields(reader, provider, path, kind))
    options: tuple[tuple[str, OptionValue], ...] = ()
    if kind is not None and provider.get("options") is not None:
        options = _read_options(reader, provider["options"], join(path, "options"), kind)
    rules: list[RuleSpec] = []
    if provider.get("mapping_rules") is not None:
        for index, item in enumerate(
            reader.sequence(provider["mapping_rules"], join(path, "mapping_rules")) or ()
        ):
            rule = _read_rule(reader, item, join(join(path, "mapping_rules"), index), role_arns)
            if rule is not None:
                rules.append(rule)
    if provider.get("default_role") is not None:
        default = _read_role_arn(reader, provider["default_role"], join(path, "default_role"),
                                 role_arns)
        if default is not None:
            rules.append(RuleSpec(default, (), DEFAULT_ROLE_DESCRIPTION))
    admin_rules: list[AdminRuleSpec] = []
    if provider.get("admin_rules") is not None:
        for index, item in enumerate(
            reader.sequence(provider["admin_rules"], join(path, "admin_rules")) or ()
        ):
            admin_rule = _read_admin_rule(reader, item, join(join(path, "admin_rules"), index))
            if admin_rule is not None:
                admin_rules.append(admin_rule)
    if len(reader.problems) > before or name is None or kind is None or account is None:
        return None
    return ProviderSpec(
        name=name,
        kind=cast(ProviderKind, kind),
        account_id=account,
        display_name=display_name,
        options=options,
        rules=tuple(rules),
        admin_rules=tuple(admin_rules),
        enabled=enabled,
        **fields,
    )


def _read_oidc_fields(
    reader: Reader, provider: Mapping[str, Any], path: str, kind: str
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if provider.get("issuer") is not None:
        fields["issuer"] = reader.url(provider["issuer"], join(path, "issuer"), allow_query=False)
    elif kind in DEFAULT_ISSUERS:
        fields["issuer"] = DEFAULT_ISSUERS[kind]
    else:
        reader.problem(join(path, "issuer"), f"required for kind {kind}")
    if "client_ids" in provider:
        fields["client_ids"] = reader.strings(
            provider["client_ids"], join(path, "client_ids"), max_length=255, non_empty=True
        )
    else:
        # Without an audience every token for this issuer would be accepted.
        reader.problem(
            join(path, "client_ids"), "required: the audiences (client ids) tokens must carry"
        )
    if provider.get("client_secret") is not None:
        fields["client_secret"] = reader.string(
            provider["client_secret"], join(path, "client_secret"), allow_empty=False
        )
    if provider.get("scopes") is not None:
        fields["scopes"] = reader.strings(
            provider["scopes"], join(path, "scopes"), pattern=_NO_SPACES, expected=_SCOPE_EXPECTED
        )
    if provider.get("endpoints") is not None:
        endpoints = reader.mapping(
            provider["endpoints"], join(path, "endpoints"), optional=ENDPOINT_KEYS
        )
        urls = [
            (key, reader.url(value, join(join(path, "endpoints"), key)))
            for key, value in (endpoints or {}).items()
            if key in ENDPOINT_KEYS
        ]
        fields["endpoints"] = tuple(sorted((k, v) for k, v in urls if v is not None))
    return fields


def _read_options(
    reader: Reader, raw: Any, path: str, kind: str
) -> tuple[tuple[str, OptionValue], ...]:
    allowed = OPTIONS[kind]
    options = reader.mapping(raw, path, optional=tuple(allowed))
    result: list[tuple[str, OptionValue]] = []
    for key, value in (options or {}).items():
        option_type = allowed.get(key)
        if option_type == "bool":
            flag = reader.boolean(value, join(path, key))
            if flag is not None:
                result.append((key, flag))
        elif option_type == "urls":
            urls = reader.strings(value, join(path, key), max_length=2048)
            if urls is not None:
                for index, url in enumerate(urls):
                    reader.url(url, join(join(path, key), index))
                result.append((key, urls))
        elif option_type == "domains":
            domains = reader.strings(value, join(path, key), pattern=_DOMAIN,
                                     expected="a DNS domain such as example.com")
            if domains is not None:
                result.append((key, domains))
        elif option_type == "certificates":  # PEM text, checked when the metadata is read
            certificates = reader.strings(value, join(path, key), max_length=16384)
            if certificates is not None:
                result.append((key, certificates))
    return tuple(sorted(result))


def _read_rule(
    reader: Reader, raw: Any, path: str, role_arns: Collection[str] | None
) -> RuleSpec | None:
    rule = reader.mapping(raw, path, required=("when", "role"), optional=("description",))
    if rule is None:
        return None
    before = len(reader.problems)
    description = ""
    if rule.get("description") is not None:
        description = (
            reader.string(
                rule["description"], join(path, "description"), max_length=MAX_DESCRIPTION
            )
            or ""
        )
    role_arn = None
    if "role" in rule:
        role_arn = reader.string(rule["role"], join(path, "role"), expected=_ROLE_ARN_EXPECTED)
        if role_arn is not None and names.parse_role_arn(role_arn) is None:
            reader.problem(join(path, "role"), f"expected {_ROLE_ARN_EXPECTED}, got {role_arn!r}")
        elif role_arn is not None and role_arns is not None and role_arn not in role_arns:
            reader.problem(join(path, "role"), f"no role {role_arn} in this configuration")
    conditions: list[ConditionSpec] = []
    if "when" in rule:
        items = reader.sequence(rule["when"], join(path, "when"))
        if items == []:
            # An empty rule would match everyone; say so explicitly with a condition.
            reader.problem(join(path, "when"), "at least one condition is required")
        for index, item in enumerate(items or ()):
            condition = _read_condition(reader, item, join(join(path, "when"), index))
            if condition is not None:
                conditions.append(condition)
    if len(reader.problems) > before or role_arn is None:
        return None
    return RuleSpec(role_arn=role_arn, conditions=tuple(conditions), description=description)


def _read_role_arn(
    reader: Reader, raw: Any, path: str, role_arns: Collection[str] | None
) -> str | None:
    role_arn = reader.string(raw, path, expected=_ROLE_ARN_EXPECTED)
    if role_arn is not None and names.parse_role_arn(role_arn) is None:
        reader.problem(path, f"expected {_ROLE_ARN_EXPECTED}, got {role_arn!r}")
        return None
    if role_arn is not None and role_arns is not None and role_arn not in role_arns:
        reader.problem(path, f"no role {role_arn} in this configuration")
        return None
    return role_arn


def _read_admin_rule(reader: Reader, raw: Any, path: str) -> AdminRuleSpec | None:
    """Like a mapping rule without a role: the conditions that make someone an admin."""
    rule = reader.mapping(raw, path, required=("when",), optional=("description",))
    if rule is None:
        return None
    before = len(reader.problems)
    description = ""
    if rule.get("description") is not None:
        description = (
            reader.string(
                rule["description"], join(path, "description"), max_length=MAX_DESCRIPTION
            )
            or ""
        )
    conditions: list[ConditionSpec] = []
    if "when" in rule:
        items = reader.sequence(rule["when"], join(path, "when"))
        if items == []:
            # An admin rule without conditions would make everyone an administrator.
            reader.problem(join(path, "when"), "at least one condition is required")
        for index, item in enumerate(items or ()):
            condition = _read_condition(reader, item, join(join(path, "when"), index))
            if condition is not None:
                conditions.append(condition)
    if len(reader.problems) > before or not conditions:
        return None
    return AdminRuleSpec(conditions=tuple(conditions), description=description)


def _read_condition(reader: Reader, raw: Any, path: str) -> ConditionSpec | None:
    operator_value = raw.get("operator") if isinstance(raw, Mapping) else None
    value_key = "values" if operator_value == "in" else "value"
    condition = reader.mapping(raw, path, required=("claim", "operator", value_key))
    if condition is None:
        return None
    claim = (
        reader.string(
            condition.get("claim"), join(path, "claim"), max_length=256, allow_empty=False
        )
        if "claim" in condition
        else None
    )
    operator = (
        reader.choice(operator_value, join(path, "operator"), OPERATORS)
        if "operator" in condition
        else None
    )
    values: tuple[str, ...] | None = None
    if value_key in condition:
        if value_key == "values":
            values = reader.strings(
                condition["values"], join(path, "values"), max_length=1024, non_empty=True
            )
        else:
            text = reader.string(condition["value"], join(path, "value"), max_length=1024)
            values = (text,) if text is not None else None
    if operator == "regex" and values is not None:
        try:
            re.compile(values[0])
        except re.error as exc:
            reader.problem(join(path, "value"), f"not a valid regular expression: {exc}")
            return None
    if claim is None or operator is None or values is None:
        return None
    return ConditionSpec(claim=claim, operator=cast(Operator, operator), values=values)


# ---------------------------------------------------------------- spec → document


def account_document(account: AccountSpec) -> dict[str, Any]:
    document: dict[str, Any] = {"id": account.id}
    if account.alias is not None:
        document["alias"] = account.alias
    return document


def role_document(role: RoleSpec, *, with_account: bool = False) -> dict[str, Any]:
    """A role as exported; optional fields are left out when empty."""
    document: dict[str, Any] = {"account": role.account_id} if with_account else {}
    document["name"] = role.name
    if role.role_id is not None:
        document["id"] = role.role_id
    document["path"] = role.path
    if role.description:
        document["description"] = role.description
    document["max_session_duration"] = role.max_session_duration
    if role.revoke_sessions_before is not None:
        document["revoke_sessions_before"] = format_instant(role.revoke_sessions_before)
    if role.tags:
        document["tags"] = dict(role.tags)
    document["trust_policy"] = policy_document(role.trust_policy)
    if role.policies:
        document["policies"] = {name: policy_document(text) for name, text in role.policies}
    return document


def provider_document(provider: ProviderSpec) -> dict[str, Any]:
    """A provider as exported, kind-specific fields after the common ones."""
    document: dict[str, Any] = {
        "name": provider.name,
        "kind": provider.kind,
        "account": provider.account_id,
    }
    optional: list[tuple[str, Any]] = [
        ("display_name", provider.display_name),
        # Written only when false, so files from before the flag round-trip unchanged.
        ("enabled", None if provider.enabled else False),
        ("metadata_url", provider.metadata_url),
        ("metadata_xml", provider.metadata_xml),
        ("issuer", provider.issuer),
        ("client_ids", list(provider.client_ids)),
        ("client_secret", provider.client_secret),
        ("scopes", list(provider.scopes)),
        ("endpoints", dict(provider.endpoints)),
        ("options", {k: list(v) if isinstance(v, tuple) else v for k, v in provider.options}),
        ("mapping_rules", [rule_document(rule) for rule in provider.rules if rule.conditions]),
        ("default_role", next((r.role_arn for r in provider.rules if not r.conditions), None)),
        ("admin_rules", [admin_rule_document(rule) for rule in provider.admin_rules]),
    ]
    document.update((key, value) for key, value in optional if value not in (None, [], {}))
    return document


def rule_document(rule: RuleSpec) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if rule.description:
        document["description"] = rule.description
    document["when"] = [condition_document(c) for c in rule.conditions]
    document["role"] = rule.role_arn
    return document


def admin_rule_document(rule: AdminRuleSpec) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if rule.description:
        document["description"] = rule.description
    document["when"] = [condition_document(c) for c in rule.conditions]
    return document


def condition_document(condition: ConditionSpec) -> dict[str, Any]:
    document: dict[str, Any] = {"claim": condition.claim, "operator": condition.operator}
    if condition.operator == "in":
        document["values"] = list(condition.values)
    else:
        document["value"] = condition.values[0]
    return document


def config_document(spec: ConfigSpec) -> dict[str, Any]:
    """The export shape: roles nested under their account, everything sorted."""
    roles_by_account: dict[str, list[dict[str, Any]]] = {}
    for role in spec.roles:
        roles_by_account.setdefault(role.account_id, []).append(role_document(role))
    accounts = []
    for account in spec.accounts:
        document = account_document(account)
        document["roles"] = roles_by_account.get(account.id, [])
        accounts.append(document)
    return {
        "accounts": accounts,
        "identity_providers": [provider_document(p) for p in spec.providers],
    }


def format_instant(value: datetime) -> str:
    """ISO 8601 in UTC with a Z, microseconds only when present."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


__all__ = [
    "AccountSpec",
    "AdminRuleSpec",
    "ConditionSpec",
    "ConfigSpec",
    "ProviderSpec",
    "RoleSpec",
    "RuleSpec",
    "account_document",
    "admin_rule_document",
    "canonical_policy",
    "config_document",
    "parse_config",
    "parse_role",
    "policy_text",
    "provider_document",
    "role_document",
    "validate_config",
    "validate_identity_provider",
    "validate_role",
]
