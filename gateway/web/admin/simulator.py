"""The simulator page: claims (pasted, or from a recorded sign-in) or a pasted SAML response
→ roles, the rule that fired, the trust-policy verdict and the duration bound."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Response, request

from gateway.admin import simulate
from gateway.problems import Invalid, Problem
from gateway.runtime import runtime
from gateway.sources.saml import pasted
from gateway.sources.saml.errors import SamlRefusal
from gateway.sources.saml.service import service
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
MODES = ("validate", "unverified")  # the SAML form: full validation, or signature and time off
PROBLEMS_TITLE = "The simulation could not run"


def _page(*, status: int = 200, provider_name: str = "", claims: str = "",
          result: simulate.Simulation | None = None,
          problems: list[Problem] | None = None, saml_provider: str = "",
          saml_response: str = "", mode: str = "validate") -> Response:
    rt = runtime()
    snapshot = rt.snapshot
    signins, examined = simulate.recent_signins(rt.engine)
    providers = sorted(snapshot.providers_by_name)
    saml_providers = [name for name in providers
                      if snapshot.providers_by_name[name].kind == "saml"]
    chosen = provider_name or (providers[0] if providers else "")
    if not claims:
        kind = snapshot.providers_by_name[chosen].kind if chosen in snapshot.providers_by_name \
            else "saml"
        claims = json.dumps(EXAMPLES["saml" if kind == "saml" else "oidc"], indent=2)
    if not saml_provider:
        saml_provider = chosen if chosen in saml_providers else \
            (saml_providers[0] if saml_providers else "")
    return page("admin/simulator.html", status=status, title="Simulator",
                section="admin.simulator", providers=providers, provider_name=chosen,
                claims=claims, result=result, problems=problems or [], signins=signins,
                examined=examined, saml_providers=saml_providers, saml_provider=saml_provider,
                saml_response=saml_response, mode=mode, problems_title=PROBLEMS_TITLE,
                result_provider=snapshot.providers_by_name.get(
                    result.identity.provider) if result else None)


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


@bp.post("/simulator/saml")
def run_saml_simulation() -> Response:
    """A pasted SAML response: validated as the ACS validates, or read with signature and time
    ignored (the result then says, prominently, that it was NOT validated)."""
    snapshot = runtime().snapshot
    name = text(request.form, "saml_provider")
    # Kept as pasted (not `block`): base64 line breaks are fine, and the page shows it back.
    raw = request.form.get("saml_response") or ""
    mode = text(request.form, "mode")

    def again(status: int = 200, problem: Problem | None = None,
              result: simulate.Simulation | None = None) -> Response:
        return _page(status=status, problems=[problem] if problem else [], result=result,
                     provider_name=name, saml_provider=name, saml_response=raw, mode=mode)

    provider = snapshot.providers_by_name.get(name)
    if provider is None or provider.kind != "saml":
        return again(400, Problem("saml_provider", "choose a configured SAML identity provider"))
    if mode not in MODES:
        return again(400, Problem("mode", "choose full validation or “ignore signature and "
                                  "time”"))
    now = datetime.now(UTC)
    try:
        read = pasted.inspect(service(), provider, raw, now=now, verify=mode == "validate")
    except SamlRefusal as exc:
        # The document itself is unusable (400), or validation refuses it (422): either way
        # the page names the reason, as the ACS would tell the person signing in.
        if exc.code == "metadata_invalid":
            status, where = 409, f"the metadata of {name} is not usable"
        elif exc.code in ("malformed", "too_large", "not_saml"):
            status, where = 400, "the input is not a usable SAML response"
        else:
            status, where = 422, "the gateway would refuse this response"
        return again(status, Problem("saml_response", f"{where}: {exc.message}"))
    return again(result=simulate.simulate_identity(snapshot, read.identity, now, pasted=read))
