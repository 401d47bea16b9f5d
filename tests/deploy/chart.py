"""The Helm chart of deploy/helm/hikube-gpu-portal, rendered and linted by Helm's own engine
(helm-python-sdk binds Helm v4's Go library: no helm binary, no network)."""

import functools
from pathlib import Path

import helm_python as helm
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "hikube-gpu-portal"
PRODUCTION_VALUES = CHART / "values-production.yaml"
RELEASE, NAMESPACE = "portal", "hikube-portal"
# The kube-apiserver of the real-API tier (tests/support/kube.py) is v1.36.2.
KUBE_VERSION = "1.36.0"
# The least an install needs on top of the defaults: the schema requires the secrets and, with
# namespaced RBAC, the teams' namespaces.
REQUIRED = {
    "secrets": {
        "values": {
            "SECRET_KEY": "k" * 50,
            "DATABASE_URL": "postgres://portal:pw@db:5432/portal",
            "REDIS_URL": "redis://redis:6379/0",
        }
    },
    "rbac": {"namespaces": ["tenant-ml-research", "tenant-vision"]},
}


@functools.cache
def chart() -> helm.Chart:
    return helm.Chart.load(CHART)


def merge(*layers: dict) -> dict:
    """Values layered as `helm -f a -f b` layers them: mappings merge, everything else is replaced."""
    merged: dict = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merge(merged[key], value)
            else:
                merged[key] = value
    return merged


def production_values() -> dict:
    return yaml.safe_load(PRODUCTION_VALUES.read_text())


def render(*layers: dict, namespace: str = NAMESPACE) -> list[dict]:
    """Every object the chart renders for these values (hooks included), as `helm template` would."""
    manifests = chart().render(merge(*layers), name=RELEASE, namespace=namespace, is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith(".yaml"):
            objects += [obj for obj in yaml.safe_load_all(text) if obj]
    return objects


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[dict], kind: str, suffix: str) -> dict:
    (obj,) = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"].endswith(suffix)]
    return obj


def rule_triples(rules: list[dict]) -> set[tuple[str, str, str]]:
    """RBAC rules as (apiGroup, resource, verb) triples, the unit in which permissions add up."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
