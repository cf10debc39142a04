"""The schema itself: basic CRUD, constraints as the last line of defence, UTC times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError, StatementError

from gateway.store.db import session_factory, transaction
from gateway.store.models import (
    Account,
    IdentityProvider,
    MappingRule,
    Role,
    RolePolicy,
    RoleTag,
    SigningKey,
)
from gateway.store.names import new_role_id, role_arn

TRUST = '{"Version":"2012-10-17","Statement":[]}'


def _role(account: str = "111111111111", name: str = "Admin", **kw: object) -> Role:
    return Role(
        role_id=new_role_id(),
        account_id=account,
        name=name,
        path="/",
        arn=role_arn(account, "/", name),
        trust_policy=TRUST,
        **kw,
    )


def _seed(engine: Engine) -> None:
    with transaction(engine) as s:
        s.add(Account(id="111111111111", alias="acme-prod"))
        s.flush()
        role = _role()
        role.policies.append(RolePolicy(name="All", document='{"Statement":[]}'))
        role.tags.append(RoleTag(key="team", value="platform"))
        s.add(role)


def test_create_read_update_delete(engine: Engine) -> None:
    _seed(engine)
    with transaction(engine) as s:
        role = s.scalars(select(Role)).one()
        assert role.arn == "arn:aws:iam::111111111111:role/Admin"
        assert role.max_session_duration == 3600 and role.path == "/"
        assert [p.name for p in role.policies] == ["All"]
        assert [(t.key, t.value) for t in role.tags] == [("team", "platform")]
        role.description = "changed"
    with transaction(engine) as s:
        role = s.scalars(select(Role)).one()
        assert role.description == "changed"
        s.delete(role)
    with transaction(engine) as s:
        # Policies and tags go with their role (ON DELETE CASCADE in the database).
        assert s.scalar(select(func.count()).select_from(RolePolicy)) == 0
        assert s.scalar(select(func.count()).select_from(RoleTag)) == 0


def test_database_cascades_policy_rows_without_the_orm(engine: Engine) -> None:
    _seed(engine)
    with transaction(engine) as s:
        s.execute(delete(Role))
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(RolePolicy)) == 0


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Account(id="222222222222", alias="acme-prod"), id="alias"),
        pytest.param(lambda: _role(name="Admin"), id="role-name-in-account"),
        pytest.param(lambda: Account(id="111111111111"), id="account-id"),
    ],
)
def test_duplicates_are_rejected(engine: Engine, make: object) -> None:
    _seed(engine)
    with pytest.raises(IntegrityError), transaction(engine) as s:
        s.add(make())  # type: ignore[operator]


def test_duplicate_provider_names_are_rejected(engine: Engine) -> None:
    _seed(engine)

    def provider(arn_suffix: str) -> IdentityProvider:
        return IdentityProvider(
            name="corp",
            kind="saml",
            account_id="111111111111",
            arn=f"arn:aws:iam::111111111111:saml-provider/{arn_suffix}",
        )

    with transaction(engine) as s:
        s.add(provider("corp"))
    with pytest.raises(IntegrityError), transaction(engine) as s:
        s.add(provider("other"))


def test_same_role_name_in_another_account_is_allowed(engine: Engine) -> None:
    _seed(engine)
    with transaction(engine) as s:
        s.add(Account(id="222222222222"))
        s.flush()
        s.add(_role(account="222222222222", name="Admin"))


@pytest.mark.parametrize("duration", [3599, 43201])
def test_session_duration_outside_iam_limits_is_rejected(engine: Engine, duration: int) -> None:
    _seed(engine)
    with pytest.raises(IntegrityError), transaction(engine) as s:
        s.add(_role(name="Other", max_session_duration=duration))


def test_unknown_provider_kind_is_rejected(engine: Engine) -> None:
    _seed(engine)
    with pytest.raises(IntegrityError), transaction(engine) as s:
        s.add(IdentityProvider(name="x", kind="ldap", account_id="111111111111", arn="arn:x"))


def test_account_with_roles_cannot_be_deleted(engine: Engine) -> None:
    _seed(engine)
    with pytest.raises(IntegrityError), transaction(engine) as s:
        s.execute(delete(Account))


def test_role_with_mapping_rules_cannot_be_deleted_and_rules_follow_a_path_change(
    engine: Engine,
) -> None:
    _seed(engine)
    with transaction(engine) as s:
        provider = IdentityProvider(
            name="corp",
            kind="saml",
            account_id="111111111111",
            arn="arn:aws:iam::111111111111:saml-provider/corp",
        )
        provider.rules.append(
            MappingRule(position=0, conditions=[], role_arn="arn:aws:iam::111111111111:role/Admin")
        )
        s.add(provider)
    with pytest.raises(IntegrityError), transaction(engine) as s:
        s.execute(delete(Role))
    with transaction(engine) as s:
        role = s.scalars(select(Role)).one()
        role.path, role.arn = "/ops/", role_arn("111111111111", "/ops/", "Admin")
    with transaction(engine) as s:
        assert s.scalars(select(MappingRule.role_arn)).one() == role.arn


def test_times_are_stored_and_returned_as_aware_utc(engine: Engine) -> None:
    paris = timezone(timedelta(hours=2))
    created = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=paris)
    with transaction(engine) as s:
        s.add(
            SigningKey(kid="k1", wrapped_key=b"\x00\x01", created_at=created, activated_at=created)
        )
    with session_factory(engine)() as s:
        key = s.get_one(SigningKey, "k1")
        assert key.created_at == created
        assert key.created_at.tzinfo == UTC
        assert key.created_at.hour == 12
        assert key.deactivated_at is None and key.retired is False
        assert key.wrapped_key == b"\x00\x01"


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    naive = datetime(2024, 5, 1, 12, 0)
    with pytest.raises(StatementError, match="naive datetime"), transaction(engine) as s:
        s.add(SigningKey(kid="k1", wrapped_key=b"", activated_at=naive))
