"""The `gateway` command."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import click

from gateway.runtime import StartupError
from gateway.settings import Settings, SettingsError

F = TypeVar("F", bound=Callable[..., Any])


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _fail_cleanly(func: F) -> F:
    """Startup problems and store failures print one line and exit 2, never a traceback.

    A database can pass the start-up check and still fail the command: it goes away in
    the middle, or answers reads but refuses writes (a standby after a failover, a full
    disk). Its transaction is then rolled back, so the line says nothing was written.
    """
    import functools

    import redis
    from sqlalchemy.exc import SQLAlchemyError

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StartupError as exc:
            click.echo(f"gateway: {exc}", err=True)
        except SQLAlchemyError as exc:
            click.echo(
                f"gateway: the database at {_where()} failed ({_reason(exc)}); "
                "nothing was written. Check that it is up and accepts writes, then try again",
                err=True,
            )
        except redis.RedisError as exc:
            click.echo(f"gateway: Redis failed ({_reason(exc)}); try again", err=True)
        sys.exit(2)

    return wrapper  # type: ignore[return-value]


def _where() -> str:
    from sqlalchemy.engine import make_url

    return make_url(_settings().database_url).render_as_string(hide_password=True)


def _reason(exc: BaseException) -> str:
    """The error's first line, without SQLAlchemy's statement and parameters."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0]}" if text else type(cause).__name__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Identity federation gateway and security token service."""


@cli.command()
@_fail_cleanly
def serve() -> None:
    """Run the production server (gunicorn; GATEWAY_BIND and GATEWAY_WORKERS)."""
    from gateway.server import serve as run

    run(_settings())


@cli.command()
@_fail_cleanly
def demo() -> None:
    """Seed the demo configuration and serve it with demo identity providers."""
    from gateway.server import prepare
    from gateway.server import serve as run

    settings = _settings()
    prepare(settings)
    engine = _engine(settings)
    text = resources.files("gateway").joinpath("demo_config.yaml").read_text()
    from gateway.devtools.emulators import demo_config

    text, emulators = demo_config(text, settings.bind_host)  # OpenID, Google, Facebook, Amazon
    click.echo("provider emulators: " + ", ".join(f"{k} {v}" for k, v in emulators.urls.items()))
    from gateway.devtools.saml_idp import demo_config as saml_demo_config

    text, saml_idp = saml_demo_config(text, settings.base_url, settings.bind_host)
    click.echo(f"demo SAML IdP: {saml_idp.metadata_url} (users alice, bob, carol)")
    report = _import(engine, text, actor="demo")
    click.echo(f"demo configuration loaded ({report})")
    click.echo(f"\n  Open {settings.base_url}/ in a browser.")
    click.echo("  Demo users (pick one on the demo sign-in pages; no password):")
    click.echo("    SAML IdP: alice (roles in both accounts, admin), bob (one role), carol (none)")
    click.echo("    OpenID/Google/Facebook/Amazon emulators: alice, bob, mallory\n")
    run(settings)


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@_fail_cleanly
def db_upgrade() -> None:
    """Apply every pending migration to GATEWAY_DATABASE_URL."""
    from gateway import _database
    from gateway.store import migrate

    # Not `_engine`: that refuses a database whose schema is behind, which this fixes.
    engine = _database(_settings(), upgrade=True)
    click.echo(f"database at revision {migrate.current_revision(engine)}")


@cli.group()
def config() -> None:
    """Configuration as code (YAML): accounts, roles, providers, mapping rules."""


@config.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@_fail_cleanly
def config_export(file: str) -> None:
    """Write the whole configuration to FILE (`-` for standard output)."""
    from gateway.store.config_io import export_config

    text = export_config(_engine(_settings()))
    if file == "-":
        click.echo(text, nl=False)
    else:
        Path(file).write_text(text)
        click.echo(f"exported to {file}", err=True)


@config.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--actor", default="cli", help="Name recorded in the change log.")
@_fail_cleanly
def config_import(file: str, actor: str) -> None:
    """Validate FILE fully, then apply all of it in one transaction or nothing."""
    text = sys.stdin.read() if file == "-" else _read(file)
    report = _import(_engine(_settings()), text, actor=actor)
    click.echo(str(report))


@cli.group()
def keys() -> None:
    """Credential sealing keys (wrapped by the master key in the database)."""


@keys.command("rotate")
@_fail_cleanly
def keys_rotate() -> None:
    """Make a new active key; older keys verify until their credentials expire."""
    from gateway import master_key
    from gateway.sts import keystore

    settings = _settings()
    info = keystore.rotate(_engine(settings), master_key.load_or_create(settings))
    _bump_config_version()
    click.echo(f"new active key {info.kid}")


@keys.command("rotate-saml")
@_fail_cleanly
def keys_rotate_saml() -> None:
    """Promote the SAML SP's published next key to current and publish a new next one."""
    from urllib.parse import urlsplit

    from gateway import master_key
    from gateway.sources.saml import sp_keys

    settings = _settings()
    host = urlsplit(settings.base_url).hostname or "gateway"
    kid = sp_keys.rotate(_engine(settings), master_key.load_or_create(settings), host)
    _bump_config_version()
    click.echo(f"SAML SP key {kid} is now current; a new next key is published in the metadata")


@keys.command("list")
@_fail_cleanly
def keys_list() -> None:
    """List keys, newest first, with their state (active, verifying, retired)."""
    from gateway.sts import keystore

    for info in keystore.list_keys(_engine(_settings())):
        retired = info.deactivated_at.isoformat() if info.deactivated_at else "-"
        click.echo(f"{info.kid}  {info.state:<9}  created {info.created_at.isoformat()}  "
                   f"superseded {retired}")


@cli.group()
def admin() -> None:
    """Administrator access to the admin console (/admin)."""


@admin.command("link")
@click.option("--minutes", type=click.IntRange(1, 60), default=10, show_default=True,
              help="How long the link stays valid (it works once).")
@click.option("--reason", default="", help="Why, for the audit trail.")
@_fail_cleanly
def admin_link(minutes: int, reason: str) -> None:
    """Print a one-time break-glass sign-in URL for /admin (needs the running gateway's Redis)."""
    import contextlib
    import getpass

    import redis

    from gateway.admin import links
    from gateway.state.client import connect
    from gateway.state.embedded import EmbeddedRedis
    from gateway.state.keys import Keys
    from gateway.store import audit

    settings = _settings()
    embedded = EmbeddedRedis(settings.var_dir / "redis")
    url = settings.redis_url or (embedded.url if embedded.answering() else "")
    if not url:
        raise click.ClickException(
            "no running gateway found: its embedded Redis is not answering; start the gateway "
            "(or set GATEWAY_REDIS_URL to its Redis) and try again"
        )
    engine = _engine(settings)
    store, keys = connect(url), Keys(settings.redis_prefix)
    try:
        token, link = links.create(store, keys, minutes=minutes, reason=reason)
    except redis.RedisError as exc:
        raise click.ClickException(f"cannot store the link in Redis at {url}: {exc}") from None
    try:
        audit.record(engine, audit.AuditEvent(
            event_type="admin.link.created", outcome="success",
            subject=f"break-glass:{link.link_id}",
            detail={"link": link.link_id, "minutes": minutes, "reason": link.reason,
                    "os_user": getpass.getuser()},
        ))
    except audit.AuditUnavailable:
        # No link without its audit record: withdraw it (never printed, so never used).
        with contextlib.suppress(redis.RedisError):
            store.delete(keys.admin_link(token))
        raise
    click.echo(f"{settings.base_url}/admin/link/{token}")
    click.echo(f"valid once, for {minutes} minute(s); link id {link.link_id} in the audit trail",
               err=True)


def _read(file: str) -> str:
    try:
        return Path(file).read_text()
    except OSError as exc:
        raise click.ClickException(f"{file}: {exc.strerror}") from None


def _import(engine: Any, text: str, *, actor: str) -> Any:
    from gateway.problems import Invalid
    from gateway.store.config_io import import_config

    try:
        report = import_config(engine, text, actor=actor)
    except Invalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(
            f"{len(exc.problems)} problem(s); nothing was written"
        ) from None
    _bump_config_version()
    return report


def _bump_config_version() -> None:
    """Tell running gateways to reload; harmless when none runs."""
    import redis

    from gateway.state.client import connect
    from gateway.state.embedded import EmbeddedRedis
    from gateway.state.keys import Keys

    settings = _settings()
    embedded = EmbeddedRedis(settings.var_dir / "redis")
    url = settings.redis_url or (embedded.url if embedded.answering() else "")
    if not url:
        return
    try:
        connect(url).incr(Keys(settings.redis_prefix).config_version)
    except redis.RedisError as exc:
        click.echo(f"warning: could not notify running gateways ({exc})", err=True)


def _engine(settings: Settings) -> Any:
    from gateway import _database

    return _database(settings)


def main() -> None:
    """Entry point of the console script."""
    from gateway.iam.cli import policy

    cli.add_command(policy)
    cli(prog_name="gateway")
