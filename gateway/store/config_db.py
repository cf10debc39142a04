"""The configuration in the database: read it whole, and apply a desired state.

Both directions go through `ConfigSpec`, so "what is stored" and "what the file
says" are compared as equal values, and the store writes only real differences.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.orm import Session

from gateway.problems import Invalid, Problem, join
from gateway.store import names
from gateway.store.changelog import EntityType, record_change
from gateway.store.config_schema import (
    AccountSpec,
    AdminRuleSpec,
    ConditionSpec,
    ConfigSpec,
    Operator,
    OptionValue,
    ProviderKind,
    ProviderSpec,
    RoleSpec,
    RuleSpec,
    account_document,
    provider_document,
    role_document,
)
from gateway.store.models import (
    Account,
    ChangeLogEntry,
    IdentityProvider,
    MappingRule,
    Role,
    RolePolicy,
    RoleTag,
)

# ---------------------------------------------------------------- reading


def read_config(connection: Connection | Session) -> ConfigSpec:
    """The stored configuration: one query per table, whatever its size."""
    policies: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for row in connection.execute(select(RolePolicy.role_pk, RolePolicy.name, RolePolicy.document)):
        policies[row.role_pk].append((row.name, row.document))
    tags: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for row in connection.execute(select(RoleTag.role_pk, RoleTag.key, RoleTag.value)):
        tags[row.role_pk].append((row.key, row.value))
    rules: dict[int, list[tuple[int, RuleSpec]]] = defaultdict(list)
    for row in connection.execute(select(MappingRule.__table__)):
        rules[row.provider_id].append((row.position, _rule(row)))

    accounts = [
        AccountSpec(row.id, row.alias) for row in connection.execute(select(Account.__table__))
    ]
    roles = [
        _role_spec(row, policies[row.id], tags[row.id])
        for row in connection.execute(select(Role.__table__))
    ]
    providers = [
        _provider(row, [rule for _, rule in sorted(rules[row.id], key=lambda pair: pair[0])])
        for row in connection.execute(select(IdentityProvider.__table__))
    ]
    return ConfigSpec.of(accounts, roles, providers)


def read_roles(
    connection: Connection | Session, keys: Collection[tuple[str, str]]
) -> list[RoleSpec]:
    """The stored roles among `keys` ((account id, name) pairs), in key order; roles that do
    not exist are left out. A few queries touching only those rows, whatever the size."""
    wanted = set(keys)
    if not wanted:
        return []
    rows = []
    # Two IN lists per query: half a chunk each stays under SQLite's bound-parameter limit.
    ordered, step = sorted(wanted), _CHUNK // 2
    for start in range(0, len(ordered), step):
        chunk = ordered[start : start + step]
        query = select(Role.__table__).where(
            Role.account_id.in_({a for a, _ in chunk}), Role.name.in_({n for _, n in chunk})
        )
        rows += [row for row in connection.execute(query) if (row.account_id, row.name) in wanted]
    pks = [row.id for row in rows]
    policies: dict[int, list[tuple[str, str]]] = defaultdict(list)
    tags: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for start in range(0, len(pks), _CHUNK):
        chunk_pks = pks[start : start + _CHUNK]
        for row in connection.execute(
            select(RolePolicy.role_pk, RolePolicy.name, RolePolicy.document).where(
                RolePolicy.role_pk.in_(chunk_pks)
            )
        ):
            policies[row.role_pk].append((row.name, row.document))
        for row in connection.execute(
            select(RoleTag.role_pk, RoleTag.key, RoleTag.value).where(
                RoleTag.role_pk.in_(chunk_pks)
            )
        ):
            tags[row.role_pk].append((row.key, row.value))
    return sorted(
        (_role_spec(row, policies[row.id], tags[row.id]) for row in rows), key=lambda r: r.key
    )


def read_role(connection: Connection | Session, account_id: str, name: str) -> RoleSpec | None:
    """One stored role, or None."""
    found = read_roles(connection, [(account_id, name)])
    return found[0] if found else None


def last_change_id(connection: Connection | Session) -> int:
    """The newest change-log row's id (0 for none): every configuration write adds rows."""
    return connection.scalar(select(func.max(ChangeLogEntry.id))) or 0


def _role_spec(row: Any, policies: list[tuple[str, str]], tags: list[tuple[str, str]]) -> RoleSpec:
    return RoleSpec(
        account_id=row.account_id,
        name=row.name,
        path=row.path,
        role_id=row.role_id,
        description=row.description,
        max_session_duration=row.max_session_duration,
        trust_policy=row.trust_policy,
        policies=tuple(sorted(policies)),
        tags=tuple(sorted(tags)),
        revoke_sessions_before=row.revoke_sessions_before,
    )


def _rule(row: Any) -> RuleSpec:
    return RuleSpec(
        role_arn=row.role_arn,
        description=row.description,
        conditions=tuple(
            ConditionSpec(
                claim=c["claim"],
                operator=cast(Operator, c["operator"]),
                values=tuple(c["values"]) if "values" in c else (c["value"],),
            )
            for c in row.conditions
        ),
    )


def _provider(row: Any, rules: list[RuleSpec]) -> ProviderSpec:
    options: list[tuple[str, OptionValue]] = [
        (key, tuple(value) if isinstance(value, list) else bool(value))
        for key, value in row.options.items()
    ]
    return ProviderSpec(
        name=row.name,
        kind=cast(ProviderKind, row.kind),
        account_id=row.account_id,
        display_name=row.display_name,
        metadata_url=row.saml_metadata_url,
        metadata_xml=row.saml_metadata_xml,
        issuer=row.issuer,
        client_ids=tuple(row.client_ids),
        client_secret=row.client_secret,
        scopes=tuple(row.scopes),
        endpoints=tuple(sorted(row.endpoints.items())),
        options=tuple(sorted(options)),
        rules=tuple(rules),
        admin_rules=tuple(
            AdminRuleSpec(
                conditions=_conditions(rule["when"]), description=rule.get("description", "")
            )
            for rule in row.admin_rules or ()
        ),
        enabled=bool(row.enabled),
    )


# ---------------------------------------------------------------- planning

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True, slots=True)
class EntityChange:
    """One entity the import creates, updates or deletes."""

    action: Action
    entity_type: EntityType
    key: str  # account id, role ARN or provider name
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def __str__(self) -> str:
        return f"{self.action} {self.entity_type.replace('_', ' ')} {self.key}"


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import changed (or, with dry_run, would change)."""

    changes: tuple[EntityChange, ...]
    notes: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def __str__(self) -> str:
        lines = [str(change) for change in self.changes] + [f"note: {n}" for n in self.notes]
        verb = "would change" if self.dry_run else "changed"
        summary = (
            f"{verb}: {self.count('create')} created, {self.count('update')} updated, "
            f"{self.count('delete')} deleted"
            if self.changes
            else "no changes"
        )
        return "\n".join([*lines, summary])


def resolve(
    current: ConfigSpec,
    desired: ConfigSpec,
    *,
    locate: Callable[[RoleSpec], str] = lambda role: f"role {role.arn}",
) -> tuple[ConfigSpec, list[str]]:
    """The desired state completed from the stored one.

    * A role keeps the id it already has (ids name a role in session ARNs and audit
      records; a file without ids must not change them); a new role gets a fresh one.
    * `revoke_sessions_before` only moves forward: importing an older file must not
      silently revive sessions that an operator revoked.
    Raises `Invalid` when the file asks for something the stored state forbids;
    `locate` names a role's place in the document for those problems.
    """
    existing = {role.key: role for role in current.roles}
    desired_keys = {role.key for role in desired.roles}
    # Ids of roles that stay; a deleted role's id may be taken over (a rename keeping its id).
    kept_ids = {role.role_id: role for role in current.roles if role.key in desired_keys}
    taken = {role.role_id for role in current.roles} | {
        role.role_id for role in desired.roles if role.role_id is not None
    }
    problems: list[Problem] = []
    notes: list[str] = []
    roles: list[RoleSpec] = []
    for role in desired.roles:
        old = existing.get(role.key)
        role_id = role.role_id
        if old is not None and role_id is not None and role_id != old.role_id:
            problems.append(
                Problem(
                    join(locate(role), "id"),
                    f"role {old.arn} already has id {old.role_id}; a role's id cannot change",
                )
            )
        elif old is None and role_id is not None and role_id in kept_ids:
            problems.append(
                Problem(join(locate(role), "id"), f"already the id of role {kept_ids[role_id].arn}")
            )
        if role_id is None:
            role_id = old.role_id if old is not None else _fresh_role_id(taken)
        revoke = role.revoke_sessions_before
        if (
            old is not None
            and old.revoke_sessions_before is not None
            and (revoke is None or revoke < old.revoke_sessions_before)
        ):
            revoke = old.revoke_sessions_before
            notes.append(f"{role.arn}: kept the later revoke_sessions_before already stored")
        roles.append(replace(role, role_id=role_id, revoke_sessions_before=revoke))
    if problems:
        raise Invalid(problems)
    return ConfigSpec.of(desired.accounts, roles, desired.providers), notes


def _fresh_role_id(taken: set[str | None]) -> str:
    while (role_id := names.new_role_id()) in taken:
        pass
    taken.add(role_id)
    return role_id


def plan(current: ConfigSpec, desired: ConfigSpec) -> list[EntityChange]:
    """Every entity-level difference; rules and policies belong to their provider / role."""
    changes: list[EntityChange] = []
    changes += _diff(
        "account",
        {a.id: a for a in current.accounts},
        {a.id: a for a in desired.accounts},
        account_document,
        lambda a: a.id,
    )
    changes += _diff(
        "role",
        {r.key: r for r in current.roles},
        {r.key: r for r in desired.roles},
        lambda r: role_document(r, with_account=True),
        lambda r: r.arn,
    )
    changes += _diff(
        "identity_provider",
        {p.name: p for p in current.providers},
        {p.name: p for p in desired.providers},
        provider_document,
        lambda p: p.name,
    )
    return changes


def _diff(
    entity_type: EntityType,
    current: dict[Any, Any],
    desired: dict[Any, Any],
    document: Any,
    label: Any,
) -> list[EntityChange]:
    changes = []
    for key, new in desired.items():
        old = current.get(key)
        if old is None:
            changes.append(EntityChange("create", entity_type, label(new), None, document(new)))
        elif old != new:
            changes.append(
                EntityChange("update", entity_type, label(new), document(old), document(new))
            )
    for key, old in current.items():
        if key not in desired:
            changes.append(EntityChange("delete", entity_type, label(old), document(old), None))
    return changes


# ---------------------------------------------------------------- applying


def apply(
    session: Session, current: ConfigSpec, desired: ConfigSpec, *, actor: str
) -> list[EntityChange]:
    """Write the difference between `current` and a resolved `desired` state.

    The order keeps every constraint satisfied at every statement (PostgreSQL checks
    them immediately): rules that will change go first, because they pin roles
    (foreign key on the role ARN); deletions run child-first, creations parent-first,
    and accounts are deleted last, after providers that stay have moved off them.
    Every changed entity gets a change-log row; returns the changes.
    """
    old_accounts = {a.id: a for a in current.accounts}
    new_accounts = {a.id: a for a in desired.accounts}
    old_roles = {r.key: r for r in current.roles}
    new_roles = {r.key: r for r in desired.roles}
    old_providers = {p.name: p for p in current.providers}
    new_providers = {p.name: p for p in desired.providers}
    provider_pks: dict[str, int] = {
        name: pk for name, pk in session.execute(select(IdentityProvider.name, IdentityProvider.id))
    }
    role_pks = {
        (account_id, name): pk
        for account_id, name, pk in session.execute(select(Role.account_id, Role.name, Role.id))
    }

    # 1. Rules of providers whose rules change or that go away.
    stale_rules = [
        provider_pks[name]
        for name, old in old_providers.items()
        if name not in new_providers or new_providers[name].rules != old.rules
    ]
    _delete_in(session, MappingRule.provider_id, stale_rules)
    # 2. Deletions, children before parents; accounts last of all (step 6), once the
    # providers that stay have moved off them.
    _delete_in(
        session,
        IdentityProvider.id,
        [provider_pks[name] for name in old_providers if name not in new_providers],
    )
    _delete_in(session, Role.id, [role_pks[key] for key in old_roles if key not in new_roles])

    # 3. Accounts. Aliases are unique: clear every alias that changes or goes away
    # before setting any, so that accounts can swap or inherit aliases in one import.
    gone = [a for a in old_accounts if a not in new_accounts]
    moved = [a for a, new in new_accounts.items() if a in old_accounts and old_accounts[a] != new]
    for account_id in gone + moved:
        session.execute(update(Account).where(Account.id == account_id).values(alias=None))
    for account_id in moved:
        alias = new_accounts[account_id].alias
        session.execute(update(Account).where(Account.id == account_id).values(alias=alias))
    _insert(
        session,
        Account,
        [
            {"id": a.id, "alias": a.alias}
            for a_id, a in new_accounts.items()
            if a_id not in old_accounts
        ],
    )

    # 4. Roles, with their policies and tags replaced wholesale when they differ.
    created_roles = [r for key, r in new_roles.items() if key not in old_roles]
    _insert(session, Role, [_role_row(r) for r in created_roles])
    if created_roles:
        role_pks.update(
            ((account_id, name), pk)
            for account_id, name, pk in session.execute(
                select(Role.account_id, Role.name, Role.id).where(
                    Role.role_id.in_([r.role_id for r in created_roles])
                )
            )
        )
    policy_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    for key, new in new_roles.items():
        _write_role(session, role_pks[key], old_roles.get(key), new, policy_rows, tag_rows)
    _insert(session, RolePolicy, policy_rows)
    _insert(session, RoleTag, tag_rows)

    # 5. Providers, then their rules (which need the roles above). ARNs and issuers
    # are unique: park the ones that change first, so two providers can swap them.
    for name, provider in new_providers.items():
        previous = old_providers.get(name)
        if previous is not None and (previous.arn, previous.issuer) != (
            provider.arn,
            provider.issuer,
        ):
            pk = provider_pks[name]
            session.execute(
                update(IdentityProvider)
                .where(IdentityProvider.id == pk)
                .values(arn=f"pending:{pk}", issuer=None)
            )
    for name, provider in new_providers.items():
        previous = old_providers.get(name)
        if previous is not None and previous != provider:
            session.execute(
                update(IdentityProvider)
                .where(IdentityProvider.id == provider_pks[name])
                .values(**_provider_row(provider))
            )
    created_providers = [p for name, p in new_providers.items() if name not in old_providers]
    _insert(session, IdentityProvider, [_provider_row(p) for p in created_providers])
    if created_providers:
        provider_pks.update(
            (name, pk)
            for name, pk in session.execute(
                select(IdentityProvider.name, IdentityProvider.id).where(
                    IdentityProvider.name.in_([p.name for p in created_providers])
                )
            )
        )
    _insert(
        session,
        MappingRule,
        [
            _rule_row(provider_pks[name], position, rule)
            for name, new in new_providers.items()
            if name not in old_providers or old_providers[name].rules != new.rules
            for position, rule in enumerate(new.rules)
        ],
    )

    # 6. Accounts nothing refers to any more.
    _delete_in(session, Account.id, gone)

    changes = plan(current, desired)
    _record(session, changes, actor)
    return changes


def apply_role(
    session: Session, current: RoleSpec | None, desired: RoleSpec | None, *, actor: str
) -> list[EntityChange]:
    """Write one role's difference: the rows and the change-log row that `apply` writes for
    it, touching no other entity. `current` None creates the (resolved) `desired` role,
    `desired` None deletes `current`, both edit a role that keeps its identity.

    The caller holds `lock_config` and has made the checks `parse_config` makes that involve
    other entities: for an edit none can change their verdict (names, ids and ARNs stay);
    a new role's account must exist and its name and id be free (`account_exists`,
    `roles_named`, `role_with_id`); nothing may still name a deleted role
    (`references_to_role`).
    """
    role = current if current is not None else desired
    if role is None:
        raise ValueError("apply_role needs a role to create, edit or delete")
    if current is not None and desired is not None and (
        (current.key, current.arn, current.role_id) != (desired.key, desired.arn, desired.role_id)
    ):
        raise ValueError("apply_role keeps a role's identity; renames go through apply")
    changes = _diff(
        "role",
        {current.key: current} if current is not None else {},
        {desired.key: desired} if desired is not None else {},
        lambda r: role_document(r, with_account=True),
        lambda r: r.arn,
    )
    if not changes:
        return []
    if current is None:
        _insert(session, Role, [_role_row(role)])  # role is desired
    pk = session.scalar(
        select(Role.id).where(Role.account_id == role.account_id, Role.name == role.name)
    )
    if pk is None:
        raise Invalid([Problem("", f"role {role.arn} is no longer stored")])
    if desired is None:
        _delete_in(session, Role.id, [pk])  # its policies and tags go with it (ON DELETE CASCADE)
    else:
        policy_rows: list[dict[str, Any]] = []
        tag_rows: list[dict[str, Any]] = []
        _write_role(session, pk, current, desired, policy_rows, tag_rows)
        _insert(session, RolePolicy, policy_rows)
        _insert(session, RoleTag, tag_rows)
    _record(session, changes, actor)
    return changes


def account_exists(connection: Connection | Session, account_id: str) -> bool:
    return connection.scalar(select(Account.id).where(Account.id == account_id)) is not None


def roles_named(connection: Connection | Session, account_id: str, name: str) -> list[str]:
    """The stored names of the roles in `account_id` that are `name` regardless of case
    (IAM role names are unique per account regardless of case, as `parse_config` checks).
    Role names are ASCII (`names.ROLE_NAME`), which SQL's lower() folds as Python does."""
    return list(
        connection.scalars(
            select(Role.name)
            .where(Role.account_id == account_id, func.lower(Role.name) == name.lower())
            .order_by(Role.name)
        )
    )


def role_with_id(connection: Connection | Session, role_id: str) -> str | None:
    """The ARN of the stored role with id `role_id`, or None."""
    return connection.scalar(select(Role.arn).where(Role.role_id == role_id))


def references_to_role(connection: Connection | Session, arn: str) -> list[Problem]:
    """What `parse_config` would report of the stored configuration without the role `arn`:
    each mapping rule (or default role) still naming it, at its path in the exported
    document (`config_document`). Reads the rules naming it (an index on the ARN), the
    provider names and those providers' rule positions, not the whole configuration."""
    naming = connection.execute(
        select(MappingRule.provider_id, MappingRule.position).where(MappingRule.role_arn == arn)
    ).all()
    if not naming:
        return []
    providers = dict(connection.execute(select(IdentityProvider.id, IdentityProvider.name)).all())
    # The export lists providers by name (`ConfigSpec.of`), and a provider's rules with
    # conditions as mapping_rules, its rule without any as default_role.
    index = {name: i for i, name in enumerate(sorted(providers.values()))}
    conditional: dict[int, list[int]] = defaultdict(list)
    for row in connection.execute(
        select(MappingRule.provider_id, MappingRule.position, MappingRule.conditions).where(
            MappingRule.provider_id.in_({row.provider_id for row in naming})
        )
    ):
        if row.conditions:
            conditional[row.provider_id].append(row.position)
    # Position among the provider's rules → index in its mapping_rules.
    listed = {pk: {p: i for i, p in enumerate(sorted(ps))} for pk, ps in conditional.items()}
    problems = []
    for row in sorted(naming, key=lambda r: (index[providers[r.provider_id]], r.position)):
        provider = join("identity_providers", index[providers[row.provider_id]])
        at = listed.get(row.provider_id, {}).get(row.position)
        place = f"{provider}.mapping_rules[{at}].role" if at is not None else (
            f"{provider}.default_role")
        problems.append(Problem(place, f"no role {arn} in this configuration"))
    return problems


def _write_role(
    session: Session,
    pk: int,
    old: RoleSpec | None,
    new: RoleSpec,
    policy_rows: list[dict[str, Any]],
    tag_rows: list[dict[str, Any]],
) -> None:
    """Update a role's row and replace its policies and tags where they differ; rows to
    insert are added to `policy_rows` and `tag_rows` (inserted in one statement each)."""
    if old is not None and old != new:
        session.execute(update(Role).where(Role.id == pk).values(**_role_row(new)))
    if old is None or old.policies != new.policies:
        if old is not None:
            _delete_in(session, RolePolicy.role_pk, [pk])
        policy_rows += [{"role_pk": pk, "name": n, "document": d} for n, d in new.policies]
    if old is None or old.tags != new.tags:
        if old is not None:
            _delete_in(session, RoleTag.role_pk, [pk])
        tag_rows += [{"role_pk": pk, "key": k, "value": v} for k, v in new.tags]


def _record(session: Session, changes: Iterable[EntityChange], actor: str) -> None:
    for change in changes:
        record_change(
            session,
            actor=actor,
            action=change.action,
            entity_type=change.entity_type,
            entity_key=change.key,
            before=change.before,
            after=change.after,
        )


_CHUNK = 500  # stays under SQLite's bound-parameter limit for IN lists


def _delete_in(session: Session, column: Any, keys: Sequence[Any]) -> None:
    """DELETE … WHERE column IN keys, given an ORM attribute such as `Role.id`."""
    column = column.property.columns[0]
    for start in range(0, len(keys), _CHUNK):
        session.execute(delete(column.table).where(column.in_(keys[start : start + _CHUNK])))


def _insert(session: Session, model: Any, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if rows:
        session.execute(insert(model.__table__), rows)


def _role_row(role: RoleSpec) -> dict[str, Any]:
    return {
        "role_id": role.role_id,
        "account_id": role.account_id,
        "name": role.name,
        "path": role.path,
        "arn": role.arn,
        "description": role.description,
        "trust_policy": role.trust_policy,
        "max_session_duration": role.max_session_duration,
        "revoke_sessions_before": role.revoke_sessions_before,
    }


def _provider_row(provider: ProviderSpec) -> dict[str, Any]:
    return {
        "name": provider.name,
        "kind": provider.kind,
        "account_id": provider.account_id,
        "display_name": provider.display_name,
        "arn": provider.arn,
        "saml_metadata_xml": provider.metadata_xml,
        "saml_metadata_url": provider.metadata_url,
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in provider.options},
        "issuer": provider.issuer,
        "client_ids": list(provider.client_ids),
        "client_secret": provider.client_secret,
        "scopes": list(provider.scopes),
        "endpoints": dict(provider.endpoints),
        "enabled": provider.enabled,
        "admin_rules": [
            {"description": rule.description, "when": _condition_rows(rule.conditions)}
            if rule.description
            else {"when": _condition_rows(rule.conditions)}
            for rule in provider.admin_rules
        ],
    }


def _rule_row(provider_pk: int, position: int, rule: RuleSpec) -> dict[str, Any]:
    return {
        "provider_id": provider_pk,
        "position": position,
        "description": rule.description,
        "conditions": [
            {"claim": c.claim, "operator": c.operator, "values": list(c.values)}
            if c.operator == "in"
            else {"claim": c.claim, "operator": c.operator, "value": c.values[0]}
            for c in rule.conditions
        ],
        "role_arn": rule.role_arn,
    }


def _conditions(rows: Iterable[dict[str, Any]]) -> tuple[ConditionSpec, ...]:
    """Stored conditions (as `_condition_rows` writes them) back as specs."""
    return tuple(
        ConditionSpec(
            claim=c["claim"],
            operator=cast(Operator, c["operator"]),
            values=tuple(c["values"]) if "values" in c else (c["value"],),
        )
        for c in rows
    )


def _condition_rows(conditions: Iterable[ConditionSpec]) -> list[dict[str, Any]]:
    return [
        {"claim": c.claim, "operator": c.operator, "values": list(c.values)}
        if c.operator == "in"
        else {"claim": c.claim, "operator": c.operator, "value": c.values[0]}
        for c in conditions
    ]
