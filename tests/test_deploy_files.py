"""docker-compose.yml and the Dockerfile, checked by reading (no Docker engine here)."""

from __future__ import annotations

from pathlib import Path

import yaml

from gateway.settings import FIELDS

ROOT = Path(__file__).resolve().parent.parent


def test_compose_runs_gateway_postgres_and_redis_with_health_checks() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"gateway", "postgres", "redis"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
    gateway = services["gateway"]
    assert gateway["build"] == "."
    for dependency in ("postgres", "redis"):
        assert gateway["depends_on"][dependency]["condition"] == "service_healthy"
    known = {s.env for s in FIELDS}
    assert set(gateway["environment"]) <= known, "compose sets a setting the gateway lacks"
    assert gateway["environment"]["GATEWAY_DATABASE_URL"].startswith("postgresql+psycopg://")
    volume = services["postgres"]["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]


def test_dockerfile_installs_the_package_and_serves_it() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("# ") and "FROM python:3.11" in text
    for copied in ("gateway", "templates", "static", "pyproject.toml"):
        assert f"COPY {copied}" in text or f" {copied} " in text
    assert "gateway serve" in text and "USER gateway" in text
