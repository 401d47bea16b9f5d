"""Kubernetes `Status` failures, raised anywhere and rendered by the HTTP layer."""


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status


def not_found(kind, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{kind.qualified} "{name}" not found',
        {"name": name, "group": kind.group, "kind": kind.plural},
    )


def already_exists(kind, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{kind.qualified} "{name}" already exists',
        {"name": name, "group": kind.group, "kind": kind.plural},
    )


def conflict(kind, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        {"name": name, "group": kind.group, "kind": kind.plural},
    )


def invalid(kind, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """`causes` are (field, message) pairs, rendered the way the API server words them."""
    summary = ", ".join(f"{field}: {message}" for field, message in causes)
    label = f"{kind.kind}.{kind.group}" if kind.group else kind.kind
    return ApiError(
        422,
        "Invalid",
        f'{label} "{name}" is invalid: {summary}',
        {
            "name": name,
            "group": kind.group,
            "kind": kind.kind,
            "causes": [
                {"reason": "FieldValueInvalid", "message": message, "field": field} for field, message in causes
            ],
        },
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
