"""The `hikube-gpu` commands. Exit codes: 0 done, 1 refused or failed (the portal's message is
printed), 2 bad usage, 3 a --wait that ran out of time."""

import os
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import yaml

from hikube_gpu import config
from hikube_gpu.client import ApiError, Portal
from hikube_gpu.output import emit, table

OUTPUTS = ["table", "json", "yaml"]
VM_COLUMNS = [
    ("id", "ID"),
    ("name", "NAME"),
    ("team", "TEAM"),
    ("state", "STATE"),
    ("cluster_status", "CLUSTER"),
    ("gpu_count", "GPUS"),
    ("gpu_model", "MODEL"),
    ("instance_type", "TYPE"),
    ("external_ip", "IP"),
]
WAIT_TIMEOUT_EXIT = 3
POLL_SECONDS = 2.0


class Context:
    def __init__(self, output: str, language: str | None):
        self.output = output
        self.language = language
        self._portal = None

    @property
    def portal(self) -> Portal:
        if self._portal is None:
            login = config.load()
            if login is None:
                raise click.UsageError("Not logged in: run `hikube-gpu login --url https://portal.example` first.")
            self._portal = Portal(login.url, login.token, language=self.language)
        return self._portal


def fail(error: ApiError):
    for item in error.errors:
        where = f"{item['field']}: " if item.get("field") else ""
        click.echo(click.style("error: ", fg="red") + where + item["message"], err=True)
    sys.exit(1)


class Group(click.Group):
    """Prints the portal's refusals as messages, not tracebacks."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ApiError as error:
            fail(error)


@click.group(cls=Group)
@click.option("-o", "--output", type=click.Choice(OUTPUTS), default="table", show_default=True)
@click.option("--language", envvar="HIKUBE_GPU_LANGUAGE", help="Language of the portal's messages (en, fr).")
@click.version_option("0.1.0", prog_name="hikube-gpu")
@click.pass_context
def main(ctx, output, language):
    """GPU virtual machines on Hikube, from the terminal."""
    ctx.obj = Context(output, language)


@main.command()
@click.option("--url", required=True, help="The portal's address, e.g. https://gpu.example.com")
@click.option("--token", prompt=True, hide_input=True, help="A personal access token (the portal's API tokens page).")
def login(url, token):
    """Check a token and keep it, with the portal's address, for the next commands."""
    if token == "-":  # noqa: S105 - "-" reads the token from standard input, not a password
        token = sys.stdin.readline().strip()
    me = Portal(url, token).get("me/")
    path = config.save(config.Login(url=url, token=token))
    click.echo(f"Logged in to {url} as {me['username']}; token kept in {path} (readable by you only).")


@main.command()
@click.pass_obj
def catalogue(obj):
    """Instance types and GPU models, with the GPUs free now."""
    data = obj.portal.get("catalogue/")
    if obj.output != "table":
        return emit(data, obj.output)
    click.echo(click.style("GPU models", underline=True))
    table(
        data["gpu_models"],
        [
            ("slug", "MODEL"),
            ("name", "NAME"),
            ("memory_gb", "GB"),
            ("free_gpus", "FREE"),
            ("needs_approval", "APPROVAL"),
        ],
    )
    click.echo()
    click.echo(click.style("Instance types", underline=True))
    table(data["instance_types"], [("name", "TYPE"), ("gpu_count", "GPUS"), ("vcpu", "VCPU"), ("ram_gib", "RAM GIB")])
    click.echo()
    click.echo(click.style("Presets", underline=True))
    table(data["presets"], [("slug", "PRESET"), ("gpu_model", "MODEL"), ("instance_type", "TYPE"), ("title", "TITLE")])


@main.group(invoke_without_command=True)
@click.pass_context
def approvals(ctx):
    """Requests waiting for an approver (approvers only); `approve` or `reject` one."""
    if ctx.invoked_subcommand is not None:
        return
    obj = ctx.obj
    items = obj.portal.get("approvals/")
    rows = [{**item, "team": item["vm"]["team"]} for item in items]
    emit(
        items,
        obj.output,
        rows=rows,
        columns=[("kind", "KIND"), ("id", "ID"), ("team", "TEAM"), ("summary", "WHAT"), ("requested_by", "BY")],
    )


def decide(obj, decision: str, item_id: int, change: bool, reason: str):
    kind = "changes" if change else "vms"
    decided = obj.portal.post(f"approvals/{kind}/{item_id}/{decision}/", {"reason": reason})
    what = f"lease extension {item_id}" if change else decided["name"]
    click.echo(f"{what}: {decided['state']}.", err=True)
    if obj.output != "table":
        emit(decided, obj.output)


CHANGE = click.option("--change", is_flag=True, help="ID is a lease extension's, not a VM request's.")


@approvals.command("approve")
@click.argument("item_id", type=int, metavar="ID")
@CHANGE
@click.option("--reason", default="", help="Why (optional when approving).")
@click.pass_obj
def approvals_approve(obj, item_id, change, reason):
    """Approve a VM request (or, with --change, a lease extension)."""
    decide(obj, "approve", item_id, change, reason)


@approvals.command("reject")
@click.argument("item_id", type=int, metavar="ID")
@CHANGE
@click.option("--reason", required=True, help="Why: the requester reads it.")
@click.pass_obj
def approvals_reject(obj, item_id, change, reason):
    """Reject a VM request (or, with --change, a lease extension)."""
    decide(obj, "reject", item_id, change, reason)


@main.group()
def vm():
    """Your virtual machines."""


def resolve(portal: Portal, reference: str) -> int:
    """A VM's id from its id, its name, or team/name."""
    if reference.isdecimal():
        return int(reference)
    team, _, name = reference.rpartition("/")
    matches = [
        item
        for item in portal.get("vms/", team=team or None, name=name, page_size=200)["results"]
        if item["name"] == name
    ]
    if len(matches) != 1:
        found = "no VM" if not matches else f"{len(matches)} VMs ({', '.join(m['team'] for m in matches)})"
        raise click.UsageError(f"{found} named {name!r}: give its id or team/name.")
    return matches[0]["id"]


@vm.command("list")
@click.option("--team")
@click.option("--state")
@click.option("--gpu-model")
@click.option("--mine", is_flag=True, help="Only the VMs you own.")
@click.pass_obj
def vm_list(obj, team, state, gpu_model, mine):
    """VMs you may see, newest first."""
    results, page = [], 1
    while True:
        body = obj.portal.get(
            "vms/", team=team, state=state, gpu_model=gpu_model, mine="true" if mine else None, page=page, page_size=200
        )
        results += body["results"]
        if not body["next"]:
            break
        page += 1
    emit(results, obj.output, columns=VM_COLUMNS)


def show(obj, data):
    if obj.output != "table":
        return emit(data, obj.output)
    for key in ("id", "name", "team", "owner", "state", "cluster_status", "instance_type", "gpu_model", "gpu_count"):
        click.echo(f"{key:>15}: {data.get(key)}")
    click.echo(f"{'ip':>15}: {data.get('external_ip') or '-'}")
    click.echo(f"{'lease ends':>15}: {data.get('lease_ends_at') or '-'}")
    click.echo(f"{'actions':>15}: {', '.join(data.get('actions', [])) or '-'}")
    if data.get("waitlist"):
        click.echo(f"{'waitlist':>15}: #{data['waitlist']['position']}, {data['waitlist']['free']} GPU(s) free")
    click.echo("timeline:")
    for event in data.get("timeline", [])[:10]:
        click.echo(f"  {event['at'][:19]}  {event['message']}")


@vm.command("show")
@click.argument("reference")
@click.pass_obj
def vm_show(obj, reference):
    """One VM: its state, what happened to it, what you may do."""
    show(obj, obj.portal.get(f"vms/{resolve(obj.portal, reference)}/"))


def follow(portal: Portal, vm_id: int, *, until: set[str], timeout: float) -> dict:
    """Prints the VM's timeline as it grows until it reaches a state in `until` and settles;
    exits 1 if it fails or is rejected, 3 if `timeout` runs out."""
    seen: set[tuple[str, str]] = set()
    deadline = time.monotonic() + timeout
    first = True
    while True:
        data = portal.get(f"vms/{vm_id}/")
        for event in reversed(data["timeline"]):
            key = (event["at"], event["message"])
            if key not in seen:
                seen.add(key)
                if not first or len(seen) <= 1:
                    click.echo(f"  {event['at'][11:19]}  {event['message']}", err=True)
        first = False
        if data["state"] in {"failed", "rejected"} - until:
            click.echo(
                click.style(f"{data['name']} is {data['state']}: ", fg="red") + data["failure_message"], err=True
            )
            sys.exit(1)
        if data["state"] in until and (data["settled"] or data["state"] != "running"):
            return data
        if time.monotonic() > deadline:
            click.echo(f"{data['name']} is still {data['state']} after {timeout:.0f} s.", err=True)
            sys.exit(WAIT_TIMEOUT_EXIT)
        time.sleep(POLL_SECONDS)


def lease_end(days: float | None, until: str | None) -> str | None:
    if until:
        return until
    if days:
        return (datetime.now(UTC) + timedelta(days=days)).isoformat(timespec="seconds")
    return None


WAIT = click.option("--wait", is_flag=True, help="Follow the VM until it gets there (exit 1 if it fails).")
TIMEOUT = click.option("--timeout", type=float, default=900, show_default=True, help="Seconds --wait waits.")


@vm.command("create")
@click.option("-f", "--file", "spec_file", type=click.File("r"), help="A spec document (YAML), as vm_manifest reads.")
@click.option("--preset", help="Start from a preset (see `hikube-gpu catalogue`).")
@click.option("--name", help="The VM's name (overrides the document's).")
@click.option("--team", help="Your team (overrides the document's).")
@click.option(
    "--ssh-key", "ssh_key_file", type=click.Path(exists=True, dir_okay=False), help="A public key file to add."
)
@click.option("--lease-days", type=float, help="Give the GPUs back after this many days.")
@click.option("--lease-until", help="Give the GPUs back at this time (ISO 8601).")
@WAIT
@TIMEOUT
@click.pass_obj
def vm_create(obj, spec_file, preset, name, team, ssh_key_file, lease_days, lease_until, wait, timeout):
    """Request a VM from a preset or a spec document."""
    if not spec_file and not preset:
        raise click.UsageError("Give --preset or -f SPEC.yaml.")
    body = yaml.safe_load(spec_file.read()) if spec_file else {}
    if not isinstance(body, dict):
        raise click.UsageError("The spec document must be a YAML mapping.")
    if team is None and "team" not in body:
        teams = obj.portal.get("me/")["teams"]
        if len(teams) != 1:
            raise click.UsageError(
                "Give --team: you are in " + (", ".join(t["name"] for t in teams) or "no team") + "."
            )
        team = teams[0]["name"]
    for key, value in (
        ("preset", preset),
        ("name", name),
        ("team", team),
        ("lease_ends_at", lease_end(lease_days, lease_until)),
    ):
        if value is not None:
            body[key] = value
    if ssh_key_file:
        body["ssh_keys"] = [*body.get("ssh_keys", []), Path(ssh_key_file).read_text(encoding="utf-8").strip()]
    created = obj.portal.post("vms/", body)
    for warning in created.get("warnings", []):
        click.echo(click.style("warning: ", fg="yellow") + warning, err=True)
    click.echo(f"{created['name']} ({created['id']}) is {created['state_label'].lower()}.", err=True)
    if wait:
        created = follow(obj.portal, created["id"], until={"running"}, timeout=timeout)
    show(obj, created)


def act(obj, reference: str, action: str, until: set[str], wait: bool, timeout: float):
    portal = obj.portal
    vm_id = resolve(portal, reference)
    data = portal.post(f"vms/{vm_id}/{action}/")
    click.echo(f"{data['name']}: {data['state_label'].lower()}.", err=True)
    if wait:
        data = follow(portal, vm_id, until=until, timeout=timeout)
    show(obj, data)


for action, until, helptext in (
    ("start", {"running"}, "Start a stopped VM."),
    ("stop", {"stopped"}, "Stop a VM; its disks are kept."),
    ("restart", {"running"}, "Reboot a running VM."),
):

    @vm.command(action, help=helptext)
    @click.argument("reference")
    @WAIT
    @TIMEOUT
    @click.pass_obj
    def _command(obj, reference, wait, timeout, action=action, until=until):
        act(obj, reference, action, until, wait, timeout)


@vm.command("delete")
@click.argument("reference")
@click.option("--yes", is_flag=True, help="Do not ask to confirm.")
@WAIT
@TIMEOUT
@click.pass_obj
def vm_delete(obj, reference, yes, wait, timeout):
    """Delete a VM and its disks."""
    portal = obj.portal
    vm_id = resolve(portal, reference)
    data = portal.get(f"vms/{vm_id}/")
    if not yes:
        click.confirm(f"Delete {data['team']}/{data['name']} and its disks?", abort=True)
    data = portal.delete(f"vms/{vm_id}/")
    click.echo(f"{data['name']}: {data['state_label'].lower()}.", err=True)
    if wait:
        data = follow(portal, vm_id, until={"deleted"}, timeout=timeout)
    show(obj, data)


@vm.command("ssh")
@click.argument("reference")
@click.option("--run", is_flag=True, help="Run ssh rather than print the command.")
@click.pass_obj
def vm_ssh(obj, reference, run):
    """The ssh command of a VM (each read is audited)."""
    details = obj.portal.post(f"vms/{resolve(obj.portal, reference)}/connection/")
    if run:
        ssh = shutil.which("ssh")
        if ssh is None:
            raise click.UsageError("ssh is not installed here.")
        os.execv(ssh, [ssh, f"{details['user']}@{details['host']}"])  # noqa: S606 - becomes ssh, on purpose
    if obj.output == "table":
        click.echo(details["command"])
    else:
        emit(details, obj.output)


@vm.command("gpus")
@click.argument("reference")
@click.option("--range", "range_", type=click.Choice(["1h", "6h", "24h", "7d"]), default="1h", show_default=True)
@click.pass_obj
def vm_gpus(obj, reference, range_):
    """GPU utilisation, memory, power and temperature per GPU, now and over the range."""
    panels = "gpu_util,fb_used_percent,power,temperature"
    data = obj.portal.get(f"vms/{resolve(obj.portal, reference)}/gpus/", range=range_, panels=panels)
    if obj.output != "table":
        return emit(data, obj.output)
    by_gpu: dict[str, dict] = {}
    for panel in data["panels"]:
        for gpu in panel["gpus"]:
            row = by_gpu.setdefault(gpu["uuid"], {"gpu": gpu["index"], "model": gpu["model"]})
            row[f"{panel['panel']}_now"], row[f"{panel['panel']}_avg"] = gpu["current"], gpu["avg"]
            row[f"{panel['panel']}_max"] = gpu["max"]
    if not by_gpu:
        click.echo("No GPU series in this range.")
        return
    table(
        sorted(by_gpu.values(), key=lambda row: row["gpu"]),
        [
            ("gpu", "GPU"),
            ("model", "MODEL"),
            ("gpu_util_now", "UTIL%"),
            ("gpu_util_avg", f"AVG {range_}"),
            ("gpu_util_max", "MAX"),
            ("fb_used_percent_now", "MEM%"),
            ("power_now", "WATTS"),
            ("temperature_now", "°C"),
        ],
    )
