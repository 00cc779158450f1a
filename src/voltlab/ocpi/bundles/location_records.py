"""A CPO bundle's stored OCPI locations as the management API reads and changes them:
list, get, patch (kept in step with the OCPP-side location) and delete (with the location's
chargers)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select

from voltlab import catalog
from voltlab.errors import InvalidRequest, NotFound
from voltlab.ids import utcnow
from voltlab.ocpi.bundles import provision
from voltlab.ocpi.bundles.location_schemas import (
    ChargerSummary,
    EvseSummary,
    OcpiLocationOut,
    OcpiLocationUpdate,
)
from voltlab.ocpi.templates import evse_id_for, evse_uid_for
from voltlab.services import Services
from voltlab.storage.models import Charger, Location
from voltlab.storage.ocpi import OcpiBundle, OcpiLocation
from voltlab.storage.repositories import ChargerRepository


def require_cpo(bundle: OcpiBundle) -> None:
    if bundle.role != "CPO":
        raise InvalidRequest(f"bundle {bundle.id} is an eMSP: only CPO bundles have locations")


def to_out(
    bundle: OcpiBundle, row: OcpiLocation, tenant: Location | None, chargers: Sequence[Charger]
) -> OcpiLocationOut:
    data = row.data
    coordinates = data.get("coordinates") or {}
    summaries = []
    for charger in chargers:
        model = catalog.model(charger.brand_slug, charger.model_slug)
        count = model.connector_count if model else 1
        summaries.append(
            ChargerSummary(
                id=charger.id,
                identity=charger.identity,
                connector_type=charger.connector_type,
                ocpp_version=charger.ocpp_version,
                charge_point_id=charger.identity,
                evses=[
                    EvseSummary(
                        evse_uid=evse_uid_for(charger.identity, n, count),
                        ocpi_evse_id=evse_id_for(
                            bundle.country_code, bundle.party_id, charger.identity, n
                        ),
                    )
                    for n in range(1, count + 1)
                ],
            )
        )
    return OcpiLocationOut(
        id=row.id,
        ocpp_location_id=row.ocpp_location_id,
        organization_id=row.org_id,
        slug=tenant.slug if tenant else None,
        name=data.get("name", ""),
        address=data.get("address"),
        city=data.get("city"),
        postal_code=data.get("postal_code"),
        country=data.get("country"),
        coordinates={
            "latitude": float(coordinates["latitude"]),
            "longitude": float(coordinates["longitude"]),
        }
        if coordinates
        else None,
        timezone=data.get("time_zone"),
        owner_name=data.get("owner_name") or bundle.business_name,
        public=row.publish,
        parking_type=data.get("parking_type"),
        chargers=summaries,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _outs(
    services: Services, bundle: OcpiBundle, rows: Sequence[OcpiLocation]
) -> list[OcpiLocationOut]:
    if not rows:
        return []
    ids = [row.id for row in rows]
    async with services.sessions() as session:
        chargers = list(
            (
                await session.scalars(
                    select(Charger)
                    .where(Charger.ocpi_cpo_id == bundle.id, Charger.ocpi_location_id.in_(ids))
                    .order_by(Charger.created_at, Charger.id)
                )
            ).all()
        )
        tenants = {
            loc.id: loc
            for loc in (
                await session.scalars(
                    select(Location).where(Location.id.in_([r.ocpp_location_id for r in rows]))
                )
            ).all()
        }
    by_location: dict[str, list[Charger]] = {}
    for charger in chargers:
        by_location.setdefault(charger.ocpi_location_id or "", []).append(charger)
    return [
        to_out(bundle, row, tenants.get(row.ocpp_location_id), by_location.get(row.id, []))
        for row in rows
    ]


async def list_page(
    services: Services, bundle: OcpiBundle, page: int, limit: int
) -> tuple[list[OcpiLocationOut], int]:
    require_cpo(bundle)
    async with services.sessions() as session:
        total = await session.scalar(
            select(func.count())
            .select_from(OcpiLocation)
            .where(OcpiLocation.bundle_id == bundle.id)
        )
        rows = list(
            (
                await session.scalars(
                    select(OcpiLocation)
                    .where(OcpiLocation.bundle_id == bundle.id)
                    .order_by(OcpiLocation.created_at, OcpiLocation.id)
                    .offset((page - 1) * limit)
                    .limit(limit)
                )
            ).all()
        )
    return await _outs(services, bundle, rows), total or 0


async def _row(services: Services, bundle: OcpiBundle, location_id: str) -> OcpiLocation:
    require_cpo(bundle)
    async with services.sessions() as session:
        row = await session.get(OcpiLocation, (bundle.id, location_id))
    if row is None:
        raise NotFound(f"location {location_id} not found in OCPI bundle {bundle.id}")
    return row


async def get(services: Services, bundle: OcpiBundle, location_id: str) -> OcpiLocationOut:
    row = await _row(services, bundle, location_id)
    return (await _outs(services, bundle, [row]))[0]


async def update(
    services: Services, bundle: OcpiBundle, location_id: str, body: OcpiLocationUpdate
) -> OcpiLocationOut:
    await _row(services, bundle, location_id)
    changes = body.model_dump(exclude_unset=True)
    async with services.sessions.begin() as session:
        row = await session.get(OcpiLocation, (bundle.id, location_id))
        assert row is not None
        data = dict(row.data)
        for key, value in changes.items():
            if key == "public":
                row.publish = bool(value)
            elif key == "timezone":
                data["time_zone"] = value
            elif key == "coordinates" and value is not None:
                data["coordinates"] = {
                    "latitude": f"{value['latitude']:.6f}",
                    "longitude": f"{value['longitude']:.6f}",
                }
            elif value is None:
                data.pop(key, None)
            else:
                data[key] = value
        row.data = data
        row.updated_at = utcnow()
        tenant = await session.get(Location, row.ocpp_location_id)
        if tenant is not None:  # keep the OCPP-side location in step
            for key in ("name", "address", "city", "country", "owner_name", "timezone"):
                if key in changes and changes[key] is not None:
                    setattr(tenant, key, changes[key])
            if changes.get("coordinates"):
                tenant.latitude = changes["coordinates"]["latitude"]
                tenant.longitude = changes["coordinates"]["longitude"]
            tenant.updated_at = row.updated_at
    return await get(services, bundle, location_id)


async def delete_location(services: Services, bundle: OcpiBundle, location_id: str) -> None:
    """Removes the location, its chargers (stopped) and its tenant location. Idempotent."""
    require_cpo(bundle)
    async with services.sessions() as session:
        row = await session.get(OcpiLocation, (bundle.id, location_id))
        if row is None:
            return
        charger_ids = list(
            (
                await session.scalars(
                    select(Charger.id).where(
                        Charger.ocpi_cpo_id == bundle.id, Charger.ocpi_location_id == location_id
                    )
                )
            ).all()
        )
        identities = list(
            (
                await session.scalars(select(Charger.identity).where(Charger.id.in_(charger_ids)))
            ).all()
        )
    await services.fleet.forget(charger_ids)
    for identity in identities:
        await services.csms.forget(provision.realm(bundle.id), identity)
    async with services.sessions.begin() as session:
        await ChargerRepository(session, bundle.org_id).delete_ids(charger_ids)
        await session.execute(
            delete(OcpiLocation).where(
                OcpiLocation.bundle_id == bundle.id, OcpiLocation.id == location_id
            )
        )
        await session.execute(delete(Location).where(Location.id == row.ocpp_location_id))
