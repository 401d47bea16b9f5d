"""The personal access tokens page: create one (shown once), see when each was last used, revoke."""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from vms import errors
from vms.governance.tokens import api_token_create, api_token_revoke
from vms.models import ApiToken

LIFETIMES_DAYS = (7, 30, 90, 365)


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("What the token is for, e.g. “CI pipeline”."))
    scope = forms.ChoiceField(label=_("Scope"), choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    lifetime_days = forms.TypedChoiceField(label=_("Expires after"), coerce=int, initial=30)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        lifetimes = [days for days in LIFETIMES_DAYS if days <= settings.API_TOKEN_MAX_DAYS]
        self.fields["lifetime_days"].choices = [
            (days, _t("%(days)d days") % {"days": days}) for days in lifetimes or [settings.API_TOKEN_MAX_DAYS]
        ]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_t("Give the token a name."))
        return name


def _render(request, form, *, created=None, status=200):
    tokens = ApiToken.objects.filter(user=request.user).order_by("revoked_at", "-created_at", "-id")
    context = {"form": form, "tokens": tokens, "created": created, "now": timezone.now()}
    return render(request, "vms/api_tokens.html", context, status=status)


@login_required
def token_list(request):
    if request.method != "POST":
        return _render(request, TokenForm())
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _render(request, form, status=422 if request.htmx else 200)
    created = api_token_create(
        user=request.user,
        name=form.cleaned_data["name"],
        scope=form.cleaned_data["scope"],
        expires_at=timezone.now() + timedelta(days=form.cleaned_data["lifetime_days"]),
    )
    # Answered here rather than after a redirect: the secret is shown once and kept nowhere.
    response = _render(request, TokenForm(), created=created)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request, token_id):
    try:
        token = api_token_revoke(token_id=token_id, user=request.user)
    except errors.InvalidTransition:
        messages.warning(request, _t("This token is already revoked."))
    else:
        messages.success(request, _t("The token “%(name)s” is revoked.") % {"name": token.name})
    return redirect("api_tokens")
