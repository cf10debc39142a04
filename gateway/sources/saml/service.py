"""The SAML service provider of one gateway process: its identity, keys and IdP registry,
and the two ways an assertion arrives (browser ACS post, AssumeRoleWithSAML).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app

from gateway.identity import FederatedIdentity
from gateway.runtime import Runtime
from gateway.sources import disabled
from gateway.sources.saml import attributes, response, sp_keys, state, xmlsafe
from gateway.sources.saml.errors import SamlRefusal
from gateway.sources.saml.providers import Idp, Registry
from gateway.sources.saml.sp import ServiceProvider
from gateway.store.snapshot import IdentityProvider, Snapshot

# Refusals per client address per minute before further attempts are turned away
# without any XML work (attacks.md S-39, W-09). Successful sign-ins are not counted.
MAX_REFUSALS_PER_MINUTE = 30
BUDGET_CONFIG_KEY = "GATEWAY_SAML_REFUSALS_PER_MINUTE"  # app.config override (tests)


class Service:
    """Built once per app, on first use."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.sp = ServiceProvider.from_settings(rt.settings)
        self.registry = Registry(rt.redis, rt.keys)
        self._keys_lock = threading.Lock()
        self._keys: tuple[int, sp_keys.SpKeys] | None = None

    def keys(self) -> sp_keys.SpKeys:
        """The SP's key pairs, re-read only when the configuration version changes."""
        version = self.rt.config.current().version
        cached = self._keys
        if cached is not None and cached[0] == version:
            return cached[1]
        with self._keys_lock:
            if self._keys is None or self._keys[0] != version:
                host = urlsplit(self.rt.settings.base_url).hostname or "gateway"
                self._keys = (version, sp_keys.load(self.rt.engine, self.rt.master_key, host))
            return self._keys[1]

    def idp(self, provider: IdentityProvider, now: datetime) -> Idp:
        return self.registry.get(provider, now)

    # ------------------------------------------------------------ refusal budget

    def budget_key(self, scope: str, client: str | None) -> str:
        digest = hashlib.sha256((client or "unknown").encode()).hexdigest()[:32]
        return self.rt.keys.rate_limit(scope, digest)

    def check_budget(self, scope: str, client: str | None) -> None:
        key = self.budget_key(scope, client)
        count = self.rt.redis.get(key)
        limit = int(current_app.config.get(BUDGET_CONFIG_KEY, MAX_REFUSALS_PER_MINUTE))
        if count is not None and int(count) >= limit:
            raise SamlRefusal("throttled", "Too many refused sign-in attempts from your "
                              "address; wait a minute and try again.", status=429)

    def spend_budget(self, scope: str, client: str | None) -> None:
        key = self.budget_key(scope, client)
        pipe = self.rt.redis.pipeline()
        pipe.set(key, 0, nx=True, ex=60)  # the window starts at the first refusal
        pipe.incr(key)
        pipe.execute()


def service() -> Service:
    """The Service of the current Flask app (created on first use)."""
    extensions = current_app.extensions
    existing = extensions.get("gateway_saml")
    if isinstance(existing, Service):
        return existing
    with _create_lock:
        existing = extensions.get("gateway_saml")
        if not isinstance(existing, Service):
            existing = Service(extensions["gateway"])
            extensions["gateway_saml"] = existing
    return existing


_create_lock = threading.Lock()


@dataclass(frozen=True)
class SignIn:
    """A browser sign-in the ACS accepted."""

    identity: FederatedIdentity
    validated: response.Validated
    request: state.Outstanding | None  # None: IdP-initiated


def accept_post(
    svc: Service, snapshot: Snapshot, saml_response: str, *, binding: str | None, now: datetime
) -> SignIn:
    """Validate a POSTed SAMLResponse for the browser holding `binding` (pre-auth cookie)."""
    xml = xmlsafe.b64decode(saml_response)
    envelope = response.open_response(xml)
    record: state.Outstanding | None = None
    request_key: str | None = None
    if envelope.in_response_to is not None:
        request_key = state.request_key(svc.rt.keys, envelope.in_response_to)
        record = state.look_up(svc.rt.redis, request_key)
        if record is None:
            raise SamlRefusal(
                "request_unknown",
                "This response answers a sign-in request that is unknown or has expired (they "
                "last 10 minutes). Start the sign-in again.",
            )
        if binding is None or state.binding_hash(binding) != record.binding:
            raise SamlRefusal(
                "request_other_session",
                "This response answers a sign-in started in another browser session; it was "
                "refused to protect you. Start the sign-in again from this browser.",
            )
        provider = snapshot.providers_by_name.get(record.provider)
        if provider is None:
            raise SamlRefusal("unknown_provider", "The identity provider of this sign-in is no "
                              "longer configured.")
        _require_enabled(provider)
        idp = svc.idp(provider, now)
    else:
        found = (svc.registry.by_entity_id(snapshot, envelope.issuer, now)
                 if envelope.issuer else None)
        if found is None:
            raise SamlRefusal("unknown_issuer", "The response comes from an identity provider "
                              "this gateway does not know.",
                              detail=f"Issuer={envelope.issuer!r}"[:200])
        idp = found
        _require_enabled(idp.provider)
        if not idp.policy.allow_idp_initiated:
            raise SamlRefusal(
                "unsolicited_not_allowed",
                "Sign-in started at the identity provider is not enabled for "
                f"{idp.provider.display_name or idp.provider.name}; start from this gateway's "
                "sign-in page.",
            )
    try:
        validated = response.validate(
            envelope, idp,
            response.Expected(svc.sp, request_id=envelope.in_response_to if record else None),
            decryption_keys=svc.keys().decryption_keys, now=now,
        )
        if request_key is not None:
            # The outstanding request answered and the assertion recorded, one round trip.
            consumed, first = state.consume_and_mark_seen(
                svc.rt.redis, svc.rt.keys, request_key, validated.issuer,
                validated.assertion_id, validated.not_on_or_after, svc.sp.clock_skew)
            if not consumed:
                raise SamlRefusal("replayed_assertion", "This sign-in response was already used.")
        else:
            first = state.mark_seen(svc.rt.redis, svc.rt.keys, validated.issuer,
                                    validated.assertion_id, validated.not_on_or_after,
                                    svc.sp.clock_skew)
        if not first:
            raise SamlRefusal("replayed_assertion", "This assertion was already used; each one "
                              "is accepted only once.")
    except SamlRefusal as exc:
        exc.provider = idp.provider.name
        raise
    return SignIn(attributes.to_identity(validated), validated, record)


def accept_for_sts(
    svc: Service, snapshot: Snapshot, saml_assertion: str, *, principal_arn: str, now: datetime
) -> tuple[FederatedIdentity, IdentityProvider]:
    """AssumeRoleWithSAML: the same validation, unsolicited, Recipient = our ACS."""
    provider = snapshot.providers_by_saml_arn.get(principal_arn)
    if provider is None:
        raise SamlRefusal("unknown_provider", f"No SAML provider {principal_arn} is configured.",
                          sts="invalid")
    if not provider.enabled:
        refusal = SamlRefusal(disabled.CODE, disabled.tokens_refused(provider), sts="invalid")
        refusal.provider = provider.name
        raise refusal
    idp = svc.idp(provider, now)
    xml = xmlsafe.b64decode(saml_assertion, limit=xmlsafe.MAX_STS_ASSERTION)
    envelope = response.open_response(xml)
    validated = response.validate(
        envelope, idp, response.Expected(svc.sp, check_in_response_to=False),
        decryption_keys=svc.keys().decryption_keys, now=now,
    )
    identity = attributes.to_identity(validated, strict_aws=True)
    if not state.mark_seen(svc.rt.redis, svc.rt.keys, validated.issuer, validated.assertion_id,
                           validated.not_on_or_after, svc.sp.clock_skew):
        raise SamlRefusal("replayed_assertion", "The assertion was already used.")
    return identity, provider


def _require_enabled(provider: IdentityProvider) -> None:
    """Refuse sign-ins through a provider an administrator disabled (before any XML work)."""
    if not provider.enabled:
        refusal = SamlRefusal(disabled.CODE, disabled.sign_in_refused(provider))
        refusal.provider = provider.name
        raise refusal
