"""Alembic environment: runs on the connection voltlab hands over at start-up."""

from __future__ import annotations

from alembic import context

from voltlab.storage import models  # noqa: F401  (registers the tables)
from voltlab.storage.base import Base

connection = context.config.attributes.get("connection")
if connection is None:
    url = context.config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
