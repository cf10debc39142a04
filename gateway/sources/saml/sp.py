"""What the gateway is as a SAML service provider: its entity id and endpoints, from settings."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.settings import Settings


@dataclass(frozen=True)
class ServiceProvider:
    entity_id: str
    acs_url: str
    slo_url: str
    metadata_url: str
    clock_skew: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceProvider:
        # From configuration only, never from the request's Host header (attacks.md W-11).
        base = settings.base_url
        return cls(
            entity_id=f"{base}/saml/metadata",
            acs_url=f"{base}/saml/acs",
            slo_url=f"{base}/saml/slo",
            metadata_url=f"{base}/saml/metadata",
            clock_skew=settings.clock_skew,
        )
