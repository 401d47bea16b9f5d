from django.apps import AppConfig
from django.core import checks
from django.core.signals import request_finished, request_started
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _

from vms import rights_cache
from vms.catalogue import version
from vms.checks import sqlite_does_not_lock_rows


class VmsConfig(AppConfig):
    name = "vms"
    verbose_name = _("GPU virtual machines")

    def ready(self):
        # Untagged: runserver and the workers' start-up checks skip the "database" tag.
        checks.register(sqlite_does_not_lock_rows)
        for model in version.CATALOGUE_MODELS:
            post_save.connect(version.catalogue_changed, sender=model, dispatch_uid=f"catalogue-saved-{model}")
            post_delete.connect(version.catalogue_changed, sender=model, dispatch_uid=f"catalogue-deleted-{model}")
        request_started.connect(version.request_started, dispatch_uid="catalogue-request-started")
        request_finished.connect(version.request_finished, dispatch_uid="catalogue-request-finished")
        for signal, sender in rights_cache.APPROVER_SOURCES:
            signal.connect(rights_cache.approver_rights_changed, sender=sender, dispatch_uid=f"approver-{sender}")
        for signal, sender in rights_cache.MEMBERSHIP_SOURCES:
            signal.connect(rights_cache.membership_changed, sender=sender, dispatch_uid=f"members-{signal}-{sender}")
        post_save.connect(rights_cache.team_changed, sender="vms.Team", dispatch_uid="memberships-team-saved")
