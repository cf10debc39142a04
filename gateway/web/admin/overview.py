"""The admin console's front page: what is configured and what needs attention."""

from __future__ import annotations

from flask import Response

from gateway.runtime import runtime
from gateway.store.changelog import changes
from gateway.web.admin import bp
from gateway.web.admin.access import page


@bp.get("/", endpoint="index")
@bp.get("", endpoint="index_bare")
def index() -> Response:
    rt = runtime()
    snapshot = rt.snapshot
    return page(
        "admin/index.html", title="Overview", section="admin.index",
        snapshot=snapshot,
        counts={
            "accounts": len(snapshot.accounts_by_id),
            "roles": len(snapshot.roles_by_arn),
            "identity providers": len(snapshot.providers_by_name),
            "mapping rules": sum(len(r) for r in snapshot.rules_by_provider.values()),
        },
        no_admin_rules=not any(p.admin_rules for p in snapshot.providers_by_name.values()),
        recent_changes=changes(rt.engine, limit=5),
        sp_metadata_url=f"{rt.settings.base_url}/saml/metadata",
    )
