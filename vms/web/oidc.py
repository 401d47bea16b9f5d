"""Single sign-on with the platform's OpenID Connect provider (Cozystack's Keycloak), through
mozilla-django-oidc: the authorization code flow with PKCE, state and nonce, the ID token's
signature checked against the provider's JWKS, and its issuer, audience and expiry checked too
(the library leaves the audience unchecked). The endpoints come from the provider's discovery
document. At every sign-in the groups claim sets the user's teams and roles
(vms.governance.identity). A refused sign-in says why on a page of its own and writes nothing."""

import logging
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.http import require_POST
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from hikube_portal.oidc_provider import ProviderError, provider_metadata
from vms.governance.identity import GroupPolicy, identity_sync, identity_user

logger = logging.getLogger(__name__)

# The library's endpoint settings, read from the discovery document instead.
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
LEEWAY_SECONDS = 30


class SignInRefused(SuspiciousOperation):
    """A sign-in the portal refuses, with what to tell the person."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def metadata() -> dict:
    return provider_metadata(settings.OIDC_PROVIDER_URL, timeout=settings.OIDC_TIMEOUT)


def oidc_setting(name: str, *default):
    if name in DISCOVERED:
        return metadata().get(DISCOVERED[name], *default) if default else metadata()[DISCOVERED[name]]
    if name == "OIDC_TIMEOUT":
        return settings.OIDC_TIMEOUT
    return import_from_settings(name, *default)


def group_policy() -> GroupPolicy:
    return GroupPolicy(
        approver_groups=frozenset(settings.OIDC_APPROVER_GROUPS),
        admin_groups=frozenset(settings.OIDC_ADMIN_GROUPS),
        create_teams=settings.OIDC_CREATE_TEAMS,
    )


class OidcBackend(OIDCAuthenticationBackend):
    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        # Django builds a backend for every request of a signed-in user: the provider's
        # endpoints are looked up only when a sign-in needs them, never to serve a page.
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self):
        return metadata()["token_endpoint"]

    @property
    def OIDC_OP_USER_ENDPOINT(self):
        return metadata().get("userinfo_endpoint")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self):
        return metadata()["jwks_uri"]

    def _verify_jws(self, payload, key):
        """The signature, and what the library leaves out: the issuer, the audience, the expiry."""
        try:
            return jwt.decode(
                payload,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=metadata()["issuer"],
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise SignInRefused(_("The identity provider's token has expired.")) from None
        except jwt.InvalidAudienceError:
            raise SignInRefused(_("The identity provider's token was issued to another application.")) from None
        except jwt.InvalidIssuerError:
            raise SignInRefused(_("The token comes from another identity provider.")) from None
        except jwt.InvalidSignatureError:
            raise SignInRefused(_("The token's signature is not the identity provider's.")) from None
        except jwt.InvalidTokenError as error:
            raise SignInRefused(_("The identity provider's token is not valid (%(why)s).") % {"why": error}) from None

    def verify_token(self, token, **kwargs):
        try:
            return super().verify_token(token, **kwargs)
        except SignInRefused:
            raise
        except SuspiciousOperation as error:
            raise SignInRefused(_("The identity provider's token is not valid (%(why)s).") % {"why": error}) from None

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims, completed by the userinfo endpoint's (Keycloak may put the
        groups in either); the subject must be the same in both."""
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = super().get_userinfo(access_token, id_token, payload)
            if userinfo.get("sub") != payload.get("sub"):
                raise SignInRefused(_("The identity provider described two different people."))
            claims.update({key: value for key, value in userinfo.items() if key not in ("iss", "aud")})
        claims["iss"] = payload["iss"]
        return claims

    def verify_claims(self, claims):
        groups = claims.get(settings.OIDC_GROUPS_CLAIM)
        if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
            raise SignInRefused(
                _(
                    "The identity provider sent no “%(claim)s” claim, so the portal cannot tell your teams. "
                    "An administrator adds the group membership mapper to the portal's client."
                )
                % {"claim": settings.OIDC_GROUPS_CLAIM}
            )
        return True

    def get_or_create_user(self, access_token, id_token, payload):
        # The library logs and swallows refusals raised here: the page must still say why.
        try:
            return self._user_from(access_token, id_token, payload)
        except SignInRefused as refusal:
            self.request.oidc_refusal = refusal.reason
            raise

    def _user_from(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        self.verify_claims(claims)
        with transaction.atomic():
            user = identity_user(
                issuer=claims["iss"],
                subject=claims["sub"],
                username=claims.get("preferred_username") or claims.get("email") or "",
                email=claims.get("email", ""),
                first_name=claims.get("given_name") or (claims.get("name") or "").partition(" ")[0],
                last_name=claims.get("family_name") or (claims.get("name") or "").partition(" ")[2],
            )
            if not user.is_active:
                raise SignInRefused(_("Your account is disabled in the portal; ask an administrator."))
            identity_sync(user=user, groups=claims[settings.OIDC_GROUPS_CLAIM], policy=group_policy())
        return user

    def authenticate(self, request, **kwargs):
        """Keeps why a sign-in failed on the request, for the page that says it, and no token
        of a refused sign-in in the session (the library stores it before the last checks)."""
        user = None
        try:
            user = super().authenticate(request, **kwargs)
        except SignInRefused as refusal:
            request.oidc_refusal = refusal.reason
        except requests.HTTPError as error:
            logger.warning("the identity provider refused the code: %s", error)
            request.oidc_refusal = _("The identity provider refused this sign-in (a code used twice, or too late).")
        except (requests.RequestException, ProviderError) as error:
            logger.warning("identity provider unreachable: %s", error)
            request.oidc_refusal = _("The identity provider does not answer; try again in a moment.")
        if user is None and request is not None and hasattr(request, "session"):
            request.session.pop("oidc_id_token", None)
        return user


class SignInView(OIDCAuthenticationRequestView):
    get_settings = staticmethod(oidc_setting)

    def __init__(self, **kwargs):
        # The library reads the provider's endpoint here; get() does, where a failure has a page.
        View.__init__(self, **kwargs)

    def get(self, request):
        if not settings.SSO_ENABLED:
            raise Http404
        try:
            self.OIDC_OP_AUTH_ENDPOINT = metadata()["authorization_endpoint"]
            self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
            return super().get(request)
        except ProviderError as error:
            logger.warning("identity provider unreachable: %s", error)
            return _refused(request, _("The identity provider does not answer; try again in a moment."), status=503)


class CallbackView(OIDCAuthenticationCallbackView):
    get_settings = staticmethod(oidc_setting)

    def get(self, request):
        if not settings.SSO_ENABLED:
            raise Http404
        try:
            return super().get(request)
        except SuspiciousOperation:
            # The state is not one this browser started: an old or replayed link.
            return _refused(request, _("This sign-in link was already used or was not started here; sign in again."))

    def login_failure(self):
        error = self.request.GET.get("error_description") or self.request.GET.get("error")
        reason = getattr(self.request, "oidc_refusal", None) or (
            _("The identity provider said: %(error)s") % {"error": error[:200]}
            if error
            else _("The sign-in did not complete; sign in again.")
        )
        return _refused(self.request, reason)


def _refused(request, reason: str, *, status: int = 403):
    return render(request, "registration/sso_refused.html", {"reason": reason}, status=status)


sign_in = SignInView.as_view()
callback = CallbackView.as_view()


def login(request):
    """The login page: the SSO button when SSO is on; the local form when local accounts are."""
    if request.method == "POST" and not settings.LOCAL_LOGIN:
        return _refused(request, _("Local accounts are turned off: sign in with single sign-on."))
    context = {"sso_enabled": settings.SSO_ENABLED, "local_login": settings.LOCAL_LOGIN}
    return auth_views.LoginView.as_view(redirect_authenticated_user=True, extra_context=context)(request)


@require_POST
def logout(request):
    """Signs out of the portal and, after an SSO sign-in, of the provider (RP-initiated logout)."""
    id_token = request.session.get("oidc_id_token")
    auth.logout(request)
    if not (settings.SSO_ENABLED and id_token):
        return redirect(settings.LOGOUT_REDIRECT_URL)
    try:
        end_session = metadata().get("end_session_endpoint")
    except ProviderError:
        end_session = None
    if not end_session:
        return redirect(settings.LOGOUT_REDIRECT_URL)
    login_url = request.build_absolute_uri(reverse(settings.LOGOUT_REDIRECT_URL))
    query = urlencode(
        {"id_token_hint": id_token, "post_logout_redirect_uri": login_url, "client_id": settings.OIDC_RP_CLIENT_ID}
    )
    return redirect(f"{end_session}?{query}")
