"""Included at the site root: the GPU page lives under its VM's URL, the fleet pages under
/monitoring/."""

from django.urls import path

from monitoring import views

urlpatterns = [
    path("vms/<int:vm_id>/gpus/", views.vm_gpus, name="vm_gpus"),
    path("vms/<int:vm_id>/gpus/panels/<slug:key>/", views.vm_gpu_panel, name="vm_gpu_panel"),
    path("vms/<int:vm_id>/gpus/energy/", views.vm_gpu_energy, name="vm_gpu_energy"),
    path("monitoring/fleet/", views.fleet, name="fleet"),
    path("monitoring/gpu-hours/", views.gpu_hours, name="gpu_hours"),
]
