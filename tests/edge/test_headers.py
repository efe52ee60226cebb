"""Security headers on every answer; HSTS only over HTTPS; CORS only for FRONTEND_ORIGINS (issue 14)."""

from __future__ import annotations

import dataclasses
import ipaddress
from contextlib import contextmanager

import pytest
from litestar.testing import TestClient

from edge.app import create_app
from tests.edge.test_ratelimits import FromAddress

APP = "https://app.example.com"


@contextmanager
def edge(settings, *, base_url="http://testserver.local", ip="198.51.100.7", **http):
    changed = dataclasses.replace(settings, http=dataclasses.replace(settings.http, **http))
    with TestClient(FromAddress(create_app(changed), ip), base_url=base_url) as test_client:
        yield test_client


def _assert_secure(response):
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_every_answer_carries_the_security_headers_and_no_hsts_over_http(client, owner):
    answers = [client.get("/healthz"), client.get("/v1/nowhere"), client.get("/v1/me"), owner.get("/v1/me"),
               client.post("/v1/auth/login", content=b"{"), client.get("/schema/openapi.json"),
               client.options("/v1/agents")]
    assert [a.status_code for a in answers] == [200, 404, 401, 200, 400, 200, 204]
    for answer in answers:
        _assert_secure(answer)
        assert "strict-transport-security" not in answer.headers


def test_hsts_only_over_https_or_from_a_trusted_proxy_that_terminated_it(settings):
    with edge(settings, base_url="https://testserver.local") as https:
        assert https.get("/healthz").headers["strict-transport-security"].startswith("max-age=")
    with edge(settings) as direct:  # anyone can send the header: not believed from them
        assert "strict-transport-security" not in direct.get("/healthz", headers={"X-Forwarded-Proto": "https"}).headers
    with edge(settings, trusted_proxies=(ipaddress.ip_network("198.51.100.0/24"),)) as proxied:
        assert "strict-transport-security" in proxied.get("/healthz", headers={"X-Forwarded-Proto": "https"}).headers
        assert "strict-transport-security" not in proxied.get("/healthz", headers={"X-Forwarded-Proto": "http"}).headers


def test_cors_answers_the_frontend_origin_only_without_credentials(settings):
    with edge(settings, frontend_origins=(APP,)) as cors:
        preflight = cors.options("/v1/agents", headers={
            "Origin": APP, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
        assert preflight.status_code in (200, 204), preflight.text
        assert preflight.headers["access-control-allow-origin"] == APP
        assert "access-control-allow-credentials" not in preflight.headers
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert {"authorization", "content-type", "idempotency-key"} <= {h.strip() for h in allowed.split(",")}
        simple = cors.get("/v1/billing/plans", headers={"Origin": APP})
        assert simple.headers["access-control-allow-origin"] == APP
        exposed = {h.strip().lower() for h in simple.headers["access-control-expose-headers"].split(",")}
        assert {"retry-after", "ratelimit", "ratelimit-policy", "x-request-id", "location"} <= exposed
        _assert_secure(simple)

        evil = cors.get("/v1/billing/plans", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers
        refused = cors.options("/v1/agents", headers={"Origin": "https://evil.example",
                                                      "Access-Control-Request-Method": "POST"})
        assert refused.headers.get("access-control-allow-origin") != "https://evil.example"


def test_without_frontend_origins_no_cors_headers_at_all(client):
    answer = client.get("/v1/billing/plans", headers={"Origin": APP})
    assert not [h for h in answer.headers if h.lower().startswith("access-control-")]


@pytest.mark.parametrize("value", ["*", "app.example.com", "https://app.example.com/path"])
def test_a_wildcard_or_malformed_origin_is_a_start_up_problem(test_env, value):
    from objecta.settings import SettingsError, load
    with pytest.raises(SettingsError, match="FRONTEND_ORIGINS"):
        load({**test_env, "FRONTEND_ORIGINS": value})
