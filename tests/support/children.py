"""What Cozystack's VM charts (and KubeVirt) render for each app kind: the children's names and
their exact labels, as tests/devcluster/children.md, the reference, says.

    CHILDREN["VMInstance"]                  # the Child entries of a VMInstance
    reference_labels(text), reference_names(text)  # the same facts parsed from the reference
    check_children(api_client, namespace, "VMInstance", "web")  # what a cluster shows; raises AssertionError

Label values are patterns: `N` is the app's name, `<chart version>` any chart version, `<any>`
any value (a key the reference names without a value)."""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1] / "devcluster" / "children.md"
INSTANCE = "app.kubernetes.io/instance"
# What KubeVirt adds to the template's labels on a virt-launcher pod.
KUBEVIRT_POD_LABELS = {"kubevirt.io": "virt-launcher", "kubevirt.io/created-by": "<any>"}
PLURALS = {"DataVolume": "datavolumes", "VirtualMachine": "virtualmachines", "Service": "services"}
API_VERSIONS = {"DataVolume": "cdi.kubevirt.io/v1beta1"}


def chart_labels(chart: str) -> dict[str, str]:
    return {
        "helm.sh/chart": f"{chart}-<chart version>",
        "app.kubernetes.io/name": chart,
        INSTANCE: f"{chart}-N",
        "app.kubernetes.io/version": "<any>",
        "app.kubernetes.io/managed-by": "Helm",
    }


@dataclass(frozen=True)
class Child:
    api_version: str
    kind: str
    name: str
    labels: dict[str, str]  # exactly these keys
    reference_row: str  # the row of the reference's label table that describes it
    annotations: dict[str, str] | None = None  # exactly these, when given
    selector: dict[str, str] | None = field(default=None)  # a Service's, exactly
    pod_template: bool = False  # a KubeVirt VM whose template (and pods) carry the same labels


CHILDREN: dict[str, tuple[Child, ...]] = {
    "VMDisk": (
        Child(
            "cdi.kubevirt.io/v1beta1",
            "DataVolume",
            "vm-disk-N",
            {INSTANCE: "vm-disk-N"},
            "DataVolume of a VMDisk",
            annotations={"vm-disk.cozystack.io/optical": "true|false"},
        ),
    ),
    "VMInstance": (
        Child(
            "kubevirt.io/v1",
            "VirtualMachine",
            "vm-instance-N",
            chart_labels("vm-instance"),
            "KubeVirt VM of a VMInstance, and its pod template",
            pod_template=True,
        ),
        Child(
            "v1",
            "Service",
            "vm-instance-N",
            {**chart_labels("vm-instance"), "apps.cozystack.io/user-service": "true"},
            "Service of a VMInstance",
            selector={"app.kubernetes.io/name": "vm-instance", INSTANCE: "vm-instance-N"},
        ),
    ),
    "VirtualMachine": (
        Child(
            "kubevirt.io/v1",
            "VirtualMachine",
            "virtual-machine-N",
            chart_labels("virtual-machine"),
            "KubeVirt VM of a 0.x VirtualMachine",
            pod_template=True,
        ),
        Child(
            "v1",
            "Service",
            "virtual-machine-N",
            {**chart_labels("virtual-machine"), "apps.cozystack.io/user-service": "true"},
            "Service of a 0.x VirtualMachine",
            selector={"app.kubernetes.io/name": "virtual-machine", INSTANCE: "virtual-machine-N"},
        ),
        Child("cdi.kubevirt.io/v1beta1", "DataVolume", "virtual-machine-N", {}, "DataVolume of a 0.x VirtualMachine"),
    ),
}
# What the reference names that no child here stands for, and why.
NOT_RENDERED = {
    "Secret": "the development cluster renders no SSH-key or cloud-init Secrets: nothing reads them back",
}


# -- the reference, parsed ------------------------------------------------------------------------


def _section(text: str, title: str) -> list[list[str]]:
    """The rows (cells) of the table under `## title`."""
    body = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in body.splitlines()
        if line.startswith("|")
    ]
    return rows[2:]  # without the header and its separator


def _pairs(text: str) -> dict[str, str]:
    pairs = {}
    for token in re.findall(r"`([^`]+)`", text):
        key, colon, value = token.partition(": ")
        pairs[key] = value.strip('"').replace('"/"', "|") if colon else "<any>"
    return pairs


def reference_labels(text: str) -> dict[str, dict]:
    """Row title → {"labels": ..., "annotations": ..., "selector": ...} from "Labels on the children"."""
    rows: dict[str, dict] = {}
    for title, description in _section(text, "Labels on the children"):
        labels_text, _, rest = description.partition("; annotation")
        labels_text, _, selector_text = labels_text.partition("; its selector is")
        entry = {
            "labels": {},
            "annotations": _pairs(rest) if rest else None,
            "selector": set(_pairs(selector_text)) if selector_text else None,
        }
        if labels_text.startswith("the same five, plus"):
            entry["labels"] = {
                **rows["KubeVirt VM of a VMInstance, and its pod template"]["labels"],
                **_pairs(labels_text),
            }
        elif "in place of" in labels_text:
            new, old = re.findall(r"`([^`]+)`", labels_text)
            for child in ("KubeVirt VM", "Service"):
                source = next(row for name, row in rows.items() if name.startswith(f"{child} of a VMInstance"))
                rows[f"{child} of a 0.x VirtualMachine"] = {
                    **source,
                    "labels": {key: value.replace(old, new) for key, value in source["labels"].items()},
                }
            continue
        elif not labels_text.startswith("no chart label"):
            entry["labels"] = _pairs(labels_text)
        rows[title] = entry
    return rows


def reference_names(text: str) -> dict[str, set[tuple[str, str]]]:
    """App kind → {(kind, name)} of the children the "Names" table lists."""
    names = {}
    for app, _, children in _section(text, "Names"):
        app_kind = app.strip("`").split()[0]
        found = set()
        for token in re.findall(r"`([^`]+)`", children):
            parts = token.split()
            if len(parts) >= 2 and parts[-2][:1].isupper():
                found.add((parts[-2], parts[-1]))
        if "Secrets" in children:
            found.add(("Secret", "<when given>"))
        names[app_kind] = found
    return names


# -- a cluster's children, checked ------------------------------------------------------------------


def matches(pattern: str, value: str | None, name: str) -> bool:
    if value is None:
        return False
    if pattern == "<any>":
        return True
    expression = re.escape(pattern.replace("-N", f"-{name}")).replace(re.escape("<chart version>"), r"[0-9][\w.+-]*")
    return re.fullmatch(expression.replace(r"true\|false", "(true|false)"), value) is not None


def assert_labels(what: str, actual: dict | None, expected: dict[str, str], name: str) -> None:
    actual = actual or {}
    assert set(actual) == set(expected), f"{what}: labels {sorted(actual)}, expected exactly {sorted(expected)}"
    wrong = {key: actual[key] for key, pattern in expected.items() if not matches(pattern, actual[key], name)}
    assert not wrong, f"{what}: {wrong} do not match {expected}"


def _read(api_client, api_version: str, plural: str, namespace: str, name: str = "", query=()):
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")
    response = api_client.call_api(
        path,
        "GET",
        query_params=list(query),
        auth_settings=["BearerToken"],
        header_params={"Accept": "application/json"},
        _preload_content=False,
    )
    return json.loads(response.data)


def check_children(api_client, namespace: str, app_kind: str, name: str) -> list[dict]:
    """Asserts every child of the app exists with exactly the table's labels (and, for a
    KubeVirt VM, its template's and its running pod's); returns the children read."""
    children = []
    for child in CHILDREN[app_kind]:
        child_name = child.name.replace("-N", f"-{name}")
        obj = _read(api_client, child.api_version, PLURALS[child.kind], namespace, child_name)
        what = f"{child.kind} {namespace}/{child_name}"
        assert_labels(what, obj["metadata"].get("labels"), child.labels, name)
        if child.annotations is not None:
            assert_labels(f"{what} (annotations)", obj["metadata"].get("annotations"), child.annotations, name)
        if child.selector is not None:
            assert_labels(f"{what} (selector)", obj["spec"].get("selector"), child.selector, name)
        if child.pod_template:
            assert_labels(
                f"{what} (pod template)", obj["spec"]["template"]["metadata"].get("labels"), child.labels, name
            )
            pods = _read(api_client, "v1", "pods", namespace, query=[("labelSelector", f"{INSTANCE}={child_name}")])
            assert len(pods["items"]) == 1, f"{what}: {len(pods['items'])} virt-launcher pods"
            expected = {**child.labels, **KUBEVIRT_POD_LABELS, "vm.kubevirt.io/name": child_name}
            assert_labels(f"{what} (pod)", pods["items"][0]["metadata"].get("labels"), expected, name)
        children.append(obj)
    return children
