"""Signing in through the identity provider's own login page, in Chromium."""

import pytest

from tests.portal.test_sso import CAPTURE_GROUPS, SECRET, sso_settings
from tests.support.oidc_provider import OidcProvider, account, client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_through_the_providers_login_page_lands_home_with_the_teams(
    page, live_server, settings, tmp_path, screenshot
):
    accounts = {"ada": account(groups=CAPTURE_GROUPS, email="ada@example.org", name="Ada Lovelace")}
    with OidcProvider(
        tmp_path / "op", clients=[client("portal", SECRET, portal_url=live_server.url)], accounts=accounts
    ) as provider:
        sso_settings(settings, provider.url)
        # The provider's stock login page links a web font; this machine has no internet, and
        # the page needs none: the stylesheet is answered empty, in the browser.
        page.route("https://fonts.googleapis.com/**", lambda route: route.fulfill(content_type="text/css", body=""))
        page.goto("/")
        page.get_by_role("link", name="Sign in with your organisation's account").click()
        page.wait_for_url(f"{provider.url}/interaction/**")
        page.locator("input[name=login]").fill("ada")
        page.locator("input[name=password]").fill("any password")
        page.get_by_role("button", name="Sign-in").click()
        page.get_by_role("heading", name="Welcome, Ada").wait_for()
        assert page.url == f"{live_server.url}/"
        teams = page.locator("table", has_text="tenant-alpha")
        for team, role in (("alpha", "Member"), ("beta", "Reader"), ("gamma", "Manager")):
            assert teams.locator("tr", has_text=f"tenant-{team}").locator("td", has_text=role).count() == 1
        screenshot(page, "signed-in-through-sso")
