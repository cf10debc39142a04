"""The admin console at /admin: configuration, simulator, audit; admins only.

Every route of this blueprint except the break-glass link pages runs behind
`access.guard`: a signed-out visitor gets a 401 page (with the way to sign in, never a
redirect that could loop) and a signed-in person who is not an admin a 403 page.
"""

from __future__ import annotations

from flask import Blueprint, Response

bp = Blueprint("admin", __name__, url_prefix="/admin")

# Importing the view modules registers their routes on `bp`.
from gateway.web.admin import (  # noqa: E402
    access,
    accounts,
    audit_log,
    config_page,
    overview,
    providers,
    roles,
    rules,
    simulator,
)

bp.before_request(access.guard)


@bp.after_request
def _no_store(response: Response) -> Response:
    # Exports (YAML with client secrets, audit CSV) are not HTML, which the app-wide
    # no-store covers; nothing an admin page returns belongs in any cache.
    response.headers["Cache-Control"] = "no-store"
    return response

__all__ = [
    "access",
    "accounts",
    "audit_log",
    "bp",
    "config_page",
    "overview",
    "providers",
    "roles",
    "rules",
    "simulator",
]
