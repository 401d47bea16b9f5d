"""A local stand-in for a Hikube (Cozystack + KubeVirt) cluster.

Serves the part of the Kubernetes REST API the portal uses, runs a simulated controller that
turns Cozystack apps objects into KubeVirt VMs, DataVolumes, Services, pods and events, and
simulates the DCGM exporters inside GPU guests. Standard library only: run it with
`python -m devcluster --help`.

The controller works through a port (`devcluster.ports`), so it also runs alone against a real
API server (`--controller-only`, through the official `kubernetes` client: `devcluster.kubeport`,
the only module that needs it).
"""
