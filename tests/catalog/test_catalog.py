"""The shipped charger catalog and location-template gallery."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from voltlab import catalog
from voltlab.catalog import (
    Brand,
    LocationTemplate,
    Model,
    brand,
    brands,
    location_template,
    location_templates,
    model,
    models,
)

OCPP_VERSIONS = {"OCPP1.6", "OCPP2.0.1"}
CONNECTOR_TYPES = {"Type1", "Type2", "CCS1", "CCS2", "CHAdeMO"}
PARKING_TYPES = {
    "ALONG_MOTORWAY",
    "PARKING_GARAGE",
    "PARKING_LOT",
    "ON_DRIVEWAY",
    "ON_STREET",
    "UNDERGROUND_GARAGE",
}


def all_models() -> list[Model]:
    return [m for b in brands() for m in models(b.slug) or []]


def test_catalog_size() -> None:
    assert len(brands()) >= 8
    assert len(all_models()) >= 20
    assert all(models(b.slug) for b in brands()), "every brand ships at least one model"


def test_brands_sorted_by_slug_and_unique() -> None:
    slugs = [b.slug for b in brands()]
    assert slugs == sorted(slugs)
    assert len(set(slugs)) == len(slugs)


def test_models_sorted_and_unique_per_brand() -> None:
    for b in brands():
        slugs = [m.slug for m in models(b.slug) or []]
        assert slugs == sorted(slugs)
        assert len(set(slugs)) == len(slugs)


def test_catalog_covers_ac_dc_and_connector_counts() -> None:
    rows = all_models()
    assert {m.current_type for m in rows} == {"ac", "dc"}
    assert {m.connector_count for m in rows} == {1, 2, 3, 4}


def test_model_fields_are_consistent() -> None:
    for m in all_models():
        assert 1 <= m.connector_count <= 4
        assert m.current_type in {"ac", "dc"}
        assert m.supported_kwh and all(kwh > 0 for kwh in m.supported_kwh)
        assert m.max_power_w == round(max(m.supported_kwh) * 1000), m.slug
        assert m.connector_types and set(m.connector_types) <= CONNECTOR_TYPES, m.slug
        assert m.ocpp_versions and set(m.ocpp_versions) <= OCPP_VERSIONS, m.slug
        assert m.image_url.startswith("https://")
        assert m.brand_slug in {b.slug for b in brands()}
        assert m.brand_id == catalog.brand_id(m.brand_slug)


def test_some_models_are_ocpp16_only() -> None:
    assert any(m.ocpp_versions == ("OCPP1.6",) for m in all_models())
    assert any("OCPP2.0.1" in m.ocpp_versions for m in all_models())


def test_boot_notification_identity_fits_ocpp16_limits() -> None:
    for m in all_models():
        assert 0 < len(m.vendor_name) <= 20, m.vendor_name
        assert 0 < len(m.model_name) <= 20, m.model_name


def test_known_lookups() -> None:
    abb = brand("abb")
    assert isinstance(abb, Brand)
    assert abb.name == "ABB"
    terra = model("abb", "terra-184")
    assert terra is not None
    assert terra.current_type == "dc"
    assert terra.connector_count == 2
    assert set(terra.connector_types) >= {"CCS2", "CHAdeMO"}
    assert terra.max_power_w == 180_000
    eve = model("alfen", "eve-double-pro-line")
    assert eve is not None
    assert (eve.current_type, eve.connector_count, eve.max_power_w) == ("ac", 2, 22_000)


def test_unknown_slugs_return_none() -> None:
    assert brand("no-such-brand") is None
    assert models("no-such-brand") is None
    assert model("no-such-brand", "terra-184") is None
    assert model("abb", "no-such-model") is None
    assert location_template("no-such-template") is None


def test_ids_are_stable_deterministic_and_unique() -> None:
    brand_ids = [b.id for b in brands()]
    model_ids = [m.id for m in all_models()]
    assert len(set(brand_ids)) == len(brand_ids)
    assert len(set(model_ids)) == len(model_ids)
    assert not set(brand_ids) & set(model_ids)
    assert brand("abb").id == str(uuid.uuid5(uuid.NAMESPACE_URL, "voltlab:brand:abb"))
    expected = str(uuid.uuid5(uuid.NAMESPACE_URL, "voltlab:model:abb/terra-184"))
    assert model("abb", "terra-184").id == expected
    assert [b.id for b in brands()] == brand_ids


def test_created_at_is_fixed_utc() -> None:
    fixed = datetime(2026, 1, 1, tzinfo=UTC)
    assert all(b.created_at == fixed for b in brands())
    assert all(m.created_at == fixed for m in all_models())
    assert all(b.created_at.tzinfo is not None for b in brands())


def test_to_dict_is_json_ready() -> None:
    terra = model("abb", "terra-184")
    data = terra.to_dict()
    assert data["created_at"] == "2026-01-01T00:00:00Z"
    assert isinstance(data["supported_kwh"], list)
    assert isinstance(data["connector_types"], list)
    assert isinstance(data["ocpp_versions"], list)
    assert data["id"] == terra.id and data["brand_id"] == brand("abb").id
    assert brand("abb").to_dict()["created_at"] == "2026-01-01T00:00:00Z"
    template = location_template("urban-ac-hub").to_dict()
    assert isinstance(template["groups"], list) and isinstance(template["groups"][0], dict)
    json.dumps([data, template, brand("abb").to_dict()])


def test_results_are_immutable() -> None:
    with pytest.raises(AttributeError):
        brand("abb").name = "x"  # type: ignore[misc]
    listing = brands()
    listing.clear()
    assert brands()


def test_required_templates_exist() -> None:
    slugs = {t.slug for t in location_templates()}
    assert len(slugs) >= 7
    assert {"urban-ac-hub", "highway-dc-station", "residential-ac-single"} <= slugs
    assert all(isinstance(location_template(s), LocationTemplate) for s in slugs)


def test_template_fields() -> None:
    for t in location_templates():
        assert t.type in {"AC", "DC", "AC-DC"}, t.slug
        assert t.parking_type in PARKING_TYPES, t.slug
        assert len(t.country) in {2, 3} and t.country.isupper(), t.slug
        assert t.name and t.description and t.groups


def test_template_groups_reference_the_catalog() -> None:
    for t in location_templates():
        current_types = set()
        for g in t.groups:
            m = model(g.brand_slug, g.model_slug)
            assert m is not None, (t.slug, g.brand_slug, g.model_slug)
            assert g.connector_type in m.connector_types, (t.slug, g)
            assert g.ocpp_version in m.ocpp_versions, (t.slug, g)
            assert g.count >= 1, (t.slug, g)
            assert 0 < g.power_kw * 1000 <= m.max_power_w, (t.slug, g)
            current_types.add(m.current_type)
        expected = {"AC": {"ac"}, "DC": {"dc"}, "AC-DC": {"ac", "dc"}}[t.type]
        assert current_types == expected, t.slug


def test_type_filter() -> None:
    dc = {t.slug for t in location_templates(type="DC")}
    assert "highway-dc-station" in dc
    assert "urban-ac-hub" not in dc
    assert all(t.type == "AC" for t in location_templates(type="AC"))
    assert all(t.type == "AC-DC" for t in location_templates(type="AC-DC"))
    assert location_templates(type="XX") == []


def test_ocpp_version_filter_matches_mixed_templates() -> None:
    mixed = [t for t in location_templates() if len({g.ocpp_version for g in t.groups}) > 1]
    assert mixed, "at least one template mixes OCPP versions"
    v16 = {t.slug for t in location_templates(ocpp_version="OCPP1.6")}
    v201 = {t.slug for t in location_templates(ocpp_version="OCPP2.0.1")}
    for t in mixed:
        assert t.slug in v16 and t.slug in v201
    for slug in v16:
        assert any(g.ocpp_version == "OCPP1.6" for g in location_template(slug).groups)
    assert "fleet-depot-201" in v201 and "fleet-depot-201" not in v16


@pytest.mark.parametrize("spelling", ["OCPP1.6", "1.6", "ocpp1.6"])
def test_ocpp_version_filter_normalises_16(spelling: str) -> None:
    assert location_templates(ocpp_version=spelling) == location_templates(ocpp_version="OCPP1.6")


@pytest.mark.parametrize("spelling", ["OCPP2.0.1", "2.0.1", "ocpp2.0.1"])
def test_ocpp_version_filter_normalises_201(spelling: str) -> None:
    expected = location_templates(ocpp_version="OCPP2.0.1")
    assert expected
    assert location_templates(ocpp_version=spelling) == expected


def test_combined_filters() -> None:
    result = location_templates(type="DC", ocpp_version="2.0.1")
    assert "highway-dc-station" in {t.slug for t in result}
    assert all(t.type == "DC" for t in result)
    assert location_templates(ocpp_version="OCPP9.9") == []
