from django.urls import path

from vms.web import approvals, audit, views

urlpatterns = [
    path("", views.vm_list, name="vm_list"),
    path("new/", views.vm_request, name="vm_request"),
    path("new/summary/", views.vm_request_summary, name="vm_request_summary"),
    path("new/manifests/", views.vm_request_manifests, name="vm_request_manifests"),
    path("<int:vm_id>/", views.vm_detail, name="vm_detail"),
    path("<int:vm_id>/connection/", views.vm_connection, name="vm_connection"),
    path("<int:vm_id>/manifests.yaml", views.vm_manifests, name="vm_manifests"),
    path("<int:vm_id>/actions/<slug:action>/", views.vm_action, name="vm_action"),
    path("<int:vm_id>/resize/", views.vm_resize, name="vm_resize"),
    path("<int:vm_id>/delete/", views.vm_delete, name="vm_delete"),
    path("<int:vm_id>/lease/", views.vm_extend_lease, name="vm_extend_lease"),
    path("audit/", audit.audit_log, name="audit_log"),
    path("approvals/", approvals.approval_queue, name="approval_queue"),
    path("approvals/vm/<int:vm_id>/", approvals.approval_decide_vm, name="approval_decide_vm"),
    path("approvals/change/<int:change_id>/", approvals.approval_decide_change, name="approval_decide_change"),
]
