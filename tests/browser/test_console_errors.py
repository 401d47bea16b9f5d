"""Every page the browser tests visit is checked for console errors and failed requests (the
`browser` fixture); these tests check the check, and the icons browsers fetch on every page."""

import pytest

from tests.support.browser import WatchedBrowser, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT_ICONS = ("/favicon.ico", "/apple-touch-icon.png", "/apple-touch-icon-precomposed.png")


def test_the_watch_reports_a_missing_page_a_script_error_and_an_unanswered_request(chromium, live_server):
    watched = WatchedBrowser(chromium)
    page = watched.new_context(base_url=live_server.url).new_page()
    page.goto("/no-such-page/")
    page.evaluate("setTimeout(() => { throw new Error('boom from the page') })")
    page.evaluate("console.error('logged by the page')")
    page.evaluate("fetch('http://127.0.0.1:9/').catch(() => {})")
    page.wait_for_timeout(500)
    problems = "\n".join(watched.problems())
    watched.close_contexts()
    assert f"HTTP 404: GET {live_server.url}/no-such-page/" in problems
    assert "uncaught error: boom from the page" in problems
    assert "console error: logged by the page" in problems
    assert "request failed: GET http://127.0.0.1:9/: net::ERR_UNSAFE_PORT" in problems


def test_the_allow_list_excuses_only_what_it_names(chromium, live_server):
    watched = WatchedBrowser(chromium, expected=(r"HTTP 404: GET \S+/expected-missing/",))
    page = watched.new_context(base_url=live_server.url).new_page()
    page.goto("/expected-missing/")
    page.goto("/unexpected-missing/")
    problems = watched.problems()
    watched.close_contexts()
    assert [p for p in problems if p.startswith("HTTP 404")] == [f"HTTP 404: GET {live_server.url}/unexpected-missing/"]


def test_pages_link_icons_that_are_served(page, live_server, make_user):
    make_user("alice", "s3cret-pass")
    log_in(page, "alice")
    links = page.locator("link[rel~=icon], link[rel=apple-touch-icon]").evaluate_all("els => els.map(e => e.href)")
    assert len(links) == 3
    for url in [*links, *(live_server.url + path for path in ROOT_ICONS)]:
        response = page.request.get(url)
        assert response.status == 200, url
        assert response.headers["content-type"].startswith("image/"), url
    assert page.request.get(live_server.url + "/favicon.ico").body()[:4] == b"\x00\x00\x01\x00"
    assert page.request.get(live_server.url + "/apple-touch-icon.png").body()[:8] == b"\x89PNG\r\n\x1a\n"
