from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _

from vms.checks import sqlite_does_not_lock_rows


class VmsConfig(AppConfig):
    name = "vms"
    verbose_name = _("GPU virtual machines")

    def ready(self):
        # Untagged: runserver and the workers' start-up checks skip the "database" tag.
        checks.register(sqlite_does_not_lock_rows)
