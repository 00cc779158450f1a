"""The shipped catalog over REST: brands, models, one model, the location-template gallery."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import error_locs

MODEL_FIELDS = {
    "id",
    "slug",
    "name",
    "brand_slug",
    "brand_id",
    "image_url",
    "connector_count",
    "current_type",
    "supported_kwh",
    "connector_types",
    "created_at",
    "ocpp_versions",
    "vendor_name",
    "model_name",
    "max_power_w",
}


async def test_brands_list_a_realistic_catalog_sorted_by_slug(client: httpx.AsyncClient):
    body = (await client.get("/ocpp/catalog/brands")).json()

    slugs = [brand["slug"] for brand in body["data"]]
    assert body["total"] >= 8
    assert (body["page"], body["limit"]) == (1, 50)
    assert slugs == sorted(slugs)
    assert {"abb", "alfen", "wallbox"} <= set(slugs)
    for brand in body["data"]:
        assert set(brand) == {"id", "slug", "name", "image_url", "created_at"}
        assert brand["created_at"].endswith("Z")


async def test_brands_page_with_page_and_limit(client: httpx.AsyncClient):
    everything = (await client.get("/ocpp/catalog/brands", params={"limit": 100})).json()
    first = (await client.get("/ocpp/catalog/brands", params={"limit": 3})).json()
    second = (await client.get("/ocpp/catalog/brands", params={"limit": 3, "page": 2})).json()
    beyond = (await client.get("/ocpp/catalog/brands", params={"page": 1000})).json()

    assert [b["slug"] for b in first["data"] + second["data"]] == [
        b["slug"] for b in everything["data"][:6]
    ]
    assert first["total"] == second["total"] == everything["total"]
    assert (second["page"], second["limit"]) == (2, 3)
    assert beyond["data"] == []
    assert beyond["total"] == everything["total"]


@pytest.mark.parametrize(
    ("param", "value"),
    [("limit", 101), ("limit", 0), ("page", 0), ("page", -1), ("limit", "ten"), ("page", "1.5")],
)
async def test_a_bad_page_or_limit_is_422_naming_it(
    client: httpx.AsyncClient, param: str, value: object
):
    response = await client.get("/ocpp/catalog/brands", params={param: value})

    assert error_locs(response) == [["query", param]]


async def test_a_brands_models_list_with_every_documented_field(client: httpx.AsyncClient):
    body = (await client.get("/ocpp/catalog/brands/abb/models")).json()

    assert body["total"] == len(body["data"]) >= 2
    for model in body["data"]:
        assert set(model) == MODEL_FIELDS
        assert model["brand_slug"] == "abb"
        assert model["current_type"] in ("ac", "dc")
        assert 1 <= model["connector_count"] <= 4
        assert set(model["ocpp_versions"]) <= {"OCPP1.6", "OCPP2.0.1"}


async def test_the_catalog_has_twenty_models_both_ac_and_dc(client: httpx.AsyncClient):
    brands = (await client.get("/ocpp/catalog/brands", params={"limit": 100})).json()["data"]
    models = []
    for brand in brands:
        listed = await client.get(f"/ocpp/catalog/brands/{brand['slug']}/models")
        models += listed.json()["data"]

    assert len(models) >= 20
    assert {m["current_type"] for m in models} == {"ac", "dc"}
    assert {m["connector_count"] for m in models} >= {1, 2}


async def test_models_page_with_limit(client: httpx.AsyncClient):
    body = (await client.get("/ocpp/catalog/brands/abb/models", params={"limit": 1})).json()

    assert len(body["data"]) == 1
    assert body["total"] >= 2


async def test_one_model_answers_the_strings_sent_in_boot_notification(client: httpx.AsyncClient):
    response = await client.get("/ocpp/catalog/brands/abb/models/terra-184")

    model = response.json()
    assert response.status_code == 200
    assert set(model) == MODEL_FIELDS
    assert (model["slug"], model["brand_slug"], model["current_type"]) == ("terra-184", "abb", "dc")
    assert model["vendor_name"] and model["model_name"]
    assert model["max_power_w"] > 0
    assert "CCS2" in model["connector_types"]


@pytest.mark.parametrize(
    "path",
    [
        "/ocpp/catalog/brands/no-such-brand/models",
        "/ocpp/catalog/brands/no-such-brand/models/terra-184",
        "/ocpp/catalog/brands/abb/models/no-such-model",
        "/ocpp/catalog/brands/wallbox/models/terra-184",
    ],
)
async def test_an_unknown_brand_or_model_is_404(client: httpx.AsyncClient, path: str):
    response = await client.get(path)

    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


async def test_the_template_gallery_lists_the_documented_presets(client: httpx.AsyncClient):
    body = (await client.get("/ocpp/templates/locations")).json()

    slugs = {t["slug"] for t in body["data"]}
    assert {"urban-ac-hub", "highway-dc-station", "residential-ac-single"} <= slugs
    assert body["total"] == len(body["data"])
    for preset in body["data"]:
        assert set(preset) == {
            "slug",
            "name",
            "description",
            "country",
            "parking_type",
            "type",
            "groups",
        }
        for group in preset["groups"]:
            assert set(group) == {
                "brand_slug",
                "model_slug",
                "connector_type",
                "ocpp_version",
                "count",
                "power_kw",
            }


@pytest.mark.parametrize("kind", ["AC", "DC", "AC-DC"])
async def test_the_template_gallery_filters_by_type(client: httpx.AsyncClient, kind: str):
    body = (await client.get("/ocpp/templates/locations", params={"type": kind})).json()

    assert body["data"]
    assert {t["type"] for t in body["data"]} == {kind}


@pytest.mark.parametrize("version", ["OCPP1.6", "OCPP2.0.1"])
async def test_the_template_gallery_filters_by_ocpp_version_keeping_mixed_ones(
    client: httpx.AsyncClient, version: str
):
    body = (await client.get("/ocpp/templates/locations", params={"ocpp_version": version})).json()

    slugs = {t["slug"] for t in body["data"]}
    assert "urban-ac-hub" in slugs  # mixed 1.6 / 2.0.1: matches either version
    for preset in body["data"]:
        assert version in {group["ocpp_version"] for group in preset["groups"]}


async def test_the_template_gallery_combines_both_filters(client: httpx.AsyncClient):
    params = {"type": "DC", "ocpp_version": "OCPP1.6"}
    body = (await client.get("/ocpp/templates/locations", params=params)).json()

    for preset in body["data"]:
        assert preset["type"] == "DC"
        assert "OCPP1.6" in {group["ocpp_version"] for group in preset["groups"]}
    assert "highway-dc-station" not in {t["slug"] for t in body["data"]}  # 2.0.1 only


@pytest.mark.parametrize(
    ("param", "value"), [("type", "HPC"), ("type", ""), ("ocpp_version", "OCPP2.1")]
)
async def test_a_bad_template_filter_is_422_naming_it(
    client: httpx.AsyncClient, param: str, value: str
):
    response = await client.get("/ocpp/templates/locations", params={param: value})

    assert error_locs(response) == [["query", param]]
