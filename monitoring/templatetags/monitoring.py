from django import template

from monitoring import telemetry
from vms import access

register = template.Library()


@register.filter
def sees_fleet(user) -> bool:
    """Whether the navigation offers the fleet pages."""
    return access.sees_fleet(user)


@register.filter
def approves(user) -> bool:
    """Whether the navigation offers the approver queue."""
    return access.can_approve(user)


@register.filter
def figure(value, digits=1):
    """A measured figure, or a dash when there is none (no data is not zero)."""
    if value is None:
        return "—"
    return f"{value:.{int(digits)}f}"


@register.inclusion_tag("monitoring/idle_banner.html")
def idle_banner(vm):
    """The idle-GPU warning of a VM while it stands: `{% load monitoring %}{% idle_banner vm %}`
    on any of its pages (one query)."""
    return {"idle": telemetry.idle_banner(vm)}
