"""System checks Django runs at start-up (runserver, migrate, check)."""

from django.conf import settings
from django.core.checks import Warning as CheckWarning

SQLITE_ENGINE = "django.db.backends.sqlite3"


def sqlite_does_not_lock_rows(app_configs=None, **kwargs) -> list[CheckWarning]:
    """The services lock rows (select_for_update) so that two processes cannot both take the
    last GPUs of a quota, advance the same waitlist or extend the same lease. SQLite ignores
    those locks: only its whole-database write lock (IMMEDIATE transactions) orders writers."""
    return [
        CheckWarning(
            f"Database {alias!r} is SQLite: select_for_update() does not lock rows there.",
            hint="Fine for `make run` on one machine; use PostgreSQL (DATABASE_URL=postgres://…) in production, "
            "where several web and worker processes write at once.",
            id="hikube.W001",
        )
        for alias, database in settings.DATABASES.items()
        if database["ENGINE"] == SQLITE_ENGINE
    ]
