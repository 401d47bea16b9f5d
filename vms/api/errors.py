"""Every API error in one JSON shape, never HTML, in the caller's language (Accept-Language):

    {"errors": [{"field": "disks[1].size", "code": "invalid", "message": "…"}]}

`field` is the path of the value at fault in the request's body or query, or null when the
error is about the whole call. Django's own 404 and 500 handlers answer the same way under /api/."""

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from vms.spec.request import NON_FIELD_ERRORS

API_PREFIX = "/api/"


def error_body(errors: list[dict]) -> dict:
    return {"errors": errors}


def _flatten(detail, field: str | None, into: list[dict]) -> None:
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = None if key in (NON_FIELD_ERRORS, "non_field_errors", "detail") else str(key)
            if path and field:
                path = f"{field}[{key}]" if str(key).isdecimal() else f"{field}.{key}"
            _flatten(value, path or field, into)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list) and field is not None
            _flatten(value, f"{field}[{index}]" if nested else field, into)
    else:
        into.append({"field": field, "code": getattr(detail, "code", "invalid"), "message": str(detail)})


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    errors: list[dict] = []
    _flatten(response.data, None, errors)
    response.data = error_body(errors)
    return response


class ApiError(exceptions.APIException):
    """A refusal with its status, code and, when one value is at fault, its field."""

    def __init__(self, message: str, *, status_code: int, code: str, field: str | None = None):
        self.status_code = status_code
        super().__init__({field or "detail": [exceptions.ErrorDetail(message, code=code)]})


def conflict(message: str, *, code: str = "invalid_state") -> ApiError:
    """The resource's state does not allow the call now; reading it again tells why."""
    return ApiError(message, status_code=status.HTTP_409_CONFLICT, code=code)


def invalid(errors: dict[str, list[str]], *, code: str = "invalid") -> exceptions.ValidationError:
    """A 400 with one entry per message, keyed by the path of the value at fault."""
    return exceptions.ValidationError(
        {
            key: [exceptions.ErrorDetail(str(message), code=code) for message in messages]
            for key, messages in errors.items()
        }
    )


def bad_request(request, exception):
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            error_body([{"field": None, "code": "bad_request", "message": _("This request is malformed.")}]), status=400
        )
    return defaults.bad_request(request, exception)


def not_found(request, exception):
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            error_body([{"field": None, "code": "not_found", "message": _("Nothing is at this address.")}]), status=404
        )
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            error_body([{"field": None, "code": "server_error", "message": _("The portal failed; try again later.")}]),
            status=500,
        )
    return defaults.server_error(request)
