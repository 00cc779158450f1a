"""The bundle-template gallery: what a CPO or eMSP bundle is made of, before any seed.

``data/bundles.json`` is package data, parsed and checked against the charger catalog once,
lazily. Every object handed out is a frozen dataclass, so callers cannot corrupt the cache::

    >>> [t.slug for t in bundle_templates(role="cpo")]
    ['small-urban-ac', 'highway-dc', 'mixed-depot']
    >>> bundle_template("highway-dc").to_summary()["chargers"]
    6
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from voltlab import catalog
from voltlab.domain.errors import FieldInvalid

__all__ = [
    "FACILITIES",
    "OCPP_VERSIONS",
    "PARKING_TYPES",
    "PROFILE_TYPES",
    "ROLES",
    "TOKEN_TYPES",
    "WHITELIST_TYPES",
    "BundleTemplate",
    "ChargerGroupSpec",
    "SiteSpec",
    "TariffSpec",
    "TemplateError",
    "TemplateOverrideError",
    "TemplateRoleError",
    "TokenSpec",
    "UnknownTemplate",
    "bundle_template",
    "bundle_templates",
]

ROLES = ("cpo", "emsp")
OCPP_VERSIONS = ("OCPP1.6", "OCPP2.0.1")
# OCPI 2.2.1 enums, spelled as the specification spells them.
WHITELIST_TYPES = ("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER")
TOKEN_TYPES = ("AD_HOC_USER", "APP_USER", "OTHER", "RFID")
PROFILE_TYPES = ("CHEAP", "FAST", "GREEN", "REGULAR")
PARKING_TYPES = (
    "ALONG_MOTORWAY",
    "PARKING_GARAGE",
    "PARKING_LOT",
    "ON_DRIVEWAY",
    "ON_STREET",
    "UNDERGROUND_GARAGE",
)
FACILITIES = (
    "HOTEL",
    "RESTAURANT",
    "CAFE",
    "MALL",
    "SUPERMARKET",
    "SPORT",
    "RECREATION_AREA",
    "NATURE",
    "MUSEUM",
    "BIKE_SHARING",
    "BUS_STOP",
    "TAXI_STAND",
    "TRAM_STOP",
    "METRO_STATION",
    "TRAIN_STATION",
    "AIRPORT",
    "PARKING_LOT",
    "CARPOOL_PARKING",
    "FUEL_STATION",
    "WIFI",
)
_PRICE_COMPONENT_TYPES = ("ENERGY", "FLAT", "PARKING_TIME", "TIME")
# group_id becomes the OCPP 1.6 parentIdTag (20 chars) as "{cc}{pid}-{group}".
_MAX_GROUP_NAME = 14


# -- errors ---------------------------------------------------------------------------------


class TemplateError(FieldInvalid):
    """A bundle request that does not fit the gallery; ``field`` names the offending input.

    A :class:`FieldInvalid`, so the REST edge answers 422 with ``loc`` pointing at the field.
    """

    def __init__(self, loc: tuple[str | int, ...], field: str, reason: str, detail: str) -> None:
        super().__init__(loc, detail)
        self.field = field
        self.reason = reason


class UnknownTemplate(TemplateError, KeyError):
    """No template has this slug. Also a :class:`KeyError`, like a failed mapping lookup."""

    def __init__(self, slug: str) -> None:
        known = ", ".join(t.slug for t in bundle_templates())
        reason = f"unknown bundle template {slug!r} (known: {known})"
        super().__init__(("template",), "template", reason, reason)
        self.slug = slug

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return self.detail


class TemplateRoleError(TemplateError):
    """The template belongs to the other role (a ``cpo`` template asked for as ``emsp``)."""

    def __init__(self, slug: str, template_role: str, role: str) -> None:
        if role in ROLES:
            reason = f"template {slug!r} is a {template_role} template, not {role}"
        else:
            reason = f"role must be one of {', '.join(ROLES)}, got {role!r}"
        super().__init__(("role",), "role", reason, reason)
        self.slug = slug
        self.template_role = template_role
        self.role = role


class TemplateOverrideError(TemplateError):
    """An override the template does not accept: unknown key, wrong type or out of bounds."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(("overrides", field), field, reason, f"overrides.{field}: {reason}")


# -- the template model ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChargerGroupSpec:
    """``count`` chargers of one catalog model at a site, all on one tariff."""

    brand_slug: str
    model_slug: str
    connector_type: str
    ocpp_version: str
    count: int
    power_kw: float
    tariff_id: str


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """One location archetype. ``name``/``address`` are patterns with ``{prefix}``,
    ``{street}``, ``{number}`` and ``{city}``; ``postal_code`` has ``#`` for a digit and ``@``
    for a letter; coordinates are a centre jittered by up to ``jitter`` degrees."""

    name: str
    address: str
    city: str
    postal_code: str
    country: str
    country_alpha2: str
    latitude: float
    longitude: float
    jitter: float
    time_zone: str
    parking_type: str
    facilities: tuple[str, ...]
    streets: tuple[str, ...]
    groups: tuple[ChargerGroupSpec, ...]

    @property
    def chargers(self) -> int:
        return sum(g.count for g in self.groups)


@dataclass(frozen=True, slots=True)
class TariffSpec:
    """An OCPI 2.2.1 Tariff without its owner and timestamp; ``elements`` is a fresh copy."""

    id: str
    currency: str
    type: str | None
    alt_text: tuple[tuple[str, str], ...]  # (language, text)
    elements_json: str

    @property
    def elements(self) -> list[dict[str, Any]]:
        return json.loads(self.elements_json)


@dataclass(frozen=True, slots=True)
class TokenSpec:
    """One eMSP token before its uid and contract id are drawn. ``group`` becomes
    ``group_id`` ``"{cc}{pid}-{group}"``; ``{n}`` in ``label`` is the 1-based token number."""

    label: str
    type: str
    whitelist: str
    valid: bool
    language: str | None
    group: str | None
    default_profile_type: str | None
    energy_supplier: str | None


@dataclass(frozen=True, slots=True)
class BundleTemplate:
    """A gallery entry. CPO templates have ``sites`` and ``tariffs``; eMSP ones ``token_specs``.

    ``locations`` and ``chargers`` are the template's totals without overrides (0 for an eMSP),
    ``tokens`` likewise (0 for a CPO).
    """

    slug: str
    version: int
    role: str
    description: str
    business_name: str
    locations: int
    chargers: int
    tokens: int
    caps: tuple[tuple[str, int], ...]
    sites: tuple[SiteSpec, ...] = ()
    tariffs: tuple[TariffSpec, ...] = ()
    token_specs: tuple[TokenSpec, ...] = ()
    filler: TokenSpec | None = None
    language: str = "en"

    def to_summary(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "version": self.version,
            "description": self.description,
            "locations": self.locations,
            "chargers": self.chargers,
            "role": self.role,
        }

    def tariff(self, tariff_id: str) -> TariffSpec:
        return next(t for t in self.tariffs if t.id == tariff_id)

    def resolve_overrides(self, overrides: Mapping[str, Any] | None) -> dict[str, int]:
        """The given overrides, checked: ``{locations, chargers_per_location}`` for a CPO
        template, ``{tokens}`` for an eMSP one, each an int in ``1..cap``. A ``None`` value
        counts as not given. Raises :class:`TemplateOverrideError` naming the field."""
        caps = dict(self.caps)
        resolved: dict[str, int] = {}
        for key, value in (overrides or {}).items():
            if key not in caps:
                allowed = ", ".join(caps)
                raise TemplateOverrideError(
                    str(key), f"unknown override for a {self.role} template (allowed: {allowed})"
                )
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TemplateOverrideError(key, f"must be an integer, got {value!r}")
            if not 1 <= value <= caps[key]:
                raise TemplateOverrideError(
                    key, f"must be between 1 and {caps[key]} for {self.slug!r}, got {value}"
                )
            resolved[key] = value
        return resolved


# -- loading and checking the shipped data --------------------------------------------------


def _check(condition: bool, slug: str, what: str) -> None:
    # Shipped data is code: a bad entry is a bug, reported loudly at first use.
    if not condition:
        raise ValueError(f"bundles.json, template {slug!r}: {what}")


def _parse_group(slug: str, raw: dict[str, Any], tariff_ids: set[str]) -> ChargerGroupSpec:
    group = ChargerGroupSpec(
        brand_slug=raw["brand_slug"],
        model_slug=raw["model_slug"],
        connector_type=raw["connector_type"],
        ocpp_version=raw["ocpp_version"],
        count=int(raw["count"]),
        power_kw=float(raw["power_kw"]),
        tariff_id=raw["tariff"],
    )
    model = catalog.model(group.brand_slug, group.model_slug)
    where = f"{group.brand_slug}/{group.model_slug}"
    _check(model is not None, slug, f"{where} is not in the catalog")
    assert model is not None
    _check(group.connector_type in model.connector_types, slug, f"{where} connector type")
    _check(group.ocpp_version in model.ocpp_versions, slug, f"{where} OCPP version")
    _check(0 < group.power_kw * 1000 <= model.max_power_w, slug, f"{where} power")
    _check(group.count >= 1, slug, f"{where} count")
    _check(group.tariff_id in tariff_ids, slug, f"{where} tariff {group.tariff_id!r}")
    return group


def _parse_site(slug: str, raw: dict[str, Any], tariff_ids: set[str]) -> SiteSpec:
    site = SiteSpec(
        name=raw["name"],
        address=raw["address"],
        city=raw["city"],
        postal_code=raw["postal_code"],
        country=raw["country"],
        country_alpha2=raw["country_alpha2"],
        latitude=float(raw["latitude"]),
        longitude=float(raw["longitude"]),
        jitter=float(raw["jitter"]),
        time_zone=raw["time_zone"],
        parking_type=raw["parking_type"],
        facilities=tuple(raw["facilities"]),
        streets=tuple(raw["streets"]),
        groups=tuple(_parse_group(slug, g, tariff_ids) for g in raw["groups"]),
    )
    _check(len(site.country) == 3 and site.country.isupper(), slug, "country is not alpha-3")
    _check(site.parking_type in PARKING_TYPES, slug, f"parking_type {site.parking_type!r}")
    _check(set(site.facilities) <= set(FACILITIES), slug, f"facilities {site.facilities!r}")
    _check(bool(site.streets) and bool(site.groups), slug, "a site needs streets and groups")
    return site


def _parse_tariff(slug: str, raw: dict[str, Any]) -> TariffSpec:
    for element in raw["elements"]:
        for component in element["price_components"]:
            _check(component["type"] in _PRICE_COMPONENT_TYPES, slug, "price component type")
    _check(len(raw["id"]) <= 36, slug, "tariff id longer than 36")
    return TariffSpec(
        id=raw["id"],
        currency=raw["currency"],
        type=raw.get("type"),
        alt_text=tuple((t["language"], t["text"]) for t in raw.get("tariff_alt_text", [])),
        elements_json=json.dumps(raw["elements"], ensure_ascii=False),
    )


def _parse_token(slug: str, raw: dict[str, Any]) -> TokenSpec:
    token = TokenSpec(
        label=raw["label"],
        type=raw["type"],
        whitelist=raw["whitelist"],
        valid=bool(raw["valid"]),
        language=raw.get("language"),
        group=raw.get("group"),
        default_profile_type=raw.get("default_profile_type"),
        energy_supplier=(raw.get("energy_contract") or {}).get("supplier_name"),
    )
    _check(token.type in TOKEN_TYPES, slug, f"token type {token.type!r}")
    _check(token.whitelist in WHITELIST_TYPES, slug, f"whitelist {token.whitelist!r}")
    profile = token.default_profile_type
    _check(profile is None or profile in PROFILE_TYPES, slug, f"profile {profile!r}")
    group = token.group
    _check(group is None or len(group) <= _MAX_GROUP_NAME, slug, f"group {group!r} too long")
    return token


def _parse_template(raw: dict[str, Any]) -> BundleTemplate:
    slug = raw["slug"]
    role = raw["role"]
    _check(role in ROLES, slug, f"role {role!r}")
    caps = tuple((key, int(value)) for key, value in raw["caps"].items())
    common = {
        "slug": slug,
        "version": int(raw["version"]),
        "role": role,
        "description": raw["description"],
        "business_name": raw["business_name"],
        "caps": caps,
    }
    if role == "cpo":
        _check(dict(caps).keys() == {"locations", "chargers_per_location"}, slug, "caps")
        tariffs = tuple(_parse_tariff(slug, t) for t in raw["tariffs"])
        tariff_ids = {t.id for t in tariffs}
        sites = tuple(_parse_site(slug, s, tariff_ids) for s in raw["sites"])
        return BundleTemplate(
            **common,
            locations=len(sites),
            chargers=sum(s.chargers for s in sites),
            tokens=0,
            sites=sites,
            tariffs=tariffs,
        )
    _check(dict(caps).keys() == {"tokens"}, slug, "caps")
    specs = tuple(_parse_token(slug, t) for t in raw["tokens"])
    filler = _parse_token(slug, raw["filler"])
    return BundleTemplate(
        **common,
        locations=0,
        chargers=0,
        tokens=int(raw.get("token_count", len(specs))),
        token_specs=specs,
        filler=filler,
        language=raw.get("language", "en"),
    )


@cache
def _gallery() -> dict[str, BundleTemplate]:
    text = resources.files("voltlab.ocpi.templates").joinpath("data", "bundles.json")
    raw = json.loads(text.read_text("utf-8"))
    templates = [_parse_template(t) for t in raw["templates"]]
    gallery = {t.slug: t for t in templates}
    if len(gallery) != len(templates):
        raise ValueError("bundles.json: duplicate template slug")
    return gallery


def bundle_templates(role: str | None = None) -> list[BundleTemplate]:
    """Every template in gallery order (CPO templates first), or only those of ``role``."""
    return [t for t in _gallery().values() if role is None or t.role == role]


def bundle_template(slug: str) -> BundleTemplate:
    """The template with this slug; :class:`UnknownTemplate` (a ``KeyError``) otherwise."""
    try:
        return _gallery()[slug]
    except KeyError:
        raise UnknownTemplate(slug) from None
