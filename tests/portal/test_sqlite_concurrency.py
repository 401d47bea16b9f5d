"""`make run` serves web, worker and beat from one SQLite file: writers arriving together must
wait for each other, not fail with "database is locked"."""

import subprocess
import sys
import textwrap

from tests.support.worker import REPO

# Runs in a child process: the test suite's own database is PostgreSQL.
CONCURRENT_WRITERS = textwrap.dedent("""
    import threading
    import django
    from django.core.management import call_command
    django.setup()
    from django.db import connection, transaction
    from vms.models import Team

    call_command("migrate", verbosity=0)
    writers, barrier, failures = 8, threading.Barrier(8), []

    def request(index):
        try:
            barrier.wait()
            # What a request does: read, then write, in one transaction.
            with transaction.atomic():
                Team.objects.count()
                Team.objects.create(name=f"team-{index}")
        except Exception as error:
            failures.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(Team.objects.count(), failures)
""")


def test_concurrent_writers_on_sqlite_wait_for_each_other(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "hikube_portal.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", CONCURRENT_WRITERS], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "8 []"
