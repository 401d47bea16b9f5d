"""Page throughput at 10,000 VMs: `.venv/bin/python benchmarks/pages.py` (needs wrk: `apt install wrk`).

Creates a throwaway PostgreSQL database on DATABASE_URL's server (default: the tests'
PostgreSQL), caches in Redis as production does (REDIS_URL, default database 15 on the local
server), fills the database with bulk inserts (10,000 VMs over 50 teams, three events each, 20
requests waiting for an approver), and serves the portal with gunicorn (2 sync workers,
DEBUG=0) next to /bench/bare/, a view behind the same middleware that renders only the user's
name (benchmarks/urls.py). Each page and the bare view are driven by wrk with the same
connections, one after the other, in alternating rounds; the table gives each page's req/s,
p50 and p95 under load, its ratio to the bare view's req/s, its SQL queries and its HTML size
(both measured once, by Django's test client in this process).

With --prometheus, a real Prometheus holds 7 days of DCGM history (30 s scrape) for 50 VMs,
the portal is configured with it (the fleet's figures computed once, as the periodic task
does), and the table adds a 7-day and a 1-hour GPU panel, each beside the same range query sent
straight to Prometheus instead of the bare view.
"""

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import psycopg

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))
DATABASE = "hikube_pages_benchmark"
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), summary.errors.status))
end
"""


def database_urls() -> tuple[str, str]:
    """The server's maintenance database, and the benchmark's own on the same server."""
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urllib.parse.urlsplit(base)
    return (
        urllib.parse.urlunsplit(parts._replace(path="/postgres")),
        urllib.parse.urlunsplit(parts._replace(path=f"/{DATABASE}")),
    )


def recreate_database(maintenance_url: str) -> None:
    drop_database(maintenance_url)
    with psycopg.connect(maintenance_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{DATABASE}"')


def drop_database(maintenance_url: str) -> None:
    with psycopg.connect(maintenance_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def fill(*, vms: int, teams: int, pending: int) -> dict:
    """The fleet, with bulk inserts. Returns the users and ids the pages need."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db.models import DateTimeField, ExpressionWrapper, F, Q, Value
    from django.utils import timezone

    from vms.models import Event, GpuModel, InstanceType, Membership, Team, VirtualMachine

    users = get_user_model()
    member = users.objects.create_user("member")
    manager = users.objects.create_user("manager")
    approver = users.objects.create_user("approver")
    approver.user_permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    admin = users.objects.create_superuser("admin")
    team_rows = Team.objects.bulk_create([Team(name=f"bench-{index:03d}") for index in range(teams)])
    Membership.objects.bulk_create(
        [
            Membership(team=team_rows[0], user=member, role=Membership.Role.MEMBER),
            Membership(team=team_rows[0], user=manager, role=Membership.Role.MANAGER),
        ]
    )
    l40s, h100 = GpuModel.objects.get(slug="L40S"), GpuModel.objects.get(slug="H100")
    small, large = InstanceType.objects.get(name="g1.large"), InstanceType.objects.get(name="g2.large")
    per_team = vms // teams
    states = [VirtualMachine.State.RUNNING] * 8 + [VirtualMachine.State.STOPPED] * 2

    def vm(team, name, instance_type, gpu_model, state, **fields):
        return VirtualMachine(
            team=team,
            owner=member,
            name=name,
            instance_type=instance_type,
            gpu_model=gpu_model,
            gpu_count=instance_type.gpu_count,
            image="ubuntu",
            system_disk_gib=100,
            system_disk_class="replicated",
            state=state,
            **fields,
        )

    VirtualMachine.objects.bulk_create(
        [
            vm(
                team,
                f"vm-{number:05d}",
                small,
                l40s,
                states[number % len(states)],
                public_ports=[22],
                cluster_status="Running" if states[number % len(states)] == "running" else "Stopped",
            )
            for team in team_rows
            for number in range(per_team)
        ]
        + [
            vm(team_rows[index % teams], f"request-{index:03d}", large, h100, "pending_approval", justification="x")
            for index in range(pending)
        ],
        batch_size=2000,
    )
    # An established fleet, VMs up for days and requests waiting for hours: freshly inserted, the
    # rows' ages would read "N minutes" and turn over every minute, rendering the rows again at
    # random moments of a measurement.
    now = timezone.now()
    waiting = Q(state=VirtualMachine.State.PENDING_APPROVAL)
    for vms_of, since, step in (
        (~waiting, timedelta(days=1), timedelta(minutes=3)),
        (waiting, timedelta(hours=2), timedelta(minutes=1)),
    ):
        VirtualMachine.objects.filter(vms_of).update(
            created_at=ExpressionWrapper(Value(now - since) - F("id") * Value(step), output_field=DateTimeField())
        )
    ids = VirtualMachine.objects.values_list("pk", "team_id", "name")
    Event.objects.bulk_create(
        [
            Event(kind=kind, vm_id=pk, team_id=team_id, target=name, message=message, data={"state": state})
            for pk, team_id, name in ids
            for kind, message, state in (
                (Event.Kind.REQUEST, "Requested", "approved"),
                (Event.Kind.STATE, "Provisioning", "provisioning"),
                (Event.Kind.STATE, "Running", "running"),
            )
        ],
        batch_size=5000,
    )
    first = VirtualMachine.objects.filter(team=team_rows[0], state="running").order_by("pk").first()
    history_vm = VirtualMachine.objects.get(team=team_rows[0], name="vm-00001")
    return {
        "history_vm": history_vm,
        "users": {"member": member, "manager": manager, "approver": approver, "admin": admin},
        "team": team_rows[0],
        "vm": first,
    }


HISTORY_VMS = 50


def start_prometheus(workdir: Path, *, now: float) -> tuple[subprocess.Popen, str]:
    """A real Prometheus holding 7 days of DCGM history (30 s scrape, one L40S each) for the
    first HISTORY_VMS VMs of the first team, written with the demo's generator."""
    from monitoring import dcgm_history as history

    fleet = history.Fleet(end_grid=int(now // history.SCRAPE) * history.SCRAPE - 60)
    grid = fleet.grid(7 * 86400)
    rng = random.Random(20261201)  # noqa: S311 - telemetry, not security
    for number in range(HISTORY_VMS):
        gpu = history.Gpu(
            "tenant-bench-000",
            f"vm-{number:05d}",
            index=0,
            uuid=f"GPU-bench-{number:05d}",
            model="NVIDIA L40S",
            total_mib=46068,
            dcp=True,
            instance="bench-history",
        )
        util = history.training_util(rng, grid, fleet.end_grid) if number % 2 else history.daily_util(rng, grid)
        history.add_gpu(
            fleet,
            rng,
            gpu,
            util_grid=grid,
            util=util,
            idle_watts=35,
            watts_per_percent=3.1,
            fb_used_mib=20000,
            power_grid=grid,
        )
    data = workdir / "prometheus"
    history.backfill(fleet.openmetrics_chunks(), data, promtool=shutil.which("promtool"))
    port = 19_000 + os.getpid() % 1000
    config = workdir / "prometheus.yml"
    config.write_text("global: {scrape_interval: 30s}\n")
    process = subprocess.Popen(
        [
            shutil.which("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=3650d",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1).read()
            return process, url
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("Prometheus did not start")


def panel_pages(world: dict, prometheus_url: str) -> list[dict]:
    """A 7-day and a 1-hour GPU panel, each beside the same range query sent straight to
    Prometheus (its "bare" side: what the portal adds to Prometheus)."""
    from django.urls import reverse
    from django.utils import timezone

    from monitoring import promql
    from monitoring.prometheus import config_from_settings

    vm = world["history_vm"]
    config = config_from_settings()
    rows = []
    for label, seconds, range_key in (("7 d", 7 * 86400, "7d"), ("1 h", 3600, "1h")):
        end = timezone.now()
        query = promql.panel_query(
            "gpu_util",
            namespace=vm.namespace,
            vm=vm.name,
            start=end - timedelta(seconds=seconds),
            end=end,
            width_px=800,
            labels=config.labels,
            scrape_interval=config.scrape_interval_seconds,
        )
        raw = urllib.parse.urlencode(
            {
                "query": query.query,
                "start": query.start.timestamp(),
                "end": query.end.timestamp(),
                "step": query.step_seconds,
            }
        )
        rows.append(
            {
                "name": f"GPU panel, {label}",
                "user": "member",
                "path": f"{reverse('vm_gpu_panel', args=[vm.pk, 'gpu_util'])}?range={range_key}&width=800",
                "bare": f"{prometheus_url}/api/v1/query_range?{raw}",
            }
        )
    return rows


def session_cookie(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def pages(world: dict) -> list[dict]:
    """The benchmark's table: the issue's pages, each with who asks."""
    from django.urls import reverse

    team, vm = world["team"], world["vm"]
    summary_body = urllib.parse.urlencode(
        {
            "name": "bench-request",
            "team": team.pk,
            "instance_type": "g1.large",
            "gpu_model": "L40S",
            "image": "ubuntu",
            "system_disk_size": "100",
            "system_disk_class": "replicated",
            "public_ports": "22",
            "software": "nvidia-driver",
        }
    )
    return [
        {"name": "home", "user": "member", "path": reverse("home")},
        {"name": "VM page", "user": "member", "path": reverse("vm_detail", args=[vm.pk])},
        {"name": "VM list (a team's 200)", "user": "member", "path": f"{reverse('vm_list')}?team={team.pk}"},
        {"name": "VM list, admin, page 20", "user": "admin", "path": f"{reverse('vm_list')}?page=20"},
        # The same rows as the HTML list (25 a page), as JSON.
        {
            "name": "API: VM list (a team's 200)",
            "user": "member",
            "path": f"{reverse('api_vms')}?team={team.name}&page_size=25",
        },
        {"name": "request form", "user": "member", "path": reverse("vm_request")},
        {
            "name": "request summary (htmx)",
            "user": "member",
            "path": reverse("vm_request_summary"),
            "body": summary_body,
        },
        {"name": "fleet, team manager", "user": "manager", "path": reverse("fleet")},
        {"name": "approver queue (20 pending)", "user": "approver", "path": reverse("approval_queue")},
        {"name": "fleet, admin (all VMs)", "user": "admin", "path": reverse("fleet")},
    ]


def asker(page: dict, users: dict):
    """A function that asks for the page, as its user, through Django's test client."""
    from django.test import Client

    client = Client()
    client.force_login(users[page["user"]])
    if "body" in page:
        return lambda: client.post(
            page["path"], page["body"], content_type="application/x-www-form-urlencoded", HTTP_HX_REQUEST="true"
        )
    return lambda: client.get(page["path"])


def measure_in_process(page: dict, users: dict) -> tuple[int, int, int]:
    """(status, SQL queries, HTML bytes) of one request through Django's test client."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ask = asker(page, users)
    ask()  # the steady state: what a process caches (the catalogue) is read on the first request
    with CaptureQueriesContext(connection) as queries:
        response = ask()
    return response.status_code, len(queries), len(response.content)


def profile(page: dict, users: dict, requests: int) -> None:
    """cProfile over `requests` requests of the page (after one to warm up): the top costs."""
    ask = asker(page, users)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ask()
    with CaptureQueriesContext(connection) as queries:
        ask()
    # Read now: every request clears the connection's query log.
    captured = queries.captured_queries
    slowest = sorted(captured, key=lambda query: -float(query["time"]))[:3]
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(requests):
        ask()
    profiler.disable()
    elapsed = (time.perf_counter() - started) / requests
    print(f"\n### {page['name']}: {elapsed * 1000:.1f} ms a request in this process (profiled)")
    stats = io.StringIO()
    pstats.Stats(profiler, stream=stats).sort_stats("tottime").print_stats(14)
    print("\n".join(line for line in stats.getvalue().splitlines() if re.match(r"\s+\d", line)))
    print(f"{len(captured)} SQL queries; the slowest:")
    for query in slowest:
        print(f"  {float(query['time']) * 1000:.1f} ms  {query['sql'][:300]}")


def wrk(url: str, *, cookie: str, seconds: int, connections: int, script: Path, page: dict) -> dict:
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s"]
    command += ["-s", str(script), "-H", f"Cookie: sessionid={cookie}; csrftoken={CSRF_TOKEN}"]
    if "body" in page:
        command += ["-H", f"X-CSRFToken: {CSRF_TOKEN}", "-H", "HX-Request: true"]
        command += ["-H", "Content-Type: application/x-www-form-urlencoded", "-H", f"Referer: {url}"]
        script_with_body = script.with_name(f"post-{abs(hash(page['body']))}.lua")
        script_with_body.write_text(
            f"wrk.method = 'POST'\nwrk.body = {json.dumps(page['body'])}\n" + script.read_text()
        )
        command[command.index(str(script))] = str(script_with_body)
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    requests, duration_us, p50_us, p95_us, errors = map(int, re.search(r"RESULT (.*)", output)[1].split())
    return {"rps": requests / (duration_us / 1e6), "p50": p50_us / 1000, "p95": p95_us / 1000, "errors": errors}


CSRF_TOKEN = "b" * 32


def gunicorn(port: int, env: dict):
    command = [sys.executable, "-m", "gunicorn", "hikube_portal.wsgi", f"--bind=127.0.0.1:{port}", "--workers=2"]
    process = subprocess.Popen(command, cwd=REPOSITORY, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1).read()
            return process
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(process.stderr.read().decode())


def portal_env(database_url: str, workdir: Path) -> dict:
    """The environment the portal runs in for the benchmarks: production settings, DEBUG off."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-" + "s" * 50,
        "SECURE_COOKIES": "0",
        "PORTAL_VAR_DIR": str(workdir),
        "LOG_LEVEL": "WARNING",
        # The test client, which counts the queries, calls itself testserver.
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        # Twenty clients on one account: the API's per-caller limit would measure the 429s.
        "API_RATE_LIMIT": "100000000/minute",
        # As in production, the cache (and the catalogue's version) is Redis, shared by the workers.
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=50)
    parser.add_argument("--pending", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating page/bare rounds per page")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--only", help="run only the pages whose name contains this")
    parser.add_argument(
        "--prometheus",
        action="store_true",
        help="also a real Prometheus with 7 days of history for 50 VMs: panels against it, pages configured with it",
    )
    parser.add_argument(
        "--profile", type=int, metavar="N", help="instead of wrk, profile N requests per page in this process"
    )
    arguments = parser.parse_args(argv)
    if not shutil.which("wrk"):
        parser.error("wrk is not installed (apt install wrk)")

    maintenance_url, database_url = database_urls()
    recreate_database(maintenance_url)
    workdir = Path(tempfile.mkdtemp(prefix="pages-benchmark-"))
    env = portal_env(database_url, workdir)
    prometheus = None
    if arguments.prometheus:
        if not (shutil.which("prometheus") and shutil.which("promtool")):
            parser.error("--prometheus needs prometheus and promtool (apt install prometheus)")
        prometheus, env["PROMETHEUS_URL"] = start_prometheus(workdir, now=time.time())
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    try:
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        call_command("collectstatic", verbosity=0, interactive=False)
        world = fill(vms=arguments.vms, teams=arguments.teams, pending=arguments.pending)
        # What autovacuum does to a real database: without statistics, the planner takes the
        # freshly filled tables for empty ones, and without the visibility map no index answers
        # a count alone.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(
            f"fleet: {arguments.vms} VMs over {arguments.teams} teams, filled in {time.perf_counter() - started:.1f} s"
        )
        if prometheus is not None:
            from monitoring.fleet import fleet_figures_refresh

            refresh_started = time.perf_counter()
            stored = fleet_figures_refresh()
            refresh_seconds = time.perf_counter() - refresh_started
            print(f"fleet figures: {stored} VMs in {refresh_seconds:.2f} s (the periodic task's pass)")
        if arguments.profile:
            for page in pages(world) + (panel_pages(world, env["PROMETHEUS_URL"]) if prometheus else []):
                if not arguments.only or arguments.only in page["name"]:
                    profile(page, world["users"], arguments.profile)
            return 0
        cookies = {name: session_cookie(user) for name, user in world["users"].items()}
        script = workdir / "report.lua"
        script.write_text(WRK_SCRIPT)
        port = 18_000 + os.getpid() % 1000
        server = gunicorn(port, env)
        base = f"http://127.0.0.1:{port}"
        try:
            rows = []
            for page in pages(world) + (panel_pages(world, env["PROMETHEUS_URL"]) if prometheus else []):
                if arguments.only and arguments.only not in page["name"]:
                    continue
                status, queries, size = measure_in_process(page, world["users"])
                runs = {"page": [], "bare": []}
                for _ in range(arguments.rounds):
                    bare_url = page.get("bare") or base + "/bench/bare/"
                    for kind, url, spec in (("bare", bare_url, {}), ("page", base + page["path"], page)):
                        runs[kind].append(
                            wrk(
                                url,
                                cookie=cookies[page["user"]],
                                seconds=arguments.seconds,
                                connections=arguments.connections,
                                script=script,
                                page=spec,
                            )
                        )
                bare_rps = sum(run["rps"] for run in runs["bare"]) / len(runs["bare"])
                page_rps = sum(run["rps"] for run in runs["page"]) / len(runs["page"])
                rows.append(
                    (
                        page["name"],
                        bare_rps,
                        page_rps,
                        page_rps / bare_rps,
                        sorted(run["p50"] for run in runs["page"])[len(runs["page"]) // 2],
                        sorted(run["p95"] for run in runs["page"])[len(runs["page"]) // 2],
                        queries,
                        size,
                        status,
                        sum(run["errors"] for run in runs["page"]),
                    )
                )
                print(f"  measured {page['name']}", file=sys.stderr)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # Workers still holding a client's keep-alive connection: no need to be gentle.
                server.kill()
                server.wait()
        print(
            f"\n{arguments.connections} connections, {arguments.rounds} × {arguments.seconds} s per side, "
            "gunicorn 2 sync workers, DEBUG=0; a GPU panel's bare side is the same query sent straight to Prometheus\n"
        )
        print("| Page | Bare view (req/s) | Page (req/s) | Ratio | p50 | p95 | SQL | HTML | Status |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, bare, rps, ratio, p50, p95, queries, size, status, errors in rows:
            flag = f" ({errors} non-2xx)" if errors else ""
            print(
                f"| {name} | {bare:.0f} | {rps:.1f}{flag} | {ratio:.3f} | {p50:.0f} ms | {p95:.0f} ms "
                f"| {queries} | {size / 1024:.0f} KB | {status} |"
            )
    finally:
        if prometheus is not None:
            prometheus.terminate()
        from django.db import connections

        connections.close_all()
        drop_database(maintenance_url)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
