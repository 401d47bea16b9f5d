"""Two schedulers at once (a beat pod replaced while the old one still runs) send each periodic
task once: only the holder of the Redis lock sends, and a successor takes over when it stops."""

import os
import subprocess
import sys
import time

import pytest
import redis

from hikube_portal import beat
from hikube_portal.celery import app
from tests.deploy.chart import REPO, REQUIRED, named, render
from tests.support.processes import stop, wait_until
from tests.support.worker import ARTIFACTS


@pytest.fixture
def schedulers(settings, tmp_path, monkeypatch):
    """Two LockedSchedulers on the test Redis, each recording the tasks it sends."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(beat.LOCK_KEY)
    sent = {"first": [], "second": []}
    made = {}
    for name in sent:
        scheduler = beat.LockedScheduler(app=app, schedule_filename=str(tmp_path / f"{name}-schedule"))
        scheduler.update_from_dict(
            {"every-tick": {"task": "monitoring.tasks.record_worker_heartbeat", "schedule": 0.01}}
        )
        monkeypatch.setattr(
            scheduler,
            "apply_async",
            lambda entry, producer=None, advance=True, name=name, **kw: sent[name].append(entry.name),
        )
        made[name] = scheduler
    yield made, sent, client
    for scheduler in made.values():
        scheduler.close()
    client.delete(beat.LOCK_KEY)


def tick_both(made, times=5):
    for _ in range(times):
        for scheduler in made.values():
            scheduler.tick()
        time.sleep(0.02)


def test_only_the_lock_holder_sends_and_a_successor_takes_over_when_it_stops(schedulers):
    made, sent, client = schedulers

    tick_both(made)

    assert sent["first"] and sent["second"] == []
    assert client.pttl(beat.LOCK_KEY) > (beat.LOCK_SECONDS - beat.TICK_SECONDS) * 1000

    made["first"].close()
    sent["first"].clear()
    tick_both({"second": made["second"]})

    assert sent["second"] and sent["first"] == []


def test_a_scheduler_whose_lock_expired_stops_sending_once_another_holds_it(schedulers):
    made, sent, client = schedulers
    tick_both({"first": made["first"]})
    # The first scheduler was cut off for longer than the lock lives: it expired, the second took it.
    client.delete(beat.LOCK_KEY)
    tick_both({"second": made["second"]}, times=1)
    sent["first"].clear()

    tick_both(made)

    assert sent["first"] == [] and sent["second"]


def test_without_redis_the_single_machine_scheduler_sends(settings, tmp_path):
    settings.REDIS_URL = ""

    assert beat.LockedScheduler(app=app, schedule_filename=str(tmp_path / "schedule")).holds_lock() is True


def test_the_charts_beat_command_runs_the_locked_scheduler_and_frees_the_lock_on_exit(settings, tmp_path):
    (container,) = named(render(REQUIRED), "Deployment", "-beat")["spec"]["template"]["spec"]["containers"]
    command = [argument.replace("/tmp/", f"{tmp_path}/") for argument in container["command"]]
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(beat.LOCK_KEY)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "REDIS_URL": settings.REDIS_URL}
    ARTIFACTS.mkdir(exist_ok=True)

    assert command[0] == "celery" and "--scheduler=hikube_portal.beat:LockedScheduler" in command
    with (ARTIFACTS / "chart-beat.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", *command], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until(lambda: client.exists(beat.LOCK_KEY), timeout=30, message="beat to take the scheduler lock")
    finally:
        stop(process)
    assert client.exists(beat.LOCK_KEY) == 0
