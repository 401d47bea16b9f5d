from django.contrib import admin
from django.urls import include, path

from hikube_portal import views
from vms.web import oidc, tokens

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("livez", views.livez, name="livez"),
    path("metrics", views.metrics_view, name="metrics"),
    path("vms/", include("vms.urls")),
    path("api/v1/", include("vms.api.urls")),
    path("account/tokens/", tokens.token_list, name="api_tokens"),
    path("account/tokens/<int:token_id>/revoke/", tokens.token_revoke, name="api_token_revoke"),
    path("accounts/login/", oidc.login, name="login"),
    path("accounts/logout/", oidc.logout, name="logout"),
    path("oidc/authenticate/", oidc.sign_in, name="oidc_authenticate"),
    path("oidc/callback/", oidc.callback, name="oidc_callback"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("monitoring.urls")),
]

# Under /api/ these answer in the API's JSON shape; elsewhere, Django's own pages.
handler400 = "vms.api.errors.bad_request"
handler404 = "vms.api.errors.not_found"
handler500 = "vms.api.errors.server_error"
