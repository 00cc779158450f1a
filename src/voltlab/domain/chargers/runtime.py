"""Bringing a charger row to life in the fleet, and reading its runtime back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from voltlab import catalog
from voltlab.domain.chargers.schemas import Runtime
from voltlab.errors import CapacityExceeded
from voltlab.ids import utcnow
from voltlab.services import Services
from voltlab.simulator import RuntimeSnapshot, StationSpec
from voltlab.simulator.spec import connectors_for
from voltlab.storage.models import Charger

log = logging.getLogger(__name__)

WIRE_VERSION = {"OCPP1.6": "1.6", "OCPP2.0.1": "2.0.1"}

# Specs built per slice of the event loop when starting many (the API shares the loop).
CHUNK = 500


class ChargerRow(Protocol):
    """What a station spec is built from: a ``Charger`` row, or the values of one that
    was just inserted (a bulk job does not build 10,000 ORM objects to read them back)."""

    id: str
    org_id: str
    identity: str
    brand_slug: str
    model_slug: str
    ocpp_version: str
    ws_url: str
    password: str | None
    ca_cert: str | None
    client_cert: str | None
    client_key: str | None
    heartbeat_interval_s: int | None
    meter_interval_s: int | None


def station_spec(row: ChargerRow, services: Services) -> StationSpec:
    model = catalog.model(row.brand_slug, row.model_slug)
    if model is None:  # the catalog shrank under an existing charger
        raise LookupError(f"catalog model {row.brand_slug}/{row.model_slug} no longer exists")
    version = WIRE_VERSION[row.ocpp_version]
    settings = services.settings
    return StationSpec(
        charger_id=row.id,
        org_id=row.org_id,
        identity=row.identity,
        ocpp_version=version,
        ws_url=row.ws_url,
        vendor_name=model.vendor_name,
        model_name=model.model_name,
        connectors=connectors_for(version, model.connector_count),
        max_power_w=model.max_power_w,
        password=row.password,
        ca_cert_pem=row.ca_cert,
        client_cert_pem=row.client_cert,
        client_key_pem=row.client_key,
        heartbeat_interval_s=row.heartbeat_interval_s or settings.default_heartbeat_interval_s,
        meter_interval_s=row.meter_interval_s or settings.default_meter_interval_s,
        serial_number=f"VL-{row.id[:8].upper()}",
    )


def provisioning_error(code: str, message: str, step: str, *, retryable: bool) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "step": step,
        "param": None,
        "doc_url": f"https://voltlab.dev/docs/errors#{code}",
        "retryable": retryable,
    }


async def start_runtime(services: Services, row: Charger) -> dict[str, Any] | None:
    """Start the station for ``row``; returns a provisioning error, or None when running."""
    try:
        spec = station_spec(row, services)
    except LookupError as exc:
        return provisioning_error(
            "catalog_model_missing", str(exc), "resolve_model", retryable=False
        )
    try:
        await services.fleet.start(spec)
    except CapacityExceeded as exc:
        return provisioning_error("fleet_capacity", exc.detail, "start_runtime", retryable=True)
    return None


async def start_runtimes(
    services: Services, rows: Sequence[ChargerRow]
) -> dict[str, dict[str, Any]]:
    """Start many stations with one state query per chunk; the provisioning error of
    each charger that could not start, by charger id (absent ids are running)."""
    errors: dict[str, dict[str, Any]] = {}
    specs: list[StationSpec] = []
    for index, row in enumerate(rows):
        if index and index % CHUNK == 0:
            await asyncio.sleep(0)  # let API requests in between slices
        try:
            specs.append(station_spec(row, services))
        except LookupError as exc:
            errors[row.id] = provisioning_error(
                "catalog_model_missing", str(exc), "resolve_model", retryable=False
            )
    for charger_id in await services.fleet.start_many(specs):
        errors[charger_id] = provisioning_error(
            "fleet_capacity",
            f"the fleet runs its maximum of {services.settings.max_chargers} chargers "
            "(VOLTLAB_MAX_CHARGERS)",
            "start_runtime",
            retryable=True,
        )
    return errors


async def provision(services: Services, org_id: str, charger_id: str) -> None:
    """PENDING -> PROVISIONING -> READY | FAILED, recorded on the charger row."""
    try:
        await _provision(services, org_id, charger_id)
    except Exception as exc:
        # The status must end: a client polls it until READY or FAILED.
        log.exception("provisioning charger %s failed", charger_id)
        async with services.sessions.begin() as session:
            current = await session.get(Charger, charger_id)
            if current is not None and current.provisioning_status != "READY":
                current.provisioning_status = "FAILED"
                current.provisioning_error = provisioning_error(
                    "provisioning_crashed",
                    f"{type(exc).__name__}: {exc}",
                    "start_runtime",
                    retryable=True,
                )
                current.updated_at = utcnow()


async def _provision(services: Services, org_id: str, charger_id: str) -> None:
    async with services.sessions.begin() as session:
        row = await session.get(Charger, charger_id)
        if row is None or row.org_id != org_id:
            return  # deleted before it was provisioned
        row.provisioning_status = "PROVISIONING"
        row.updated_at = utcnow()
    error = await start_runtime(services, row)
    async with services.sessions.begin() as session:
        current = await session.get(Charger, charger_id)
        if current is None:  # deleted while the runtime was starting
            await services.fleet.forget([charger_id])
            return
        if current.desired_state != "running":  # stop-charger while it was starting
            await services.fleet.stop(charger_id)
        current.provisioning_status = "FAILED" if error else "READY"
        current.provisioning_error = error
        current.provisioned_at = None if error else utcnow()
        if error:
            current.desired_state = "stopped"
        current.updated_at = utcnow()


def runtime_out(snapshot: RuntimeSnapshot, row: Charger) -> Runtime:
    connectors: list[dict[str, Any]] = list(snapshot.connectors)
    if not connectors:
        model = catalog.model(row.brand_slug, row.model_slug)
        count = model.connector_count if model else 0
        version = WIRE_VERSION[row.ocpp_version]
        connectors = [
            {
                "evse_id": c.evse_id,
                "connector_id": c.connector_id,
                "status": "Unavailable",
                "error_code": "NoError",
                "transaction_id": None,
                "energy_wh": 0.0,
                "power_w": 0.0,
            }
            for c in connectors_for(version, count)
        ]
    return Runtime.model_validate(
        {
            "state": snapshot.state,
            "connection": snapshot.connection,
            "boot_status": snapshot.boot_status,
            "last_message_at": snapshot.last_message_at,
            "connectors": connectors,
            "findings": snapshot.findings,
            "connects": snapshot.connects,
            "last_error": snapshot.last_error,
        }
    )
