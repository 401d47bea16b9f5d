"""The portal's URLs and /bench/bare/: a view that reads the signed-in user and renders nothing,
behind the same middleware (session, auth, CSRF, locale), so that it costs what the framework
costs and the pages are measured against it."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import include, path


@login_required
def bare(request):
    return HttpResponse(f"<p>{request.user.username}</p>")


urlpatterns = [path("bench/bare/", bare), path("", include("hikube_portal.urls"))]
