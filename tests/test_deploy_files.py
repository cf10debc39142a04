"""docker-compose.yml and the Dockerfile, checked by reading (no Docker engine here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from gateway.settings import FIELDS

ROOT = Path(__file__).resolve().parent.parent


REPLICAS = ("gateway-1", "gateway-2")
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_compose_runs_two_replicas_behind_a_proxy_with_shared_stores() -> None:
    assert set(SERVICES) >= {"migrate", *REPLICAS, "proxy", "postgres", "redis"}
    for name, service in SERVICES.items():
        if name != "migrate":  # a one-shot job: it runs, succeeds and stops
            assert "healthcheck" in service, f"{name} has no health check"
            assert service["restart"] == "unless-stopped", name
    known = {s.env for s in FIELDS}
    first, second = (SERVICES[name] for name in REPLICAS)
    assert first["environment"] == second["environment"], "replicas must share every setting"
    for name in REPLICAS:
        replica = SERVICES[name]
        env = replica["environment"]
        assert set(env) <= known, "compose sets a setting the gateway lacks"
        assert replica["build"] == "." and replica["command"] == ["gateway", "serve"]
        assert env["GATEWAY_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["GATEWAY_DATABASE_URL"]
        assert env["GATEWAY_REDIS_URL"].startswith("redis://redis:6379/")
        # One proxy in front, and it is the only way in: no port of its own published.
        assert env["GATEWAY_TRUSTED_PROXIES"] == "1" and "ports" not in replica
        assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert replica["depends_on"]["redis"]["condition"] == "service_healthy"
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["gateway", "db", "upgrade"] and migrate["restart"] == "no"
    assert migrate["environment"] == first["environment"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    redis = SERVICES["redis"]
    assert "--appendonly" in redis["command"], "a Redis restart must keep revocations"
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    for name in ("postgres", "redis"):
        volume = SERVICES[name]["volumes"][0].split(":")[0]
        assert volume in COMPOSE["volumes"], f"{name} data is not on a named volume"


def test_proxy_publishes_the_gateway_and_waits_for_both_replicas() -> None:
    proxy = SERVICES["proxy"]
    assert proxy["image"].startswith("nginx:")
    source, target, mode = proxy["volumes"][0].split(":")
    assert (ROOT / source).is_file() and target == "/etc/nginx/nginx.conf" and mode == "ro"
    assert proxy["ports"] == ["8000:8000"]
    for name in REPLICAS:
        assert proxy["depends_on"][name]["condition"] == "service_healthy"


def _nginx() -> list[dict[str, Any]]:
    import crossplane

    parsed = crossplane.parse(str(ROOT / "deploy" / "nginx.conf"), comments=False)
    assert parsed["status"] == "ok", parsed["errors"]
    directives: list[dict[str, Any]] = parsed["config"][0]["parsed"]
    return directives


def _find(directives: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [d for d in directives if d["directive"] == name]


def test_nginx_balances_both_replicas_and_owns_every_forwarded_header() -> None:
    http = _find(_nginx(), "http")[0]["block"]
    upstream = _find(http, "upstream")[0]
    name = upstream["args"][0]
    # The replicas listen on the image's GATEWAY_BIND port.
    bind_port = re.search(r"GATEWAY_BIND=0\.0\.0\.0:(\d+)", (ROOT / "Dockerfile").read_text())
    assert bind_port is not None
    servers = {d["args"][0] for d in _find(upstream["block"], "server")}
    assert servers == {f"{replica}:{bind_port.group(1)}" for replica in REPLICAS}
    assert not _find(upstream["block"], "ip_hash"), "no sticky sessions are needed"

    server = _find(http, "server")[0]["block"]
    published = SERVICES["proxy"]["ports"][0].split(":")[-1]
    assert _find(server, "listen")[0]["args"] == [published]
    assert _find(server, "client_max_body_size")[0]["args"] == ["1m"]
    location = next(d for d in _find(server, "location") if d["args"] == ["/"])["block"]
    # No URI after the upstream: the path arrives unchanged, as the client signed it.
    assert _find(location, "proxy_pass")[0]["args"] == [f"http://{name}"]
    headers = {d["args"][0].lower(): d["args"][1] for d in _find(location, "proxy_set_header")}
    assert headers["host"] == "$http_host" and headers["x-forwarded-host"] == "$http_host"
    assert headers["x-forwarded-proto"] == "$scheme"
    assert headers["x-forwarded-for"] == "$remote_addr"
    # The gateway trusts every X-Forwarded-* header ProxyFix reads from one proxy: each
    # must come from nginx (or be dropped by it), never from the client.
    for header in ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                   "x-forwarded-port", "x-forwarded-prefix"):
        assert header in headers, f"a client could set {header} itself"
    retried = _find(location, "proxy_next_upstream")[0]["args"]
    assert "non_idempotent" not in retried, "a POST must never be carried out twice"


def test_dockerfile_installs_the_package_and_serves_it() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("# ") and "FROM python:3.11" in text
    for copied in ("gateway", "templates", "static", "pyproject.toml"):
        assert f"COPY {copied}" in text or f" {copied} " in text
    assert "gateway serve" in text and "USER gateway" in text
