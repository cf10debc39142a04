"""Certificates about to expire: IdP signing certificates from metadata and the SP's own.

Exposed as a gauge (seconds left, per provider and use) and as plain-language warnings
for `/readyz` and the admin page; a warning never makes the gateway unready.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import Gauge

from gateway.sources.saml.service import Service

EXPIRY_WARNING = timedelta(days=30)
CERTIFICATE_EXPIRY = Gauge(
    "gateway_saml_certificate_expiry_seconds",
    "Seconds until a SAML certificate expires (IdP signing certificates, SP keys)",
    ["provider", "use"],
    multiprocess_mode="min",
)


def certificate_warnings(svc: Service, now: datetime,
                         window: timedelta = EXPIRY_WARNING) -> list[str]:
    """One sentence per certificate expiring within `window` (or already expired)."""
    warnings: list[str] = []
    for idp in svc.registry.cached():
        # With a rollover certificate published, only the last one to expire matters.
        latest = max(idp.metadata.certificate_expiries)
        CERTIFICATE_EXPIRY.labels(idp.provider.name, "idp-signing").set(
            (latest - now).total_seconds())
        if latest - now <= window:
            warnings.append(
                f"identity provider {idp.provider.name}: its signing certificate expires "
                f"{latest:%Y-%m-%d}; ask its administrators for the new one"
                + (" (already expired)" if latest <= now else "")
            )
    keys = svc.keys()
    CERTIFICATE_EXPIRY.labels("gateway", "sp-current").set(
        (keys.current.not_after - now).total_seconds())
    if keys.current.not_after - now <= window:
        warnings.append(
            f"the gateway's SAML key {keys.current.kid} expires {keys.current.not_after:%Y-%m-%d}; "
            "rotate the SP keys (the next key is already in the metadata IdPs fetch)"
        )
    return warnings
