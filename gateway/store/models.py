"""The durable schema: configuration, signing keys, change log and audit trail.

One schema for SQLite and PostgreSQL. Names and limits follow IAM (see
`gateway.store.names`); validation of user input lives in `config_schema`, the
constraints here are the last line of defence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from gateway.store.types import JSONType, UTCDateTime, utcnow

# Stable constraint names: Alembic needs them to alter or drop constraints later,
# and SQLite batch migrations cannot find unnamed ones.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PROVIDER_KINDS = ("saml", "oidc", "google", "facebook", "amazon")
CHANGE_ACTIONS = ("create", "update", "delete")

ARN_LENGTH = 2048
URL_LENGTH = 2048


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    alias: Mapped[str | None] = mapped_column(String(63), unique=True)

    __table_args__ = (CheckConstraint("length(id) = 12", name="id_length"),)


class IdentityProvider(Base):
    __tablename__ = "identity_providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    display_name: Mapped[str | None] = mapped_column(String(128))
    # saml-provider/<name> or oidc-provider/<issuer host+path>: what trust policies name.
    arn: Mapped[str] = mapped_column(String(ARN_LENGTH), unique=True)
    saml_metadata_xml: Mapped[str | None] = mapped_column(Text)
    saml_metadata_url: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # One provider per issuer: an incoming token's `iss` must name exactly one config.
    issuer: Mapped[str | None] = mapped_column(String(URL_LENGTH), unique=True)
    client_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    client_secret: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    endpoints: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    # [{"description": ..., "when": [condition, ...]}]: who signing in here is an admin.
    admin_rules: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONType, default=list, server_default=text("'[]'")
    )
    # A disabled provider stays configured (rules, trust policies naming it) but signs
    # nobody in and its tokens are refused; an administrator can enable it again.
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    rules: Mapped[list[MappingRule]] = relationship(
        back_populates="provider",
        order_by="MappingRule.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in PROVIDER_KINDS) + ")", name="kind"
        ),
    )


class Role(Base):
    __tablename__ = "roles"

    # A surrogate key: the role id (AROA…) is what the outside sees, the name can change.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role_id: Mapped[str] = mapped_column(String(21), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512), default="/")
    # Derived from account, path and name; stored so lookups by ARN use an index.
    arn: Mapped[str] = mapped_column(String(ARN_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(String(1000), default="")
    trust_policy: Mapped[str] = mapped_column(Text)
    max_session_duration: Mapped[int] = mapped_column(Integer, default=3600)
    revoke_sessions_before: Mapped[datetime | None] = mapped_column(UTCDateTime())

    policies: Mapped[list[RolePolicy]] = relationship(
        order_by="RolePolicy.name", cascade="all, delete-orphan", passive_deletes=True
    )
    tags: Mapped[list[RoleTag]] = relationship(
        order_by="RoleTag.key", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        UniqueConstraint("account_id", "name"),
        CheckConstraint("max_session_duration BETWEEN 3600 AND 43200", name="max_session_duration"),
        CheckConstraint("length(role_id) = 21", name="role_id_length"),
    )


class RolePolicy(Base):
    """An inline permission policy of a role."""

    __tablename__ = "role_policies"

    role_pk: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    document: Mapped[str] = mapped_column(Text)


class RoleTag(Base):
    __tablename__ = "role_tags"

    role_pk: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class MappingRule(Base):
    """Claims → role, ordered per provider; every condition must match."""

    __tablename__ = "mapping_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("identity_providers.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(1000), default="")
    # [{"claim": ..., "operator": ..., "value": ...} | {..., "values": [...]}]
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    # A role that still has rules cannot be deleted; a role's new path follows into its rules.
    role_arn: Mapped[str] = mapped_column(
        ForeignKey("roles.arn", ondelete="RESTRICT", onupdate="CASCADE"), index=True
    )

    provider: Mapped[IdentityProvider] = relationship(back_populates="rules")

    __table_args__ = (UniqueConstraint("provider_id", "position"),)


class SigningKey(Base):
    """A keyring entry: the key itself is stored wrapped under the master key."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime] = mapped_column()
    deactivated_at: Mapped[datetime | None] = mapped_column()
    retired: Mapped[bool] = mapped_column(default=False)


class SamlSpKey(Base):
    """A key pair of the SAML service provider: current, next (published early), or retired.

    The private key is stored wrapped under the master key; the certificate is public.
    """

    __tablename__ = "saml_sp_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    certificate: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column()
    retired_at: Mapped[datetime | None] = mapped_column()


class ChangeLogEntry(Base):
    """Who changed which configuration entity, when, from what to what."""

    __tablename__ = "admin_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(8))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_key: Mapped[str] = mapped_column(String(ARN_LENGTH))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    __table_args__ = (
        CheckConstraint(
            "action IN (" + ", ".join(f"'{a}'" for a in CHANGE_ACTIONS) + ")", name="action"
        ),
    )


class AuditEventRow(Base):
    """One issuance, refusal, sign-in or configuration event; never updated."""

    __tablename__ = "audit_events"

    # 64-bit on PostgreSQL; SQLite's rowid is 64-bit already and must stay INTEGER to be one.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    event_type: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(128))
    principal_arn: Mapped[str | None] = mapped_column(String(ARN_LENGTH))
    role_arn: Mapped[str | None] = mapped_column(String(ARN_LENGTH))
    account: Mapped[str | None] = mapped_column(String(12))
    provider: Mapped[str | None] = mapped_column(String(128))
    subject: Mapped[str | None] = mapped_column(String(1024))
    access_key_id: Mapped[str | None] = mapped_column(String(128))
    session_id: Mapped[str | None] = mapped_column(String(128))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(1024))
    error_code: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_access_key_id", "access_key_id"),
        Index("ix_audit_events_role_arn", "role_arn"),
        Index("ix_audit_events_subject", "subject"),
    )
