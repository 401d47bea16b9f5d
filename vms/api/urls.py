from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from vms.api import views
from vms.governance import lifecycle

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="api_schema"),
    path(
        "docs/", SpectacularSwaggerView.as_view(url_name="api_schema", permission_classes=[AllowAny]), name="api_docs"
    ),
    path(
        "redoc/", SpectacularRedocView.as_view(url_name="api_schema", permission_classes=[AllowAny]), name="api_redoc"
    ),
    path("me/", views.me, name="api_me"),
    path("catalogue/", views.catalogue, name="api_catalogue"),
    path("vms/", views.vms, name="api_vms"),
    path("vms/<int:vm_id>/", views.vm, name="api_vm"),
    *(
        path(
            f"vms/<int:vm_id>/{action.replace('_', '-')}/", views.vm_action, {"action": action}, name=f"api_vm_{action}"
        )
        for action in lifecycle.VM_ACTIONS
    ),
    path("vms/<int:vm_id>/resize/", views.vm_resize, name="api_vm_resize"),
    path("vms/<int:vm_id>/lease/", views.vm_lease, name="api_vm_lease"),
    path("vms/<int:vm_id>/connection/", views.vm_connection, name="api_vm_connection"),
    path("vms/<int:vm_id>/manifests/", views.vm_manifests, name="api_vm_manifests"),
    path("vms/<int:vm_id>/gpus/", views.vm_gpus, name="api_vm_gpus"),
    path("approvals/", views.approvals, name="api_approvals"),
    *(
        path(
            f"approvals/vms/<int:vm_id>/{decision}/",
            views.approval_vm,
            {"decision": decision},
            name=f"api_vm_{decision}",
        )
        for decision in views.DECISIONS
    ),
    *(
        path(
            f"approvals/changes/<int:change_id>/{decision}/",
            views.approval_change,
            {"decision": decision},
            name=f"api_change_{decision}",
        )
        for decision in views.DECISIONS
    ),
]
