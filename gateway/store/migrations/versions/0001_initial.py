"""Initial schema: configuration, signing keys, change log, audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _utc() -> sa.DateTime:
    # gateway.store.types.UTCDateTime stores through this type; migrations must
    # not import application types, which may change after the migration is written.
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=12), nullable=False),
        sa.Column("alias", sa.String(length=63), nullable=True),
        sa.CheckConstraint("length(id) = 12", name=op.f("ck_accounts_id_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("alias", name=op.f("uq_accounts_alias")),
    )
    op.create_table(
        "admin_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_key", sa.String(length=2048), nullable=False),
        sa.Column("before", _json(), nullable=True),
        sa.Column("after", _json(), nullable=True),
        sa.CheckConstraint(
            "action IN ('create', 'update', 'delete')", name=op.f("ck_admin_changes_action")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_changes")),
    )
    op.create_index(op.f("ix_admin_changes_at"), "admin_changes", ["at"], unique=False)
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("principal_arn", sa.String(length=2048), nullable=True),
        sa.Column("role_arn", sa.String(length=2048), nullable=True),
        sa.Column("account", sa.String(length=12), nullable=True),
        sa.Column("provider", sa.String(length=128), nullable=True),
        sa.Column("subject", sa.String(length=1024), nullable=True),
        sa.Column("access_key_id", sa.String(length=128), nullable=True),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=1024), nullable=True),
        sa.Column("error_code", sa.String(length=128), nullable=True),
        sa.Column("detail", _json(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    for column in ("at", "access_key_id", "role_arn", "subject"):
        op.create_index(f"ix_audit_events_{column}", "audit_events", [column], unique=False)
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("activated_at", _utc(), nullable=False),
        sa.Column("deactivated_at", _utc(), nullable=True),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "identity_providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=True),
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("saml_metadata_xml", sa.Text(), nullable=True),
        sa.Column("saml_metadata_url", sa.String(length=2048), nullable=True),
        sa.Column("options", _json(), nullable=False),
        sa.Column("issuer", sa.String(length=2048), nullable=True),
        sa.Column("client_ids", _json(), nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=True),
        sa.Column("scopes", _json(), nullable=False),
        sa.Column("endpoints", _json(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('saml', 'oidc', 'google', 'facebook', 'amazon')",
            name=op.f("ck_identity_providers_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_identity_providers_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_providers")),
        sa.UniqueConstraint("arn", name=op.f("uq_identity_providers_arn")),
        sa.UniqueConstraint("issuer", name=op.f("uq_identity_providers_issuer")),
        sa.UniqueConstraint("name", name=op.f("uq_identity_providers_name")),
    )
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.String(length=21), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("trust_policy", sa.Text(), nullable=False),
        sa.Column("max_session_duration", sa.Integer(), nullable=False),
        sa.Column("revoke_sessions_before", _utc(), nullable=True),
        sa.CheckConstraint("length(role_id) = 21", name=op.f("ck_roles_role_id_length")),
        sa.CheckConstraint(
            "max_session_duration BETWEEN 3600 AND 43200",
            name=op.f("ck_roles_max_session_duration"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_roles_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_roles_account_id_name")),
        sa.UniqueConstraint("arn", name=op.f("uq_roles_arn")),
        sa.UniqueConstraint("role_id", name=op.f("uq_roles_role_id")),
    )
    op.create_table(
        "mapping_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("conditions", _json(), nullable=False),
        sa.Column("role_arn", sa.String(length=2048), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["identity_providers.id"],
            name=op.f("fk_mapping_rules_provider_id_identity_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_arn"],
            ["roles.arn"],
            name=op.f("fk_mapping_rules_role_arn_roles"),
            onupdate="CASCADE",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mapping_rules")),
        sa.UniqueConstraint(
            "provider_id", "position", name=op.f("uq_mapping_rules_provider_id_position")
        ),
    )
    op.create_index(op.f("ix_mapping_rules_role_arn"), "mapping_rules", ["role_arn"], unique=False)
    op.create_table(
        "role_policies",
        sa.Column("role_pk", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_pk"],
            ["roles.id"],
            name=op.f("fk_role_policies_role_pk_roles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("role_pk", "name", name=op.f("pk_role_policies")),
    )
    op.create_table(
        "role_tags",
        sa.Column("role_pk", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_pk"], ["roles.id"], name=op.f("fk_role_tags_role_pk_roles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("role_pk", "key", name=op.f("pk_role_tags")),
    )


def downgrade() -> None:
    for table in (
        "role_tags",
        "role_policies",
        "mapping_rules",
        "roles",
        "identity_providers",
        "signing_keys",
        "audit_events",
        "admin_changes",
        "accounts",
    ):
        # Dropping a table drops its indexes with it, on both backends.
        op.drop_table(table)
