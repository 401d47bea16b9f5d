from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from hikube_portal.dates import age
from hikube_portal.fragments import RowValuesPaginator
from monitoring.telemetry import vms_with_idle_status
from vms import errors
from vms.access import listable_teams, requestable_teams, vm_for_user, vm_rights
from vms.catalogue import seed
from vms.catalogue.loading import catalogue_rows, rendered_vm_rows
from vms.governance import disclosure, lifecycle, selectors, services
from vms.models import Event, Preset, name_columns
from vms.render.manifests import render_manifests, to_yaml
from vms.states import is_settled
from vms.web.forms import LeaseExtensionForm, VmFilterForm, VmRequestForm, initial_from_preset
from vms.web.summary import request_summary

VMS_PER_PAGE = 25
# What a row of the VM list shows (templates/vms/vm_list.html).
VM_ROW_FIELDS = (
    "name",
    "state",
    "cluster_status",
    "gpu_count",
    "created_at",
    *name_columns("team", person=False),
    *name_columns("owner", person=True),
)
STORAGE_LAYOUTS = {layout["slug"]: layout for layout in seed.STORAGE_LAYOUTS}
# htmx stops polling when it receives this status.
HTMX_STOP_POLLING = 286


def _row_age(row: dict) -> dict:
    return {"age": age(row["created_at"])}


@login_required
def vm_list(request):
    form = VmFilterForm(request.GET or None, teams=listable_teams(request.user), gpu_models=catalogue_rows().gpu_models)
    filters = form.cleaned_data if form.is_valid() else {}
    vms = selectors.vm_list(
        user=request.user,
        team_id=filters["team"].pk if filters.get("team") else None,
        state=filters.get("state") or None,
        gpu_model_id=filters["gpu_model"].pk if filters.get("gpu_model") else None,
        mine=filters.get("mine", False),
        fields=VM_ROW_FIELDS,
    )
    page = RowValuesPaginator(vms, VMS_PER_PAGE).get_page(request.GET.get("page"))
    # The table refreshes itself while a VM on it is on its way somewhere.
    polling = any(not is_settled(row["state"], row["cluster_status"]) for row in page.object_list)
    rows = rendered_vm_rows("vms/vm_list.html#vm-row", page.object_list, vms, extra=_row_age)
    context = {"form": form, "page": page, "rows": rows, "polling": polling}
    if request.htmx:
        stop = request.GET.get("poll") and not polling
        return render(request, "vms/vm_list.html#vm-table", context, status=HTMX_STOP_POLLING if stop else 200)
    return render(request, "vms/vm_list.html", context)


def _cluster_last_words(vm, timeline) -> str:
    cluster_event = next((event for event in timeline if event.kind == Event.Kind.CLUSTER), None)
    return vm.status_message or (cluster_event.text if cluster_event else "") or vm.cluster_status


def _live_context(request, vm):
    rights = vm_rights(request.user, vm)
    can_manage = rights.manage
    timeline = list(selectors.vm_timeline(vm=vm))
    overdue = lifecycle.confirmation_overdue(vm)
    return {
        "vm": vm,
        "can_use": rights.use,
        "timeline": timeline,
        "overdue": overdue,
        "cluster_last_words": _cluster_last_words(vm, timeline) if overdue else "",
        "restart_refused": can_manage and lifecycle.restart_refused(vm, timeline),
        "polling": not vm.is_settled,
        "actions": lifecycle.offered_actions(vm, timeline, can_manage=can_manage),
        "resize_choices": selectors.resize_choices(vm=vm) if can_manage else [],
        "waitlist": selectors.waitlist_position(vm=vm),
        # Only a lease can be extended, and the page shows an extension beside the lease.
        "pending_extension": vm.change_requests.filter(state="pending").first() if vm.lease_ends_at else None,
        "lease_form": LeaseExtensionForm(vm=vm) if can_manage and vm.lease_ends_at else None,
        "action_buttons": ACTION_BUTTONS,
    }


ACTION_BUTTONS = [
    ("start", _lazy("Start"), "primary"),
    ("stop", _lazy("Stop"), ""),
    ("restart", _lazy("Restart"), ""),
    ("retry", _lazy("Retry"), "primary"),
]


@login_required
def vm_detail(request, vm_id):
    vm = vm_for_user(request.user, vm_id, queryset=vms_with_idle_status())
    context = _live_context(request, vm)
    if request.htmx:
        return render(
            request, "vms/vm_detail.html#vm-live", context, status=200 if context["polling"] else HTMX_STOP_POLLING
        )
    return render(request, "vms/vm_detail.html", context)


@login_required
@require_POST
def vm_connection(request, vm_id):
    """Connection details on request, so each time someone reads them lands in the audit trail.
    A POST: a prefetching browser or a link preview must not reveal (and audit) them."""
    vm = vm_for_user(request.user, vm_id, use=True)
    connection = disclosure.vm_connection_read(vm=vm, actor=request.user)
    context = {"vm": vm, "login_user": connection.user, "revealed": True}
    if request.htmx:
        return render(request, "vms/vm_detail.html#connection", context)
    return render(request, "vms/vm_detail.html", {**_live_context(request, vm), **context})


def _request_form(request, data=None, initial=None):
    return VmRequestForm(
        data,
        initial=initial,
        teams=requestable_teams(request.user),
        rows=catalogue_rows(),
        api_shape=settings.CLUSTER_API_SHAPE,
    )


def _preset(slug: str) -> Preset | None:
    return catalogue_rows().preset(slug) if slug else None


def _form_actions(form_data):
    """Re-post actions that rebuild the form without submitting it (work with and without htmx)."""
    action = form_data.get("action", "submit")
    data = form_data.copy()
    if action == "add_disk":
        for key, value in (("disk_name", ""), ("disk_size", ""), ("disk_class", "replicated")):
            data.appendlist(key, value)
    elif action.startswith("remove_disk:"):
        index = action.partition(":")[2]
        if index.isdecimal():
            for key in ("disk_name", "disk_size", "disk_class"):
                values = data.getlist(key)
                if int(index) < len(values):
                    del values[int(index)]
                data.setlist(key, values)
    elif action.startswith("apply_layout:"):
        layout = STORAGE_LAYOUTS.get(action.partition(":")[2])
        if layout is not None:
            data["system_disk_size"] = str(layout["system_disk_gib"])
            data["system_disk_class"] = layout["system_disk_class"]
            data.setlist("disk_name", [disk["name"] for disk in layout["disks"]])
            data.setlist("disk_size", [str(disk["size_gib"]) for disk in layout["disks"]])
            data.setlist("disk_class", [disk["storage_class"] for disk in layout["disks"]])
    elif action == "apply_preset":
        initial = initial_from_preset(_preset(form_data.get("preset", "")))
        initial["team"] = form_data.get("team")
        return None, initial
    return data, None


@login_required
def vm_request(request):
    if request.method != "POST":
        form = _request_form(request, initial=initial_from_preset(_preset(request.GET.get("preset", ""))))
        return _render_request(request, form)

    action = request.POST.get("action", "submit")
    if action != "submit":
        data, initial = _form_actions(request.POST)
        form = _request_form(request, initial=initial) if data is None else _request_form(request, data)
        return _render_request(request, form, partial=bool(request.htmx))

    form = _request_form(request, request.POST)
    if not form.is_valid():
        return _render_request(request, form, status=422 if request.htmx else 200)
    try:
        vm = services.vm_request(
            actor=request.user,
            team=form.cleaned_data["team"],
            spec=form.spec,
            gpu_model=form.cleaned_data["gpu_model"],
            instance_type=form.cleaned_data["instance_type"],
            api_shape=settings.CLUSTER_API_SHAPE,
            lease_ends_at=form.cleaned_data.get("lease_ends_at"),
        )
    except errors.QuotaExceeded as error:
        form.add_error("gpu_model", str(error))
        return _render_request(request, form, status=422 if request.htmx else 200)
    except errors.NameTaken as error:
        form.add_error("name", str(error))
        return _render_request(request, form, status=422 if request.htmx else 200)
    if vm.state == vm.State.PENDING_APPROVAL:
        messages.info(request, _("Your request for %(name)s waits for an approver.") % {"name": vm.name})
    else:
        messages.success(request, _("%(name)s is queued for provisioning.") % {"name": vm.name})
    return redirect("vm_detail", vm_id=vm.pk)


def _render_request(request, form, *, partial=False, status=200):
    context = {
        "form": form,
        "summary": request_summary(form),
        "storage_classes": form.catalogue.storage_classes,
        "storage_layouts": seed.STORAGE_LAYOUTS,
    }
    template = "vms/vm_request.html#request-form" if partial else "vms/vm_request.html"
    return render(request, template, context, status=status)


@login_required
@require_POST
def vm_request_summary(request):
    form = _request_form(request, request.POST)
    return render(request, "vms/vm_request.html#summary", {"summary": request_summary(form)})


@login_required
@require_POST
def vm_request_manifests(request):
    form = _request_form(request, request.POST)
    if not form.is_valid():
        return render(request, "vms/vm_request.html#manifests", {"form": form, "manifests_requested": True}, status=422)
    objects = render_manifests(
        form.spec,
        catalogue=form.catalogue,
        namespace=form.cleaned_data["team"].namespace,
        vm_id="new",
        api_shape=settings.CLUSTER_API_SHAPE,
    )
    text = to_yaml(objects)
    if request.POST.get("download"):
        response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{form.spec.name}.yaml"'
        return response
    return render(request, "vms/vm_request.html#manifests", {"form": form, "manifests": text})


def _back_to_vm(request, vm_id):
    """After an action: the live partial for htmx (buttons and state refreshed), the page otherwise."""
    if request.htmx:
        vm = vm_for_user(request.user, vm_id)
        return render(request, "vms/vm_detail.html#vm-live", _live_context(request, vm))
    return redirect("vm_detail", vm_id=vm_id)


@login_required
@require_POST
def vm_action(request, vm_id, action):
    vm = vm_for_user(request.user, vm_id, manage=True)
    if action not in lifecycle.VM_ACTIONS:
        raise Http404
    try:
        lifecycle.VM_ACTIONS[action](vm_id=vm.pk, actor=request.user)
    except errors.LeaseEnded as error:
        messages.error(request, str(error))
    except errors.InvalidTransition as error:
        if action == "restart" and error.current_state == vm.State.RUNNING:
            # Still running: the first click's restart has not reached the cluster yet.
            messages.info(request, _("A restart of %(name)s is already on its way.") % {"name": vm.name})
        else:
            messages.warning(
                request,
                _("%(name)s is no longer in a state that allows this; the page shows where it stands now.")
                % {"name": vm.name},
            )
    return _back_to_vm(request, vm_id)


@login_required
@require_POST
def vm_resize(request, vm_id):
    vm = vm_for_user(request.user, vm_id, manage=True)
    instance_type = request.POST.get("instance_type", "")
    try:
        lifecycle.vm_resize(
            vm_id=vm.pk, actor=request.user, instance_type_id=int(instance_type) if instance_type.isdecimal() else 0
        )
    except errors.ResizeRefused as error:
        messages.error(request, str(error))
    except errors.InvalidTransition:
        messages.warning(request, _("%(name)s can be resized only while running or stopped.") % {"name": vm.name})
    return _back_to_vm(request, vm_id)


@login_required
@require_POST
def vm_delete(request, vm_id):
    vm = vm_for_user(request.user, vm_id, manage=True)
    if request.POST.get("confirm_name", "").strip() != vm.name:
        messages.error(request, _("Type the VM's name, %(name)s, to confirm the deletion.") % {"name": vm.name})
        return _back_to_vm(request, vm_id)
    try:
        lifecycle.vm_delete(vm_id=vm.pk, actor=request.user)
    except errors.InvalidTransition:
        messages.warning(request, _("%(name)s is already being deleted.") % {"name": vm.name})
    return _back_to_vm(request, vm_id)


@login_required
@require_POST
def vm_extend_lease(request, vm_id):
    vm = vm_for_user(request.user, vm_id, manage=True)
    form = LeaseExtensionForm(request.POST, vm=vm)
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, error[0])
        return _back_to_vm(request, vm_id)
    try:
        change = services.lease_extend(
            vm_id=vm.pk,
            actor=request.user,
            lease_ends_at=form.cleaned_data["lease_ends_at"],
            justification=form.cleaned_data["justification"],
        )
    except errors.ChangeAlreadyPending as error:
        messages.warning(request, str(error))
    except errors.InvalidTransition:
        messages.warning(request, _("%(name)s is being deleted: its lease cannot change.") % {"name": vm.name})
    else:
        if change.state == change.State.APPROVED:
            messages.success(request, _("The lease of %(name)s is extended.") % {"name": vm.name})
        else:
            messages.success(request, _("Your extension of %(name)s waits for an approver.") % {"name": vm.name})
    return _back_to_vm(request, vm_id)


@login_required
def vm_manifests(request, vm_id):
    """The VM's objects as the portal applies them, as YAML (for GitOps or a look before support)."""
    vm = vm_for_user(request.user, vm_id, use=True)
    objects = disclosure.vm_manifests_read(vm=vm, actor=request.user)
    response = HttpResponse(to_yaml(objects), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{vm.name}.yaml"'
    return response
