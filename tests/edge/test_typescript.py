"""The frontend's view: TypeScript types generated from the document type errors as the edge sends them."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

# Compiles only if a 401 of login is typed as {error: {code, message, details}}; the @ts-expect-error
# line fails the compile if Litestar's default {status_code, detail} shape type-checks too.
CHECK = """
import type { paths, components } from "./api";

type LoginUnauthorized = paths["/v1/auth/login"]["post"]["responses"][401]["content"]["application/json"];
const error: LoginUnauthorized = { error: { code: "invalid_credentials", message: "wrong email or password",
                                            details: null } };
const code: string = error.error.code;
const shared: components["schemas"]["Error"] = error;
// @ts-expect-error the old, undocumented-in-practice shape must not type-check
const litestar: LoginUnauthorized = { status_code: 401, detail: "Unauthorized" };
type Created = paths["/v1/agents"]["post"]["responses"][201]["content"]["application/json"];
const id: string = ({} as Created).id;
export { code, shared, litestar, id };
"""


def test_generated_typescript_types_match_what_the_edge_answers(client, tmp_path):
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx (Node.js) is not installed here; CI has it")
    (tmp_path / "openapi.json").write_text(json.dumps(client.get("/schema/openapi.json").json()))
    (tmp_path / "check.ts").write_text(CHECK)

    def run(*args: str) -> None:
        done = subprocess.run([npx, "--yes", *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"

    run("openapi-typescript@7", "openapi.json", "-o", "api.d.ts")
    run("-p", "typescript@5", "tsc", "--noEmit", "--strict", "check.ts")
