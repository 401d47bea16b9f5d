"""docs/deploy-kubernetes.md: its Flux HelmRelease installs as written, and README leads to it."""

import re

import helm_python as helm
import yaml

from tests.deploy.chart import CHART, REPO, of_kind, render

DOC = REPO / "docs" / "deploy-kubernetes.md"


def yaml_documents() -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [doc for block in blocks for doc in yaml.safe_load_all(block) if doc]


def test_the_flux_helm_release_points_at_the_chart_and_its_values_pass_the_schema():
    (release,) = [doc for doc in yaml_documents() if doc.get("kind") == "HelmRelease"]
    values = release["spec"]["values"]

    assert (REPO / release["spec"]["chart"]["spec"]["chart"]).resolve() == CHART
    assert helm.lint(CHART, values, strict=True)["errors"] == []
    (ingress,) = of_kind(render(values), "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == "gpu.hikube.example"


def test_readme_links_the_kubernetes_guide_and_keeps_compose_as_the_single_machine_option():
    readme = (REPO / "README.md").read_text()

    assert "(docs/deploy-kubernetes.md)" in readme
    assert "`docker-compose.yml` stays the single-machine" in readme
