"""Turning a bundle's plan into rows and running chargers, and taking it all down again.

A CPO bundle's locations become tenant locations (for the OCPP side) and OCPI locations;
its chargers are ordinary chargers of the tenant whose ``ws_url`` points at the built-in
CSMS (realm = bundle id), each with its own Basic-auth password. An eMSP bundle's plan is
its tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from voltlab.domain.chargers.runtime import provisioning_error, start_runtimes
from voltlab.ids import new_id, slugify, utcnow
from voltlab.ocpi import urls
from voltlab.ocpi.cpo import hooks
from voltlab.ocpi.templates import BundlePlan, PlannedCharger, PlannedLocation
from voltlab.ocpi.token_store import token_row
from voltlab.services import Services
from voltlab.storage.models import Charger, Job, Location
from voltlab.storage.ocpi import (
    OcpiAuthorization,
    OcpiBundle,
    OcpiCdr,
    OcpiCommand,
    OcpiExchange,
    OcpiLocation,
    OcpiPeer,
    OcpiSession,
    OcpiToken,
)

log = logging.getLogger(__name__)


def realm(bundle_id: int) -> str:
    return str(bundle_id)


async def _progress(services: Services, bundle: OcpiBundle, **values: Any) -> bool:
    """Record ``values`` on the bundle's row; False when the bundle was destroyed meanwhile.
    The run id tells a destroyed bundle from a newer one given the same id (SQLite reuses
    the highest freed id)."""
    async with services.sessions.begin() as session:
        result = await session.execute(
            update(OcpiBundle)
            .where(
                OcpiBundle.id == bundle.id,
                OcpiBundle.workflow_run_id == bundle.workflow_run_id,
            )
            .values(**values, updated_at=utcnow())
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def touch(services: Services, bundle: OcpiBundle) -> bool:
    """Whether the bundle still exists (a write: it waits for a destroy in progress)."""
    return await _progress(services, bundle)


async def abandon(services: Services, bundle: OcpiBundle, rows: Sequence[dict[str, Any]]) -> None:
    """The bundle was destroyed while this run provisioned it: take down what the run made
    after the destroy had looked (rows committed since, runtimes started since)."""
    charger_ids = [row["id"] for row in rows]
    tenant_locations = list({row["location_id"] for row in rows})
    await services.fleet.forget(charger_ids)
    async with services.sessions() as session:
        taken = await session.get(OcpiBundle, bundle.id) is not None
    if not taken:  # else the id already belongs to a newer bundle: leave that one alone
        await destroy(services, bundle)
    async with services.sessions.begin() as session:
        await session.execute(delete(Charger).where(Charger.id.in_(charger_ids)))
        await session.execute(
            delete(OcpiLocation).where(
                OcpiLocation.bundle_id == bundle.id,
                OcpiLocation.ocpp_location_id.in_(tenant_locations),
            )
        )
        await session.execute(delete(Location).where(Location.id.in_(tenant_locations)))


def location_row(bundle: OcpiBundle, planned: PlannedLocation, now: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "org_id": bundle.org_id,
        "slug": slugify(planned.name),
        "name": planned.name,
        "address": planned.address,
        "city": planned.city,
        "country": planned.country,
        "latitude": float(planned.coordinates["latitude"]),
        "longitude": float(planned.coordinates["longitude"]),
        "timezone": planned.time_zone,
        "owner_name": bundle.business_name,
        "public": True,
        "status": "active",
        "created_at": now,
        "updated_at": now,
    }


def ocpi_location_data(planned: PlannedLocation) -> dict[str, Any]:
    """The Location fields the bundle owns (EVSEs are projected from its chargers)."""
    data: dict[str, Any] = {
        "name": planned.name,
        "address": planned.address,
        "city": planned.city,
        "postal_code": planned.postal_code,
        "country": planned.country,
        "coordinates": dict(planned.coordinates),
        "time_zone": planned.time_zone,
        "parking_type": planned.parking_type,
        "facilities": list(planned.facilities),
        "tariff_id": planned.tariff_id,
        # Which tariff prices which chargers (a depot mixes AC and DC prices).
        "tariffs_by_current": {
            ("dc" if charger.power_type == "DC" else "ac"): charger.tariff_id
            for charger in planned.chargers
            if charger.tariff_id
        },
    }
    return {key: value for key, value in data.items() if value is not None}


def charger_row(
    bundle: OcpiBundle,
    planned: PlannedCharger,
    *,
    location_id: str,
    ocpi_location_id: str,
    created_at: Any,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "org_id": bundle.org_id,
        "identity": planned.identity,
        "name": planned.charge_point_name,
        "charge_point_name": planned.charge_point_name,
        "brand_slug": planned.brand_slug,
        "model_slug": planned.model_slug,
        "connector_type": planned.connector_type,
        "ocpp_version": planned.ocpp_version,
        "ws_url": urls.csms_url(bundle.base_url, bundle.id),
        "password": planned.password,
        "location_id": location_id,
        "ocpi_cpo_id": bundle.id,
        "ocpi_location_id": ocpi_location_id,
        "desired_state": "running",
        "provisioning_status": "PROVISIONING",
        "workflow_run_id": bundle.workflow_run_id,
        "created_at": created_at,
        "updated_at": created_at,
    }


async def insert_locations(
    services: Services, bundle: OcpiBundle, locations: Sequence[PlannedLocation]
) -> list[dict[str, Any]]:
    """Insert the tenant and OCPI locations and their chargers (not started); the
    charger rows."""
    now = utcnow()
    charger_rows: list[dict[str, Any]] = []
    async with services.sessions.begin() as session:
        for planned in locations:
            tenant_location = location_row(bundle, planned, now)
            await session.execute(insert(Location), [tenant_location])
            session.add(
                OcpiLocation(
                    id=planned.ocpi_id,
                    bundle_id=bundle.id,
                    org_id=bundle.org_id,
                    ocpp_location_id=tenant_location["id"],
                    publish=True,
                    data=ocpi_location_data(planned),
                    created_at=now,
                    updated_at=now,
                )
            )
            for planned_charger in planned.chargers:
                charger_rows.append(
                    charger_row(
                        bundle,
                        planned_charger,
                        location_id=tenant_location["id"],
                        ocpi_location_id=planned.ocpi_id,
                        # Distinct times keep lists in plan order.
                        created_at=now + timedelta(microseconds=len(charger_rows)),
                    )
                )
        if charger_rows:
            await session.execute(insert(Charger), charger_rows)
    for row in charger_rows:
        services.csms.set_password(realm(bundle.id), row["identity"], row["password"])
    return charger_rows


async def start_chargers(services: Services, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Start the runtimes; marks each charger READY or FAILED; the failures' messages."""
    errors = await start_runtimes(services, [Charger(**values) for values in rows])
    ready = [v["id"] for v in rows if v["id"] not in errors]
    failed = [v["id"] for v in rows if v["id"] in errors]
    finished = utcnow()
    async with services.sessions.begin() as session:
        for ids, values in (
            (ready, {"provisioning_status": "READY", "provisioned_at": finished}),
            (failed, {"provisioning_status": "FAILED", "desired_state": "stopped"}),
        ):
            for start in range(0, len(ids), 500):
                await session.execute(
                    update(Charger).where(Charger.id.in_(ids[start : start + 500])).values(**values)
                )
        for charger_id, error in errors.items():
            await session.execute(
                update(Charger).where(Charger.id == charger_id).values(provisioning_error=error)
            )
    return [error["message"] for error in errors.values()]


async def insert_tokens(services: Services, bundle: OcpiBundle, plan: BundlePlan) -> None:
    rows = [
        token_row(bundle.org_id, bundle.id, token, label=plan.labels.get(token["uid"]))
        for token in plan.tokens
    ]
    if rows:
        async with services.sessions.begin() as session:
            await session.execute(insert(OcpiToken), rows)


async def provision(services: Services, bundle_id: int, plan: BundlePlan) -> None:
    """PENDING -> PROVISIONING -> READY | FAILED, recorded on the bundle row."""
    async with services.sessions() as session:
        bundle = await session.get(OcpiBundle, bundle_id)
    if bundle is None:
        return
    rows: list[dict[str, Any]] = []
    try:
        total = sum(len(location.chargers) for location in plan.locations)
        if not await _progress(
            services,
            bundle,
            status="PROVISIONING",
            progress={
                "current_step": "create_locations",
                "chargers_ready": 0,
                "chargers_total": total,
            },
        ):
            return  # destroyed before it began
        await insert_tokens(services, bundle, plan)
        if bundle.role == "CPO":
            hooks.attach(services, bundle.id)
        rows = await insert_locations(services, bundle, plan.locations)
        if not await _progress(
            services,
            bundle,
            progress={
                "current_step": "start_chargers",
                "chargers_ready": 0,
                "chargers_total": total,
            },
        ):
            await abandon(services, bundle, rows)
            return
        failures = await start_chargers(services, rows)
        ready = len(rows) - len(failures)
        values: dict[str, Any] = {
            "status": "READY",
            "provisioned_at": utcnow(),
            "progress": {"current_step": "done", "chargers_ready": ready, "chargers_total": total},
        }
        if failures:
            values["status"] = "FAILED"
            values["error"] = provisioning_error(
                "charger_start_failed",
                f"{len(failures)} of {total} chargers could not start: {failures[0]}",
                "start_chargers",
                retryable=True,
            )
        if not await _progress(services, bundle, **values):
            await abandon(services, bundle, rows)
    except Exception as exc:  # recorded on the bundle, not lost in a task
        log.exception("provisioning OCPI bundle %s failed", bundle_id)
        if not await _progress(
            services,
            bundle,
            status="FAILED",
            error=provisioning_error(
                "internal_error", f"{type(exc).__name__}: {exc}", "provision", retryable=True
            ),
        ):
            await abandon(services, bundle, rows)


async def destroy(services: Services, bundle: OcpiBundle) -> None:
    """Stop and delete everything the bundle created. Safe to run twice."""
    async with services.sessions() as session:
        charger_ids = list(
            (
                await session.scalars(select(Charger.id).where(Charger.ocpi_cpo_id == bundle.id))
            ).all()
        )
        tenant_locations = list(
            (
                await session.scalars(
                    select(OcpiLocation.ocpp_location_id).where(OcpiLocation.bundle_id == bundle.id)
                )
            ).all()
        )
    await services.fleet.forget(charger_ids)
    await services.csms.remove_realm(realm(bundle.id))
    services.ocpi.exchanges.forget(bundle.id)
    async with services.sessions.begin() as session:
        # The bundle's row goes first: it locks the row, so a provisioning run that is
        # still writing finds it gone when it records its next step, and cleans up after
        # itself (``abandon``) instead of leaving rows this transaction did not see.
        await session.execute(delete(OcpiBundle).where(OcpiBundle.id == bundle.id))
        # Rows a provisioning run or a location job committed since the read above.
        seen = set(charger_ids)
        late = [
            charger_id
            for charger_id in (
                await session.scalars(select(Charger.id).where(Charger.ocpi_cpo_id == bundle.id))
            ).all()
            if charger_id not in seen
        ]
        charger_ids += late
        tenant_locations = list(
            {
                *tenant_locations,
                *(
                    await session.scalars(
                        select(OcpiLocation.ocpp_location_id).where(
                            OcpiLocation.bundle_id == bundle.id
                        )
                    )
                ).all(),
            }
        )
        for start in range(0, len(charger_ids), 500):
            await session.execute(
                delete(Charger).where(Charger.id.in_(charger_ids[start : start + 500]))
            )
        for start in range(0, len(tenant_locations), 500):
            chunk = tenant_locations[start : start + 500]
            # A location the user has since given other chargers stays.
            in_use = set(
                (
                    await session.scalars(
                        select(Charger.location_id).where(Charger.location_id.in_(chunk))
                    )
                ).all()
            )
            await session.execute(
                delete(Location).where(Location.id.in_([i for i in chunk if i not in in_use]))
            )
        for table in (
            OcpiLocation,
            OcpiPeer,
            OcpiToken,
            OcpiAuthorization,
            OcpiSession,
            OcpiCdr,
            OcpiCommand,
            OcpiExchange,
        ):
            await session.execute(delete(table).where(table.bundle_id == bundle.id))
        await session.execute(
            delete(Job).where(Job.location_id == f"ocpi:{bundle.id}", Job.org_id == bundle.org_id)
        )
    # Every charger again, not only the late ones: a provisioning run may have launched
    # runtimes after the first forget (it was awaiting their stored state) and recorded
    # its last step before this transaction took the bundle row, so it will not abandon.
    await services.fleet.forget(charger_ids)
