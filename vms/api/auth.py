"""Who calls the API, and how often: a personal access token (`Authorization: Bearer hkp_…`)
or the portal's session (with its CSRF check), a token's scope, and a rate per caller."""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions, permissions, throttling

from vms.governance.tokens import api_token_find, api_token_use
from vms.models import ApiToken

BEARER = "Bearer"


class TokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0] != BEARER:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send the token as “Authorization: Bearer <token>”."))
        token = api_token_find(header[1])
        if token is None:
            raise exceptions.AuthenticationFailed(_("This token is unknown, expired or revoked."))
        api_token_use(token=token, ip=request.META.get("REMOTE_ADDR"))
        return token.user, token

    def authenticate_header(self, request):
        # A 401 rather than a 403 for a call without credentials, as HTTP wants.
        return f'{BEARER} realm="api"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The portal's own pages call the API with their session; the CSRF check stays on."""


class TokenScope(permissions.BasePermission):
    """Signed in, and a read-only token only reads."""

    message = _("This token is read-only: create a read and write token to change anything.")

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return token is None or token.scope == ApiToken.Scope.WRITE or request.method in permissions.SAFE_METHODS


class CallerRateThrottle(throttling.SimpleRateThrottle):
    """API_RATE_LIMIT calls per token, per signed-in user on the session, or per address."""

    scope = "api"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
