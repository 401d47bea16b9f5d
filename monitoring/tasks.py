import logging

from celery import shared_task
from django.utils import timezone

from hikube_portal import task_names
from monitoring import fleet, idle
from monitoring.models import WorkerHeartbeat
from monitoring.prometheus import PrometheusError

logger = logging.getLogger(__name__)


@shared_task(name=task_names.RECORD_WORKER_HEARTBEAT, ignore_result=True)
def record_worker_heartbeat():
    WorkerHeartbeat.objects.update_or_create(name="celery", defaults={"seen_at": timezone.now()})


@shared_task(name=task_names.CHECK_IDLE_GPUS, ignore_result=True)
def check_idle_gpus():
    try:
        counts = idle.check_idle_gpus()
    except PrometheusError as error:
        # Not retried: the next periodic pass looks again, with fresh data.
        logger.warning("idle GPU check skipped: %s", error.message)
        return
    logger.info("idle GPU check: %(warned)d warned, %(cleared)d cleared, %(stopped)d stopped", counts)


@shared_task(name=task_names.REFRESH_FLEET_FIGURES, ignore_result=True)
def refresh_fleet_figures():
    try:
        stored = fleet.fleet_figures_refresh()
    except PrometheusError as error:
        # Not retried: the pages say the figures are pending, and the next pass tries again.
        logger.warning("fleet figures not refreshed: %s", error.message)
        return
    logger.info("fleet figures refreshed for %d VMs", stored)
