"""Every setting, typed, read from GATEWAY_* environment variables in one place.

`Settings.from_env` checks everything and raises `SettingsError` listing every
problem at once, so an operator fixes a broken deployment in one round trip.
The README's settings table is generated from `FIELDS` (see tests) so the two
cannot drift apart.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class SettingsError(Exception):
    """Start-up configuration is invalid; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "invalid settings:\n" + "\n".join(f"  - {p}" for p in problems)
        )
        self.problems = problems


@dataclass(frozen=True)
class Setting:
    """One documented environment variable."""

    env: str
    default: str
    help: str


def _meta(env: str, default: str, help: str) -> Any:
    return field(metadata={"setting": Setting(env, default, help)})


@dataclass(frozen=True)
class Settings:
    """The gateway's whole configuration outside the database."""

    base_url: str = _meta(
        "GATEWAY_BASE_URL", "http://127.0.0.1:8000",
        "Public URL people and SDKs use; SAML/OIDC endpoints are derived from it.",
    )
    bind: str = _meta("GATEWAY_BIND", "127.0.0.1:8000", "host:port the server listens on.")
    var_dir: Path = _meta(  # noqa: RUF009
        "GATEWAY_VAR_DIR", "var", "Directory for the SQLite file, embedded Redis, master key."
    )
    database_url: str = _meta(
        "GATEWAY_DATABASE_URL", "sqlite:///<var>/gateway.db",
        "SQLAlchemy URL; `postgresql+psycopg://user@host/db` in production.",
    )
    redis_url: str = _meta(
        "GATEWAY_REDIS_URL", "",
        "redis://, rediss:// or unix:// URL; empty starts an embedded Redis under <var>.",
    )
    redis_prefix: str = _meta(
        "GATEWAY_REDIS_PREFIX", "gw:", "Prefix of every Redis key this gateway writes."
    )
    master_key: str = _meta(
        "GATEWAY_MASTER_KEY", "",
        "32-byte key (base64 or hex) wrapping the signing keys in the database.",
    )
    master_key_file: Path = _meta(  # noqa: RUF009
        "GATEWAY_MASTER_KEY_FILE", "<var>/master.key",
        "File holding the master key when GATEWAY_MASTER_KEY is empty (created 0600).",
    )
    log_format: str = _meta("GATEWAY_LOG_FORMAT", "text", "`text` or `json` (one object a line).")
    log_level: str = _meta("GATEWAY_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR.")
    session_lifetime: int = _meta(
        "GATEWAY_SESSION_LIFETIME", "28800", "Seconds a browser session lives (60-86400)."
    )
    clock_skew: int = _meta(
        "GATEWAY_CLOCK_SKEW", "120", "Seconds of clock skew allowed on assertions and tokens."
    )
    workers: int = _meta("GATEWAY_WORKERS", "2", "gunicorn worker processes (1-64).")
    threads: int = _meta(
        "GATEWAY_THREADS", "8",
        "Request threads per worker (1-64): requests waiting on Redis or the database let "
        "others run, and their audit events share commits.",
    )
    trusted_proxies: int = _meta(
        "GATEWAY_TRUSTED_PROXIES", "0",
        "Reverse proxies in front whose X-Forwarded-* headers are trusted (0-5).",
    )
    revocation_fail_mode: str = _meta(
        "GATEWAY_REVOCATION_FAIL_MODE", "closed",
        "When Redis has been away over 5 s: `closed` refuses credentials (503), `open` "
        "accepts them without the single-session revocation check.",
    )
    rate_limit_address: str = _meta(
        "GATEWAY_RATE_LIMIT_ADDRESS", "300/minute",
        "Token exchanges (AssumeRoleWithWebIdentity, AssumeRoleWithSAML, /api/v1/token) "
        "per client address.",
    )
    rate_limit_subject: str = _meta(
        "GATEWAY_RATE_LIMIT_SUBJECT", "60/minute",
        "Token exchanges per signed-in subject (issuer + subject).",
    )
    rate_limit_signin_address: str = _meta(
        "GATEWAY_RATE_LIMIT_SIGNIN_ADDRESS", "300/minute",
        "Browser sign-in requests (starts, SAML ACS, OIDC callbacks) per client address.",
    )
    rate_limit_signin_subject: str = _meta(
        "GATEWAY_RATE_LIMIT_SIGNIN_SUBJECT", "30/minute",
        "Completed browser sign-ins per person (issuer + subject).",
    )
    rate_limit_sts_address: str = _meta(
        "GATEWAY_RATE_LIMIT_STS_ADDRESS", "3000/minute",
        "SigV4-signed STS calls (AssumeRole, GetCallerIdentity, ...) per client address.",
    )
    rate_limit_sts_subject: str = _meta(
        "GATEWAY_RATE_LIMIT_STS_SUBJECT", "600/minute",
        "SigV4-signed STS calls per person behind the access key (else per session).",
    )
    rate_limit_authorize_address: str = _meta(
        "GATEWAY_RATE_LIMIT_AUTHORIZE_ADDRESS", "60000/minute",
        "Authorization API questions (/api/v1/authorize) per client address: the resource "
        "server's, which forwards all its clients' requests.",
    )
    rate_limit_authorize_subject: str = _meta(
        "GATEWAY_RATE_LIMIT_AUTHORIZE_SUBJECT", "6000/minute",
        "Authorization API questions per person behind the forwarded request's access key "
        "(else per session).",
    )
    config_reload_interval: float = _meta(
        "GATEWAY_CONFIG_RELOAD_INTERVAL", "0.5",
        "Seconds between checks of the config version in Redis (0.05-1).",
    )
    idp_timeout: float = _meta(
        "GATEWAY_IDP_TIMEOUT", "5",
        "Seconds a call to an identity provider (SAML metadata, OpenID discovery and keys, "
        "token endpoint, Graph and Amazon profile) may take in all before the person or app "
        "gets IDPCommunicationError or a 503 page (0.5-30).",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every GATEWAY_* variable; raise SettingsError listing all problems."""
        env = os.environ if environ is None else environ
        problems: list[str] = []
        values: dict[str, Any] = {}
        for f in fields(cls):
            meta: Setting = f.metadata["setting"]
            raw = env.get(meta.env, meta.default).strip()
            parser = _PARSERS[f.name]
            try:
                values[f.name] = parser(raw)
            except ValueError as exc:
                problems.append(f"{meta.env}={raw!r}: {exc}")
        unknown = sorted(
            k for k in env if k.startswith("GATEWAY_") and k not in _KNOWN and k not in _EXTRA
        )
        problems.extend(f"{k}: unknown setting (typo?)" for k in unknown)
        if problems:
            raise SettingsError(problems)
        var = values["var_dir"]
        if values["database_url"].startswith("sqlite:///<var>/"):
            values["database_url"] = values["database_url"].replace("<var>", str(var.resolve()))
        if str(values["master_key_file"]).startswith("<var>"):
            values["master_key_file"] = var / str(values["master_key_file"])[len("<var>/"):]
        return cls(**values)

    @property
    def bind_host(self) -> str:
        return self.bind.rsplit(":", 1)[0]

    @property
    def bind_port(self) -> int:
        return int(self.bind.rsplit(":", 1)[1])

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


def _url(schemes: tuple[str, ...], allow_empty: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not raw and allow_empty:
            return ""
        scheme = urlsplit(raw).scheme
        if scheme.split("+")[0] not in schemes:
            raise ValueError(f"expected a URL starting with one of {', '.join(schemes)}")
        return raw

    return parse


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("expected a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"expected a number from {low} to {high}")
        return value

    return parse


def _float(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
        if not low <= value <= high:
            raise ValueError(f"expected a number from {low} to {high}")
        return value

    return parse


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.lower() if raw.lower() in options else raw.upper()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return value

    return parse


def _bind(raw: str) -> str:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port, e.g. 127.0.0.1:8000")
    return raw


def _base_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an absolute http(s) URL, e.g. https://sso.example.com")
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query or fragment")
    return raw.rstrip("/")


def _prefix(raw: str) -> str:
    if not raw or len(raw) > 32 or any(c.isspace() for c in raw):
        raise ValueError("expected 1-32 characters without spaces")
    return raw


def _rate(raw: str) -> str:
    count, _, period = raw.partition("/")
    if not count.isdigit() or int(count) < 1 or period not in ("second", "minute", "hour"):
        raise ValueError("expected N/second, N/minute or N/hour, e.g. 300/minute")
    return raw


def _master_key(raw: str) -> str:
    if raw:
        decode_master_key(raw)
    return raw


def decode_master_key(raw: str) -> bytes:
    """A master key is 32 bytes written as 64 hex digits or base64."""
    text = raw.strip()
    try:
        key = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError("expected 32 bytes as 64 hex digits or base64") from None
    if len(key) != 32:
        raise ValueError(f"expected 32 bytes, got {len(key)}")
    return key


_PARSERS: dict[str, Callable[[str], Any]] = {
    "base_url": _base_url,
    "bind": _bind,
    "var_dir": Path,
    "database_url": _url(("sqlite", "postgresql", "postgres")),
    "redis_url": _url(("redis", "rediss", "unix"), allow_empty=True),
    "redis_prefix": _prefix,
    "master_key": _master_key,
    "master_key_file": Path,
    "log_format": _choice("text", "json"),
    "log_level": _choice("DEBUG", "INFO", "WARNING", "ERROR"),
    "session_lifetime": _int(60, 86400),
    "clock_skew": _int(0, 600),
    "workers": _int(1, 64),
    "threads": _int(1, 64),
    "trusted_proxies": _int(0, 5),
    "revocation_fail_mode": _choice("closed", "open"),
    "rate_limit_address": _rate,
    "rate_limit_subject": _rate,
    "rate_limit_signin_address": _rate,
    "rate_limit_signin_subject": _rate,
    "rate_limit_sts_address": _rate,
    "rate_limit_sts_subject": _rate,
    "rate_limit_authorize_address": _rate,
    "rate_limit_authorize_subject": _rate,
    "config_reload_interval": _float(0.05, 1.0),
    "idp_timeout": _float(0.5, 30.0),
}

FIELDS: tuple[Setting, ...] = tuple(f.metadata["setting"] for f in fields(Settings))
_KNOWN = frozenset(s.env for s in FIELDS)
# Variables the test harness and tooling use; not settings of the running gateway.
_EXTRA = frozenset({"GATEWAY_TEST_POSTGRES_URL", "GATEWAY_TEST_REDIS_URL"})
