"""PostgreSQL administration for tests: databases of their own on the test server."""

from __future__ import annotations

from sqlalchemy.engine import make_url


async def pg_admin(url: str, statement: str) -> None:
    """Run ``statement`` (CREATE / DROP DATABASE) on the server of ``url``, outside any
    transaction, connected to its ``postgres`` database."""
    import asyncpg

    parsed = make_url(url).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(parsed.render_as_string(hide_password=False))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
