"""The portal in a pod: with no kubeconfig, the gateway takes the pod's service account, and the
chart's RBAC lets it do its work and nothing else, on a real API server (tests/support/kube.py).

A pod's environment is faked the way kubelet makes it: KUBERNETES_SERVICE_HOST/PORT, and the
account's token and the cluster's CA in files (at a temporary path instead of
/var/run/secrets/kubernetes.io/serviceaccount/)."""

import contextlib

import pytest
from kubernetes import client, utils
from kubernetes.client.rest import ApiException
from kubernetes.config import incluster_config

from tests.deploy.chart import REQUIRED, of_kind, render
from tests.support import kube
from vms.cluster import gateway as cluster_gateway
from vms.cluster import sync

pytestmark = pytest.mark.realapi
kube.skip_unless_available()

SECRET = cluster_gateway.Kind("", "v1", "secrets", "Secret")
RBAC_KINDS = ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")


@pytest.fixture(scope="module")
def real_cluster(tmp_path_factory):
    with kube.KubeControlPlane(tmp_path_factory.mktemp("kube")) as control_plane:
        yield control_plane


@pytest.fixture
def admin_api(real_cluster):
    with contextlib.closing(real_cluster.api_client()) as api_client:
        yield api_client


@pytest.fixture
def namespaces(real_cluster):
    """The release's namespace, a team's, and a namespace the chart was not told about."""
    with (
        real_cluster.namespace("portal") as release,
        real_cluster.namespace("tenant") as team,
        real_cluster.namespace("other") as other,
    ):
        yield release, team, other


def install_rbac(admin_api, objects, release_namespace):
    """What `helm install` would create of the chart's identity and permissions."""
    for obj in objects:
        if obj["kind"] in RBAC_KINDS:
            utils.create_from_dict(admin_api, obj, namespace=obj["metadata"].get("namespace", release_namespace))


def in_pod(monkeypatch, tmp_path, real_cluster, admin_api, *, account, namespace, settings):
    """The gateway a worker pod running as `account` gets from vms.cluster.gateway()."""
    token = client.CoreV1Api(admin_api).create_namespaced_service_account_token(
        account, namespace, {"spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600}}
    )
    (tmp_path / "token").write_text(token.status.token)
    (tmp_path / "ca.crt").write_bytes(real_cluster.ca)
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(real_cluster.port))
    monkeypatch.setattr(cluster_gateway, "_gateways", {})
    # The chart's ConfigMap leaves the kubeconfig empty.
    settings.CLUSTER_KUBECONFIG = settings.CLUSTER_CONTEXT = ""
    return cluster_gateway.gateway()


def vm_instance(namespace, name="gpu-box"):
    return {
        "apiVersion": "apps.cozystack.io/v1alpha1",
        "kind": "VMInstance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"runStrategy": "Always"},
    }


def refused(call) -> int:
    with pytest.raises(cluster_gateway.ClusterError) as error:
        call()
    return error.value.status


def test_a_worker_pod_does_its_work_with_the_charts_namespaced_rbac_and_nothing_else(
    real_cluster, admin_api, namespaces, monkeypatch, tmp_path, settings
):
    release, team, other = namespaces
    objects = render(
        REQUIRED, {"rbac": {"namespaces": [team]}, "config": {"CLUSTER_READ_NODES": "false"}}, namespace=release
    )
    install_rbac(admin_api, objects, release)
    (worker,) = [d for d in of_kind(objects, "Deployment") if d["metadata"]["name"].endswith("-worker")]
    account = worker["spec"]["template"]["spec"]["serviceAccountName"]

    gateway = in_pod(
        monkeypatch, tmp_path, real_cluster, admin_api, account=account, namespace=release, settings=settings
    )

    assert gateway.api_client.configuration.host == f"https://127.0.0.1:{real_cluster.port}"
    assert gateway.reachable(timeout=5) == (True, "v1.36.2")
    # The apps objects: created, read back, patched, deleted.
    gateway.create(vm_instance(team))
    assert gateway.get(cluster_gateway.VM_INSTANCE, team, "gpu-box")["spec"]["runStrategy"] == "Always"
    gateway.patch(cluster_gateway.VM_INSTANCE, team, "gpu-box", {"spec": {"runStrategy": "Halted"}})
    assert [obj["spec"]["runStrategy"] for obj in gateway.list(cluster_gateway.VM_INSTANCE, team)] == ["Halted"]
    assert gateway.delete(cluster_gateway.VM_INSTANCE, team, "gpu-box") is True
    # Every LIST of the status sync, for both API shapes.
    observed = sync.observe_namespace(gateway, team, sync._kinds({"current", "legacy"}))
    assert observed.apps == {} and observed.quota is None
    # The sync forgives a forbidden quota: ask for it plainly.
    assert gateway.list(cluster_gateway.RESOURCE_QUOTA, team) == []
    # The restart is authorised (a bare API server does not serve KubeVirt's subresources: 404, not 403).
    assert refused(lambda: gateway.restart(team, "vm-instance-gpu-box")) == 404

    # Nothing beyond: another namespace, the Secrets, writes on what the portal only reads,
    # cluster-scoped reads and namespaces.
    assert refused(lambda: gateway.create(vm_instance(other))) == 403
    assert refused(lambda: gateway.list(cluster_gateway.VM_INSTANCE, other)) == 403
    assert refused(lambda: gateway.restart(other, "vm-instance-gpu-box")) == 403
    assert refused(lambda: gateway.list(SECRET, team)) == 403
    assert refused(lambda: gateway.delete(cluster_gateway.SERVICE, team, "vm-instance-gpu-box")) == 403
    assert refused(lambda: gateway.list(cluster_gateway.NODE, None)) == 403
    assert refused(lambda: gateway.namespace_ensure(f"{team}-new")) == 403


def test_namespaces_are_created_only_once_the_operator_enables_it_with_cluster_scope(
    real_cluster, admin_api, namespaces, monkeypatch, tmp_path, settings
):
    release, team, _ = namespaces
    objects = render(
        REQUIRED, {"rbac": {"scope": "cluster"}, "config": {"CLUSTER_CREATE_NAMESPACES": "1"}}, namespace=release
    )
    install_rbac(admin_api, objects, release)
    account = of_kind(objects, "ClusterRoleBinding")[0]["subjects"][0]["name"]
    gateway = in_pod(
        monkeypatch, tmp_path, real_cluster, admin_api, account=account, namespace=release, settings=settings
    )
    created = f"{team}-created"

    try:
        gateway.namespace_ensure(created)
        # Again: it exists, which the portal takes as done.
        gateway.namespace_ensure(created)
        gateway.create(vm_instance(created))

        assert [obj["metadata"]["name"] for obj in gateway.list(cluster_gateway.VM_INSTANCE, created)] == ["gpu-box"]
        # CLUSTER_READ_NODES=auto: the nodes are readable (a bare control plane has none).
        assert gateway.list(cluster_gateway.NODE, None) == []
        with pytest.raises(ApiException) as deletion:
            client.CoreV1Api(gateway.api_client).delete_namespace(created)
        assert deletion.value.status == 403
        assert refused(lambda: gateway.list(SECRET, created)) == 403
    finally:
        client.CoreV1Api(admin_api).delete_namespace(created)
