"""Server-side browser sessions in Redis, loaded only when a view touches them.

Flask-Session reads Redis on every request, so an outage would break endpoints that
never use a session (STS, SigV4 verification, health). This small interface is lazy:
Redis is read on first access and written only when the session changed. Lifetimes
are absolute: the TTL set at creation is never extended by activity.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import redis
from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin

from gateway.state.keys import Keys

_CREATED = "_created"


class RedisSession(SessionMixin):
    """A dict-like session whose contents come from Redis on first use."""

    def __init__(self, store: redis.Redis, keys: Keys, sid: str | None) -> None:
        self._store = store
        self._keys = keys
        self.sid = sid
        self._data: dict[str, Any] | None = None if sid else {}
        self.modified = False
        self.accessed = False
        self.previous_sid: str | None = None
        self.unavailable = False

    @property
    def new(self) -> bool:  # type: ignore[override]
        return self.sid is None

    def _load(self) -> dict[str, Any]:
        self.accessed = True
        if self.unavailable:
            # Redis failed earlier in this request: the error page rendering now must not
            # fail again on the same read, so it sees an empty, unsaved session.
            return {}
        if self._data is None:
            try:
                raw = self._store.get(self._keys.session(self.sid or ""))
            except redis.RedisError:
                self.unavailable = True
                raise
            data = json.loads(raw) if raw else None
            if not isinstance(data, dict):
                # Unknown or expired id: start afresh under a new id so a stale
                # cookie cannot be revived by writing to it.
                self.sid = None
                data = {}
            self._data = data
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._load()[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._load()[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter([k for k in self._load() if k != _CREATED])

    def __len__(self) -> int:
        return len([k for k in self._load() if k != _CREATED])

    def regenerate(self) -> None:
        """Give the session a new id (at sign-in) so a planted id is worthless."""
        self._load()
        self.previous_sid = self.sid
        self.sid = None
        self.modified = True

    def destroy(self) -> None:
        """Forget everything (sign-out); the old id is deleted from Redis."""
        self._load()
        self.previous_sid = self.sid
        self.sid = None
        self._data = {}
        self.modified = True


class RedisSessionInterface(SessionInterface):
    """Opens `RedisSession`s; cookie carries only a 256-bit random id."""

    def __init__(self, store: redis.Redis, keys: Keys, lifetime: int) -> None:
        self.store = store
        self.keys = keys
        self.lifetime = lifetime

    def open_session(self, app: Flask, request: Request) -> RedisSession:
        # Machine callers send no cookies: skip parsing an empty Cookie header for them.
        if "HTTP_COOKIE" not in request.environ:
            return RedisSession(self.store, self.keys, None)
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid is not None and not (20 <= len(sid) <= 64 and sid.isascii()):
            sid = None
        return RedisSession(self.store, self.keys, sid)

    def save_session(  # type: ignore[override]
        self, app: Flask, session: RedisSession, response: Response
    ) -> None:
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        if not session.modified or session.unavailable:
            return
        pipe = self.store.pipeline()
        if session.previous_sid:
            pipe.delete(self.keys.session(session.previous_sid))
        data = session._data or {}
        if not [k for k in data if k != _CREATED]:
            pipe.execute()
            if session.sid or session.previous_sid:
                response.delete_cookie(name, domain=domain, path=path)
            return
        now = int(time.time())
        created = int(data.setdefault(_CREATED, now))
        ttl = created + self.lifetime - now
        if ttl <= 0:
            pipe.execute()
            response.delete_cookie(name, domain=domain, path=path)
            return
        if session.sid is None:
            session.sid = secrets.token_urlsafe(32)
        pipe.set(self.keys.session(session.sid), json.dumps(data, separators=(",", ":")), ex=ttl)
        pipe.execute()
        response.set_cookie(
            name,
            session.sid,
            max_age=ttl,
            domain=domain,
            path=path,
            secure=self.get_cookie_secure(app),
            httponly=True,
            samesite=self.get_cookie_samesite(app),
        )
