from celery import shared_task
from django.utils import timezone

from monitoring.models import WorkerHeartbeat


@shared_task(ignore_result=True)
def record_worker_heartbeat():
    WorkerHeartbeat.objects.update_or_create(name="celery", defaults={"seen_at": timezone.now()})
