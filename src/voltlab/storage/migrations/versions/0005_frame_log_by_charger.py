"""frame log keyed by (charger_id, seq)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 19:30:00.000000

``frame_logs`` loses its global ``id`` and its (charger_id, ts) index: a frame is keyed
by its charger and a per-charger sequence number. One index then serves the inserts,
the API's reads and retention, which deletes a charger's lowest sequence numbers as a
key range computed in memory instead of counting rows and sorting them by time (issue
9: the frame log at >= 50,000 frames/s on SQLite). Every existing frame is kept: its
``seq`` is its rank among its charger's frames in ``id`` order, the order it was written.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voltlab.storage.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DATA = "org_id, direction, action, message, finding, ts"


def _data_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("finding", sa.String(length=255), nullable=True),
        sa.Column("ts", voltlab.storage.base.UTCDateTime(timezone=True), nullable=False),
    ]


def _set_aside(old: str) -> None:
    """Rename the current table out of the way; on PostgreSQL its primary key's index
    too, whose name the new table's primary key takes."""
    op.rename_table("frame_logs", old)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_frame_logs TO pk_{old}")


def upgrade() -> None:
    _set_aside("frame_logs_0004")
    op.create_table(
        "frame_logs",
        sa.Column("charger_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        *_data_columns(),
        sa.PrimaryKeyConstraint("charger_id", "seq", name=op.f("pk_frame_logs")),
    )
    # In id order, so that SQLite appends the rows in the order they were first written.
    op.execute(
        f"INSERT INTO frame_logs (charger_id, seq, {_DATA})"
        " SELECT charger_id, row_number() OVER (PARTITION BY charger_id ORDER BY id),"
        f" {_DATA} FROM frame_logs_0004 ORDER BY id"
    )
    op.drop_table("frame_logs_0004")


def downgrade() -> None:
    _set_aside("frame_logs_0005")
    op.create_table(
        "frame_logs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("charger_id", sa.String(length=36), nullable=False),
        *_data_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frame_logs")),
    )
    # ids in time order (each charger's frames in their own order within a tie).
    op.execute(
        f"INSERT INTO frame_logs (charger_id, {_DATA})"
        f" SELECT charger_id, {_DATA} FROM frame_logs_0005 ORDER BY ts, charger_id, seq"
    )
    op.drop_table("frame_logs_0005")
    with op.batch_alter_table("frame_logs", schema=None) as batch_op:
        batch_op.create_index("ix_frame_logs_charger_ts", ["charger_id", "ts"], unique=False)
