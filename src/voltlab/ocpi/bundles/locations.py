"""A CPO bundle's OCPI locations through the management API: bulk create (a job, from raw
locations or location templates), list, get, patch, delete."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select

from voltlab import catalog
from voltlab.domain.chargers.runtime import provisioning_error
from voltlab.domain.chargers.service import check_catalog
from voltlab.errors import InvalidRequest, NotFound
from voltlab.ids import new_id, utcnow
from voltlab.ocpi.bundles import provision
from voltlab.ocpi.bundles.location_schemas import (
    ChargerSummary,
    EvseSummary,
    LocationFromTemplateIn,
    LocationJobAccepted,
    LocationJobStatus,
    OcpiChargerGroupIn,
    OcpiLocationIn,
    OcpiLocationOut,
    OcpiLocationUpdate,
)
from voltlab.ocpi.countries import alpha3
from voltlab.ocpi.templates import (
    OCPI_STANDARD,
    PlannedCharger,
    PlannedLocation,
    connector_details,
    evse_id_for,
    evse_uid_for,
)
from voltlab.services import Services
from voltlab.storage.models import Charger, Job, Location
from voltlab.storage.ocpi import OcpiBundle, OcpiLocation
from voltlab.storage.repositories import ChargerRepository

log = logging.getLogger(__name__)

JOB_TYPE = "ocpi_locations_bulk_create"


def job_scope(bundle: OcpiBundle) -> str:
    """Jobs are keyed by a location id; a bundle's jobs use this one."""
    return f"ocpi:{bundle.id}"


def _require_cpo(bundle: OcpiBundle) -> None:
    if bundle.role != "CPO":
        raise InvalidRequest(f"bundle {bundle.id} is an eMSP: only CPO bundles have locations")


# ---- reading -------------------------------------------------------------------------


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
    _require_cpo(bundle)
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
    _require_cpo(bundle)
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
    _require_cpo(bundle)
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


# ---- bulk create ---------------------------------------------------------------------


def _tariff_for(bundle: OcpiBundle, current_type: str) -> str:
    tariffs = [t["id"] for t in bundle.tariffs or [] if t.get("id")]
    wanted = "DC" if current_type == "dc" else "AC"
    return next((t for t in tariffs if wanted in t.upper()), tariffs[0] if tariffs else "")


def _planned_charger(
    bundle: OcpiBundle,
    *,
    identity: str,
    name: str,
    brand_slug: str,
    model_slug: str,
    connector_type: str,
    ocpp_version: str,
    power_kw: float | None = None,
) -> PlannedCharger:
    model = catalog.model(brand_slug, model_slug)
    assert model is not None  # checked against the catalog before
    count = model.connector_count
    power_w = round(power_kw * 1000) if power_kw else model.max_power_w
    return PlannedCharger(
        identity=identity,
        charge_point_name=name,
        brand_slug=brand_slug,
        model_slug=model_slug,
        connector_type=connector_type,
        ocpp_version=ocpp_version,
        connector_count=count,
        max_power_w=power_w,
        password=secrets.token_urlsafe(18),
        evse_uids=tuple(evse_uid_for(identity, n, count) for n in range(1, count + 1)),
        evse_ids=tuple(
            evse_id_for(bundle.country_code, bundle.party_id, identity, n)
            for n in range(1, count + 1)
        ),
        tariff_id=_tariff_for(bundle, model.current_type),
        connector_standard=OCPI_STANDARD[connector_type],
        **connector_details(connector_type, model.current_type, power_w),
    )


def _raw_chargers(
    bundle: OcpiBundle, groups: Sequence[OcpiChargerGroupIn], index: int
) -> list[PlannedCharger]:
    planned = []
    for g, group in enumerate(groups):
        t = group.template
        check_catalog(
            t.brand_slug, t.model_slug, t.connector_type, t.ocpp_version,
            prefix=("locations", index, "charges", g, "template"),
        )  # fmt: skip
        for suffix in group.charger_ids:
            identity = f"{t.identity_prefix}{suffix}"
            if len(identity) > 48:
                raise InvalidRequest(f"locations[{index}]: identity {identity!r} is longer than 48")
            name = f"{t.template_name} {suffix}" if t.template_name else identity
            planned.append(
                _planned_charger(
                    bundle,
                    identity=identity,
                    name=name,
                    brand_slug=t.brand_slug,
                    model_slug=t.model_slug,
                    connector_type=t.connector_type,
                    ocpp_version=t.ocpp_version,
                )
            )
    return planned


def _location(
    bundle: OcpiBundle, *, fields: dict[str, Any], chargers: list[PlannedCharger]
) -> PlannedLocation:
    coordinates = fields["coordinates"]
    return PlannedLocation(
        ocpi_id=new_id(),
        name=fields["name"],
        address=fields.get("address") or "",
        city=fields.get("city") or "",
        postal_code=fields.get("postal_code") or "",
        country=fields["country"],
        country_alpha2="",
        coordinates={
            "latitude": f"{float(coordinates['latitude']):.6f}",
            "longitude": f"{float(coordinates['longitude']):.6f}",
        },
        time_zone=fields.get("timezone") or "Europe/Amsterdam",
        parking_type=fields.get("parking_type") or "PARKING_LOT",
        facilities=(),
        tariff_id=chargers[0].tariff_id if chargers else _tariff_for(bundle, "ac"),
        chargers=tuple(chargers),
    )


TEMPLATE_FIELDS = (
    "name",
    "address",
    "city",
    "country",
    "coordinates",
    "timezone",
    "parking_type",
    "postal_code",
)


def _from_template(
    bundle: OcpiBundle, item: LocationFromTemplateIn, index: int, used: set[str]
) -> PlannedLocation:
    template = catalog.location_template(item.template)
    if template is None:
        slugs = ", ".join(t.slug for t in catalog.location_templates())
        raise InvalidRequest(
            f"locations[{index}].template: unknown location template {item.template!r} ({slugs})"
        )
    overrides = item.overrides or {}
    version = overrides.get("ocpp_version")
    if version is not None and version not in ("OCPP1.6", "OCPP2.0.1"):
        raise InvalidRequest(
            f"locations[{index}].overrides.ocpp_version: must be OCPP1.6 or OCPP2.0.1"
        )
    prefix = overrides.get("identity_prefix")
    if prefix is None:
        # Unique per call and per bundle, so the same template can be used many times.
        party = f"{bundle.country_code}{bundle.party_id}"
        prefix = f"{bundle.name_prefix}-{party}-T{secrets.token_hex(2).upper()}-"
    elif not isinstance(prefix, str) or not all(c.isalnum() or c in "._-" for c in prefix):
        raise InvalidRequest(f"locations[{index}].overrides.identity_prefix: [A-Za-z0-9._-] only")
    fields: dict[str, Any] = {
        "name": f"{template.name} {index + 1}",
        "address": "1 Template Street",
        "city": "Amsterdam",
        "country": template.country,
        "coordinates": {"latitude": 52.370216, "longitude": 4.895168},
        "parking_type": template.parking_type,
    }
    for key in TEMPLATE_FIELDS:
        if key in overrides and overrides[key] is not None:
            fields[key] = overrides[key]
    try:
        fields["country"] = alpha3(str(fields["country"]))
        latitude = float(fields["coordinates"]["latitude"])
        longitude = float(fields["coordinates"]["longitude"])
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidRequest(f"locations[{index}].overrides: {exc}") from exc
    fields["coordinates"] = {"latitude": latitude, "longitude": longitude}
    chargers = []
    n = 0
    for group in template.groups:
        for _ in range(group.count):
            n += 1
            identity = f"{prefix}{n:03d}"
            if identity in used:
                raise InvalidRequest(f"locations[{index}]: identity {identity!r} is used twice")
            used.add(identity)
            chargers.append(
                _planned_charger(
                    bundle,
                    identity=identity,
                    name=f"{template.name} {n:03d}",
                    brand_slug=group.brand_slug,
                    model_slug=group.model_slug,
                    connector_type=group.connector_type,
                    ocpp_version=version or group.ocpp_version,
                    power_kw=group.power_kw,
                )
            )
    return _location(bundle, fields=fields, chargers=chargers)


def plan(
    bundle: OcpiBundle, items: Sequence[OcpiLocationIn | LocationFromTemplateIn]
) -> list[PlannedLocation]:
    """Every location of the request, checked before anything is written (a bad item is
    the caller's error: 400/422 naming it)."""
    _require_cpo(bundle)
    used: set[str] = set()
    planned = []
    for index, item in enumerate(items):
        if isinstance(item, LocationFromTemplateIn):
            planned.append(_from_template(bundle, item, index, used))
            continue
        chargers = _raw_chargers(bundle, item.charges or [], index)
        for charger in chargers:
            if charger.identity in used:
                raise InvalidRequest(
                    f"locations[{index}]: identity {charger.identity!r} is used twice"
                )
            used.add(charger.identity)
        planned.append(_location(bundle, fields=item.model_dump(), chargers=chargers))
    return planned


async def create_job(
    services: Services, bundle: OcpiBundle, items: Sequence[Any]
) -> LocationJobAccepted:
    locations = plan(bundle, items)
    job_id = new_id()
    async with services.sessions.begin() as session:
        session.add(
            Job(
                id=job_id,
                org_id=bundle.org_id,
                location_id=job_scope(bundle),
                job_type=JOB_TYPE,
                status="PENDING",
                workflow_run_id=job_id,
                created_at=utcnow(),
            )
        )
    services.tasks.spawn(
        _run_job(services, bundle, job_id, locations), name=f"ocpi-locations-{job_id}"
    )
    return LocationJobAccepted(
        job_id=job_id,
        status="PENDING",
        workflow_run_id=job_id,
        status_url=f"/ocpi/cpos/{bundle.id}/locations/jobs/{job_id}",
    )


async def _set_job(services: Services, job_id: str, **values: Any) -> None:
    async with services.sessions.begin() as session:
        job = await session.get(Job, job_id)
        if job is not None:
            for key, value in values.items():
                setattr(job, key, value)


async def _run_job(
    services: Services, bundle: OcpiBundle, job_id: str, locations: list[PlannedLocation]
) -> None:
    created: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    made: list[dict[str, Any]] = []  # charger rows inserted by this job
    try:
        await _set_job(services, job_id, status="PROVISIONING")
        for index, planned in enumerate(locations):
            identities = [c.identity for c in planned.chargers]
            async with services.sessions() as session:
                taken = await ChargerRepository(session, bundle.org_id).existing_identities(
                    identities
                )
            if taken:
                failed.append(
                    {
                        "index": index,
                        "name": planned.name,
                        "error": f"identities already exist: {', '.join(sorted(taken))}",
                    }
                )
                continue
            rows = await provision.insert_locations(services, bundle, [planned])
            made += rows
            if not await provision.touch(services, bundle):  # destroyed meanwhile
                await provision.abandon(services, bundle, made)
                return
            errors = await provision.start_chargers(services, rows)
            if not await provision.touch(services, bundle):
                await provision.abandon(services, bundle, made)
                return
            created.append(
                {
                    "location_id": planned.ocpi_id,
                    "name": planned.name,
                    "chargers": [{"charger_id": r["id"], "identity": r["identity"]} for r in rows],
                    "errors": errors,
                }
            )
        status = "FAILED" if failed and not created else "READY"
        error = (
            provisioning_error(
                "no_location_created", failed[0]["error"], "create_locations", retryable=False
            )
            if status == "FAILED"
            else None
        )
        await _set_job(
            services,
            job_id,
            status=status,
            error=error,
            results={"created": created, "failed": failed},
            provisioned_at=utcnow(),
        )
    except Exception as exc:  # recorded on the job, never lost in the task
        log.exception("OCPI location job %s failed", job_id)
        if not await provision.touch(services, bundle):  # destroyed meanwhile
            await provision.abandon(services, bundle, made)
            return
        await _set_job(
            services,
            job_id,
            status="FAILED",
            error=provisioning_error(
                "internal_error", f"{type(exc).__name__}: {exc}", "create_locations", retryable=True
            ),
            results={"created": created, "failed": failed},
        )


async def job_status(services: Services, bundle: OcpiBundle, job_id: str) -> LocationJobStatus:
    async with services.sessions() as session:
        job = await session.get(Job, job_id)
    if job is None or job.location_id != job_scope(bundle) or job.org_id != bundle.org_id:
        raise NotFound(f"job {job_id} not found")
    return LocationJobStatus(
        job_id=job.id,
        job_type=job.job_type,
        status=job.status,
        workflow_run_id=job.workflow_run_id,
        error=job.error,
        results=job.results,
        provisioned_at=job.provisioned_at,
    )
