"""Locations: create, read, partial update, delete (409 while chargers remain)."""

from __future__ import annotations

from voltlab.domain.locations.schemas import (
    Coordinates,
    LocationCreate,
    LocationOut,
    LocationUpdate,
)
from voltlab.errors import Conflict, NotFound
from voltlab.ids import new_id, slugify, utcnow
from voltlab.services import Services
from voltlab.storage.models import Location
from voltlab.storage.repositories import ChargerRepository, LocationRepository


def to_out(row: Location) -> LocationOut:
    coordinates = None
    if row.latitude is not None and row.longitude is not None:
        coordinates = Coordinates(latitude=row.latitude, longitude=row.longitude)
    return LocationOut(
        id=row.id,
        slug=row.slug,
        name=row.name,
        address=row.address,
        city=row.city,
        country=row.country,
        coordinates=coordinates,
        timezone=row.timezone,
        owner_name=row.owner_name,
        public=row.public,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def new_location(repo: LocationRepository, body: LocationCreate) -> Location:
    now = utcnow()
    row = Location(
        id=new_id(),
        slug=slugify(body.name),
        name=body.name,
        address=body.address,
        city=body.city,
        country=body.country,
        latitude=body.coordinates.latitude if body.coordinates else None,
        longitude=body.coordinates.longitude if body.coordinates else None,
        timezone=body.timezone,
        owner_name=body.owner_name,
        public=True if body.public is None else body.public,
        status="active",
        created_at=now,
        updated_at=now,
    )
    repo.add(row)
    return row


async def get(repo: LocationRepository, location_id: str) -> Location:
    row = await repo.get(location_id)
    if row is None:
        raise NotFound(f"location {location_id} not found")
    return row


async def update(repo: LocationRepository, location_id: str, body: LocationUpdate) -> Location:
    row = await get(repo, location_id)
    changes = body.model_dump(exclude_unset=True)
    if "coordinates" in changes:
        coordinates = body.coordinates
        row.latitude = coordinates.latitude if coordinates else None
        row.longitude = coordinates.longitude if coordinates else None
        changes.pop("coordinates")
    for field, value in changes.items():
        if field in ("name", "public", "status", "slug") and value is None:
            continue  # required columns: an explicit null leaves them as they are
        setattr(row, field, value)
    row.updated_at = utcnow()
    return row


async def delete(services: Services, org_id: str, location_id: str, *, cascade: bool) -> None:
    """Idempotent: an id already gone is fine. Refused while chargers remain, unless
    ``cascade``, which stops and deletes them too."""
    stopped: list[str] = []
    async with services.sessions.begin() as session:
        locations = LocationRepository(session, org_id)
        row = await locations.get(location_id)
        if row is None:
            return
        count = await locations.charger_count(location_id)
        if count and not cascade:
            raise Conflict(
                f"location {location_id} still has {count} charger(s); delete them first "
                "or pass ?cascade=true"
            )
        chargers = ChargerRepository(session, org_id)
        stopped = [c.id for c in await chargers.in_location(location_id)]
        await chargers.delete_ids(stopped)
        await session.delete(row)
    await services.fleet.forget(stopped)
