"""deploy/: the Compose file, the Kubernetes manifests and the alert rules, checked by schema and against the code.

Offline: Kubernetes' kinds with `kubernetes-validate` (a dev dependency, schemas bundled), KEDA's ScaledObject
and the Compose file with their JSON schemas vendored under tests/deploy/schemas/, the rules by parsing (and
`promtool check rules` where Prometheus' tools are installed). What these cannot see: whether a cluster
accepts the manifests (admission, the KEDA operator's own checks), image builds, and real scaling.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema_rs
import pytest
import yaml

from objecta.launcher import queue_modules

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCHEMAS = Path(__file__).parent / "schemas"
QUEUES = sorted(module.removeprefix("workers.") for module in queue_modules())
KUBERNETES_VERSION = "1.31.0"


def documents(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()) if doc]


def all_documents() -> list[dict]:
    return [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in documents(path.name)]


def errors(schema: dict, instance) -> list[str]:
    return [f"{'/'.join(map(str, e.instance_path))}: {e.message}"
            for e in jsonschema_rs.validator_for(schema).iter_errors(instance)]


def test_kubernetes_kinds_are_valid_against_the_bundled_schemas():
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (a dev dependency)")
    checked = 0
    for doc in all_documents():
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {error.message} at {list(error.path)}")
        checked += 1
    assert checked >= 12


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_each_pool_has_a_keda_scaled_object_on_its_own_queue(broker):
    schema = json.loads((SCHEMAS / "keda-scaledobject-v1alpha1.json").read_text())
    scaled = {doc["spec"]["scaleTargetRef"]["name"]: doc for doc in documents(f"keda-{broker}.yaml")}
    assert sorted(scaled) == [f"worker-{queue}" for queue in QUEUES]
    for queue in QUEUES:
        doc = scaled[f"worker-{queue}"]
        assert errors(schema, doc) == [], doc["metadata"]["name"]
        [trigger] = doc["spec"]["triggers"]
        assert trigger["type"] == broker
        source = trigger["metadata"]["listName"] if broker == "redis" else trigger["metadata"]["queueName"]
        assert source == (f"objecta:{queue}" if broker == "redis" else queue)  # the broker's own name for it
        assert doc["spec"]["minReplicaCount"] >= 1  # never zero: a pool must be there for the sweeper's re-sends


def test_each_pool_is_its_own_deployment_consuming_only_its_queue():
    deployments = {doc["metadata"]["name"]: doc for doc in all_documents() if doc["kind"] == "Deployment"}
    assert {f"worker-{queue}" for queue in QUEUES} | {"edge", "relay", "scheduler"} == set(deployments)
    for queue in QUEUES:
        [container] = deployments[f"worker-{queue}"]["spec"]["template"]["spec"]["containers"]
        command = container["command"]
        assert command[:3] == ["dramatiq", "workers.broker", f"workers.{queue}"]
        assert command[command.index("--queues") + 1] == queue
        assert container["livenessProbe"]["httpGet"]["path"] == "/metrics"


def test_probes_use_the_real_endpoints():
    from edge.app import create_app
    from objecta.settings import load

    paths = {route.path for route in create_app(load({"OBJECTA_ENV": "test"})).routes}
    deployments = {doc["metadata"]["name"]: doc for doc in all_documents() if doc["kind"] == "Deployment"}
    [edge] = deployments["edge"]["spec"]["template"]["spec"]["containers"]
    assert edge["livenessProbe"]["httpGet"]["path"] == "/healthz" and "/healthz" in paths
    assert edge["readinessProbe"]["httpGet"]["path"] == "/readyz" and "/readyz" in paths
    assert "/metrics" in paths
    [relay] = deployments["relay"]["spec"]["template"]["spec"]["containers"]
    assert relay["readinessProbe"]["httpGet"]["path"] == "/healthz"  # what edge/relay.py answers
    budgets = [doc for doc in all_documents() if doc["kind"] == "PodDisruptionBudget"]
    assert [b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for b in budgets] == ["relay"]
    [job] = [doc for doc in all_documents() if doc["kind"] == "Job"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["objecta", "migrate"]


def test_the_compose_file_follows_the_compose_specification_and_runs_every_pool():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert errors(json.loads((SCHEMAS / "compose-spec.json").read_text()), compose) == []
    services = compose["services"]
    for queue in QUEUES:
        pool = services[f"worker-{queue}"]
        assert pool["command"][pool["command"].index("--queues") + 1] == queue
        assert f"WORKERS_{queue.upper()}" in str(pool["deploy"]["replicas"])  # its own replica count
    assert "${EDGE_REPLICAS:-2}" == services["edge"]["deploy"]["replicas"]
    assert services["rabbitmq"]["profiles"] == ["rabbitmq"]
    assert services["migrate"]["command"] == ["objecta", "migrate"]
    for name in ["edge", "relay", "scheduler"] + [f"worker-{queue}" for queue in QUEUES]:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose (Debian's package) is not installed")
def test_docker_compose_accepts_the_file():
    env = {**os.environ, **{name: "x" * 32 for name in (
        "POSTGRES_PASSWORD", "APP_DB_PASSWORD", "JWT_SECRET", "ADMIN_JWT_SECRET", "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET")}}
    checked = subprocess.run(["docker-compose", "-f", str(DEPLOY / "compose.yaml"), "config", "-q"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr


def exported_names() -> set[str]:
    """Every sample name the processes can expose (objecta/metrics.py), with Prometheus' suffixes."""
    from objecta.metrics import m

    names = set()
    for metric in vars(m()).values():
        family = metric._name
        kind = metric._type
        if kind == "counter":
            names |= {family + "_total", family + "_created"}
        elif kind == "histogram":
            names |= {family + suffix for suffix in ("_bucket", "_count", "_sum", "_created")}
        else:
            names.add(family)
    from objecta.metrics import QUEUE_GAUGES  # the scheduler's collector, read from the broker when scraped
    return names | set(QUEUE_GAUGES) | {"objecta_queue_figures_up"}


def test_every_alert_names_metrics_that_exist_and_says_how_bad_it_is():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    exported = exported_names() | {"up"}  # `up` is Prometheus' own, per scrape target
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert len(alerts) >= 10
    for rule in alerts:
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        named = set(re.findall(r"\b(objecta_[a-z_]+|up)\b(?=\s*[{\[)]|\s*$|\s*[=<>!])", rule["expr"]))
        named |= set(re.findall(r"\b(objecta_[a-z_]+)\b", rule["expr"]))
        assert named, rule["alert"]
        assert named <= exported, f"{rule['alert']} names {named - exported}"


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool (Debian's prometheus package) is not installed")
def test_promtool_accepts_the_rules():
    checked = subprocess.run(["promtool", "check", "rules", str(DEPLOY / "prometheus" / "alerts.yaml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_image_copies_every_package():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for package in ("objecta", "edge", "domain", "workers", "schedules", "migrations"):
        assert f"COPY {package} {package}" in dockerfile
