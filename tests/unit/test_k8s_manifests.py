"""The Kubernetes base in deploy/k8s: every manifest is valid against the Kubernetes schemas (kubernetes-validate,
strict, offline), and the pieces fit together: API and worker roles, probes, secrets by reference only, selectors
that match, migrations before the servers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

pytestmark = pytest.mark.unit

BASE = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = kubernetes_validate.latest_version()


def _resources() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    documents: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        documents.extend(doc for doc in yaml.safe_load_all((BASE / name).read_text()) if doc)
    return documents


def _by_kind_and_name() -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in _resources()}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


@pytest.mark.parametrize("resource", _resources(), ids=lambda doc: f"{doc['kind']}/{doc['metadata']['name']}")
def test_every_manifest_is_valid_against_the_kubernetes_schema(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_a_schema_violation_is_caught() -> None:
    broken = _by_kind_and_name()[("Deployment", "aegra-api")] | {"spec": {"replicas": "two"}}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_base_has_an_api_a_worker_a_service_budgets_and_a_migration_job() -> None:
    kinds = set(_by_kind_and_name())

    assert {
        ("Deployment", "aegra-api"),
        ("Deployment", "aegra-worker"),
        ("Service", "aegra"),
        ("PodDisruptionBudget", "aegra-api"),
        ("PodDisruptionBudget", "aegra-worker"),
        ("Job", "aegra-migrate"),
    } <= kinds


@pytest.mark.parametrize(("name", "args"), [("aegra-api", ["serve", "--no-workers"]), ("aegra-worker", ["worker"])])
def test_each_role_runs_its_command_with_readiness_on_ok_and_liveness_on_health(name: str, args: list[str]) -> None:
    container = _container(_by_kind_and_name()[("Deployment", name)])

    assert container["args"][: len(args)] == args
    assert container["readinessProbe"]["httpGet"]["path"] == "/ok"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    ports = {port["name"] for port in container["ports"]}
    assert {container["readinessProbe"]["httpGet"]["port"], container["livenessProbe"]["httpGet"]["port"]} <= ports


def test_secrets_are_only_referred_to() -> None:
    resources = _by_kind_and_name()
    config = resources[("ConfigMap", "aegra-config")]["data"]

    assert "DATABASE_URL" not in config and "REDIS_URL" not in config
    assert not any(doc["kind"] == "Secret" for doc in resources.values())
    for kind, name in (("Deployment", "aegra-api"), ("Deployment", "aegra-worker"), ("Job", "aegra-migrate")):
        spec = resources[(kind, name)]["spec"]["template"]["spec"]
        sources = spec["containers"][0]["envFrom"]
        assert {"secretRef": {"name": "aegra-secrets"}} in sources
        assert "env" not in spec["containers"][0], "settings come from the ConfigMap and the Secret"


def test_the_migration_job_migrates_and_the_servers_do_not() -> None:
    resources = _by_kind_and_name()
    job = resources[("Job", "aegra-migrate")]["spec"]["template"]["spec"]["containers"][0]

    assert job["args"] == ["migrate", "upgrade"]
    assert resources[("ConfigMap", "aegra-config")]["data"]["AEGRA_RUN_MIGRATIONS"] == "false"


def test_the_service_and_budgets_select_the_pods_of_their_deployment() -> None:
    resources = _by_kind_and_name()
    labels = {
        name: resources[("Deployment", name)]["spec"]["template"]["metadata"]["labels"]
        for name in ("aegra-api", "aegra-worker")
    }

    assert resources[("Service", "aegra")]["spec"]["selector"].items() <= labels["aegra-api"].items()
    for name in ("aegra-api", "aegra-worker"):
        selector = resources[("PodDisruptionBudget", name)]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels[name].items()
        assert resources[("Deployment", name)]["spec"]["selector"]["matchLabels"].items() <= labels[name].items()


def test_the_worker_outlives_its_shutdown_grace() -> None:
    resources = _by_kind_and_name()
    grace = float(resources[("ConfigMap", "aegra-config")]["data"]["RUN_SHUTDOWN_GRACE_SECONDS"])
    worker = resources[("Deployment", "aegra-worker")]["spec"]["template"]["spec"]

    assert worker["terminationGracePeriodSeconds"] > grace


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (for `kubectl kustomize`) is not installed")
def test_the_kustomize_build_is_valid() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(BASE)], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    documents = [doc for doc in yaml.safe_load_all(built) if doc]

    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    assert len(documents) == len(_resources())
    assert all(doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "aegra" for doc in documents)
