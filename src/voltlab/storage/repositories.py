"""Tenant-scoped queries. Every repository is built for one org; a router cannot forget
the tenant because nothing here takes an id without it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from voltlab.storage.models import Charger, Command, Job, Location

Row = TypeVar("Row", Location, Charger, Job, Command)


def storable(text: str) -> bool:
    """Whether ``text`` can be bound as a parameter on every backend (no NUL, valid UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Scoped(Generic[Row]):
    model: type[Row]

    def __init__(self, session: AsyncSession, org_id: str) -> None:
        self.session = session
        self.org_id = org_id

    async def get(self, row_id: str) -> Row | None:
        if not storable(row_id):
            return None  # an id no row can have (PostgreSQL would refuse to compare it)
        return await self.session.scalar(
            select(self.model).where(
                self.model.id == row_id,
                self.model.org_id == self.org_id,
            )
        )

    def add(self, row: Row) -> None:
        row.org_id = self.org_id
        self.session.add(row)

    async def page(self, page: int, limit: int, *conditions: Any) -> tuple[Sequence[Row], int]:
        where = (self.model.org_id == self.org_id, *conditions)
        total = await self.session.scalar(
            select(func.count()).select_from(self.model).where(*where)
        )
        rows = await self.session.scalars(
            select(self.model)
            .where(*where)
            .order_by(self.model.created_at, self.model.id)
            .limit(limit)
            .offset((page - 1) * limit)
        )
        return rows.all(), int(total or 0)


class LocationRepository(_Scoped[Location]):
    model = Location

    async def charger_count(self, location_id: str) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(Charger)
                .where(Charger.org_id == self.org_id, Charger.location_id == location_id)
            )
            or 0
        )


class ChargerRepository(_Scoped[Charger]):
    model = Charger

    async def by_identity(self, identity: str) -> Charger | None:
        return await self.session.scalar(
            select(Charger).where(Charger.org_id == self.org_id, Charger.identity == identity)
        )

    async def existing_identities(self, identities: Sequence[str]) -> set[str]:
        found: set[str] = set()
        # Chunked: SQLite caps the number of bound parameters per statement.
        for start in range(0, len(identities), 500):
            chunk = identities[start : start + 500]
            rows = await self.session.scalars(
                select(Charger.identity).where(
                    Charger.org_id == self.org_id, Charger.identity.in_(chunk)
                )
            )
            found.update(rows.all())
        return found

    async def many(self, ids: Sequence[str]) -> list[Charger]:
        ids = [i for i in ids if storable(i)]
        out: list[Charger] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await self.session.scalars(
                select(Charger).where(Charger.org_id == self.org_id, Charger.id.in_(chunk))
            )
            out.extend(rows.all())
        return out

    async def in_location(self, location_id: str) -> list[Charger]:
        rows = await self.session.scalars(
            select(Charger)
            .where(Charger.org_id == self.org_id, Charger.location_id == location_id)
            .order_by(Charger.created_at, Charger.id)
        )
        return list(rows.all())

    async def delete_ids(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            await self.session.execute(
                delete(Charger).where(Charger.org_id == self.org_id, Charger.id.in_(chunk))
            )


class JobRepository(_Scoped[Job]):
    model = Job


class CommandRepository(_Scoped[Command]):
    model = Command


async def chargers_to_resume(session: AsyncSession) -> list[Charger]:
    """Across tenants, for start-up only: every charger whose desired state is running."""
    rows = await session.scalars(select(Charger).where(Charger.desired_state == "running"))
    return list(rows.all())


async def bundle_charger_credentials(session: AsyncSession) -> list[tuple[int, str, str | None]]:
    """Across tenants, for start-up only: (bundle id, identity, password) of every charger
    of an OCPI CPO bundle."""
    rows = await session.execute(
        select(Charger.ocpi_cpo_id, Charger.identity, Charger.password).where(
            Charger.ocpi_cpo_id.is_not(None)
        )
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def cpo_bundle_ids(session: AsyncSession) -> list[int]:
    """Across tenants, for start-up only: every OCPI CPO bundle."""
    from voltlab.storage.ocpi import OcpiBundle

    rows = await session.scalars(select(OcpiBundle.id).where(OcpiBundle.role == "CPO"))
    return list(rows.all())


async def chargers_of_bundle(
    session: AsyncSession, bundle_id: int, location_id: str | None = None
) -> list[Charger]:
    """The chargers of an OCPI CPO bundle (of one of its OCPI locations), in plan order."""
    query = select(Charger).where(Charger.ocpi_cpo_id == bundle_id)
    if location_id is not None:
        query = query.where(Charger.ocpi_location_id == location_id)
    rows = await session.scalars(query.order_by(Charger.created_at, Charger.id))
    return list(rows.all())
