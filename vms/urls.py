from django.urls import path

from vms import views

urlpatterns = [
    path("", views.vm_list, name="vm_list"),
    path("new/", views.vm_request, name="vm_request"),
    path("new/summary/", views.vm_request_summary, name="vm_request_summary"),
    path("new/manifests/", views.vm_request_manifests, name="vm_request_manifests"),
    path("<int:vm_id>/", views.vm_detail, name="vm_detail"),
    path("<int:vm_id>/connection/", views.vm_connection, name="vm_connection"),
]
