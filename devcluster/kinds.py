"""The resource kinds the development cluster serves, and what clients may do with each."""

from dataclasses import dataclass

APPS_GROUP = "apps.cozystack.io"
APPS_VERSION = "v1alpha1"


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    # Clients may only read what the controller owns, as with a tenant's RBAC on a real cluster.
    writable: bool = False
    # Cozystack derives Helm release names (at most 53 characters) from app names plus a prefix.
    max_name_length: int = 253
    dns1035_names: bool = False
    # Most kinds take DNS-1123 subdomains (dots allowed: `vm.1a2b` events); namespaces, labels only.
    subdomain_names: bool = True
    # With a status subresource, a write to the main resource never changes status, and
    # `.../status` changes nothing else (what the CRDs in ../shared/kube/crds declare, and
    # what Kubernetes does for its own kinds below).
    status_subresource: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """How API server messages name the resource: `vminstances.apps.cozystack.io`, `pods`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)


VM_INSTANCE = Kind(
    APPS_GROUP, APPS_VERSION, "vminstances", "VMInstance", writable=True, max_name_length=41, dns1035_names=True
)
VM_DISK = Kind(APPS_GROUP, APPS_VERSION, "vmdisks", "VMDisk", writable=True, max_name_length=45, dns1035_names=True)
LEGACY_VIRTUAL_MACHINE = Kind(
    APPS_GROUP, APPS_VERSION, "virtualmachines", "VirtualMachine", writable=True, max_name_length=37, dns1035_names=True
)
KUBEVIRT_VM = Kind("kubevirt.io", "v1", "virtualmachines", "VirtualMachine")
DATA_VOLUME = Kind("cdi.kubevirt.io", "v1beta1", "datavolumes", "DataVolume")
SERVICE = Kind("", "v1", "services", "Service", subdomain_names=False, max_name_length=63)
POD = Kind("", "v1", "pods", "Pod")
EVENT = Kind("", "v1", "events", "Event", status_subresource=False)
NAMESPACE = Kind(
    "", "v1", "namespaces", "Namespace", namespaced=False, writable=True, subdomain_names=False, max_name_length=63
)
NODE = Kind("", "v1", "nodes", "Node", namespaced=False)
RESOURCE_QUOTA = Kind("", "v1", "resourcequotas", "ResourceQuota")

ALL_KINDS = (
    VM_INSTANCE,
    VM_DISK,
    LEGACY_VIRTUAL_MACHINE,
    KUBEVIRT_VM,
    DATA_VOLUME,
    SERVICE,
    POD,
    EVENT,
    NAMESPACE,
    NODE,
    RESOURCE_QUOTA,
)
APPS_KINDS = (VM_INSTANCE, VM_DISK, LEGACY_VIRTUAL_MACHINE)
KINDS_BY_KEY = {kind.key: kind for kind in ALL_KINDS}


def find_kind(group: str, version: str, plural: str) -> Kind | None:
    kind = KINDS_BY_KEY.get((group, plural))
    if kind is None or kind.version != version:
        return None
    return kind
