"""The chart's RBAC is exactly what the portal needs, nothing on Secrets and no wildcard; the
README's table says the same, rule by rule."""

import re

import pytest

from tests.deploy.chart import REPO, REQUIRED, named, of_kind, render, rule_triples
from tests.support import kube

READ = ("get", "list", "watch")
TENANT_RULES = {
    *(
        ("apps.cozystack.io", resource, verb)
        for resource in ("vminstances", "vmdisks", "virtualmachines")
        for verb in (*READ, "create", "patch", "delete")
    ),
    *(("kubevirt.io", resource, verb) for resource in ("virtualmachines", "virtualmachineinstances") for verb in READ),
    *(("subresources.kubevirt.io", f"virtualmachines/{action}", "update") for action in ("start", "stop", "restart")),
    *(("cdi.kubevirt.io", "datavolumes", verb) for verb in READ),
    *(("", resource, verb) for resource in ("services", "events", "pods", "resourcequotas") for verb in READ),
}
NODES_RULES = {("", "nodes", "get"), ("", "nodes", "list")}
NAMESPACES_RULES = {("", "namespaces", "create")}
CLUSTER_SCOPED = {
    "config": {"CLUSTER_CREATE_NAMESPACES": "1", "CLUSTER_READ_NODES": "true"},
    "rbac": {"scope": "cluster"},
}


def cluster_roles(objects) -> dict[str, set]:
    return {role["metadata"]["name"]: rule_triples(role["rules"]) for role in of_kind(objects, "ClusterRole")}


def test_a_role_per_team_namespace_with_exactly_the_tenant_rules_bound_to_the_workers_account():
    objects = render(REQUIRED)
    account = named(objects, "Deployment", "-worker")["spec"]["template"]["spec"]["serviceAccountName"]

    roles, bindings = of_kind(objects, "Role"), of_kind(objects, "RoleBinding")
    assert sorted(role["metadata"]["namespace"] for role in roles) == REQUIRED["rbac"]["namespaces"]
    for role in roles:
        assert rule_triples(role["rules"]) == TENANT_RULES
    for binding in bindings:
        assert binding["roleRef"]["name"] == roles[0]["metadata"]["name"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "hikube-portal"}]
    assert sorted(binding["metadata"]["namespace"] for binding in bindings) == REQUIRED["rbac"]["namespaces"]
    # CLUSTER_READ_NODES defaults to auto: the portal asks for nodes, so it may read them.
    assert list(cluster_roles(objects).values()) == [NODES_RULES]


def test_the_operators_cluster_scope_is_one_cluster_role_with_the_same_rules():
    objects = render(REQUIRED, {"rbac": {"scope": "cluster"}})

    assert of_kind(objects, "Role") == []
    assert sorted(cluster_roles(objects).values(), key=len) == [NODES_RULES, TENANT_RULES]
    assert {binding["roleRef"]["name"] for binding in of_kind(objects, "ClusterRoleBinding")} == set(
        cluster_roles(objects)
    )


def test_nodes_are_read_only_when_capacity_from_nodes_is_on_and_namespaces_created_only_when_enabled():
    off = render(REQUIRED, {"config": {"CLUSTER_READ_NODES": "false"}})
    on = render(REQUIRED, CLUSTER_SCOPED)

    assert of_kind(off, "ClusterRole") == of_kind(off, "ClusterRoleBinding") == []
    assert sorted(cluster_roles(on).values(), key=len) == [NAMESPACES_RULES, NODES_RULES, TENANT_RULES]


@pytest.mark.parametrize("layers", [[REQUIRED], [REQUIRED, CLUSTER_SCOPED]], ids=["namespaced", "cluster"])
def test_nothing_on_secrets_and_no_wildcard(layers):
    objects = render(*layers)
    rules = [rule for obj in of_kind(objects, "Role") + of_kind(objects, "ClusterRole") for rule in obj["rules"]]

    assert rules
    for rule in rules:
        assert "secrets" not in rule["resources"]
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"]
        assert set(rule) == {"apiGroups", "resources", "verbs"}


def test_web_pods_hold_an_account_that_nothing_binds_and_beat_none():
    objects = render(REQUIRED, CLUSTER_SCOPED)
    web_account = named(objects, "Deployment", "-web")["spec"]["template"]["spec"]["serviceAccountName"]
    bound = {
        subject["name"]
        for binding in of_kind(objects, "RoleBinding") + of_kind(objects, "ClusterRoleBinding")
        for subject in binding["subjects"]
    }

    assert web_account in {account["metadata"]["name"] for account in of_kind(objects, "ServiceAccount")}
    assert web_account not in bound
    assert named(objects, "Deployment", "-beat")["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def readme_rbac_rows() -> list[tuple[set, str]]:
    """(rule triples, when) of each row of the README's RBAC table."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n### RBAC", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].startswith("`"):
            continue
        group, resources, verbs = (re.findall(r"`([^`]*)`", cell) for cell in cells[:3])
        when = cells[3]
        # The core group is written `""`, as in a Role.
        rows.append(({(group[0].strip('"'), resource, verb) for resource in resources for verb in verbs}, when))
    return rows


def test_the_readme_rbac_table_matches_the_rendered_rules():
    rows = readme_rbac_rows()
    tenant = set().union(*(triples for triples, when in rows if "team namespace" in when))
    nodes = set().union(*(triples for triples, when in rows if "CLUSTER_READ_NODES" in when))
    namespaces = set().union(*(triples for triples, when in rows if "CLUSTER_CREATE_NAMESPACES" in when))

    assert len(rows) == 7
    assert tenant == TENANT_RULES
    assert nodes == NODES_RULES
    assert namespaces == NAMESPACES_RULES


def test_the_real_api_tiers_tenant_role_is_the_charts():
    """The real-API tests run the portal with exactly the rights the chart grants it."""
    tier = rule_triples(kube.TENANT_RULES)
    chart = rule_triples(of_kind(render(REQUIRED), "Role")[0]["rules"])

    assert chart == TENANT_RULES
    assert tier == chart
