"""An immutable in-memory view of the whole configuration, for the hot paths.

Loaded with one query per table and every policy parsed once; after that no
request needs the database. Frozen dataclasses, tuples and read-only mappings
make it safe to share between threads and to swap atomically on reload.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select

from gateway import iam
from gateway.problems import Invalid, Problem
from gateway.store import names
from gateway.store.config_db import last_change_id, read_config, read_roles
from gateway.store.config_schema import (
    AccountSpec,
    AdminRuleSpec,
    ConditionSpec,
    ConfigSpec,
    ProviderKind,
    ProviderSpec,
    RoleSpec,
    RuleSpec,
)
from gateway.store.models import ChangeLogEntry
from gateway.store.types import utcnow

# These are immutable already; the snapshot shares them rather than copying.
Account = AccountSpec
Condition = ConditionSpec
MappingRule = RuleSpec
AdminRule = AdminRuleSpec

K = TypeVar("K")
V = TypeVar("V")


def frozen(mapping: Mapping[K, V]) -> Mapping[K, V]:
    """A read-only view over a private copy."""
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class Role:
    arn: str
    role_id: str
    account_id: str
    name: str
    path: str
    description: str
    max_session_duration: int
    trust_policy: Any  # what gateway.iam.parse_policy returned
    policies: Mapping[str, Any]  # inline policy name → parsed policy
    tags: Mapping[str, str]
    revoke_sessions_before: datetime | None


@dataclass(frozen=True, slots=True)
class IdentityProvider:
    name: str
    kind: ProviderKind
    account_id: str
    arn: str
    # What trust policies name as Principal.Federated: the ARN, or for the social
    # kinds AWS's fixed names (accounts.google.com, graph.facebook.com, www.amazon.com).
    federated_principal: str
    display_name: str | None
    metadata_url: str | None
    metadata_xml: str | None
    issuer: str | None
    client_ids: tuple[str, ...]
    client_secret: str | None
    scopes: tuple[str, ...]
    endpoints: Mapping[str, str]
    options: Mapping[str, bool | tuple[str, ...]]
    rules: tuple[MappingRule, ...]  # in evaluation order
    admin_rules: tuple[AdminRule, ...] = ()  # any one matching makes the person an admin
    # A disabled provider is kept (admin pages, trust policies naming it) but every entry
    # point refuses it: sign-in, its ACS or callback, and token exchange.
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The configuration at `version`, indexed for every lookup a request makes."""

    version: int
    loaded_at: datetime
    accounts_by_id: Mapping[str, Account]
    roles_by_arn: Mapping[str, Role]
    roles_by_id: Mapping[str, Role]  # by AROA… id
    roles_by_account: Mapping[str, tuple[Role, ...]]  # by account id, sorted by name
    providers_by_name: Mapping[str, IdentityProvider]
    providers_by_saml_arn: Mapping[str, IdentityProvider]
    providers_by_issuer: Mapping[str, IdentityProvider]  # OIDC and social kinds
    rules_by_provider: Mapping[str, tuple[MappingRule, ...]]  # by provider name, in order
    # Roles whose policies the policy engine refused at load are left out (a
    # role that cannot be evaluated must not be assumable); why is kept here.
    problems: tuple[Problem, ...] = ()
    # Every compiled policy by (kind, document text). A reload passes the previous
    # snapshot so only changed documents compile (~0.1 ms each: a 10,000-role
    # configuration would otherwise take seconds on every reload).
    compiled: Mapping[tuple[iam.PolicyKind, str], Any] = field(
        default_factory=dict, repr=False, compare=False
    )
    # The newest change-log row this snapshot reflects (None: not read from a database).
    # A reload reads only what changed after it (see `load_snapshot`).
    change_id: int | None = field(default=None, compare=False)


def load_snapshot(
    engine: Engine, version: int, *, strict: bool = False, previous: Snapshot | None = None
) -> Snapshot:
    """Read and index the configuration in one consistent read.

    With `strict`, a policy the engine refuses raises `Invalid` instead of only
    leaving its role out. Given the `previous` snapshot, a reload after changes to
    roles only (an admin's role edit, "revoke sessions", a role created or deleted) reads
    just those roles and patches `previous` (`patch_snapshot`); anything else reads
    everything.
    """
    with engine.connect() as connection:
        _consistent(connection)
        with connection.begin():
            change_id = last_change_id(connection)
            if previous is not None and not strict:
                patched = _reload_changed_roles(connection, previous, version, change_id)
                if patched is not None:
                    return patched
            spec = read_config(connection)
    return build_snapshot(spec, version, strict=strict, previous=previous, change_id=change_id)


# Beyond this many changed entities since the previous snapshot, read everything.
PATCH_LIMIT = 200


def _reload_changed_roles(
    connection: Connection, previous: Snapshot, version: int, change_id: int
) -> Snapshot | None:
    """`previous` brought up to `change_id` by re-reading only the roles changed since;
    None when a full read is needed.

    Sound because every write to the configuration tables goes through
    `config_db.apply`/`apply_role`, which record a change-log row per entity in the same
    transaction, under `lock_config`: change ids become visible in commit order, so the
    rows after `previous.change_id` are exactly what `previous` lacks.
    """
    if previous.change_id is None or change_id < previous.change_id:
        return None
    if change_id == previous.change_id:  # nothing changed (e.g. a key rotation's bump)
        return replace(previous, version=version, loaded_at=utcnow())
    rows = connection.execute(
        select(ChangeLogEntry.entity_type, ChangeLogEntry.before, ChangeLogEntry.after)
        .where(ChangeLogEntry.id > previous.change_id, ChangeLogEntry.id <= change_id)
        .limit(PATCH_LIMIT + 1)
    ).all()
    if len(rows) > PATCH_LIMIT:
        return None
    keys: set[tuple[str, str]] = set()
    arns: set[str] = set()
    for row in rows:
        if row.entity_type != "role":
            return None  # accounts and providers are few; rules index per provider
        for document in (row.before, row.after):
            if document is None:
                continue
            account, name, path = (document.get(k) for k in ("account", "name", "path"))
            if not (isinstance(account, str) and isinstance(name, str) and isinstance(path, str)):
                return None
            keys.add((account, name))
            arns.add(names.role_arn(account, path, name))
    return patch_snapshot(
        previous, version, read_roles(connection, keys), keys=keys, arns=arns,
        change_id=change_id,
    )


def patch_snapshot(
    previous: Snapshot,
    version: int,
    roles: Iterable[RoleSpec],
    *,
    keys: Collection[tuple[str, str]],
    arns: Collection[str],
    change_id: int | None,
) -> Snapshot:
    """`previous` with the roles under `keys` ((account id, name)) replaced by `roles`
    (a key without a role: deleted; a role under no key of `previous`: created), as
    `build_snapshot` would index the result: in every index (by ARN, by id, by account,
    an account's entry gone with its last role) and the problems.

    `arns` are every ARN those roles had or have, so that problems reported for them
    (a role the policy engine refused is not indexed, only reported) are dropped.
    Accounts, providers and rules are shared with `previous` as they are.
    """
    problems: list[Problem] = []
    parse = _Parser(previous.compiled)
    fresh = [role for spec in roles if (role := _role(spec, parse, problems)) is not None]
    by_arn = dict(previous.roles_by_arn)
    by_id = dict(previous.roles_by_id)
    by_account = dict(previous.roles_by_account)
    for account_id in {account_id for account_id, _ in keys}:
        kept: list[Role] = []
        for role in previous.roles_by_account.get(account_id, ()):
            if (role.account_id, role.name) in keys:
                del by_arn[role.arn], by_id[role.role_id]
            else:
                kept.append(role)
        kept += (role for role in fresh if role.account_id == account_id)
        kept.sort(key=lambda role: role.name)  # build_snapshot's order: spec.roles by key
        if kept:
            by_account[account_id] = tuple(kept)
        else:
            by_account.pop(account_id, None)
    for role in fresh:
        by_arn[role.arn] = role
        by_id[role.role_id] = role
    prefixes = tuple(f"roles[{arn}]." for arn in arns)
    kept_problems = [p for p in previous.problems if not p.path.startswith(prefixes)]
    # The compiled documents still in use: shared ones stay, replaced ones go, so many
    # patches in a row hold no more than one load would.
    used = {id(role.trust_policy) for role in by_arn.values()}
    used.update(id(policy) for role in by_arn.values() for policy in role.policies.values())
    compiled = {key: value for key, value in previous.compiled.items() if id(value) in used}
    compiled.update(parse.used)
    return replace(
        previous,
        version=version,
        loaded_at=utcnow(),
        roles_by_arn=MappingProxyType(by_arn),
        roles_by_id=MappingProxyType(by_id),
        roles_by_account=MappingProxyType(by_account),
        problems=(*kept_problems, *problems),
        compiled=MappingProxyType(compiled),
        change_id=change_id,
    )


def _consistent(connection: Connection) -> None:
    # PostgreSQL's default READ COMMITTED gives each query its own view; an import
    # committing between two of them would give a role without its policies.
    if connection.dialect.name == "postgresql":
        connection.execution_options(isolation_level="REPEATABLE READ")


def build_snapshot(
    spec: ConfigSpec,
    version: int,
    *,
    strict: bool = False,
    previous: Snapshot | None = None,
    change_id: int | None = None,
) -> Snapshot:
    """Index a configuration, parsing each distinct policy document once."""
    problems: list[Problem] = []
    roles: list[Role] = []
    parse = _Parser(previous.compiled if previous is not None else {})
    for role_spec in spec.roles:
        role = _role(role_spec, parse, problems)
        if role is not None:
            roles.append(role)
    if strict and problems:
        raise Invalid(problems)
    by_account: dict[str, list[Role]] = {}
    for role in roles:
        by_account.setdefault(role.account_id, []).append(role)
    providers = [_provider(p) for p in spec.providers]
    return Snapshot(
        version=version,
        loaded_at=utcnow(),
        accounts_by_id=frozen({a.id: a for a in spec.accounts}),
        roles_by_arn=frozen({r.arn: r for r in roles}),
        roles_by_id=frozen({r.role_id: r for r in roles}),
        roles_by_account=frozen({k: tuple(v) for k, v in by_account.items()}),
        providers_by_name=frozen({p.name: p for p in providers}),
        providers_by_saml_arn=frozen({p.arn: p for p in providers if p.kind == "saml"}),
        providers_by_issuer=frozen({p.issuer: p for p in providers if p.issuer is not None}),
        rules_by_provider=frozen({p.name: p.rules for p in providers}),
        problems=tuple(problems),
        compiled=MappingProxyType(parse.used),
        change_id=change_id,
    )


class _Parser:
    """`iam.parse_policy`, once per distinct (kind, document text).

    Roles often share documents (the same trust policy for every role of a team);
    compiled policies are immutable, so one compiled object serves them all.
    """

    def __init__(self, previous: Mapping[tuple[iam.PolicyKind, str], Any]) -> None:
        self._previous = previous
        self.used: dict[tuple[iam.PolicyKind, str], Any] = {}

    def __call__(self, text: str, *, kind: iam.PolicyKind, path: str) -> Any:
        key = (kind, text)
        if key not in self.used:
            compiled = self._previous.get(key)
            if compiled is None:
                # A refused document raises here, every time, so each role reports its path.
                compiled = iam.parse_policy(json.loads(text), kind=kind, path=path)
            self.used[key] = compiled
        return self.used[key]



def _role(spec: RoleSpec, parse: _Parser, problems: list[Problem]) -> Role | None:
    where = f"roles[{spec.arn}]"
    try:
        trust = parse(spec.trust_policy, kind="trust", path=f"{where}.trust_policy")
        policies = {
            name: parse(text, kind="identity", path=f"{where}.policies.{name}")
            for name, text in spec.policies
        }
    except Invalid as exc:
        problems.extend(exc.problems)
        return None
    assert spec.role_id is not None  # stored roles always have one
    return Role(
        arn=spec.arn,
        role_id=spec.role_id,
        account_id=spec.account_id,
        name=spec.name,
        path=spec.path,
        description=spec.description,
        max_session_duration=spec.max_session_duration,
        trust_policy=trust,
        policies=frozen(policies),
        tags=frozen(dict(spec.tags)),
        revoke_sessions_before=spec.revoke_sessions_before,
    )


def _provider(spec: ProviderSpec) -> IdentityProvider:
    return IdentityProvider(
        name=spec.name,
        kind=spec.kind,
        account_id=spec.account_id,
        arn=spec.arn,
        federated_principal=names.SOCIAL_PRINCIPALS.get(spec.kind, spec.arn),
        display_name=spec.display_name,
        metadata_url=spec.metadata_url,
        metadata_xml=spec.metadata_xml,
        issuer=spec.issuer,
        client_ids=spec.client_ids,
        client_secret=spec.client_secret,
        scopes=spec.scopes,
        endpoints=frozen(dict(spec.endpoints)),
        options=frozen(dict(spec.options)),
        rules=spec.rules,
        admin_rules=spec.admin_rules,
        enabled=spec.enabled,
    )
