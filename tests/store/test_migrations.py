"""The shipped migrations build exactly the schema the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from gateway.store import migrate
from gateway.store.models import Base


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_migrations_create_exactly_the_models_schema(empty_engine: Engine) -> None:
    assert _diff(empty_engine), "an empty database must differ, or the comparison proves nothing"
    migrate.upgrade(empty_engine)
    assert _diff(empty_engine) == []


def test_migrations_create_the_declared_indexes_and_unique_constraints(
    empty_engine: Engine,
) -> None:
    migrate.upgrade(empty_engine)
    inspector = inspect(empty_engine)
    audit_indexes = {ix["name"] for ix in inspector.get_indexes("audit_events")}
    assert {
        "ix_audit_events_at",
        "ix_audit_events_access_key_id",
        "ix_audit_events_role_arn",
        "ix_audit_events_subject",
    } <= audit_indexes
    role_uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("roles")}
    assert {("role_id",), ("arn",), ("account_id", "name")} <= role_uniques


def test_revision_is_tracked_and_upgrade_is_repeatable(empty_engine: Engine) -> None:
    assert migrate.current_revision(empty_engine) is None
    assert not migrate.is_up_to_date(empty_engine)
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision() == "0004"
    assert migrate.is_up_to_date(empty_engine)
    migrate.upgrade(empty_engine)  # nothing pending: a no-op, not an error
    assert migrate.is_up_to_date(empty_engine)


def test_downgrade_removes_every_table(empty_engine: Engine) -> None:
    from alembic import command

    migrate.upgrade(empty_engine)
    with empty_engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
