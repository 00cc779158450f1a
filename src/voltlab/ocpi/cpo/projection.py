"""A CPO bundle's OCPI Locations, projected from its rows and the built-in CSMS.

The location fields are the bundle's (``ocpi_locations.data``); the EVSEs are its
chargers, one EVSE per connector (OCPI's rule for OCPP 1.x, kept for 2.0.1 outlets too),
with ``evse_uid`` stable across restarts; the EVSE status is the live OCPP status the
charger last reported to the built-in CSMS.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from voltlab import catalog
from voltlab.ocpi.templates import OCPI_STANDARD, connector_details, evse_id_for, evse_uid_for
from voltlab.services import Services
from voltlab.simulator.spec import connectors_for
from voltlab.storage.models import Charger
from voltlab.storage.ocpi import OcpiBundle, OcpiLocation
from voltlab.storage.repositories import chargers_of_bundle

# OCPP status -> OCPI EVSE status (protocols.md section 4, "Mapping (voltlab)").
EVSE_STATUS = {
    "Available": "AVAILABLE",
    "Preparing": "CHARGING",
    "Charging": "CHARGING",
    "SuspendedEV": "CHARGING",
    "SuspendedEVSE": "CHARGING",
    "Finishing": "CHARGING",
    "Occupied": "CHARGING",
    "Reserved": "RESERVED",
    "Unavailable": "INOPERATIVE",
    "Faulted": "OUTOFORDER",
}

CAPABILITIES = ["RFID_READER", "REMOTE_START_STOP_CAPABLE", "UNLOCK_CAPABLE"]

WIRE_VERSION = {"OCPP1.6": "1.6", "OCPP2.0.1": "2.0.1"}


def ocpi_status(ocpp_status: str | None, connected: bool) -> str:
    if not connected or ocpp_status is None:
        return "UNKNOWN"
    return EVSE_STATUS.get(ocpp_status, "UNKNOWN")


def _connector(charger: Charger, current: str, max_power_w: int, when: datetime) -> dict[str, Any]:
    details = connector_details(charger.connector_type, current, max_power_w)
    return {
        "id": "1",
        "standard": OCPI_STANDARD.get(charger.connector_type, "IEC_62196_T2"),
        "format": details["connector_format"],
        "power_type": details["power_type"],
        "max_voltage": details["max_voltage"],
        "max_amperage": details["max_amperage"],
        "max_electric_power": max_power_w,
        "last_updated": when,
    }


def evses_of(
    services: Services,
    bundle: OcpiBundle,
    charger: Charger,
    location_data: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The charger's EVSEs as OCPI EVSE objects, with live statuses."""
    model = catalog.model(charger.brand_slug, charger.model_slug)
    if model is None:
        return []
    refs = connectors_for(WIRE_VERSION[charger.ocpp_version], model.connector_count)
    station = services.csms.station(str(bundle.id), charger.identity)
    connected = station is not None and station.connected
    tariff_id = ((location_data or {}).get("tariffs_by_current") or {}).get(model.current_type)
    evses = []
    for n, ref in enumerate(refs, start=1):
        key = (ref.evse_id, ref.connector_id)
        status = station.connectors.get(key) if station is not None else None
        changed = station.status_changed_at.get(key) if station is not None else None
        when = max(t for t in (charger.updated_at, changed) if t is not None)
        evses.append(
            {
                "uid": evse_uid_for(charger.identity, n, len(refs)),
                "evse_id": evse_id_for(bundle.country_code, bundle.party_id, charger.identity, n),
                "status": ocpi_status(status, connected),
                "capabilities": list(CAPABILITIES),
                "connectors": [
                    {
                        **_connector(charger, model.current_type, model.max_power_w, when),
                        **({"tariff_ids": [tariff_id]} if tariff_id else {}),
                    }
                ],
                "last_updated": when,
            }
        )
    return evses


def location_object(
    services: Services, bundle: OcpiBundle, location: OcpiLocation, chargers: Sequence[Charger]
) -> dict[str, Any]:
    evses = [
        evse for charger in chargers for evse in evses_of(services, bundle, charger, location.data)
    ]
    last_updated = max([location.updated_at, *(e["last_updated"] for e in evses)])
    data = {k: v for k, v in location.data.items() if k not in ("tariff_id", "tariffs_by_current")}
    return {
        "country_code": bundle.country_code,
        "party_id": bundle.party_id,
        "id": location.id,
        "publish": location.publish,
        **data,
        "evses": evses,
        "operator": {"name": bundle.business_name},
        "last_updated": last_updated,
    }


async def locations(services: Services, bundle: OcpiBundle) -> list[dict[str, Any]]:
    """Every location of the bundle, oldest first (a stable order for pagination)."""
    async with services.sessions() as session:
        rows = list(
            (
                await session.scalars(
                    select(OcpiLocation)
                    .where(OcpiLocation.bundle_id == bundle.id)
                    .order_by(OcpiLocation.created_at, OcpiLocation.id)
                )
            ).all()
        )
        chargers = await chargers_of_bundle(session, bundle.id)
    by_location: dict[str, list[Charger]] = {}
    for charger in chargers:
        by_location.setdefault(charger.ocpi_location_id or "", []).append(charger)
    return [location_object(services, bundle, row, by_location.get(row.id, [])) for row in rows]


async def location(
    services: Services, bundle: OcpiBundle, location_id: str
) -> dict[str, Any] | None:
    async with services.sessions() as session:
        row = await session.get(OcpiLocation, (bundle.id, location_id))
        if row is None:
            return None
        chargers = await chargers_of_bundle(session, bundle.id, location_id)
    return location_object(services, bundle, row, chargers)
