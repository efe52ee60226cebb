"""Agents, conversations and messages through the API, tenant boundaries included."""

from __future__ import annotations

import pytest

from tests.fixtures.app import add_member


def _agent(account, name="Support bot"):
    response = account.post("/v1/agents", json={"name": name, "model": "gpt-4o", "instructions": "be kind"})
    assert response.status_code == 201, response.text
    return response.json()


def test_agent_lifecycle(owner):
    agent = _agent(owner)
    assert agent["status"] == "draft" and agent["version"] == 1
    assert owner.get(f"/v1/agents/{agent['id']}").json()["name"] == "Support bot"
    edited = owner.patch(f"/v1/agents/{agent['id']}", json={"instructions": "be brief"})
    assert edited.status_code == 200
    assert edited.json()["version"] == 2 and edited.json()["instructions"] == "be brief"
    assert owner.delete(f"/v1/agents/{agent['id']}").status_code == 204
    assert owner.get(f"/v1/agents/{agent['id']}").status_code == 404


def test_list_pages_newest_first_without_repeats(owner):
    made = [_agent(owner, f"a{i}")["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        page = owner.get("/v1/agents", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(made))


def test_conversations_and_messages(owner):
    agent = _agent(owner)
    conversation = owner.post(f"/v1/agents/{agent['id']}/conversations", json={"title": "hello"})
    assert conversation.status_code == 201
    path = f"/v1/agents/{agent['id']}/conversations/{conversation.json()['id']}/messages"
    assert owner.post(path, json={"content": "hi"}).status_code == 201
    assert owner.post(path, json={"content": "hello!", "role": "assistant"}).status_code == 201
    assert owner.post(path, json={"content": "x", "role": "robot"}).status_code == 400
    messages = owner.get(path).json()["items"]
    assert [m["content"] for m in messages] == ["hi", "hello!"]
    listed = owner.get(f"/v1/agents/{agent['id']}/conversations").json()["items"]
    assert [c["title"] for c in listed] == ["hello"]


@pytest.mark.parametrize("method, suffix, body", [
    ("get", "", None), ("patch", "", {"name": "mine now"}), ("delete", "", None),
    ("get", "/conversations", None), ("post", "/conversations", {"title": "x"}),
])
def test_another_tenants_agent_is_404(owner, other_owner, method, suffix, body):
    theirs = _agent(other_owner)
    kwargs = {"json": body} if body is not None else {}
    response = getattr(owner, method)(f"/v1/agents/{theirs['id']}{suffix}", **kwargs)
    assert response.status_code == 404
    assert other_owner.get(f"/v1/agents/{theirs['id']}").json()["name"] == theirs["name"]


def test_another_tenants_agents_never_listed(owner, other_owner):
    _agent(other_owner, "secret")
    assert all(a["name"] != "secret" for a in owner.get("/v1/agents").json()["items"])


def test_viewer_reads_but_cannot_write(client, settings, owner):
    agent = _agent(owner)
    viewer = add_member(client, settings, owner.org_id, "viewer")
    assert viewer.get(f"/v1/agents/{agent['id']}").status_code == 200
    refused = viewer.post("/v1/agents", json={"name": "n", "model": "m"})
    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == {"permission": "agents.manage", "role": "viewer"}
    assert viewer.delete(f"/v1/agents/{agent['id']}").status_code == 403
