"""Fixtures shared by the whole suite: a real Celery worker and a real browser."""

import importlib
import os
import shutil
from pathlib import Path

import pytest
from django.apps import apps
from django.core.cache import cache
from hypothesis import settings as hypothesis_settings

from tests.support.browser import EXPECTED_ERRORS_MARKER, WatchedBrowser
from tests.support.worker import ARTIFACTS, REPO, Worker, database_url
from vms.catalogue.version import catalogue_changed

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# around it are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
INITIAL_MIGRATION = importlib.import_module("vms.migrations.0001_squashed")

# Property tests (tests/fuzz): `ci`, what `make test` runs, is derandomised (the same inputs every
# run, so a failure reproduces) and keeps no example database; `deep` explores ten times further.
hypothesis_settings.register_profile(
    "ci", max_examples=100, deadline=None, derandomize=True, database=None, print_blob=True
)
hypothesis_settings.register_profile("deep", max_examples=1000, deadline=None, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(autouse=True, scope="session")
def _cache_of_this_run():
    """A user id of an earlier run is another user in this one: nothing an earlier run kept in
    the test Redis (an approver's flag, a user's roles: vms.rights_cache) may stand."""
    cache.clear()


@pytest.fixture(autouse=True)
def _catalogue_after_flush(request):
    """Transactional tests flush the database afterwards, data migrations included: put the
    seed catalogue back, as the initial migration loads it, for the tests that run on committed data."""
    marker = request.node.get_closest_marker("django_db")
    transactional_marker = marker is not None and (marker.kwargs.get("transaction") or marker.args[:1] == (True,))
    if not transactional_marker and not {"transactional_db", "live_server"} & set(request.fixturenames):
        return
    request.getfixturevalue("transactional_db")
    INITIAL_MIGRATION.load_catalogue(apps, None)


@pytest.fixture(autouse=True)
def _catalogue_read_afresh(_catalogue_after_flush):
    """Each test's catalogue rows are its own (new ids after a flush, rows it creates): the
    processes' cached copies (vms.catalogue.loading) are told, as an admin change tells them."""
    catalogue_changed()


@pytest.fixture
def celery_worker(transactional_db, settings):
    """A real `celery worker` process consuming the test Redis, reading the test database.

    Tests using it commit their data (transactional_db) so the worker process can see it."""
    from hikube_portal.celery import app

    app.control.purge()
    worker = Worker(database_url=database_url(), redis_url=settings.REDIS_URL, log_name="celery-worker")
    worker.start()
    try:
        yield worker.process
    finally:
        worker.stop()
        app.control.purge()


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium, request):
    """Chromium for one test: the test fails if a page it opened logged a console error, threw,
    or saw a request fail, unless the test's browser_errors_expected marker lists it."""
    marker = request.node.get_closest_marker(EXPECTED_ERRORS_MARKER)
    watched = WatchedBrowser(chromium, expected=marker.args if marker else ())
    yield watched
    # What happened while the test ran, before closing aborts what was still in flight.
    problems = watched.problems()
    watched.close_contexts()
    if problems:
        pytest.fail("the browser saw errors:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(15_000)
    # The browser fixture closes the context once it has read what the pages logged.
    return context.new_page()


@pytest.fixture
def screenshot(request):
    """A full-page screenshot in test-artifacts/. With SCREENSHOTS=1 (`make screenshots`), one
    given a `docs` name is also written to docs/screenshots/ for README, as a reader's screen
    shows it (the viewport)."""

    def take(page, name, *, docs=None):
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if docs and os.environ.get("SCREENSHOTS") == "1":
            page.screenshot(path=str(DOCS_SCREENSHOTS / f"{docs}.png"), animations="disabled", caret="hide")
        return path

    return take


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    def make(username="user", password="pw-for-tests", **extra):
        return get_user_model().objects.create_user(username=username, password=password, **extra)

    return make
