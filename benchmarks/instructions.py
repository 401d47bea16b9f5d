"""Instructions per request of each page of benchmarks/pages.py, counted by callgrind:
`.venv/bin/python benchmarks/instructions.py` (needs valgrind: `apt install valgrind`).

Wall-clock figures on a shared machine move by a quarter from one run to the next; instruction
counts do not, so they tell what a change to the code did. The same 10,000-VM fleet is filled
in a throwaway PostgreSQL database; then, for each page, a process under callgrind asks for it
through Django's test client (three requests to warm up, then `--requests` counted ones) and the
count covers only the counted requests: the web process's own work, not PostgreSQL's or
Redis's. About 45 s a page."""

import argparse
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from benchmarks import pages as page_benchmark  # noqa: E402 - after the path that finds it

BARE = {"name": "bare view", "user": "member", "path": "/bench/bare/"}
# Collection is on only inside this C function: the counted requests run in it, nothing else does.
COUNTED_CALL = "starmap_next"


def count(page_name: str, requests: int, world_file: Path) -> None:
    """In the process under callgrind: warm up, then ask `requests` times inside starmap."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from vms.models import Team, VirtualMachine

    ids = json.loads(world_file.read_text())
    world = {
        "team": Team.objects.get(pk=ids["team"]),
        "vm": VirtualMachine.objects.get(pk=ids["vm"]),
        "users": {user.username: user for user in get_user_model().objects.filter(username__in=ids["users"])},
    }
    page = next(page for page in [BARE, *page_benchmark.pages(world)] if page["name"] == page_name)
    ask = page_benchmark.asker(page, world["users"])
    for _ in range(3):
        assert ask().status_code == 200
    list(itertools.starmap(ask, [()] * requests))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10, help="counted requests per page")
    parser.add_argument("--only", help="only the pages whose name contains this")
    parser.add_argument("--count", help=argparse.SUPPRESS)
    parser.add_argument("--world", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.count:
        count(arguments.count, arguments.requests, arguments.world)
        return 0
    if not shutil.which("valgrind"):
        parser.error("valgrind is not installed (apt install valgrind)")

    maintenance_url, database_url = page_benchmark.database_urls()
    page_benchmark.recreate_database(maintenance_url)
    workdir = Path(tempfile.mkdtemp(prefix="instructions-benchmark-"))
    env = page_benchmark.portal_env(database_url, workdir)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    try:
        call_command("migrate", verbosity=0)
        call_command("collectstatic", verbosity=0, interactive=False)
        world = page_benchmark.fill(vms=10_000, teams=50, pending=20)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        world_file = workdir / "world.json"
        world_file.write_text(
            json.dumps({"team": world["team"].pk, "vm": world["vm"].pk, "users": list(world["users"])})
        )
        print(f"{arguments.requests} counted requests a page, the web process only\n")
        print("| Page | Instructions per request |\n| --- | --- |")
        for page in [BARE, *page_benchmark.pages(world)]:
            if arguments.only and arguments.only not in page["name"]:
                continue
            command = [
                "valgrind",
                "--tool=callgrind",
                "--collect-atstart=no",
                f"--toggle-collect={COUNTED_CALL}",
                f"--callgrind-out-file={workdir / 'callgrind.out'}",
                sys.executable,
                __file__,
                f"--count={page['name']}",
                f"--requests={arguments.requests}",
                f"--world={world_file}",
            ]
            run = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            collected = int(re.search(r"Collected : (\d+)", run.stderr)[1])
            print(f"| {page['name']} | {collected / arguments.requests / 1e6:.1f} M |", flush=True)
    finally:
        connections.close_all()
        page_benchmark.drop_database(maintenance_url)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
