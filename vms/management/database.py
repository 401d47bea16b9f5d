"""Commands that read or write the portal's tables: on a fresh checkout (or after a pull that
brought migrations) they say what to run first instead of failing on a missing table."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor


def require_migrated(database: str = DEFAULT_DB_ALIAS) -> None:
    """Raise CommandError, in one line, unless every migration is applied to `database`."""
    try:
        executor = MigrationExecutor(connections[database])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        raise CommandError(f"Cannot read the database ({error}): check DATABASE_URL.") from None
    if pending:
        raise CommandError(
            f"The database is missing {len(pending)} migration(s): run "
            "`python manage.py migrate` first (with DEBUG=1 in development)."
        )


class DatabaseCommand(BaseCommand):
    def execute(self, *args, **options):
        require_migrated()
        return super().execute(*args, **options)
