"""Persistence: SQLAlchemy models, engine, migrations, repositories and the frame log."""
