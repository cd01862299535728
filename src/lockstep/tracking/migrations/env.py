"""Alembic's entry point for the tracking database.

``TrackingStore.open`` runs the migrations itself, on its own connection, passed
in ``config.attributes["connection"]``. In offline mode (``alembic upgrade head
--sql``, to hand the SQL to a database administrator) the URL comes from
``-x uri=…``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection


def _configure(**kwargs: object) -> None:
    context.configure(
        transactional_ddl=True,  # SQLite too: a failed migration leaves nothing behind
        transaction_per_migration=True,
        **kwargs,  # type: ignore[arg-type]
    )


def run_offline() -> None:
    _configure(url=context.get_x_argument(as_dictionary=True).get("uri"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online(context.config.attributes["connection"])
