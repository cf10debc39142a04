"""What every emulator shares: demo users, RSA signing keys, a sign-in page, a server."""

from __future__ import annotations

import html
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import BaseWSGIServer, make_server


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A person the emulators know; `login` is what the sign-in page's button sends."""

    login: str
    name: str
    email: str
    email_verified: bool = True
    groups: tuple[str, ...] = ()
    hosted_domain: str | None = None
    facebook_id: str = ""
    amazon_id: str = ""

    @property
    def sub(self) -> str:
        return f"user-{self.login}"


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("alice", "Alice Example", "alice@example.com", True, ("engineering", "admins"),
             "example.com", "10000000000000001", "amzn1.account.ALICE000000000000"),
    DemoUser("bob", "Bob Example", "bob@example.com", True, ("sales",),
             "example.com", "10000000000000002", "amzn1.account.BOB00000000000000"),
    DemoUser("mallory", "Mallory Outsider", "alice@example.com", False, ("engineering",),
             None, "20000000000000003", "amzn1.account.MALLORY0000000000"),
)


@dataclass
class SigningKey:
    """An RSA key with a key id, publishing its public half as a JWKS."""

    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, private=True))
    kid: str = field(default_factory=lambda: secrets.token_hex(8))

    def jwks(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        public.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [public]}

    def sign(self, claims: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> str:
        head: dict[str, Any] = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        head.update(header or {})
        return jwt.encode(head, dict(claims), self.key)


def now() -> int:
    return int(time.time())


def login_page(title: str, action: str, fields: Mapping[str, str],
               users: tuple[DemoUser, ...]) -> str:
    """A sign-in page with one button per demo user; the fields ride along hidden."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    buttons = "".join(
        f'<p><button type="submit" name="login" value="{html.escape(u.login)}">'
        f"Sign in as {html.escape(u.name)} ({html.escape(u.email)})</button></p>"
        for u in users
    )
    cancel = '<p><button type="submit" name="login" value="">Cancel</button></p>'
    return (
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Demo identity provider: choose a user.</p>"
        f'<form method="post" action="{html.escape(action)}">{hidden}{buttons}{cancel}</form>'
        "</body></html>"
    )


class Served:
    """A WSGI app on its own port, in a daemon thread, until `stop()`."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
