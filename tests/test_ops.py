"""Health, readiness, metrics, request ids and security headers over HTTP."""

from __future__ import annotations

import requests

from tests.conftest import LiveServer


def test_healthz_and_readyz(live_server: LiveServer) -> None:
    assert requests.get(f"{live_server.url}/healthz").json() == {"status": "ok"}
    ready = requests.get(f"{live_server.url}/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == "ok"
    assert isinstance(body["checks"]["config_version"], int)


def test_metrics_count_requests(live_server: LiveServer) -> None:
    requests.get(f"{live_server.url}/healthz")
    text = requests.get(f"{live_server.url}/metrics").text
    assert 'gateway_http_requests_total{endpoint="ops.healthz",method="GET",status="200"}' in text


def test_request_id_is_echoed_or_created(live_server: LiveServer) -> None:
    mine = requests.get(f"{live_server.url}/healthz", headers={"X-Request-Id": "abcdef123456"})
    assert mine.headers["X-Request-Id"] == "abcdef123456"
    bad = requests.get(f"{live_server.url}/healthz", headers={"X-Request-Id": "<script>"})
    assert len(bad.headers["X-Request-Id"]) == 32 and "<" not in bad.headers["X-Request-Id"]


def test_pages_send_a_strict_csp_and_forbid_framing(live_server: LiveServer) -> None:
    page = requests.get(f"{live_server.url}/")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"


def test_unknown_page_is_a_clear_404_page_without_a_trace(live_server: LiveServer) -> None:
    page = requests.get(f"{live_server.url}/no/such/page")
    assert page.status_code == 404
    assert "NotFound" in page.text and "Traceback" not in page.text
    api = requests.get(f"{live_server.url}/api/v1/nothing")
    assert api.status_code == 404
    assert api.json()["title"] == "NotFound"


def test_readyz_reports_saml_certificate_warnings(live_server: LiveServer) -> None:
    checks = requests.get(f"{live_server.url}/readyz").json()["checks"]
    # Fresh SP keys are valid for years: no warning, but the check ran.
    assert checks["saml_certificates"] == "ok"
