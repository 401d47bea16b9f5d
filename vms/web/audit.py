"""The audit log for platform admins: browse, filter, export CSV."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from hikube_portal.csv_cells import csv_response
from vms.access import platform_admin_required
from vms.models import Event, Team

EVENTS_PER_PAGE = 50


class AuditFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, label=_("Kind"), choices=[("", _("All kinds")), *Event.Kind.choices])
    team = forms.ModelChoiceField(
        queryset=Team.objects.all(), required=False, label=_("Team"), empty_label=_("All teams")
    )
    actor = forms.CharField(required=False, max_length=150, label=_("Who (username)"))
    q = forms.CharField(required=False, max_length=200, label=_("Text"))
    since = forms.DateField(required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("since") and cleaned.get("until") and cleaned["since"] > cleaned["until"]:
            self.add_error("until", _("The end date comes before the start date."))
        return cleaned


def filtered_events(data: dict):
    events = Event.objects.select_related("actor", "vm", "team").order_by("-created_at", "-id")
    if data.get("kind"):
        events = events.filter(kind=data["kind"])
    if data.get("team"):
        events = events.filter(team=data["team"])
    if data.get("actor"):
        events = events.filter(actor__username=data["actor"])
    if data.get("q"):
        events = events.filter(Q(target__icontains=data["q"]) | Q(reason__icontains=data["q"]))
    if data.get("since"):
        events = events.filter(created_at__date__gte=data["since"])
    if data.get("until"):
        events = events.filter(created_at__date__lte=data["until"])
    return events


@login_required
def audit_log(request):
    platform_admin_required(request.user)
    form = AuditFilterForm(request.GET or None)
    events = filtered_events(form.cleaned_data if form.is_valid() else {})
    if request.GET.get("format") == "csv":
        header = ["when", "kind", "who", "team", "on what", "what", "why"]
        rows = (
            [
                e.created_at.isoformat(),
                e.kind,
                e.actor.username if e.actor else "",
                e.team.name if e.team else "",
                e.target,
                e.text,
                e.reason,
            ]
            for e in events.iterator(chunk_size=2000)
        )
        return csv_response("audit-log.csv", header, rows)
    page = Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "vms/audit.html", {"form": form, "page": page})
