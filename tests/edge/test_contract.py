"""The OpenAPI document says what the edge really does (edge/openapi.py, edge/schemas.py, edge/allow.py)."""

from __future__ import annotations

import re

import pytest

PUBLIC = {("post", "/v1/auth/signup"), ("post", "/v1/auth/login"), ("post", "/v1/auth/refresh"),
          ("post", "/v1/auth/verify-email"), ("post", "/v1/auth/password-reset"), ("post", "/v1/auth/not-me"),
          ("post", "/v1/auth/password-reset/confirm"),
          ("post", "/v1/invitations/accept"), ("get", "/v1/billing/plans"), ("post", "/v1/webhooks/stripe"),
          ("get", "/healthz"), ("get", "/readyz"),
          ("post", "/admin/v1/auth/login"), ("post", "/admin/v1/auth/mfa"), ("post", "/admin/v1/auth/refresh")}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document(client) -> dict:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def resolve(document, schema: dict) -> dict:
    if "$ref" in schema:
        return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def strings(document, schema: dict, where: str):
    """Every string schema inside `schema`, with where it is."""
    schema = resolve(document, schema)
    branches = schema.get("oneOf", []) + schema.get("anyOf", [])
    if schema.get("type") == "string" or any(b.get("type") == "string" for b in branches):
        yield where, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from strings(document, child, f"{where}.{name}")
    for child in [schema.get("items"), schema.get("additionalProperties")] + branches:
        if isinstance(child, dict) and child.get("type") != "string":
            yield from strings(document, child, f"{where}[]")


def test_every_error_response_is_the_error_component(document):
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert set(error["properties"]["error"]["required"]) == {"code", "message", "details"}
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
                assert "`" in response["description"], (method, path, status)  # names the codes


def test_statuses_the_domain_raises_are_documented(document):
    def statuses(method, path):
        return set(document["paths"][path][method]["responses"])

    assert {"200", "400", "401", "413"} <= statuses("post", "/v1/auth/login")
    assert {"201", "402", "401", "403"} <= statuses("post", "/v1/agents")
    assert {"202", "402", "409", "429"} <= statuses("post", "/v1/team/invitations")
    assert {"201", "410", "409", "422"} <= statuses("post", "/v1/invitations/accept")
    assert {"404"} <= statuses("get", "/v1/agents/{agent_id}")
    assert "503" in statuses("get", "/readyz")


def test_every_string_the_edge_reads_refuses_nul(document):
    checked = 0
    for method, path, operation in operations(document):
        found = []
        for parameter in operation.get("parameters", []):
            found += strings(document, parameter["schema"], f"{parameter['in']}:{parameter['name']}")
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            found += strings(document, body["schema"], "body")
        for where, schema in found:
            typed = [b for b in [schema, *schema.get("oneOf", [])] if b.get("type") == "string"]
            if all(b.get("format") in ("uuid", "date-time", "date") or "enum" in b or "const" in b for b in typed):
                continue
            assert schema.get("pattern"), (method, path, where)
            assert not re.search(schema["pattern"], "a\u0000b"), (method, path, where, schema["pattern"])
            checked += 1
    assert checked > 30


def test_request_bodies_refuse_unknown_fields_and_show_bounds(document):
    schemas = document["components"]["schemas"]
    bodies = {op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
              for _, _, op in operations(document) if "requestBody" in op and "/webhooks/" not in str(op)}
    assert len(bodies) > 10
    for name in bodies:
        assert schemas[name]["additionalProperties"] is False, name
    name = schemas["AgentCreate"]["properties"]["name"]
    assert (name["minLength"], name["maxLength"]) == (1, 200)
    seats = schemas["PlanChange"]["properties"]["seats"]
    assert (seats.get("minimum"), seats.get("maximum")) == (1, 100_000), seats
    limit = next(p for p in document["paths"]["/v1/agents"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)


def test_bearer_security_on_authenticated_routes_only(document):
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for method, path, operation in operations(document):
        if (method, path) in PUBLIC:
            assert not operation.get("security"), (method, path)
        elif path.startswith("/admin/"):  # the admin realm's own scheme (docs/admin.md)
            assert operation.get("security") == [{"adminBearer": []}], (method, path)
            assert "network_not_allowed" in operation["responses"]["403"]["description"], (method, path)
        elif not path.startswith("/schema"):
            assert operation.get("security") == [{"bearer": []}], (method, path)
            assert "401" in operation["responses"], (method, path)
            assert "organization_suspended" in operation["responses"]["403"]["description"], (method, path)


def test_options_allows_every_method_of_the_path(owner):
    agent = owner.post("/v1/agents", json={"name": "Bot", "model": "m"}).json()["id"]
    allowed = owner.client.options(f"/v1/agents/{agent}").headers["allow"]
    assert set(allowed.split(", ")) == {"GET", "PATCH", "DELETE", "OPTIONS"}
    allowed = owner.client.options("/v1/billing/subscription").headers["allow"]
    assert set(allowed.split(", ")) == {"GET", "POST", "PATCH", "DELETE", "OPTIONS"}


def test_fields_whose_meaning_is_not_obvious_are_described(document):
    schemas = document["components"]["schemas"]
    for component, field in [("PlanOut", "price"), ("PlanOut", "agent_limit"), ("SubscriptionOut", "pending_plan"),
                             ("CommandOut", "result"), ("TokensOut", "expires_in"), ("SubscribeBody", "trial"),
                             ("PlanChange", "seats"), ("LoginBody", "organization_id"), ("Measure", "limit")]:
        assert schemas[component]["properties"][field].get("description"), (component, field)
