import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_log_in_and_read_the_home_page_in_english_and_french(page, make_user, screenshot):
    from vms.models import Membership, Team

    user = make_user("alice", "s3cret-pass", first_name="Alice")
    Membership.objects.create(team=Team.objects.create(name="ml-research"), user=user)

    page.goto("/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("s3cret-pass")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Welcome, Alice").wait_for()
    assert page.get_by_text("tenant-ml-research").is_visible()

    page.get_by_role("button", name="FR").click()
    page.get_by_role("heading", name="Bienvenue, Alice").wait_for()
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_role("heading", name="Vos équipes").is_visible()
    screenshot(page, "home-fr")
