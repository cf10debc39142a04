"""The admin console at /admin: configuration, simulator, audit; admins only.

Every route of this blueprint except the break-glass link pages runs behind
`access.guard`: a signed-out visitor gets a 401 page (with the way to sign in, never a
redirect that could loop) and a signed-in person who is not an admin a 403 page.
"""

from __future__ import annotations

from flask import Blueprint

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
