"""Every framework error leaves in the contract's error format."""

from __future__ import annotations


def _is_error(response, status, code=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["message"]
    if code:
        assert error["code"] == code


def test_malformed_json_is_400(owner):
    response = owner.client.post("/v1/agents", content=b'{"name": "x",', headers={
        **owner.headers, "Content-Type": "application/json"})
    _is_error(response, 400, "malformed_json")


def test_unknown_field_is_400(owner):
    _is_error(owner.post("/v1/agents", json={"name": "a", "model": "m", "colour": "red"}), 400, "validation_failed")


def test_wrong_type_is_400(owner):
    _is_error(owner.post("/v1/agents", json={"name": 5, "model": "m"}), 400, "validation_failed")


def test_missing_field_is_400(owner):
    _is_error(owner.post("/v1/agents", json={"name": "a"}), 400, "validation_failed")


def test_body_over_the_limit_is_413(owner, settings):
    huge = "a" * (settings.http.max_body_bytes + 1)
    _is_error(owner.post("/v1/agents", json={"name": huge, "model": "m"}), 413, "payload_too_large")


def test_unknown_route_and_method(client, owner):
    _is_error(client.get("/v1/nothing-here"), 404, "not_found")
    _is_error(owner.client.put("/v1/agents", headers=owner.headers, json={}), 405, "method_not_allowed")


def test_bad_query_parameter_is_400(owner):
    _is_error(owner.get("/v1/agents?limit=abc"), 400, "validation_failed")
    _is_error(owner.get("/v1/agents?limit=100000"), 400, "validation_failed")  # the documented maximum
    _is_error(owner.get("/v1/agents?cursor=garbage!"), 422, "invalid_input")


def test_health_and_schema(client, settings):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    expected = {"postgres": "ok", "redis": "ok"}
    if settings.broker.is_rabbitmq:
        expected["rabbitmq"] = "ok"
    assert ready.json()["checks"] == expected
    schema = client.get("/schema/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/v1/agents", "/v1/commands/{command_id}", "/v1/agents/{agent_id}/deploy"} <= set(paths)
    deploy = paths["/v1/agents/{agent_id}/deploy"]["post"]
    assert "202" in deploy["responses"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in deploy["parameters"])


def test_an_edge_that_cannot_reach_its_rabbitmq_broker_is_not_ready(settings):
    import dataclasses

    from litestar.testing import TestClient

    from edge.app import create_app

    nowhere = dataclasses.replace(settings, broker=dataclasses.replace(
        settings.broker, url=f"amqp://guest:guest@127.0.0.1:{_closed_port()}/"))
    with TestClient(create_app(nowhere)) as edge:
        ready = edge.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"]["details"]["rabbitmq"].startswith("error:")


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed
