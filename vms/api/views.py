"""The API's operations. Each checks access with vms.access, as the pages do, and acts through
the same services, so the API and the pages give the same answer to the same request."""

import math
from functools import partial

from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from hikube_portal.fragments import RowValuesPaginator
from monitoring import metrics
from monitoring.forms import DEFAULT_RANGE, RANGE_LABELS, RangeForm
from monitoring.prometheus import PrometheusError, shared_gateway
from monitoring.telemetry import prometheus_error_text
from vms import access, errors
from vms.api import serializers as api
from vms.api.errors import ApiError, conflict, invalid
from vms.api.schema import ErrorsSerializer
from vms.catalogue.loading import catalogue_of, catalogue_rows, serialized_vm_rows
from vms.governance import disclosure, lifecycle, selectors, services
from vms.governance.capacity import CapacityReading
from vms.governance.documents import preset_document, spec_document_check
from vms.models import ApiToken, ChangeRequest, Quota, VirtualMachine
from vms.render.manifests import to_yaml
from vms.spec.lease import extension_justification_problem, lease_extension_problem

VM_ROWS = ("team", "owner", "instance_type", "gpu_model")
DEFAULT_CHART_POINTS = 200


class VmPages(PageNumberPagination):
    django_paginator_class = RowValuesPaginator
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def _vm(request, vm_id: int, *, manage: bool = False, use: bool = False) -> VirtualMachine:
    return access.vm_for_user(request.user, vm_id, manage=manage, use=use)


def _detail(request, vm: VirtualMachine) -> dict:
    """The VM as its page shows it: the serializer reads these extra attributes off the row."""
    vm.timeline = list(selectors.vm_timeline(vm=vm))
    vm.confirmation_overdue = lifecycle.confirmation_overdue(vm)
    vm.actions = sorted(lifecycle.offered_actions(vm, vm.timeline, can_manage=access.can_manage_vm(request.user, vm)))
    vm.waitlist = selectors.waitlist_position(vm=vm)
    vm.pending_lease_extension = (
        vm.change_requests.filter(state=ChangeRequest.State.PENDING).select_related("requested_by").first()
    )
    return api.VmDetailSerializer(vm).data


def _fresh(request, vm_id: int) -> dict:
    return _detail(request, _vm(request, vm_id))


# --- Who calls ---------------------------------------------------------------------------------


@extend_schema(responses=api.MeSerializer, summary="You: your teams, roles and quotas")
@api_view(["GET"])
def me(request):
    user = request.user
    memberships = access.memberships(user)
    team_ids = [membership.team_id for membership in memberships]
    used = selectors.gpus_committed(team_ids=team_ids)
    quotas: dict[int, list[dict]] = {}
    for quota in Quota.objects.filter(team_id__in=team_ids).select_related("gpu_model").order_by("gpu_model__slug"):
        quotas.setdefault(quota.team_id, []).append(
            {
                "gpu_model": quota.gpu_model.slug,
                "max_gpus": quota.max_gpus,
                "used": used.get((quota.team_id, quota.gpu_model_id), 0),
            }
        )
    token = request.auth if isinstance(request.auth, ApiToken) else None
    return Response(
        api.MeSerializer(
            {
                "username": user.username,
                "name": user.get_full_name(),
                "email": user.email,
                "platform_admin": user.is_superuser,
                "approver": access.can_approve(user),
                "teams": [
                    {
                        "name": membership.team.name,
                        "namespace": membership.team.namespace,
                        "role": membership.role,
                        "quotas": quotas.get(membership.team_id, []),
                    }
                    for membership in memberships
                ],
                "token": token,
            }
        ).data
    )


# --- The catalogue -----------------------------------------------------------------------------


@extend_schema(responses=api.CatalogueSerializer, summary="What can be requested, with the GPUs free now")
@api_view(["GET"])
def catalogue(request):
    rows = catalogue_rows()
    gpu_models = [row for row in rows.gpu_models if row.active]
    capacity = CapacityReading(gpu_model_ids=[row.pk for row in gpu_models])
    models = []
    for row in gpu_models:
        free = capacity.free_gpus(team_id=None, gpu_model_id=row.pk)
        models.append(
            {
                "slug": row.slug,
                "name": row.name,
                "architecture": row.architecture,
                "memory_gb": row.memory_gb,
                "needs_approval": row.needs_approval,
                "capacity": row.capacity,
                "free_gpus": free.count,
                "free_is_estimate": free.estimate,
            }
        )
    return Response(
        api.CatalogueSerializer(
            {
                "instance_types": [row for row in rows.instance_types if row.active],
                "gpu_models": models,
                "images": [row for row in rows.images if row.active],
                "storage_classes": [row for row in rows.storage_classes if row.active],
                "presets": list(rows.presets),
                "networks": list(catalogue_of(rows).networks),
            }
        ).data
    )


# --- VMs ---------------------------------------------------------------------------------------


class VmFilters(serializers.Serializer):
    team = serializers.CharField(required=False, max_length=56)
    state = serializers.ChoiceField(choices=VirtualMachine.State.choices, required=False)
    gpu_model = serializers.CharField(required=False, max_length=16)
    mine = serializers.BooleanField(required=False, default=False)
    name = serializers.CharField(required=False, max_length=63)


def _vm_list(request):
    filters = VmFilters(data=request.query_params)
    if not filters.is_valid():
        raise invalid(filters.errors)
    data = filters.validated_data
    team_id = gpu_model_id = None
    if data.get("team"):
        team_id = next((team.pk for team in access.listable_teams(request.user) if team.name == data["team"]), None)
        if team_id is None:
            raise invalid({"team": [_("No team named “%(team)s” among those you may list.") % {"team": data["team"]}]})
    if data.get("gpu_model"):
        gpu_model_id = next((row.pk for row in catalogue_rows().gpu_models if row.slug == data["gpu_model"]), None)
        if gpu_model_id is None:
            raise invalid({"gpu_model": [_("No GPU model “%(model)s”.") % {"model": data["gpu_model"]}]})
    vms = selectors.vm_list(
        user=request.user,
        team_id=team_id,
        state=data.get("state"),
        gpu_model_id=gpu_model_id,
        mine=data["mine"],
        name=data.get("name"),
        fields=api.VM_FIELDS,
    )
    pages = VmPages()
    page = pages.paginate_queryset(vms, request)
    return pages.get_paginated_response(serialized_vm_rows(api.VmSerializer, page, vms))


def _request_document(request) -> tuple[dict, object]:
    """The body as a spec document with the preset's values filled in, and the lease end."""
    if not isinstance(request.data, dict):
        raise invalid({"__all__": [_("Send a JSON object: the spec document.")]})
    document = dict(request.data)
    lease_raw, preset_slug = document.pop("lease_ends_at", None), document.pop("preset", None)
    lease_ends_at = None
    if lease_raw is not None:
        try:
            lease_ends_at = serializers.DateTimeField().to_internal_value(lease_raw)
        except serializers.ValidationError as error:
            raise invalid({"lease_ends_at": error.detail}) from None
    if preset_slug is not None:
        preset = catalogue_rows().preset(preset_slug) if isinstance(preset_slug, str) else None
        if preset is None:
            raise invalid({"preset": [_("No preset named “%(preset)s”.") % {"preset": str(preset_slug)[:63]}]})
        document = preset_document(preset) | document
    return document, lease_ends_at


def _vm_create(request):
    document, lease_ends_at = _request_document(request)
    check = spec_document_check(
        document,
        teams=access.requestable_teams(request.user),
        api_shape=settings.CLUSTER_API_SHAPE,
        lease_ends_at=lease_ends_at,
        check_lease=True,
    )
    if not check.ok:
        raise invalid(check.errors)
    try:
        vm = services.vm_request(
            actor=request.user,
            team=check.team,
            spec=check.spec,
            gpu_model=check.gpu_model,
            instance_type=check.instance_type,
            api_shape=settings.CLUSTER_API_SHAPE,
            lease_ends_at=lease_ends_at,
        )
    except errors.QuotaExceeded as error:
        raise ApiError(str(error), status_code=400, code="quota_exceeded", field="gpu_model") from None
    except errors.NameTaken as error:
        raise ApiError(str(error), status_code=400, code="name_taken", field="name") from None
    body = {**_fresh(request, vm.pk), "warnings": [str(warning) for warning in check.warnings]}
    return Response(body, status=status.HTTP_201_CREATED, headers={"Location": reverse("api_vm", args=[vm.pk])})


@extend_schema(
    methods=["GET"],
    operation_id="vms_list",
    parameters=[VmFilters],
    responses=api.VmPageSerializer,
    summary="Your VMs (every VM for approvers and admins), newest first",
)
@extend_schema(
    methods=["POST"],
    request=api.VmCreateSerializer,
    responses={201: api.VmCreatedSerializer},
    summary="Request a VM from a spec document (the format of manage.py vm_manifest)",
)
@api_view(["GET", "POST"])
def vms(request):
    return _vm_list(request) if request.method == "GET" else _vm_create(request)


@extend_schema(methods=["GET"], responses=api.VmDetailSerializer, summary="One VM, its timeline and what you may do")
@extend_schema(
    methods=["DELETE"],
    request=None,
    responses={202: api.VmDetailSerializer},
    summary="Delete the VM and its disks (a request not yet served is withdrawn)",
)
@api_view(["GET", "DELETE"])
def vm(request, vm_id):
    if request.method == "GET":
        return Response(_fresh(request, vm_id))
    vm = _vm(request, vm_id, manage=True)
    try:
        lifecycle.vm_delete(vm_id=vm.pk, actor=request.user)
    except errors.InvalidTransition:
        raise conflict(_("%(name)s is already being deleted.") % {"name": vm.name}) from None
    return Response(_fresh(request, vm.pk), status=status.HTTP_202_ACCEPTED)


@extend_schema(request=None, responses={202: api.VmDetailSerializer}, summary="Act on the VM")
@api_view(["POST"])
def vm_action(request, vm_id, action):
    vm = _vm(request, vm_id, manage=True)
    try:
        lifecycle.VM_ACTIONS[action](vm_id=vm.pk, actor=request.user)
    except errors.LeaseEnded as error:
        raise conflict(str(error), code="lease_ended") from None
    except errors.InvalidTransition as error:
        if action == "restart" and error.current_state == VirtualMachine.State.RUNNING:
            raise conflict(
                _("A restart of %(name)s is already on its way.") % {"name": vm.name}, code="restart_pending"
            ) from None
        raise conflict(
            _("%(name)s is %(state)s: its state does not allow this.")
            % {
                "name": vm.name,
                "state": VirtualMachine.State(error.current_state).label if error.current_state else "?",
            }
        ) from None
    return Response(_fresh(request, vm.pk), status=status.HTTP_202_ACCEPTED)


@extend_schema(
    request=api.ResizeSerializer, responses={202: api.VmDetailSerializer}, summary="Change the instance type"
)
@api_view(["POST"])
def vm_resize(request, vm_id):
    vm = _vm(request, vm_id, manage=True)
    body = api.ResizeSerializer(data=request.data)
    if not body.is_valid():
        raise invalid(body.errors)
    name = body.validated_data["instance_type"]
    instance_type = next((row for row in catalogue_rows().instance_types if row.name == name), None)
    try:
        lifecycle.vm_resize(vm_id=vm.pk, actor=request.user, instance_type_id=instance_type.pk if instance_type else 0)
    except errors.ResizeRefused as error:
        raise ApiError(str(error), status_code=400, code="resize_refused", field="instance_type") from None
    except errors.InvalidTransition:
        raise conflict(_("%(name)s can be resized only while running or stopped.") % {"name": vm.name}) from None
    return Response(_fresh(request, vm.pk), status=status.HTTP_202_ACCEPTED)


@extend_schema(
    request=api.LeaseExtendSerializer,
    responses={201: api.LeaseExtensionSerializer},
    summary="Ask for a later lease end (granted at once for models that need no approval)",
)
@api_view(["POST"])
def vm_lease(request, vm_id):
    vm = _vm(request, vm_id, manage=True)
    body = api.LeaseExtendSerializer(data=request.data)
    if not body.is_valid():
        raise invalid(body.errors)
    lease_ends_at, justification = body.validated_data["lease_ends_at"], body.validated_data["justification"]
    problems = {}
    if problem := lease_extension_problem(lease_ends_at, current_end=vm.lease_ends_at):
        problems["lease_ends_at"] = [problem]
    if problem := extension_justification_problem(justification, needs_approval=vm.gpu_model.needs_approval):
        problems["justification"] = [problem]
    if problems:
        raise invalid(problems)
    try:
        change = services.lease_extend(
            vm_id=vm.pk, actor=request.user, lease_ends_at=lease_ends_at, justification=justification
        )
    except errors.ChangeAlreadyPending as error:
        raise conflict(str(error), code="change_pending") from None
    except errors.InvalidTransition:
        raise conflict(_("%(name)s is being deleted: its lease cannot change.") % {"name": vm.name}) from None
    return Response(api.LeaseExtensionSerializer(change).data, status=status.HTTP_201_CREATED)


@extend_schema(
    request=None,
    responses=api.ConnectionSerializer,
    summary="The SSH details; each read is recorded in the audit log, as in the browser",
)
@api_view(["POST"])
def vm_connection(request, vm_id):
    vm = _vm(request, vm_id, use=True)
    if not vm.external_ip:
        raise conflict(_("%(name)s has no public IP yet.") % {"name": vm.name}, code="no_address")
    connection = disclosure.vm_connection_read(vm=vm, actor=request.user)
    return Response(api.ConnectionSerializer(connection).data)


@extend_schema(responses=api.ManifestsSerializer, summary="The VM's Kubernetes objects as the portal applies them")
@api_view(["GET"])
def vm_manifests(request, vm_id):
    objects = disclosure.vm_manifests_read(vm=_vm(request, vm_id, use=True), actor=request.user)
    return Response({"objects": objects, "yaml": to_yaml(objects)})


class TelemetryQuery(serializers.Serializer):
    range = serializers.ChoiceField(choices=[*RANGE_LABELS, "custom"], required=False, default=DEFAULT_RANGE)
    start = serializers.DateTimeField(required=False, help_text="With range=custom.")
    end = serializers.DateTimeField(required=False, help_text="With range=custom.")
    step = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=86400,
        help_text="Seconds between points, rounded up to a round step no finer than the scrape interval.",
    )
    panels = serializers.CharField(
        required=False, help_text=f"Comma-separated, among {', '.join(metrics.CHART_PANELS)}."
    )


@extend_schema(
    parameters=[TelemetryQuery],
    responses={200: api.TelemetrySerializer, 503: ErrorsSerializer},
    summary="The GPU series of the VM's charts, for a range and a step",
)
@api_view(["GET"])
def vm_gpus(request, vm_id):
    vm = _vm(request, vm_id)
    query = TelemetryQuery(data=request.query_params)
    if not query.is_valid():
        raise invalid(query.errors)
    data = query.validated_data
    keys = [key.strip() for key in data.get("panels", "").split(",") if key.strip()] or list(metrics.CHART_PANELS)
    unknown = [key for key in keys if key not in metrics.CHART_PANELS]
    if unknown:
        raise invalid({"panels": [_("Unknown panel: %(keys)s.") % {"keys": ", ".join(unknown)[:200]}]})
    form = RangeForm(
        {
            "range": data["range"],
            "start": data["start"].strftime("%Y-%m-%dT%H:%M:%S") if data.get("start") else "",
            "end": data["end"].strftime("%Y-%m-%dT%H:%M:%S") if data.get("end") else "",
        }
    )
    if not form.is_valid():
        raise invalid({key: list(messages) for key, messages in form.errors.items()})
    chart_range = form.chart_range()
    seconds = (chart_range.end - chart_range.start).total_seconds()
    points = math.ceil(seconds / data["step"]) if data.get("step") else DEFAULT_CHART_POINTS
    gateway = shared_gateway()
    try:
        panels = [
            gateway.panel(
                key,
                namespace=vm.namespace,
                vm=vm.name,
                start=chart_range.start,
                end=chart_range.end,
                width_px=max(points, 1),
            )
            for key in keys
        ]
    except PrometheusError as error:
        raise ApiError(
            prometheus_error_text(error),
            status_code=503,
            code="telemetry_unavailable" if error.retryable else "telemetry_off",
        ) from None
    return Response(
        api.TelemetrySerializer(
            {
                "start": chart_range.start,
                "end": chart_range.end,
                "step_seconds": panels[0]["step_seconds"],
                "panels": panels,
            }
        ).data
    )


# --- Approvals ---------------------------------------------------------------------------------


@extend_schema(responses=api.ApprovalSerializer(many=True), summary="Requests waiting for an approver, oldest first")
@api_view(["GET"])
def approvals(request):
    access.approver_required(request.user)
    rows = [
        {
            "kind": "lease_extension" if row.item.change else "vm",
            "id": row.item.change.pk if row.item.change else row.item.vm.pk,
            "vm": row.item.vm,
            "requested_by": row.item.requested_by.username,
            "requested_at": row.item.created_at,
            "justification": row.item.justification,
            "summary": row.item.summary,
            "quota_used": row.quota[0],
            "quota_limit": row.quota[1],
            "free_gpus": row.free.count,
            "own": row.own,
        }
        for row in selectors.approval_rows(approver=request.user, show_held=False)
    ]
    return Response(api.ApprovalSerializer(rows, many=True).data)


def _decide(request, decide, reject: bool):
    body = api.DecisionSerializer(data=request.data)
    if not body.is_valid():
        raise invalid(body.errors)
    reason = body.validated_data["reason"].strip()
    if reject and not reason:
        raise invalid({"reason": [_("Say why you reject the request: the requester reads it.")]})
    try:
        decide(actor=request.user, reason=reason)
    except errors.InvalidTransition:
        raise conflict(_("Someone already decided this request."), code="already_decided") from None
    except errors.OwnRequest as error:
        raise conflict(str(error), code="own_request") from None
    except errors.QuotaExceeded as error:
        raise conflict(str(error), code="quota_exceeded") from None
    except errors.LeaseOver as error:
        raise conflict(str(error), code="lease_over") from None


DECISIONS = {"approve": False, "reject": True}


@extend_schema(request=api.DecisionSerializer, responses=api.VmSerializer, summary="Decide a VM request")
@api_view(["POST"])
def approval_vm(request, vm_id, decision):
    access.approver_required(request.user)
    vm = get_object_or_404(VirtualMachine, pk=vm_id)
    service = services.vm_approve if decision == "approve" else services.vm_reject
    _decide(request, partial(service, vm_id=vm.pk), DECISIONS[decision])
    return Response(api.VmSerializer(VirtualMachine.objects.select_related(*VM_ROWS).get(pk=vm.pk)).data)


@extend_schema(
    request=api.DecisionSerializer, responses=api.LeaseExtensionSerializer, summary="Decide a lease extension"
)
@api_view(["POST"])
def approval_change(request, change_id, decision):
    access.approver_required(request.user)
    if not ChangeRequest.objects.filter(pk=change_id).exists():
        raise Http404
    service = services.change_request_approve if decision == "approve" else services.change_request_reject
    _decide(request, partial(service, change_id=change_id), DECISIONS[decision])
    return Response(
        api.LeaseExtensionSerializer(ChangeRequest.objects.select_related("requested_by").get(pk=change_id)).data
    )
