from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkerHeartbeat(models.Model):
    """Last time a Celery worker ran the periodic heartbeat task: the health endpoint reads
    it to tell a stopped worker or scheduler from a healthy one."""

    name = models.CharField(max_length=64, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class IdleStatus(models.Model):
    """Where a VM stands in the idle-GPU policy: kept so its owner is warned once per idle
    period (not at every check) and its pages can show the warning while it stands. Cleared
    when the GPUs are busy again, so the next idle period warns anew."""

    vm = models.OneToOneField(
        "vms.VirtualMachine", on_delete=models.CASCADE, related_name="idle_status", verbose_name=_("virtual machine")
    )
    idle_since = models.DateTimeField(_("idle since"), null=True, blank=True)
    average_percent = models.FloatField(_("average GPU utilisation (%)"), null=True, blank=True)
    warned_at = models.DateTimeField(_("owner warned"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stopped by the policy"), null=True, blank=True)
    checked_at = models.DateTimeField(_("last checked"), null=True, blank=True)

    class Meta:
        verbose_name = _("idle GPU status")
        verbose_name_plural = _("idle GPU statuses")

    def __str__(self):
        return f"{self.vm_id} idle since {self.idle_since}"


class VmFigures(models.Model):
    """A running VM's GPU figures, computed for the whole fleet at once by a periodic task
    (monitoring.fleet.fleet_figures_refresh): the fleet view and the approver queue read these
    rows and never wait for Prometheus."""

    vm = models.OneToOneField("vms.VirtualMachine", on_delete=models.CASCADE, primary_key=True, related_name="figures")
    avg_24h = models.FloatField(null=True)
    max_24h = models.FloatField(null=True)
    avg_7d = models.FloatField(null=True)
    max_7d = models.FloatField(null=True)
    memory_percent = models.FloatField(null=True)
    power_watts = models.FloatField(null=True)
    # The average over the idle policy's window, which says whether the VM is idle.
    idle_average = models.FloatField(null=True)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("GPU figures of a VM")
        verbose_name_plural = _("GPU figures of VMs")

    def __str__(self):
        return f"{self.vm_id} at {self.computed_at:%Y-%m-%d %H:%M}"


class FiguresRefresh(models.Model):
    """The last pass of the fleet figures' task: when it ended, and what went wrong (empty when
    nothing did). One row."""

    finished_at = models.DateTimeField()
    problem = models.TextField(blank=True)

    def __str__(self):
        return f"{self.finished_at:%Y-%m-%d %H:%M} {self.problem or 'ok'}"
