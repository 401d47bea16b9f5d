from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

# Team names become part of a Kubernetes namespace (tenant-<name>), so they follow the
# DNS-1123 label rules with room for the prefix (63 - len("tenant-")).
team_name_validator = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]{0,54}[a-z0-9])?$",
    _("Use lowercase letters, digits and hyphens (at most 56), starting and ending with a letter or digit."),
)


class Team(models.Model):
    """A Hikube tenant: owns a Kubernetes namespace and the VMs in it."""

    name = models.CharField(_("name"), max_length=56, unique=True, validators=[team_name_validator])
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams", verbose_name=_("members")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self):
        return self.display_name or self.name

    @property
    def namespace(self) -> str:
        return f"tenant-{self.name}"


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", _("Member")
        MANAGER = "manager", _("Manager")

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self):
        return f"{self.user} in {self.team} ({self.get_role_display()})"
