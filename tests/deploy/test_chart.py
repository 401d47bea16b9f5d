"""The chart renders, lints and validates against Kubernetes' own schemas; its values schema
refuses what would break the portal, each time saying where."""

import re

import helm_python as helm
import kubernetes_validate
import pytest

from tests.deploy.chart import (
    CHART,
    KUBE_VERSION,
    REPO,
    REQUIRED,
    chart,
    merge,
    named,
    of_kind,
    production_values,
    render,
)

EVERYTHING_ON = {
    "config": {"CLUSTER_CREATE_NAMESPACES": "1", "CLUSTER_READ_NODES": "true"},
    "rbac": {"scope": "cluster"},
    "kubeconfig": {"existingSecret": "remote-cluster"},
    "ingress": {"enabled": True},
    "web": {"autoscaling": {"enabled": True}},
    "worker": {"autoscaling": {"enabled": True}},
    "metrics": {"serviceMonitor": {"enabled": True}},
}
VALUE_SETS = {
    "defaults": [REQUIRED],
    "production": [production_values()],
    "everything on": [REQUIRED, EVERYTHING_ON],
}
POD_KINDS = {"Deployment", "Job"}
# The Prometheus Operator's kind: no schema of it is at hand offline, so
# test_the_service_monitors_scrape_web_with_the_token_and_the_workers_port checks it field by field.
OPERATOR_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def env_example_settings() -> set[str]:
    return set(re.findall(r"^([A-Z0-9_]+)=", (REPO / ".env.example").read_text(), flags=re.MULTILINE))


@pytest.mark.parametrize("layers", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_helm_lint_finds_nothing_to_warn_about(layers):
    report = helm.lint(CHART, merge(*layers), strict=True, namespace="hikube-portal", kube_version=f"v{KUBE_VERSION}")

    assert report["errors"] == []
    # Severity 1 is information ("icon is recommended"); 2 and 3 are warnings and errors.
    assert [message for message in report["messages"] if message["severity"] >= 2] == []


@pytest.mark.parametrize("layers", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_rendered_object_validates_against_the_kubernetes_schemas(layers):
    objects = render(*layers)

    assert len(objects) > 10
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in OPERATOR_KINDS:
            continue
        # strict: a field Kubernetes does not know fails here instead of being dropped on apply.
        validated = kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        assert validated == "1.36", f"{obj['kind']} {obj['metadata']['name']} validated against {validated}"


def test_bare_defaults_are_refused_until_the_secrets_and_namespaces_are_given():
    with pytest.raises(helm.HelmValuesError) as refused:
        render({})

    message = str(refused.value)
    for missing in (
        "/secrets/values/SECRET_KEY",
        "/secrets/values/DATABASE_URL",
        "/secrets/values/REDIS_URL",
        "/rbac/namespaces",
    ):
        assert missing in message


BAD_VALUES = {
    "debug on": ({"config": {"DEBUG": "1"}}, "at '/config/DEBUG'"),
    "a second scheduler": ({"beat": {"replicas": 2}}, "at '/beat': additional properties 'replicas' not allowed"),
    "a misspelt setting": ({"config": {"CLUSTER_API_SHAP": "legacy"}}, "additional properties 'CLUSTER_API_SHAP'"),
    "an unknown API shape": ({"config": {"CLUSTER_API_SHAPE": "v2"}}, "at '/config/CLUSTER_API_SHAPE'"),
    "a number that is not one": ({"config": {"LEASE_MAX_DAYS": "thirty"}}, "at '/config/LEASE_MAX_DAYS'"),
    "a short secret key": (
        {"secrets": {"values": {"SECRET_KEY": "short"}}},
        "at '/secrets/values/SECRET_KEY': minLength",
    ),
    "a MySQL database": (
        {"secrets": {"values": {"DATABASE_URL": "mysql://db/portal"}}},
        "at '/secrets/values/DATABASE_URL'",
    ),
    "redirect without the proxy header": (
        {"config": {"SECURE_SSL_REDIRECT": "1"}},
        "at '/config/TRUST_PROXY_SSL_HEADER'",
    ),
    "namespaces created without a ClusterRole": ({"config": {"CLUSTER_CREATE_NAMESPACES": "1"}}, "at '/rbac/scope'"),
    "a wildcard scope": ({"rbac": {"scope": "everything"}}, "at '/rbac/scope'"),
    "root pods": ({"podSecurityContext": {"runAsNonRoot": False}}, "at '/podSecurityContext/runAsNonRoot'"),
    "a writable root file system": (
        {"containerSecurityContext": {"readOnlyRootFilesystem": False}},
        "at '/containerSecurityContext/readOnlyRootFilesystem'",
    ),
    "a namespace that is not a DNS label": ({"rbac": {"namespaces": ["Tenant_A"]}}, "at '/rbac/namespaces/0'"),
}


@pytest.mark.parametrize(("bad", "message"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_values_are_refused_by_the_schema_saying_where(bad, message):
    with pytest.raises(helm.HelmValuesError) as refused:
        render(REQUIRED, bad)

    assert message in str(refused.value)
    # helm lint reports the same refusal as an error.
    assert any(message in error for error in helm.lint(CHART, merge(REQUIRED, bad))["errors"])


def test_a_readiness_timeout_shorter_than_the_health_checks_is_refused_in_words():
    with pytest.raises(helm.HelmRenderError) as refused:
        render(REQUIRED, {"web": {"readinessProbe": {"timeoutSeconds": 8}}})

    assert (
        "web.readinessProbe.timeoutSeconds (8) must be at least HEALTH_CHECK_TIMEOUT_SECONDS + "
        "PROMETHEUS_TIMEOUT_SECONDS + 2 (9)"
    ) in str(refused.value)


def test_every_setting_of_env_example_is_a_value_and_reaches_the_pods_environment():
    values = chart().values
    config, secrets = set(values["config"]), set(values["secrets"]["values"])
    optional = secrets - set(REQUIRED["secrets"]["values"])
    objects = render(REQUIRED, {"secrets": {"values": dict.fromkeys(optional, "set")}})
    configmap, secret = named(objects, "ConfigMap", "gpu-portal"), named(objects, "Secret", "gpu-portal")

    assert config & secrets == set()
    assert config | secrets == env_example_settings()
    assert set(configmap["data"]) | set(secret["data"]) == env_example_settings()
    for deployment in of_kind(objects, "Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["envFrom"] == [
            {"configMapRef": {"name": configmap["metadata"]["name"]}},
            {"secretRef": {"name": secret["metadata"]["name"]}},
        ]


def test_an_existing_secret_replaces_the_charts_own():
    objects = render(production_values())

    assert [s["metadata"]["name"] for s in of_kind(objects, "Secret")] == []
    for obj in of_kind(objects, "Deployment") + of_kind(objects, "Job"):
        (container,) = obj["spec"]["template"]["spec"]["containers"]
        assert {"secretRef": {"name": "hikube-gpu-portal"}} in container["envFrom"]


def pods(objects):
    return [(obj, obj["spec"]["template"]["spec"]) for obj in objects if obj["kind"] in POD_KINDS]


IMAGE_USER = int(re.search(r"^USER (\d+)$", (REPO / "Dockerfile").read_text(), re.MULTILINE).group(1))


@pytest.mark.parametrize("layers", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_pod_runs_as_non_root_on_a_read_only_root_with_no_capabilities(layers):
    workloads = pods(render(*layers))

    assert {obj["metadata"]["name"].rsplit("-", 1)[-1] for obj, _ in workloads} == {"web", "worker", "beat", "migrate"}
    for obj, spec in workloads:
        assert spec["securityContext"]["runAsNonRoot"] is True
        # The image's own numeric user, so the kubelet can check runAsNonRoot even without the chart's.
        assert spec["securityContext"]["runAsUser"] == IMAGE_USER
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"]
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
            assert container["resources"]["limits"]["memory"], obj["metadata"]["name"]


def test_the_processes_are_the_images_web_worker_scheduler_and_migration():
    objects = render(REQUIRED)
    dockerfile_cmd = re.search(r"^CMD \[(.*)\]", (REPO / "Dockerfile").read_text(), flags=re.MULTILINE).group(1)

    web = named(objects, "Deployment", "-web")["spec"]["template"]["spec"]["containers"][0]
    assert web["command"][:2] == ["gunicorn", "hikube_portal.wsgi"]
    assert '"gunicorn", "hikube_portal.wsgi"' in dockerfile_cmd
    assert named(objects, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0]["command"][:3] == [
        "celery",
        "--app=hikube_portal",
        "worker",
    ]
    beat = named(objects, "Deployment", "-beat")["spec"]["template"]["spec"]["containers"][0]
    assert beat["command"][:3] == ["celery", "--app=hikube_portal", "beat"]
    # The root file system is read-only: the schedule file must be on the writable /tmp.
    assert "--schedule=/tmp/celerybeat-schedule" in beat["command"]
    job = named(objects, "Job", "-migrate")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--no-input"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"


def test_the_migration_hook_carries_its_own_configuration_created_before_it():
    objects = render(REQUIRED)
    job = named(objects, "Job", "-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    hooks = {
        (obj["kind"], obj["metadata"]["name"]): obj["metadata"]["annotations"]
        for obj in objects
        if "helm.sh/hook" in obj["metadata"].get("annotations", {})
    }

    # Hooks run before the release's own ConfigMap and Secret exist.
    config_name = container["envFrom"][0]["configMapRef"]["name"]
    secret_name = container["envFrom"][1]["secretRef"]["name"]
    job_weight = int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    for kind, name in (("ConfigMap", config_name), ("Secret", secret_name)):
        assert int(hooks[(kind, name)]["helm.sh/hook-weight"]) < job_weight
        assert hooks[(kind, name)]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert named(objects, "ConfigMap", "-migrate")["data"] == named(objects, "ConfigMap", "gpu-portal")["data"]
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_one_scheduler_replaced_by_recreate_never_autoscaled_nor_budgeted():
    objects = render(REQUIRED, EVERYTHING_ON)
    beat = named(objects, "Deployment", "-beat")

    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    scaled = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in of_kind(objects, "HorizontalPodAutoscaler")}
    assert scaled == {named(objects, "Deployment", name)["metadata"]["name"] for name in ("-web", "-worker")}
    assert {
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for pdb in of_kind(objects, "PodDisruptionBudget")
    } == {"web", "worker"}


def test_an_autoscaled_deployment_leaves_its_replica_count_to_the_autoscaler():
    fixed, scaled = render(REQUIRED), render(REQUIRED, EVERYTHING_ON)

    assert named(fixed, "Deployment", "-web")["spec"]["replicas"] == 2
    assert of_kind(fixed, "HorizontalPodAutoscaler") == []
    for name in ("-web", "-worker"):
        assert "replicas" not in named(scaled, "Deployment", name)["spec"]
        hpa = named(scaled, "HorizontalPodAutoscaler", name)
        assert hpa["spec"]["minReplicas"] >= 1 < hpa["spec"]["maxReplicas"]


def test_probes_read_healthz_as_a_host_django_accepts_and_liveness_asks_nothing_of_anyone():
    default_web = named(render(REQUIRED), "Deployment", "-web")["spec"]["template"]["spec"]["containers"][0]
    web = named(render(production_values()), "Deployment", "-web")["spec"]["template"]["spec"]["containers"][0]

    assert web["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["httpHeaders"] == [
        {"name": "Host", "value": "gpu.hikube.example"},
        {"name": "X-Forwarded-Proto", "value": "https"},
    ]
    assert default_web["readinessProbe"]["httpGet"]["httpHeaders"] == [{"name": "Host", "value": "localhost"}]
    # /livez touches no database, Redis, cluster or Prometheus (tests/portal/test_metrics.py).
    assert web["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert web["livenessProbe"]["httpGet"]["httpHeaders"] == web["readinessProbe"]["httpGet"]["httpHeaders"]


def test_the_service_and_the_tls_ingress_reach_the_web_pods_only():
    objects = render(production_values())
    service, ingress = named(objects, "Service", "gpu-portal"), named(objects, "Ingress", "gpu-portal")

    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "web"
    assert ingress["spec"]["tls"] == [{"hosts": ["gpu.hikube.example"], "secretName": "hikube-gpu-portal-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    assert of_kind(render(REQUIRED), "Ingress") == []


def test_network_policy_lets_traffic_in_to_web_only_and_out_to_the_portals_dependencies():
    objects = render(production_values())
    everyone, web = named(objects, "NetworkPolicy", "gpu-portal"), named(objects, "NetworkPolicy", "-web")

    assert everyone["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "hikube-gpu-portal",
        "app.kubernetes.io/instance": "portal",
    }
    assert everyone["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert everyone["spec"]["ingress"] == []
    assert web["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "web"
    assert web["spec"]["ingress"] == [
        {
            "ports": [{"port": "http", "protocol": "TCP"}],
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
        }
    ]
    egress_ports = {(port["port"], port["protocol"]) for rule in everyone["spec"]["egress"] for port in rule["ports"]}
    # DNS, PostgreSQL, Redis, the API server, Prometheus, SMTP: nothing else.
    assert egress_ports == {
        (53, "UDP"),
        (53, "TCP"),
        (5432, "TCP"),
        (6379, "TCP"),
        (6443, "TCP"),
        (9090, "TCP"),
        (587, "TCP"),
    }
    assert all(rule.get("to") for rule in everyone["spec"]["egress"])


def test_the_service_monitors_scrape_web_with_the_token_and_the_workers_port():
    objects = render(production_values())
    web_monitor, worker_monitor = named(objects, "ServiceMonitor", "-web"), named(objects, "ServiceMonitor", "-worker")
    web_service, worker_service = named(objects, "Service", "gpu-portal"), named(objects, "Service", "-worker-metrics")
    worker = named(objects, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0]

    for monitor in (web_monitor, worker_monitor):
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert set(monitor["spec"]) == {"selector", "endpoints"}
    assert web_monitor["spec"]["selector"]["matchLabels"].items() <= web_service["metadata"]["labels"].items()
    assert web_monitor["spec"]["endpoints"] == [
        {
            "port": "http",
            "path": "/metrics",
            "interval": "30s",
            "authorization": {"type": "Bearer", "credentials": {"name": "hikube-gpu-portal", "key": "METRICS_TOKEN"}},
        }
    ]
    assert worker_monitor["spec"]["selector"]["matchLabels"].items() <= worker_service["metadata"]["labels"].items()
    assert worker_monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    assert worker_service["spec"]["clusterIP"] == "None"
    assert worker_service["spec"]["ports"] == [
        {"name": "metrics", "port": 9809, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert worker["ports"] == [{"name": "metrics", "containerPort": 9809, "protocol": "TCP"}]
    # Off by default: no Prometheus Operator is assumed.
    assert of_kind(render(REQUIRED), "ServiceMonitor") == []


def test_only_the_named_scrapers_reach_the_workers_metrics_port():
    policy = named(render(production_values()), "NetworkPolicy", "-worker-metrics")

    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
    assert policy["spec"]["ingress"] == [
        {
            "ports": [{"port": "metrics", "protocol": "TCP"}],
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        }
    ]
    quiet = render(REQUIRED, {"config": {"METRICS_WORKER_PORT": "0"}})
    assert [p["metadata"]["name"] for p in of_kind(quiet, "NetworkPolicy") if "metrics" in p["metadata"]["name"]] == []
    assert "ports" not in named(quiet, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0]
