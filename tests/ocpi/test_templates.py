"""OCPI bundle templates: the gallery, the deterministic plan, party-id mangling."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voltlab import catalog
from voltlab.domain.errors import FieldInvalid
from voltlab.errors import Conflict
from voltlab.ocpi import templates
from voltlab.ocpi.templates import (
    BundleFieldError,
    BundlePlan,
    PartyIdExhausted,
    TemplateOverrideError,
    TemplateRoleError,
    UnknownTemplate,
    bundle_template,
    bundle_templates,
    evse_id_for,
    evse_uid_for,
    mangle_party_id,
    plan_bundle,
    validate_country_code,
    validate_party_id,
)

CPO_TEMPLATES = {
    # slug: (locations, chargers)
    "small-urban-ac": (2, 6),
    "highway-dc": (3, 6),
    "mixed-depot": (1, 6),
}
EMSP_TEMPLATES = {"emsp-basic", "emsp-fleet"}
ALL_TEMPLATES = sorted(CPO_TEMPLATES.keys() | EMSP_TEMPLATES)
WHITELIST_TYPES = {"ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"}
PARKING_TYPES = {
    "ALONG_MOTORWAY",
    "PARKING_GARAGE",
    "PARKING_LOT",
    "ON_DRIVEWAY",
    "ON_STREET",
    "UNDERGROUND_GARAGE",
}
IDENTITY = re.compile(r"[A-Za-z0-9._-]{1,48}")
LATITUDE = re.compile(r"-?[0-9]{1,2}\.[0-9]{5,7}")
LONGITUDE = re.compile(r"-?[0-9]{1,3}\.[0-9]{5,7}")
OCPI_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
CONTRACT_ID = re.compile(r"[A-Z]{2}-[A-Z0-9]{3}-C[A-Z0-9]{8}-[A-Z0-9]")
EVSE_ID = re.compile(r"[A-Z]{2}\*[A-Z0-9]{3}\*E[A-Z0-9*]{1,40}")
TOKEN_FIELDS = {
    "country_code",
    "party_id",
    "uid",
    "type",
    "contract_id",
    "visual_number",
    "issuer",
    "valid",
    "whitelist",
    "language",
    "last_updated",
}


def plan(slug: str, *, seed: int | None = 1, overrides: dict | None = None, **kw) -> BundlePlan:
    role = "emsp" if slug in EMSP_TEMPLATES else "cpo"
    args = {"country_code": "NL", "party_id": "ABC", "name_prefix": "Acme"} | kw
    return plan_bundle(slug, role=role, seed=seed, overrides=overrides, **args)


# -- the gallery ----------------------------------------------------------------------------


def test_the_gallery_lists_the_three_cpo_templates_with_their_documented_counts():
    cpos = {t.slug: (t.locations, t.chargers) for t in bundle_templates(role="cpo")}
    assert cpos == CPO_TEMPLATES


def test_the_gallery_also_lists_the_emsp_templates_with_role_emsp():
    assert {t.slug for t in bundle_templates(role="emsp")} == EMSP_TEMPLATES
    assert [t.slug for t in bundle_templates()] == [
        *(t.slug for t in bundle_templates(role="cpo")),
        *(t.slug for t in bundle_templates(role="emsp")),
    ]


def test_a_template_summary_has_exactly_the_documented_keys():
    summary = bundle_template("highway-dc").to_summary()
    assert summary == {
        "slug": "highway-dc",
        "version": 1,
        "description": summary["description"],
        "locations": 3,
        "chargers": 6,
        "role": "cpo",
    }
    assert isinstance(summary["description"], str) and summary["description"]
    assert bundle_template("emsp-basic").to_summary()["role"] == "emsp"


def test_an_unknown_template_raises_an_error_naming_the_slug_that_is_also_a_key_error():
    with pytest.raises(UnknownTemplate) as caught:
        bundle_template("no-such-template")
    assert isinstance(caught.value, KeyError)
    assert isinstance(caught.value, FieldInvalid)
    assert caught.value.slug == "no-such-template"
    assert "no-such-template" in str(caught.value)
    assert caught.value.loc == ("template",)


def test_templates_are_frozen_and_their_tariff_elements_are_copies():
    template = bundle_template("small-urban-ac")
    with pytest.raises(dataclasses.FrozenInstanceError):
        template.slug = "changed"  # type: ignore[misc]
    template.tariffs[0].elements.clear()
    assert template.tariffs[0].elements


def test_the_small_urban_and_highway_templates_run_ocpp_1_6_and_the_depot_mixes_versions():
    def versions(slug: str) -> set[str]:
        return {c.ocpp_version for c in plan(slug).chargers}

    assert versions("small-urban-ac") == {"OCPP1.6"}
    assert versions("highway-dc") == {"OCPP1.6"}
    assert versions("mixed-depot") == {"OCPP1.6", "OCPP2.0.1"}


def test_the_urban_template_is_ac_the_highway_dc_and_the_depot_four_ac_and_two_dc():
    def currents(slug: str) -> Counter[str]:
        return Counter(
            catalog.model(c.brand_slug, c.model_slug).current_type for c in plan(slug).chargers
        )

    assert currents("small-urban-ac") == {"ac": 6}
    assert currents("highway-dc") == {"dc": 6}
    assert currents("mixed-depot") == {"ac": 4, "dc": 2}


@pytest.mark.parametrize("slug", sorted(CPO_TEMPLATES))
def test_every_charger_group_is_a_catalog_model_with_its_connector_type_and_version(slug):
    for site in bundle_template(slug).sites:
        for group in site.groups:
            model = catalog.model(group.brand_slug, group.model_slug)
            assert model is not None, (group.brand_slug, group.model_slug)
            assert group.connector_type in model.connector_types
            assert group.ocpp_version in model.ocpp_versions
            assert group.power_kw * 1000 <= model.max_power_w


@pytest.mark.parametrize("slug", sorted(CPO_TEMPLATES))
def test_every_cpo_template_has_a_eur_tariff_priced_per_kwh_for_each_of_its_groups(slug):
    template = bundle_template(slug)
    tariff_ids = {t.id for t in template.tariffs}
    assert {g.tariff_id for s in template.sites for g in s.groups} <= tariff_ids
    for tariff in template.tariffs:
        assert tariff.currency == "EUR"
        components = [c for e in tariff.elements for c in e["price_components"]]
        energy = [c for c in components if c["type"] == "ENERGY"]
        assert energy and all(c["price"] > 0 and c["step_size"] >= 1 for c in energy)
        assert all(c["type"] in {"ENERGY", "FLAT", "TIME", "PARKING_TIME"} for c in components)


def test_the_highway_tariff_charges_per_kwh_plus_a_time_fee_after_sixty_minutes():
    tariff = plan("highway-dc").tariffs[0]
    energy, time = tariff["elements"]
    assert energy["price_components"] == [
        {"type": "ENERGY", "price": 0.59, "vat": 19.0, "step_size": 1}
    ]
    assert time["price_components"][0]["type"] == "TIME"
    assert time["price_components"][0]["price"] == pytest.approx(6.0)  # 0.10 per minute
    assert time["restrictions"] == {"min_duration": 3600}


def test_the_basic_emsp_covers_every_whitelist_value_a_blocked_token_and_an_app_user():
    result = plan("emsp-basic")
    tokens = result.tokens
    assert {t["whitelist"] for t in tokens} == WHITELIST_TYPES
    assert any(t["valid"] is False for t in tokens)
    assert any(t["type"] == "APP_USER" and t["whitelist"] == "ALLOWED" for t in tokens)
    assert {t["type"] for t in tokens} >= {"RFID", "APP_USER", "AD_HOC_USER", "OTHER"}
    assert any("group_id" in t for t in tokens)
    assert sum("energy_contract" in t for t in tokens) == 1
    assert any("default_profile_type" in t for t in tokens)
    assert set(result.labels) == {t["uid"] for t in tokens}
    assert any("blocked" in label for label in result.labels.values())


def test_the_fleet_emsp_has_twenty_rfid_cards_in_one_group():
    tokens = plan("emsp-fleet").tokens
    assert len(tokens) == 20
    assert {t["type"] for t in tokens} == {"RFID"}
    assert len({t["group_id"] for t in tokens}) == 1


# -- determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ALL_TEMPLATES)
def test_the_same_seed_gives_an_identical_plan(slug):
    first, second = plan(slug, seed=42), plan(slug, seed=42)
    assert repr(first) == repr(second)
    assert json.dumps(first.to_dict()) == json.dumps(second.to_dict())
    assert dataclasses.asdict(first) == dataclasses.asdict(second)


@pytest.mark.parametrize("slug", sorted(CPO_TEMPLATES))
def test_a_different_seed_gives_different_location_ids_and_passwords(slug):
    first, second = plan(slug, seed=1), plan(slug, seed=2)
    assert {loc.ocpi_id for loc in first.locations}.isdisjoint(
        loc.ocpi_id for loc in second.locations
    )
    assert {c.password for c in first.chargers}.isdisjoint(c.password for c in second.chargers)


@pytest.mark.parametrize("slug", sorted(EMSP_TEMPLATES))
def test_a_different_seed_gives_different_token_uids(slug):
    first, second = plan(slug, seed=1), plan(slug, seed=2)
    assert {t["uid"] for t in first.tokens}.isdisjoint(t["uid"] for t in second.tokens)


def test_without_a_seed_the_plan_is_random_and_records_the_seed_that_rebuilds_it():
    first, second = plan("small-urban-ac", seed=None), plan("small-urban-ac", seed=None)
    assert first.locations[0].ocpi_id != second.locations[0].ocpi_id
    assert repr(plan("small-urban-ac", seed=first.seed)) == repr(first)


def test_the_timestamp_comes_from_the_seed_without_microseconds():
    result = plan("emsp-basic", seed=5)
    assert OCPI_DATETIME.fullmatch(result.last_updated)
    assert {t["last_updated"] for t in result.tokens} == {result.last_updated}
    assert plan("emsp-basic", seed=6).last_updated != result.last_updated


# -- overrides ------------------------------------------------------------------------------


def test_overrides_change_the_number_of_locations_and_chargers():
    result = plan("small-urban-ac", overrides={"locations": 5, "chargers_per_location": 4})
    assert len(result.locations) == 5
    assert [len(loc.chargers) for loc in result.locations] == [4] * 5
    assert len({loc.name for loc in result.locations}) == 5
    assert len({loc.ocpi_id for loc in result.locations}) == 5


def test_fewer_chargers_per_location_still_keep_every_charger_kind():
    result = plan("mixed-depot", overrides={"chargers_per_location": 2})
    assert {c.ocpp_version for c in result.chargers} == {"OCPP1.6", "OCPP2.0.1"}
    assert {c.tariff_id for c in result.chargers} == {"DEPOT-AC", "DEPOT-DC"}


def test_a_none_override_counts_as_not_given():
    result = plan("highway-dc", overrides={"locations": None, "chargers_per_location": 1})
    assert [len(loc.chargers) for loc in result.locations] == [1, 1, 1]


def test_the_token_count_of_an_emsp_can_be_overridden():
    assert len(plan("emsp-basic", overrides={"tokens": 30}).tokens) == 30
    assert len(plan("emsp-fleet", overrides={"tokens": 3}).tokens) == 3


@pytest.mark.parametrize(
    ("slug", "overrides", "field"),
    [
        ("small-urban-ac", {"locations": 0}, "locations"),
        ("small-urban-ac", {"locations": 201}, "locations"),
        ("highway-dc", {"chargers_per_location": 21}, "chargers_per_location"),
        ("highway-dc", {"chargers_per_location": -1}, "chargers_per_location"),
        ("mixed-depot", {"locations": "3"}, "locations"),
        ("mixed-depot", {"locations": True}, "locations"),
        ("emsp-basic", {"tokens": 501}, "tokens"),
        ("small-urban-ac", {"tokens": 3}, "tokens"),
        ("emsp-basic", {"locations": 3}, "locations"),
        ("emsp-basic", {"colour": "red"}, "colour"),
    ],
)
def test_a_bad_override_raises_an_error_naming_the_field(slug, overrides, field):
    with pytest.raises(TemplateOverrideError) as caught:
        plan(slug, overrides=overrides)
    assert caught.value.field == field
    assert caught.value.loc == ("overrides", field)
    assert field in str(caught.value)
    assert caught.value.reason in str(caught.value)


# -- inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("slug", "role"), [("small-urban-ac", "emsp"), ("emsp-basic", "cpo")])
def test_a_template_of_the_other_role_raises_a_role_error(slug, role):
    with pytest.raises(TemplateRoleError) as caught:
        plan_bundle(slug, role=role, country_code="NL", party_id="ABC", name_prefix="A")
    assert caught.value.field == "role"
    assert isinstance(caught.value, FieldInvalid)  # the REST edge answers 422


def test_an_unknown_role_raises_a_role_error():
    with pytest.raises(TemplateRoleError, match="role must be"):
        plan_bundle("small-urban-ac", role="hub", country_code="NL", party_id="ABC")


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"country_code": "nl"}, "country_code"),
        ({"country_code": "NLD"}, "country_code"),
        ({"party_id": "AB"}, "party_id"),
        ({"party_id": "ab1"}, "party_id"),
        ({"name_prefix": "x" * 65}, "name_prefix"),
        ({"name_prefix": "tab\x00"}, "name_prefix"),
    ],
)
def test_a_bad_party_field_raises_an_error_naming_it(kw, field):
    with pytest.raises(BundleFieldError) as caught:
        plan("small-urban-ac", **kw)
    assert caught.value.field == field
    assert caught.value.loc == (field,)
    assert field in str(caught.value)


def test_the_validators_return_valid_values_unchanged():
    assert validate_country_code("DE") == "DE"
    assert validate_party_id("A1B") == "A1B"


# -- chargers and EVSEs ---------------------------------------------------------------------


@pytest.mark.parametrize("slug", sorted(CPO_TEMPLATES))
def test_charger_identities_are_unique_valid_and_carry_prefix_party_and_indices(slug):
    result = plan(slug, overrides={"locations": 4, "chargers_per_location": 3})
    identities = [c.identity for c in result.chargers]
    assert len(set(identities)) == len(identities) == 12
    assert all(IDENTITY.fullmatch(identity) for identity in identities)
    assert result.locations[1].chargers[2].identity == "Acme-NLABC-L002-C03"


def test_identities_use_a_cleaned_prefix_and_none_when_the_prefix_is_empty():
    odd = plan("mixed-depot", name_prefix="Café Noir! & Co")
    assert odd.chargers[0].identity == "Cafe-Noir-Co-NLABC-L001-C01"
    empty = plan("mixed-depot", name_prefix="")
    assert empty.chargers[0].identity == "NLABC-L001-C01"
    assert empty.business_name.startswith("NLABC")


@pytest.mark.parametrize("slug", sorted(CPO_TEMPLATES))
def test_every_charger_has_one_stable_evse_per_connector(slug):
    for charger in plan(slug, seed=3).chargers:
        model = catalog.model(charger.brand_slug, charger.model_slug)
        assert charger.connector_count == model.connector_count
        assert charger.connector_type in model.connector_types
        assert len(charger.evse_uids) == len(charger.evse_ids) == model.connector_count
        if model.connector_count == 1:
            assert charger.evse_uids == (charger.identity,)
        else:
            expected = tuple(
                f"{charger.identity}_C{n}" for n in range(1, model.connector_count + 1)
            )
            assert charger.evse_uids == expected
        assert all(EVSE_ID.fullmatch(evse_id) for evse_id in charger.evse_ids)
        assert len(charger.password) >= 16
    assert [c.evse_uids for c in plan(slug, seed=3).chargers] == [
        c.evse_uids for c in plan(slug, seed=4).chargers
    ]


def test_the_evse_helpers_give_what_the_plan_gives():
    for charger in plan("small-urban-ac").chargers:
        n = charger.connector_count
        assert charger.evse_uids == tuple(
            evse_uid_for(charger.identity, i, n) for i in range(1, n + 1)
        )
        assert charger.evse_ids == tuple(
            evse_id_for("NL", "ABC", charger.identity, i) for i in range(1, n + 1)
        )
    assert evse_id_for("NL", "ABC", "Acme-NLABC-L001-C01", 2) == "NL*ABC*EACME*NLABC*L001*C01*2"


def test_locations_carry_ocpi_fields_and_float_coordinates():
    for location in plan("highway-dc").locations:
        assert location.country == "DEU" and location.country_alpha2 == "DE"
        assert location.parking_type == "ALONG_MOTORWAY"
        assert LATITUDE.fullmatch(location.coordinates["latitude"])
        assert LONGITUDE.fullmatch(location.coordinates["longitude"])
        assert location.latitude == pytest.approx(float(location.coordinates["latitude"]))
        assert 49 < location.latitude < 53 and 9 < location.longitude < 12
        assert location.time_zone == "Europe/Berlin"
        assert location.address and location.city and location.postal_code
        assert location.tariff_id == "HIGHWAY-DC"


def test_tariffs_are_ocpi_tariffs_owned_by_the_party():
    result = plan("mixed-depot", country_code="BE", party_id="DPT")
    assert [t["id"] for t in result.tariffs] == ["DEPOT-AC", "DEPOT-DC"]
    for tariff in result.tariffs:
        assert (tariff["country_code"], tariff["party_id"]) == ("BE", "DPT")
        assert tariff["currency"] == "EUR"
        assert tariff["last_updated"] == result.last_updated
        assert tariff["elements"]


def test_tokens_are_full_ocpi_tokens_of_this_emsp():
    result = plan("emsp-basic", country_code="DE", party_id="EMP", name_prefix="Volt")
    for token in result.tokens:
        assert set(token) >= TOKEN_FIELDS
        assert (token["country_code"], token["party_id"]) == ("DE", "EMP")
        assert re.fullmatch(r"[0-9A-F]{16}", token["uid"])
        assert CONTRACT_ID.fullmatch(token["contract_id"])
        assert token["contract_id"].startswith("DE-EMP-C")
        assert token["issuer"] == result.business_name
        assert len(token.get("group_id", "")) <= 20
        assert OCPI_DATETIME.fullmatch(token["last_updated"])
    assert len({t["uid"] for t in result.tokens}) == len(result.tokens)


# -- party ids ------------------------------------------------------------------------------


def test_a_free_party_id_is_kept():
    assert mangle_party_id("ABC", taken={"XYZ"}) == "ABC"
    assert mangle_party_id("ABC", taken=()) == "ABC"


def test_a_taken_party_id_gets_its_third_character_replaced_by_the_first_free_one():
    assert mangle_party_id("ABC", taken={"ABC"}) == "AB2"
    assert mangle_party_id("ABC", taken={"ABC", "AB2"}) == "AB3"
    assert mangle_party_id("AB2", taken={"AB2"}) == "AB3"


def test_mangling_raises_when_every_variant_is_taken():
    taken = {"ABC"} | {f"AB{c}" for c in "23456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    with pytest.raises(PartyIdExhausted) as caught:
        mangle_party_id("ABC", taken=taken)
    assert isinstance(caught.value, Conflict)
    assert "ABC" in str(caught.value)


def test_mangling_refuses_an_invalid_party_id():
    with pytest.raises(BundleFieldError, match="party_id"):
        mangle_party_id("abc", taken=set())


# -- properties -----------------------------------------------------------------------------

prefixes = st.text(
    alphabet=st.characters(categories=["L", "N", "P", "S"]) | st.just(" "), max_size=64
)


@settings(max_examples=60, deadline=None)
@given(
    slug=st.sampled_from(ALL_TEMPLATES),
    seed=st.integers(min_value=-(2**70), max_value=2**70),
    country_code=st.from_regex(r"[A-Z]{2}", fullmatch=True),
    party_id=st.from_regex(r"[A-Z0-9]{3}", fullmatch=True),
    name_prefix=prefixes,
    size=st.integers(min_value=1, max_value=6),
)
def test_plans_for_any_seed_stay_within_ocpi_limits(
    slug, seed, country_code, party_id, name_prefix, size
):
    cpo = slug in CPO_TEMPLATES
    overrides = {"locations": size, "chargers_per_location": size} if cpo else {"tokens": size}
    result = plan(
        slug,
        seed=seed,
        overrides=overrides,
        country_code=country_code,
        party_id=party_id,
        name_prefix=name_prefix,
    )
    assert len(result.party_id) == 3 and len(result.country_code) == 2
    identities = [c.identity for c in result.chargers]
    assert len(set(identities)) == len(identities)
    evse_uids = [uid for location in result.locations for uid in location.evse_uids]
    assert len(set(evse_uids)) == len(evse_uids)
    for location in result.locations:
        assert len(location.ocpi_id) <= 36
        assert LATITUDE.fullmatch(location.coordinates["latitude"])
        assert LONGITUDE.fullmatch(location.coordinates["longitude"])
        assert len(location.chargers) == size
        for charger in location.chargers:
            assert IDENTITY.fullmatch(charger.identity)
            assert all(len(uid) <= 36 for uid in charger.evse_uids)
            assert all(
                len(evse_id) <= 48 and EVSE_ID.fullmatch(evse_id) for evse_id in charger.evse_ids
            )
    for token in result.tokens:
        assert len(token["uid"]) <= 36
        assert len(token["contract_id"]) <= 36
        assert len(token.get("group_id", "")) <= 20
    assert len(result.tokens) == (0 if cpo else size)
    assert all(len(t["id"]) <= 36 for t in result.tariffs)


def test_the_package_exports_exactly_its_public_names():
    # ruff (RUF022) keeps __all__ sorted; here: no duplicates, and every name resolves.
    assert len(set(templates.__all__)) == len(templates.__all__)
    for name in templates.__all__:
        assert getattr(templates, name) is not None
