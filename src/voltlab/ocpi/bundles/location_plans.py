"""Planning a bulk create of a CPO bundle's OCPI locations: every location and charger of
the request, from raw locations (charger groups) or location templates, checked against the
catalog and for repeated identities before anything is written."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from voltlab import catalog
from voltlab.domain.chargers.service import check_catalog
from voltlab.errors import InvalidRequest
from voltlab.ids import new_id
from voltlab.ocpi.bundles.location_records import require_cpo
from voltlab.ocpi.bundles.location_schemas import (
    LocationFromTemplateIn,
    OcpiChargerGroupIn,
    OcpiLocationIn,
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
from voltlab.storage.ocpi import OcpiBundle


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
    require_cpo(bundle)
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
