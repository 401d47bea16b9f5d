"""The portal's REST API over HTTP, with timeouts, and its errors as one exception."""

import httpx

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
USER_AGENT = "hikube-gpu/0.1"


class ApiError(Exception):
    """A refusal (4xx) or failure (5xx) of the portal, or no answer at all (status 0)."""

    def __init__(self, status: int, errors: list[dict]):
        self.status = status
        self.errors = errors
        super().__init__(
            "; ".join(
                f"{error['field']}: {error['message']}" if error.get("field") else error["message"] for error in errors
            )
        )

    @property
    def codes(self) -> set[str]:
        return {error.get("code", "") for error in self.errors}


class Portal:
    def __init__(self, url: str, token: str, *, language: str | None = None):
        headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT, "Accept": "application/json"}
        if language:
            headers["Accept-Language"] = language
        self.http = httpx.Client(base_url=url.rstrip("/") + "/api/v1/", headers=headers, timeout=TIMEOUT)

    def call(self, method: str, path: str, *, params: dict | None = None, body: object = None):
        try:
            response = self.http.request(
                method, path, params={k: v for k, v in (params or {}).items() if v is not None}, json=body
            )
        except httpx.HTTPError as error:
            raise ApiError(
                0, [{"field": None, "code": "unreachable", "message": f"cannot reach the portal: {error}"}]
            ) from None
        if response.is_success:
            return response.json()
        try:
            errors = response.json()["errors"]
        except (ValueError, KeyError, TypeError):
            errors = [{"field": None, "code": "http", "message": f"HTTP {response.status_code}"}]
        raise ApiError(response.status_code, errors)

    def get(self, path: str, **params):
        return self.call("GET", path, params=params)

    def post(self, path: str, body: object = None):
        return self.call("POST", path, body=body if body is not None else {})

    def delete(self, path: str):
        return self.call("DELETE", path)
