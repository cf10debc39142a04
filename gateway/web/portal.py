"""The sign-in page people see first."""

from __future__ import annotations

from flask import Blueprint, render_template, session

from gateway.runtime import runtime

bp = Blueprint("portal", __name__)


@bp.get("/")
def index() -> str:
    """The identity providers a person may sign in with."""
    snapshot = runtime().snapshot
    providers = sorted(snapshot.providers_by_name.values(), key=lambda p: p.name)
    return render_template(
        "index.html", providers=providers, last_provider=session.get("last_provider")
    )
