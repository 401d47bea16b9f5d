import os
import time

from celery import Celery, signals
from django.conf import settings

from hikube_portal import metrics, task_names

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hikube_portal.settings")

app = Celery("hikube_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Start times of the tasks this process runs, by task id (a pool child runs one at a time).
_started: dict[str, float] = {}


@signals.task_prerun.connect
def _task_started(task_id=None, **_):
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_ended(task_id=None, task=None, state=None, **_):
    started = _started.pop(task_id, None)
    if started is not None and task is not None:
        metrics.observe_task(task.name, (state or "unknown").lower(), time.perf_counter() - started)


@signals.worker_init.connect
def _serve_metrics(**_):
    metrics.clear_multiprocess_dir()
    if settings.METRICS_WORKER_PORT:
        metrics.serve(settings.METRICS_WORKER_PORT, settings.METRICS_WORKER_ADDRESS)


@signals.worker_ready.connect
def _figures_at_start(sender=None, **_):
    # The fleet's GPU figures come every FLEET_FIGURES_INTERVAL_SECONDS; a worker that starts
    # asks for them at once, so a new deployment does not show "pending" for that long.
    if settings.PROMETHEUS_URL:
        sender.app.send_task(task_names.REFRESH_FLEET_FIGURES)
