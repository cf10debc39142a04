"""The simulator page: claims (pasted, or from a recorded sign-in) → roles, rule, verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Response, request

from gateway.admin import simulate
from gateway.problems import Invalid, Problem
from gateway.runtime import runtime
from gateway.web.admin import bp
from gateway.web.admin.access import page
from gateway.web.admin.forms import block, text
from gateway.web.admin.rules import acs_url

EXAMPLES = {
    "saml": {"nameid": "alice@example.com", "email": "alice@example.com",
             "groups": ["engineering", "oncall"]},
    "oidc": {"sub": "alice", "email": "alice@example.com", "email_verified": True,
             "groups": ["engineering"]},
}


def _page(*, status: int = 200, provider_name: str = "", claims: str = "",
          result: simulate.Simulation | None = None,
          problems: list[Problem] | None = None) -> Response:
    rt = runtime()
    snapshot = rt.snapshot
    signins, examined = simulate.recent_signins(rt.engine)
    providers = sorted(snapshot.providers_by_name)
    chosen = provider_name or (providers[0] if providers else "")
    if not claims:
        kind = snapshot.providers_by_name[chosen].kind if chosen in snapshot.providers_by_name \
            else "saml"
        claims = json.dumps(EXAMPLES["saml" if kind == "saml" else "oidc"], indent=2)
    return page("admin/simulator.html", status=status, title="Simulator",
                section="admin.simulator", providers=providers, provider_name=chosen,
                claims=claims, result=result, problems=problems or [], signins=signins,
                examined=examined)


@bp.get("/simulator")
def simulator() -> Response:
    event_id = request.args.get("event", "")
    if event_id:
        rt = runtime()
        signins, _ = simulate.recent_signins(rt.engine)
        for recorded in signins:
            if str(recorded.event.id) == event_id:
                return _page(provider_name=recorded.event.provider or "",
                             claims=json.dumps(recorded.claims, indent=2))
        return _page(status=404, problems=[Problem("event", "no recent sign-in with that id "
                                                            "recorded its claims")])
    return _page(provider_name=request.args.get("provider", ""))


@bp.post("/simulator")
def run_simulation() -> Response:
    snapshot = runtime().snapshot
    provider_name = text(request.form, "provider")
    claims_text = block(request.form, "claims")
    provider = snapshot.providers_by_name.get(provider_name)
    if provider is None:
        return _page(status=400, provider_name=provider_name, claims=claims_text,
                     problems=[Problem("provider", "choose a configured identity provider")])
    try:
        claims = simulate.parse_claims(claims_text)
        result = simulate.simulate(snapshot, provider, claims, acs_url=acs_url(),
                                   now=datetime.now(UTC))
    except Invalid as exc:
        return _page(status=400, provider_name=provider_name, claims=claims_text,
                     problems=exc.problems)
    return _page(provider_name=provider_name, claims=claims_text, result=result)
