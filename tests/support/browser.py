"""What browser tests do on the way to what they test, and what every page they visit must not do:
log an error to the console, throw, or have a request fail (status ≥ 400 or no answer)."""

import re

PASSWORD = "s3cret-pass"
# A test that provokes an error on purpose lists it: @pytest.mark.browser_errors_expected(r"regex", ...)
EXPECTED_ERRORS_MARKER = "browser_errors_expected"


def log_in(page, username: str, password: str = PASSWORD):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
    return page


class WatchedBrowser:
    """The session's Chromium, whose every new context records what went wrong on its pages.

    Tests use it as the Playwright Browser; `problems()` lists what no allow-list excuses."""

    def __init__(self, browser, *, expected: tuple[str, ...] = ()):
        self._browser = browser
        self._expected = [re.compile(pattern) for pattern in expected]
        self._seen: list[str] = []
        self._contexts = []

    def __getattr__(self, name):
        return getattr(self._browser, name)

    def new_context(self, **options):
        context = self._browser.new_context(**options)
        context.on("console", self._on_console)
        context.on("weberror", lambda error: self._seen.append(f"uncaught error: {error.error.message}"))
        context.on("response", self._on_response)
        context.on("requestfailed", self._on_request_failed)
        self._contexts.append(context)
        return context

    def _on_console(self, message):
        if message.type == "error":
            self._seen.append(f"console error: {message.text} (at {message.location.get('url', '?')})")

    def _on_request_failed(self, request):
        # Aborted is the page's own doing, not a failure: htmx drops a summary request that a
        # newer one replaces, and leaving a page cancels its polls.
        if request.failure != "net::ERR_ABORTED":
            self._seen.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _on_response(self, response):
        if response.status >= 400:
            self._seen.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def problems(self) -> list[str]:
        return [problem for problem in self._seen if not any(pattern.search(problem) for pattern in self._expected)]

    def close_contexts(self):
        for context in self._contexts:
            context.close()
