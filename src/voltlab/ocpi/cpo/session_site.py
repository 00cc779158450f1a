"""Where a charger's OCPI sessions happen: its CPO bundle, OCPI location, EVSE numbering
and the Tariff that prices it (``Site``, ``load_site``, ``tariff_for``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voltlab import catalog
from voltlab.ocpi.cpo.projection import WIRE_VERSION
from voltlab.ocpi.templates import evse_id_for, evse_uid_for
from voltlab.simulator.spec import connectors_for
from voltlab.storage.models import Charger
from voltlab.storage.ocpi import OcpiBundle, OcpiLocation

if TYPE_CHECKING:
    from voltlab.csms.state import CsmsTransaction
    from voltlab.services import Services

log = logging.getLogger(__name__)

DEFAULT_CURRENCY = "EUR"


@dataclass(frozen=True, slots=True)
class Site:
    """Where a charger's sessions happen: its bundle, location, EVSE and tariff."""

    bundle: OcpiBundle
    charger: Charger
    location: OcpiLocation
    connector_count: int
    current_type: str
    max_power_w: int
    tariff: dict[str, Any] | None
    time_zone: tzinfo | None

    def evse_n(self, tx: CsmsTransaction) -> int:
        """The 1-based EVSE number of ``tx`` (one EVSE per connector, as ``projection``)."""
        refs = connectors_for(
            WIRE_VERSION.get(self.charger.ocpp_version, "1.6"), self.connector_count
        )
        for n, ref in enumerate(refs, start=1):
            if (ref.evse_id, ref.connector_id) == (tx.evse_id, tx.connector_id):
                return n
        for n in (tx.evse_id, tx.connector_id):
            if 1 <= n <= self.connector_count:
                return n
        return 1

    def evse_uid(self, n: int) -> str:
        return evse_uid_for(self.charger.identity, n, self.connector_count)

    def evse_id(self, n: int) -> str:
        return evse_id_for(self.bundle.country_code, self.bundle.party_id, self.charger.identity, n)

    @property
    def currency(self) -> str:
        return str(self.tariff["currency"]) if self.tariff else DEFAULT_CURRENCY


def tariff_for(
    bundle: OcpiBundle, location_data: Mapping[str, Any], current_type: str | None
) -> dict[str, Any] | None:
    """The Tariff that prices a charger: the location's tariff for the charger's current
    type (``tariffs_by_current``), else the location's ``tariff_id``, else the bundle's
    first tariff; ``None`` when the bundle has none (sessions are then free)."""
    tariffs = [t for t in bundle.tariffs or [] if isinstance(t, dict)]
    by_id = {str(t.get("id")): t for t in tariffs}
    wanted = [
        (location_data.get("tariffs_by_current") or {}).get((current_type or "").lower()),
        location_data.get("tariff_id"),
    ]
    for tariff_id in wanted:
        if tariff_id is not None and str(tariff_id) in by_id:
            return by_id[str(tariff_id)]
    return tariffs[0] if tariffs else None


def _zone(name: Any) -> tzinfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


async def load_site(services: Services, bundle_id: int, charger_id: str) -> Site | None:
    async with services.sessions() as db:
        bundle = await db.get(OcpiBundle, bundle_id)
        charger = await db.get(Charger, charger_id)
        if bundle is None or charger is None or bundle.role != "CPO":
            log.warning("no CPO bundle %s with charger %s: no OCPI session", bundle_id, charger_id)
            return None
        if charger.ocpi_location_id is None:
            log.warning("charger %s has no OCPI location: no OCPI session", charger_id)
            return None
        location = await db.get(OcpiLocation, (bundle_id, charger.ocpi_location_id))
    if location is None:
        log.warning("OCPI location %s is gone: no OCPI session", charger.ocpi_location_id)
        return None
    model = catalog.model(charger.brand_slug, charger.model_slug)
    current = model.current_type if model is not None else "ac"
    return Site(
        bundle=bundle,
        charger=charger,
        location=location,
        connector_count=model.connector_count if model is not None else 1,
        current_type=current,
        max_power_w=model.max_power_w if model is not None else 22_000,
        tariff=tariff_for(bundle, location.data, current),
        time_zone=_zone(location.data.get("time_zone")),
    )
