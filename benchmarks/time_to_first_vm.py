"""Time to a first VM on `make run`'s stack: `.venv/bin/python benchmarks/time_to_first_vm.py`.

With `make run` serving (web on 127.0.0.1:8000, worker, beat, and the development cluster at
realistic speed), each run logs in as the demo data scientist, presses submit on a one-L40S
request (an HTTP POST of the request form, as the browser sends it) and watches:

- submit → first cluster object: the first of the VM's objects appears on the cluster;
- submit → Running: the portal shows the VM Running (its state, which the status sync sets once
  KubeVirt says Running), and, for comparison, when KubeVirt itself first said so.

Then it deletes the VM through the portal and waits until it is gone. The same objects are also
created straight on the cluster, disks first and the instance once their DataVolumes exist (the
order the cluster needs), and timed to Running: that is the development cluster's own simulated
boot time, so that submit → Running over it shows the portal's overhead as a ratio. Prints the
median of each figure over the runs.
"""

import argparse
import dataclasses
import os
import re
import statistics
import sys
import time
from pathlib import Path

import requests

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hikube_portal.settings")
os.environ.setdefault("DEBUG", "1")
POLL_SECONDS = 0.05
TIMEOUT_SECONDS = 300


def csrf_token(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10)
    page.raise_for_status()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def wait(what: str, probe):
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"{what} after {TIMEOUT_SECONDS} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portal", default="http://127.0.0.1:8000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--username", default="alice")
    parser.add_argument("--password", default="alice-gpu-demo")
    parser.add_argument("--team", default="ml-research")
    arguments = parser.parse_args(argv)

    import django

    django.setup()
    from django.conf import settings

    from vms.catalogue.loading import catalogue_from_db
    from vms.cluster.gateway import DATA_VOLUME, KUBEVIRT_VM, VM_DISK, VM_INSTANCE, ClusterGateway, kind_of
    from vms.models import Team, VirtualMachine
    from vms.render.manifests import object_names, render_manifests
    from vms.render.vm_record import vm_spec

    if not settings.CLUSTER_KUBECONFIG:
        # make run's var/run.env points the processes it starts at the development cluster.
        settings.CLUSTER_KUBECONFIG = str(REPOSITORY / "var" / "devcluster" / "kubeconfig")
    gateway = ClusterGateway.from_kubeconfig(settings.CLUSTER_KUBECONFIG, timeout=5)
    team = Team.objects.get(name=arguments.team)
    namespace = team.namespace

    session = requests.Session()
    login = f"{arguments.portal}/accounts/login/"
    session.post(
        login,
        data={
            "username": arguments.username,
            "password": arguments.password,
            "csrfmiddlewaretoken": csrf_token(session, login),
        },
        headers={"Referer": login},
        timeout=10,
    ).raise_for_status()

    def kubevirt_running(name: str) -> bool:
        vm = gateway.get(KUBEVIRT_VM, namespace, name)
        return bool(vm) and vm.get("status", {}).get("printableStatus") == "Running"

    first_object, cluster_running, portal_running, direct_running = [], [], [], []
    stamp = int(time.time()) % 100000
    for run in range(arguments.runs):
        name = f"ttfv-{stamp}-{run}"
        form = f"{arguments.portal}/vms/new/"
        data = {
            "csrfmiddlewaretoken": csrf_token(session, form),
            "action": "submit",
            "name": name,
            "team": str(team.pk),
            "instance_type": "g1.large",
            "gpu_model": "L40S",
            "image": "ubuntu",
            "system_disk_size": "100",
            "system_disk_class": "replicated",
            "public_ports": "22",
            "software": ["nvidia-driver", "dcgm-exporter"],
        }
        submitted = time.monotonic()
        response = session.post(form, data=data, headers={"Referer": form}, allow_redirects=False, timeout=30)
        if response.status_code != 302:
            raise SystemExit(f"the request was refused ({response.status_code}); is {name} a valid request?")
        vm = VirtualMachine.objects.get(team=team, name=name)
        names = object_names(vm_spec(vm), api_shape=vm.api_shape)
        wanted = {names.app_name, *(disk.vmdisk for disk in names.disks if disk.vmdisk)}

        def any_object(wanted=wanted):
            return any(
                item["metadata"]["name"] in wanted
                for kind in (VM_DISK, VM_INSTANCE)
                for item in gateway.list(kind, namespace)
            )

        wait("no object on the cluster", any_object)
        first_object.append(time.monotonic() - submitted)
        wait("KubeVirt never said Running", lambda names=names: kubevirt_running(names.kubevirt_vm))
        cluster_running.append(time.monotonic() - submitted)
        wait(
            "the portal never showed Running",
            lambda vm=vm: VirtualMachine.objects.filter(pk=vm.pk, state="running").exists(),
        )
        portal_running.append(time.monotonic() - submitted)
        print(
            f"run {run + 1}: first object {first_object[-1]:.2f} s, KubeVirt Running {cluster_running[-1]:.2f} s, "
            f"portal Running {portal_running[-1]:.2f} s",
            flush=True,
        )

        page = f"{arguments.portal}/vms/{vm.pk}/"
        session.post(
            f"{page}delete/",
            data={"confirm_name": name, "csrfmiddlewaretoken": csrf_token(session, page)},
            headers={"Referer": page},
            timeout=30,
        ).raise_for_status()
        wait(
            "the VM was never deleted", lambda vm=vm: VirtualMachine.objects.filter(pk=vm.pk, state="deleted").exists()
        )

        # The same objects straight on the cluster, in the order it needs them.
        direct = dataclasses.replace(vm_spec(vm), name=f"{name}-direct")
        *disks, instance = render_manifests(
            direct,
            catalogue=catalogue_from_db(offered_only=False),
            namespace=namespace,
            vm_id=f"{vm.pk}-direct",
            api_shape=vm.api_shape,
        )
        direct_names = object_names(direct, api_shape=vm.api_shape)
        started = time.monotonic()
        for disk in disks:
            gateway.create(disk)
        wait(
            "no DataVolume",
            lambda names=direct_names: all(
                gateway.get(DATA_VOLUME, namespace, disk.data_volume) for disk in names.disks
            ),
        )
        gateway.create(instance)
        wait("the direct VM never ran", lambda names=direct_names: kubevirt_running(names.kubevirt_vm))
        direct_running.append(time.monotonic() - started)
        print(f"run {run + 1}: straight on the cluster, Running after {direct_running[-1]:.2f} s", flush=True)
        for obj in (instance, *disks):
            gateway.delete(kind_of(obj), namespace, obj["metadata"]["name"])

    median = statistics.median
    print(f"\nTime to first VM over {arguments.runs} runs (medians), development cluster at realistic speed:")
    print(f"  submit → first cluster object:        {median(first_object):6.2f} s")
    print(f"  submit → KubeVirt says Running:       {median(cluster_running):6.2f} s")
    print(f"  submit → portal shows Running:        {median(portal_running):6.2f} s")
    print(f"  cluster's own time to Running:        {median(direct_running):6.2f} s (objects created directly)")
    print(f"  portal / cluster ratio:               {median(portal_running) / median(direct_running):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
