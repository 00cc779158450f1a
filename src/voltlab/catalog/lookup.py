"""Read-only access to the shipped charger catalog and location-template gallery.

The JSON files under ``voltlab/catalog/data`` are package data; they are parsed once, lazily,
on first use. Every object handed out is a frozen dataclass, so callers cannot corrupt the cache.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from voltlab.ids import isoformat

__all__ = [
    "CATALOG_CREATED_AT",
    "Brand",
    "LocationTemplate",
    "Model",
    "TemplateGroup",
    "brand",
    "brand_id",
    "brands",
    "location_template",
    "location_templates",
    "model",
    "model_id",
    "models",
    "normalize_ocpp_version",
]

# Catalog rows are not user data: a fixed timestamp keeps API responses reproducible.
CATALOG_CREATED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def brand_id(brand_slug: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"voltlab:brand:{brand_slug}"))


def model_id(brand_slug: str, model_slug: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"voltlab:model:{brand_slug}/{model_slug}"))


@dataclass(frozen=True, slots=True)
class Brand:
    id: str
    slug: str
    name: str
    image_url: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "name": self.name,
            "image_url": self.image_url,
            "created_at": isoformat(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class Model:
    id: str
    slug: str
    name: str
    brand_slug: str
    brand_id: str
    image_url: str
    connector_count: int
    current_type: str
    supported_kwh: tuple[float, ...]
    connector_types: tuple[str, ...]
    ocpp_versions: tuple[str, ...]
    vendor_name: str
    model_name: str
    max_power_w: int
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "name": self.name,
            "brand_slug": self.brand_slug,
            "brand_id": self.brand_id,
            "image_url": self.image_url,
            "connector_count": self.connector_count,
            "current_type": self.current_type,
            "supported_kwh": list(self.supported_kwh),
            "connector_types": list(self.connector_types),
            "ocpp_versions": list(self.ocpp_versions),
            "vendor_name": self.vendor_name,
            "model_name": self.model_name,
            "max_power_w": self.max_power_w,
            "created_at": isoformat(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class TemplateGroup:
    brand_slug: str
    model_slug: str
    connector_type: str
    ocpp_version: str
    count: int
    power_kw: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "brand_slug": self.brand_slug,
            "model_slug": self.model_slug,
            "connector_type": self.connector_type,
            "ocpp_version": self.ocpp_version,
            "count": self.count,
            "power_kw": self.power_kw,
        }


@dataclass(frozen=True, slots=True)
class LocationTemplate:
    slug: str
    name: str
    description: str
    country: str
    parking_type: str
    type: str
    groups: tuple[TemplateGroup, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "country": self.country,
            "parking_type": self.parking_type,
            "type": self.type,
            "groups": [group.to_dict() for group in self.groups],
        }


@dataclass(frozen=True, slots=True)
class _Catalog:
    brands: dict[str, Brand]
    models: dict[str, dict[str, Model]]
    templates: dict[str, LocationTemplate]


def _read_json(name: str) -> Any:
    return json.loads(resources.files("voltlab.catalog").joinpath("data", name).read_text("utf-8"))


def _parse_model(brand_row: Brand, raw: dict[str, Any]) -> Model:
    return Model(
        id=model_id(brand_row.slug, raw["slug"]),
        slug=raw["slug"],
        name=raw["name"],
        brand_slug=brand_row.slug,
        brand_id=brand_row.id,
        image_url=raw["image_url"],
        connector_count=int(raw["connector_count"]),
        current_type=raw["current_type"],
        supported_kwh=tuple(float(kwh) for kwh in raw["supported_kwh"]),
        connector_types=tuple(raw["connector_types"]),
        ocpp_versions=tuple(raw["ocpp_versions"]),
        vendor_name=raw["vendor_name"],
        model_name=raw["model_name"],
        max_power_w=int(raw["max_power_w"]),
        created_at=CATALOG_CREATED_AT,
    )


def _parse_template(raw: dict[str, Any]) -> LocationTemplate:
    groups = tuple(
        TemplateGroup(
            brand_slug=g["brand_slug"],
            model_slug=g["model_slug"],
            connector_type=g["connector_type"],
            ocpp_version=g["ocpp_version"],
            count=int(g["count"]),
            power_kw=float(g["power_kw"]),
        )
        for g in raw["groups"]
    )
    return LocationTemplate(
        slug=raw["slug"],
        name=raw["name"],
        description=raw["description"],
        country=raw["country"],
        parking_type=raw["parking_type"],
        type=raw["type"],
        groups=groups,
    )


@cache
def _catalog() -> _Catalog:
    brand_rows: dict[str, Brand] = {}
    model_rows: dict[str, dict[str, Model]] = {}
    for raw in sorted(_read_json("brands.json")["brands"], key=lambda b: b["slug"]):
        row = Brand(
            id=brand_id(raw["slug"]),
            slug=raw["slug"],
            name=raw["name"],
            image_url=raw["image_url"],
            created_at=CATALOG_CREATED_AT,
        )
        brand_rows[row.slug] = row
        parsed = (_parse_model(row, m) for m in raw["models"])
        model_rows[row.slug] = {m.slug: m for m in sorted(parsed, key=lambda m: m.slug)}
    templates = sorted(
        (_parse_template(t) for t in _read_json("templates.json")["templates"]),
        key=lambda t: t.slug,
    )
    return _Catalog(brand_rows, model_rows, {t.slug: t for t in templates})


def normalize_ocpp_version(version: str) -> str:
    """``"1.6"``, ``"ocpp1.6"``, ``"OCPP 1.6"`` -> ``"OCPP1.6"`` (likewise for 2.0.1)."""
    cleaned = version.strip().replace(" ", "").upper()
    cleaned = cleaned.removeprefix("OCPP")
    return f"OCPP{cleaned}"


def brands() -> list[Brand]:
    """All brands, sorted by slug."""
    return list(_catalog().brands.values())


def brand(slug: str) -> Brand | None:
    return _catalog().brands.get(slug)


def models(brand_slug: str) -> list[Model] | None:
    """The brand's models sorted by slug, or ``None`` when the brand is unknown."""
    rows = _catalog().models.get(brand_slug)
    return None if rows is None else list(rows.values())


def model(brand_slug: str, model_slug: str) -> Model | None:
    return _catalog().models.get(brand_slug, {}).get(model_slug)


def location_templates(
    type: str | None = None, ocpp_version: str | None = None
) -> list[LocationTemplate]:
    """Templates sorted by slug.

    ``type`` matches exactly (``"AC"``, ``"DC"``, ``"AC-DC"``; case-insensitive). ``ocpp_version``
    keeps templates with at least one group on that version, so mixed-version templates match
    either version.
    """
    wanted_type = type.strip().upper() if type is not None else None
    wanted_version = normalize_ocpp_version(ocpp_version) if ocpp_version is not None else None
    return [
        t
        for t in _catalog().templates.values()
        if (wanted_type is None or t.type == wanted_type)
        and (wanted_version is None or any(g.ocpp_version == wanted_version for g in t.groups))
    ]


def location_template(slug: str) -> LocationTemplate | None:
    return _catalog().templates.get(slug)
