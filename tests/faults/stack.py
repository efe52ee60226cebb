"""The processes a fault test runs against: a real edge (uvicorn, as production runs it) and a person using it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg

from objecta import embedded
from tests.fixtures.app import PASSWORD
from tests.fixtures.relay import REPO

# Generous limits: a fault run makes hundreds of agents and invitations in one organization.
ROOMY = {"FREE_PLAN_AGENTS": "100000", "FREE_PLAN_SEATS": "100000", "INVITATIONS_PER_HOUR": "100000"}


class Edge:
    """`uvicorn --factory edge.app:create_app` in its own process, with `env` as its whole configuration."""

    def __init__(self, env: dict, log_path: Path):
        self.port = embedded.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, **env}
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "edge.app:create_app", "--host", "127.0.0.1",
                 "--port", str(self.port), "--no-access-log"],
                env={**os.environ, **env}, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        embedded.wait_for_http(self.url + "/healthz", self.process, 30, "edge", log_path)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


class Person:
    """An owner signed up through the edge, holding their token as a frontend would."""

    def __init__(self, edge: Edge, timeout: float = 30):
        self.http = httpx.Client(base_url=edge.url, timeout=timeout)
        email = f"owner-{uuid.uuid4().hex[:12]}@example.com"
        response = self.http.post("/v1/auth/signup", json={"email": email, "password": PASSWORD, "name": "Owner",
                                                           "organization_name": "Acme"})
        assert response.status_code == 201, response.text
        tokens = response.json()
        self.org_id, self.user_id = tokens["organization_id"], tokens["user_id"]
        self.http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        # What following the emailed link does: only a verified address may invite (the load invites).
        with psycopg.connect(edge.env["DATABASE_URL"], autocommit=True) as connection:
            connection.execute("update users set email_verified_at = now() where id = %s", (self.user_id,))

    def agent(self, model: str = "gpt-4o") -> str:
        response = self.http.post("/v1/agents", json={"name": "bot", "model": model})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def close(self) -> None:
        self.http.close()
