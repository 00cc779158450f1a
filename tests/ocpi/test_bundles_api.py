"""The management API of OCPI bundles (``/ocpi/cpos``): templates, create, status, read,
report, the bundle's chargers, bad input, party-id mangling, seeds, expiry and deletion."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from support.live import Voltlab, eventually
from support.ocpi import (
    bundle_chargers,
    create_bundle,
    ocpi_client,
    stored_token_uids,
)
from voltlab.settings import Settings

pytestmark = pytest.mark.timeout(60)

CPO_TEMPLATES = {
    # slug: (locations, chargers)
    "small-urban-ac": (2, 6),
    "highway-dc": (3, 6),
    "mixed-depot": (1, 6),
}


def body(template: str = "small-urban-ac", **fields: Any) -> dict[str, Any]:
    return {
        "template": template,
        "country_code": "NL",
        "party_id": "CPO",
        "name_prefix": "T",
        **fields,
    }


async def post_bundle(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """POST /ocpi/cpos and expect 202; the answer (not waiting for READY)."""
    answer = await client.post("/ocpi/cpos", json=body(**fields))
    assert answer.status_code == 202, answer.text
    return answer.json()


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def loc_names(answer: httpx.Response) -> list[str]:
    """The last element of each ``loc`` of a 422 (the field it names)."""
    return [".".join(str(part) for part in error["loc"]) for error in answer.json()["detail"]]


# -- templates ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ocpi/templates/cpos", "/ocpi/cpos/templates"])
async def test_the_template_gallery_lists_both_roles_with_the_documented_counts(
    voltlab: Voltlab, path: str
) -> None:
    answer = await voltlab.client.get(path)
    assert answer.status_code == 200, answer.text
    gallery = answer.json()
    assert gallery["total"] == len(gallery["data"])
    by_slug = {t["slug"]: t for t in gallery["data"]}
    for slug, (locations, chargers) in CPO_TEMPLATES.items():
        entry = by_slug[slug]
        assert entry["role"] == "cpo"
        assert (entry["locations"], entry["chargers"]) == (locations, chargers), entry
        assert entry["version"] >= 1
        assert entry["description"]
    emsp = [t for t in gallery["data"] if t["role"] == "emsp"]
    assert "emsp-basic" in {t["slug"] for t in emsp}
    assert {t["role"] for t in gallery["data"]} == {"cpo", "emsp"}


async def test_both_gallery_paths_answer_the_same(voltlab: Voltlab) -> None:
    first = (await voltlab.client.get("/ocpi/templates/cpos")).json()
    second = (await voltlab.client.get("/ocpi/cpos/templates")).json()
    assert first == second


# -- create, status, read ----------------------------------------------------------------


async def test_creating_a_bundle_answers_202_with_token_a_and_the_peer_helper(
    voltlab: Voltlab,
) -> None:
    before = datetime.now(UTC)
    accepted = await post_bundle(voltlab.client, party_id="ABC")
    cpo_id = accepted["cpo_id"]
    assert cpo_id.isdigit() and isinstance(cpo_id, str)
    assert accepted["party"] == {"country_code": "NL", "party_id": "ABC", "role": "CPO"}
    assert accepted.get("party_id_mangled_from") is None
    assert accepted["name_prefix"] == "T"
    assert accepted["template"] == "small-urban-ac"
    assert accepted["template_version"] >= 1
    assert accepted["status"] in ("PENDING", "PROVISIONING")
    assert accepted["workflow_run_id"]

    token_a = accepted["token_a"]
    assert isinstance(token_a, str) and 16 <= len(token_a) <= 64
    peer_url = accepted["ocpi_peer_url"]
    assert peer_url == f"{voltlab.base_url}/ocpi/{cpo_id}/versions"
    helper = accepted["roam_helper"]
    assert helper["credentials_payload"] == {"token": token_a, "url": peer_url}
    assert peer_url in helper["curl_snippet"]
    assert token_a in helper["curl_snippet"]
    assert helper["curl_snippet"].startswith("curl")

    assert accepted["status_url"] == f"/ocpi/cpos/{cpo_id}/status"
    assert accepted["destroy_url"] == f"/ocpi/cpos/{cpo_id}"
    expires = parse_time(accepted["expires_at"])
    expected = before + timedelta(seconds=3600)
    assert abs((expires - expected).total_seconds()) < 30

    # The curl snippet's request works as it is: Token A opens the versions URL.
    async with ocpi_client(token_a) as ocpi:
        versions = await ocpi.get(peer_url)
    assert versions.status_code == 200, versions.text
    assert versions.json()["data"][0]["version"] == "2.2.1"


async def test_an_explicit_ttl_sets_expires_at_and_a_null_ttl_never_expires(
    voltlab: Voltlab,
) -> None:
    before = datetime.now(UTC)
    short = await post_bundle(voltlab.client, party_id="TT1", ttl_seconds=120)
    assert abs((parse_time(short["expires_at"]) - before).total_seconds() - 120) < 30

    forever = await post_bundle(voltlab.client, party_id="TT2", ttl_seconds=None)
    assert forever["expires_at"] is None
    got = (await voltlab.client.get(f"/ocpi/cpos/{forever['cpo_id']}")).json()
    assert got["expires_at"] is None


async def test_a_bundle_becomes_ready_with_every_charger_ready(voltlab: Voltlab) -> None:
    accepted = await post_bundle(voltlab.client)
    seen: list[str] = []

    async def ready() -> dict[str, Any] | None:
        answer = await voltlab.client.get(accepted["status_url"])
        assert answer.status_code == 200, answer.text
        status = answer.json()
        seen.append(status["status"])
        assert status["status"] != "FAILED", status
        return status if status["status"] == "READY" else None

    status = await eventually(ready, timeout=20)
    assert status["cpo_id"] == accepted["cpo_id"]
    assert status["workflow_run_id"] == accepted["workflow_run_id"]
    assert status["error"] is None
    assert status["provisioned_at"] is not None
    assert status["status_url"] == accepted["status_url"]
    progress = status["progress"]
    assert progress["current_step"]
    assert progress["chargers_total"] == 6
    assert progress["chargers_ready"] == progress["chargers_total"]
    assert set(seen) <= {"PENDING", "PROVISIONING", "READY"}


async def test_reading_a_bundle_hides_token_a_and_counts_its_topology(voltlab: Voltlab) -> None:
    accepted = await create_bundle(voltlab.client, "small-urban-ac")
    answer = await voltlab.client.get(f"/ocpi/cpos/{accepted['cpo_id']}")
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    assert bundle["token_a"] is None
    assert accepted["token_a"] not in answer.text  # nor in a roam helper
    assert bundle["cpo_id"] == accepted["cpo_id"]
    assert bundle["party"] == accepted["party"]
    assert bundle["ocpi_peer_url"] == accepted["ocpi_peer_url"]
    assert bundle["status"] == "READY"
    assert bundle["report_url"] == f"/ocpi/cpos/{accepted['cpo_id']}/report"
    assert bundle["destroy_url"] == accepted["destroy_url"]
    topology = bundle["topology"]
    # 2 locations x (2 two-connector Alfen Eve Double + 1 single) = 6 chargers, 10 EVSEs.
    assert topology["locations"] == 2
    assert topology["chargers"] == 6
    chargers = await bundle_chargers(voltlab.client, accepted["cpo_id"])
    evses = sum(len(c["evse_uids"]) for c in chargers)
    assert topology["evses"] == evses == 10
    assert topology["connectors"] == evses
    assert topology["tokens"] == 0


async def test_an_emsp_bundle_counts_its_tokens_and_has_no_locations(voltlab: Voltlab) -> None:
    accepted = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    assert accepted["party"]["role"] == "EMSP"
    bundle = (await voltlab.client.get(f"/ocpi/cpos/{accepted['cpo_id']}")).json()
    uids = await stored_token_uids(voltlab.services, accepted["cpo_id"])
    assert uids
    assert bundle["topology"]["tokens"] == len(uids)
    assert bundle["topology"]["locations"] == bundle["topology"]["chargers"] == 0
    assert await bundle_chargers(voltlab.client, accepted["cpo_id"]) == []


async def test_the_bundle_list_pages_newest_first(voltlab: Voltlab) -> None:
    ids = [
        (await post_bundle(voltlab.client, template="emsp-basic", role="emsp", party_id=p))[
            "cpo_id"
        ]
        for p in ("PA1", "PA2", "PA3")
    ]
    first = (await voltlab.client.get("/ocpi/cpos", params={"limit": 2})).json()
    assert (first["total"], first["page"], first["limit"]) == (3, 1, 2)
    second = (await voltlab.client.get("/ocpi/cpos", params={"limit": 2, "page": 2})).json()
    assert (second["total"], second["page"], second["limit"]) == (3, 2, 2)
    listed = [b["cpo_id"] for b in first["data"] + second["data"]]
    assert listed == list(reversed(ids))
    assert all(b["token_a"] is None for b in first["data"] + second["data"])
    beyond = (await voltlab.client.get("/ocpi/cpos", params={"limit": 2, "page": 3})).json()
    assert beyond["data"] == [] and beyond["total"] == 3


# -- report ------------------------------------------------------------------------------


async def test_the_report_lists_every_charger_and_every_evse_of_a_cpo(voltlab: Voltlab) -> None:
    accepted = await create_bundle(voltlab.client, "mixed-depot")
    answer = await voltlab.client.get(f"/ocpi/cpos/{accepted['cpo_id']}/report")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["cpo_id"] == accepted["cpo_id"]
    markdown = report["markdown"]
    assert accepted["ocpi_peer_url"] in markdown
    assert "NL*CPO" in markdown
    chargers = await bundle_chargers(voltlab.client, accepted["cpo_id"])
    assert len(chargers) == 6
    for charger in chargers:
        assert charger["identity"] in markdown
        assert charger["ocpi_location_id"] in markdown
        for uid in charger["evse_uids"]:
            assert f"`{uid}`" in markdown


async def test_the_report_of_an_emsp_lists_every_token_uid(voltlab: Voltlab) -> None:
    accepted = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    markdown = (await voltlab.client.get(f"/ocpi/cpos/{accepted['cpo_id']}/report")).json()[
        "markdown"
    ]
    uids = await stored_token_uids(voltlab.services, accepted["cpo_id"])
    assert len(uids) >= 4
    for uid in uids:
        assert uid in markdown


# -- the bundle's chargers ----------------------------------------------------------------


async def test_a_cpo_bundles_chargers_are_tenant_chargers_booted_at_the_built_in_csms(
    voltlab: Voltlab,
) -> None:
    accepted = await create_bundle(voltlab.client, "highway-dc")
    cpo_id = accepted["cpo_id"]
    chargers = await bundle_chargers(voltlab.client, cpo_id)
    assert len(chargers) == 6
    ws_base = voltlab.base_url.replace("http://", "ws://")
    locations = (await voltlab.client.get(f"/ocpi/cpos/{cpo_id}/locations")).json()["data"]
    location_ids = {loc["id"] for loc in locations}
    assert len(location_ids) == 3
    for charger in chargers:
        assert charger["ocpi_cpo_id"] == cpo_id
        assert charger["ocpi_location_id"] in location_ids
        assert charger["evse_uids"] and all(charger["evse_uids"])
        assert charger["ws_url"] == f"{ws_base}/csms/{cpo_id}"
        assert charger["status"] == "READY"
    # Unfiltered, the tenant's list holds them too.
    everything = (await voltlab.client.get("/ocpp/chargers", params={"limit": 100})).json()
    assert {c["id"] for c in chargers} <= {c["id"] for c in everything["data"]}

    async def all_booted() -> bool:
        current = await bundle_chargers(voltlab.client, cpo_id)
        return all(
            c["runtime"]["state"] == "running"
            and c["runtime"]["connection"] == "connected"
            and c["runtime"]["boot_status"] == "Accepted"
            for c in current
        )

    await eventually(all_booted, timeout=15)
    # ... and the built-in CSMS knows each of them, connected.
    for charger in chargers:
        station = voltlab.services.csms.station(cpo_id, charger["identity"])
        assert station is not None and station.connected


async def test_the_charger_filter_keeps_bundles_apart(voltlab: Voltlab) -> None:
    first = await create_bundle(voltlab.client, "mixed-depot", party_id="AAA")
    second = await create_bundle(voltlab.client, "mixed-depot", party_id="BBB")
    one = await bundle_chargers(voltlab.client, first["cpo_id"])
    two = await bundle_chargers(voltlab.client, second["cpo_id"])
    assert len(one) == len(two) == 6
    assert not {c["id"] for c in one} & {c["id"] for c in two}
    assert {c["ocpi_cpo_id"] for c in two} == {second["cpo_id"]}


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"template": "no-such-template"}, "template"),
        ({"template": "emsp-basic"}, "role"),  # an eMSP template asked for as a CPO
        ({"template": "small-urban-ac", "role": "emsp"}, "role"),
        ({"ttl_seconds": 30}, "ttl_seconds"),
        ({"ttl_seconds": 10**7}, "ttl_seconds"),
        ({"country_code": "N1"}, "country_code"),
        ({"party_id": "AB"}, "party_id"),
        ({"overrides": {"locations": 0}}, "overrides.locations"),
        ({"overrides": {"charging_stations": 2}}, "overrides.charging_stations"),
        ({"name_prefix": "has spaces"}, "name_prefix"),
        ({"colour": "blue"}, "colour"),
        ({"ocpi_version": "2.1.1"}, "ocpi_version"),
    ],
)
async def test_bad_input_is_refused_with_422_naming_the_field(
    voltlab: Voltlab, fields: dict[str, Any], field: str
) -> None:
    answer = await voltlab.client.post("/ocpi/cpos", json=body(**fields))
    assert answer.status_code == 422, answer.text
    names = loc_names(answer)
    assert any(name == f"body.{field}" or name.startswith(f"body.{field}.") for name in names), (
        names
    )
    # Nothing was created.
    assert (await voltlab.client.get("/ocpi/cpos")).json()["total"] == 0


async def test_a_missing_required_field_is_named(voltlab: Voltlab) -> None:
    payload = body()
    del payload["party_id"]
    answer = await voltlab.client.post("/ocpi/cpos", json=payload)
    assert answer.status_code == 422
    assert "body.party_id" in loc_names(answer)


# -- party ids, seeds --------------------------------------------------------------------


async def test_a_taken_party_id_is_mangled_and_the_answer_says_so(voltlab: Voltlab) -> None:
    first = await post_bundle(voltlab.client, party_id="ABC")
    second = await post_bundle(voltlab.client, party_id="ABC")
    third = await post_bundle(voltlab.client, party_id="abc")
    assert first["party"]["party_id"] == "ABC"
    assert second["party"]["party_id"] == "AB2"
    assert second["party_id_mangled_from"] == "ABC"
    assert third["party"]["party_id"] == "AB3"
    assert third["party_id_mangled_from"] == "ABC"
    # Another country is another namespace; an eMSP of the same tenant shares it.
    other_country = await post_bundle(voltlab.client, party_id="ABC", country_code="DE")
    assert other_country["party"]["party_id"] == "ABC"
    emsp = await post_bundle(voltlab.client, template="emsp-basic", role="emsp", party_id="ABC")
    assert emsp["party"]["party_id"] == "AB4"
    got = (await voltlab.client.get(f"/ocpi/cpos/{second['cpo_id']}")).json()
    assert got["party"]["party_id"] == "AB2"
    assert got["party_id_mangled_from"] == "ABC"
    # Another tenant is another namespace too.
    async with voltlab.client_for("globex") as globex:
        theirs = await post_bundle(globex, party_id="ABC")
    assert theirs["party"]["party_id"] == "ABC"


async def _fingerprint(client: httpx.AsyncClient, voltlab: Voltlab, cpo_id: str) -> Any:
    locations = (await client.get(f"/ocpi/cpos/{cpo_id}/locations")).json()["data"]
    return sorted(
        (loc["id"], loc["name"], tuple(sorted(c["identity"] for c in loc["chargers"])))
        for loc in locations
    )


async def test_the_same_seed_gives_the_same_bundle_in_two_tenants(voltlab: Voltlab) -> None:
    async with voltlab.client_for("globex") as globex:
        ours = await create_bundle(voltlab.client, "small-urban-ac", seed=42)
        theirs = await create_bundle(globex, "small-urban-ac", seed=42)
        other = await create_bundle(voltlab.client, "small-urban-ac", seed=43, party_id="OTH")
        mine = await _fingerprint(voltlab.client, voltlab, ours["cpo_id"])
        assert mine == await _fingerprint(globex, voltlab, theirs["cpo_id"])
        assert len(mine) == 2
        assert all(len(identities) == 3 for _, _, identities in mine)
        ours_chargers = await bundle_chargers(voltlab.client, ours["cpo_id"])
        theirs_chargers = await bundle_chargers(globex, theirs["cpo_id"])
        assert sorted(c["identity"] for c in ours_chargers) == sorted(
            c["identity"] for c in theirs_chargers
        )
        assert sorted(u for c in ours_chargers for u in c["evse_uids"]) == sorted(
            u for c in theirs_chargers for u in c["evse_uids"]
        )
        # Another seed: other location ids.
        different = await _fingerprint(voltlab.client, voltlab, other["cpo_id"])
        assert {i for i, _, _ in different}.isdisjoint({i for i, _, _ in mine})

        emsp_ours = await create_bundle(voltlab.client, "emsp-basic", role="emsp", seed=7)
        emsp_theirs = await create_bundle(globex, "emsp-basic", role="emsp", seed=7)
        emsp_other = await create_bundle(
            voltlab.client, "emsp-basic", role="emsp", seed=8, party_id="EM2"
        )
    uids = await stored_token_uids(voltlab.services, emsp_ours["cpo_id"])
    assert uids
    assert uids == await stored_token_uids(voltlab.services, emsp_theirs["cpo_id"])
    assert set(uids).isdisjoint(await stored_token_uids(voltlab.services, emsp_other["cpo_id"]))


# -- expiry ------------------------------------------------------------------------------


class TestExpiry:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"ocpi_sweep_interval_s": 0.2})

    async def test_an_expired_bundle_is_destroyed_with_its_chargers_and_runtimes(
        self, voltlab: Voltlab
    ) -> None:
        from voltlab.storage.ocpi import OcpiBundle

        accepted = await create_bundle(voltlab.client, "mixed-depot", ttl_seconds=600)
        keeper = await create_bundle(voltlab.client, "emsp-basic", role="emsp", ttl_seconds=600)
        cpo_id = accepted["cpo_id"]
        chargers = await bundle_chargers(voltlab.client, cpo_id)
        assert len(chargers) == 6
        await eventually(
            lambda: all(
                voltlab.services.fleet.runtime(c["id"]).state == "running" for c in chargers
            )
        )
        # Not yet: a sweep every 0.2 s leaves a bundle that has time left.
        await _sleep(0.6)
        assert (await voltlab.client.get(f"/ocpi/cpos/{cpo_id}")).status_code == 200

        async with voltlab.services.sessions.begin() as session:
            row = await session.get(OcpiBundle, int(cpo_id))
            assert row is not None
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)

        async def gone() -> bool:
            return (await voltlab.client.get(f"/ocpi/cpos/{cpo_id}")).status_code == 404

        await eventually(gone, timeout=10)
        assert await bundle_chargers(voltlab.client, cpo_id) == []
        for charger in chargers:
            assert voltlab.services.fleet.runtime(charger["id"]).state == "stopped"
            got = await voltlab.client.get(f"/ocpp/chargers/{charger['id']}")
            assert got.status_code == 404
        assert cpo_id not in voltlab.services.csms.realms()
        async with ocpi_client(accepted["token_a"]) as ocpi:
            assert (await ocpi.get(accepted["ocpi_peer_url"])).status_code == 401
        # The other bundle lives on.
        assert (await voltlab.client.get(f"/ocpi/cpos/{keeper['cpo_id']}")).status_code == 200


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


# -- delete ------------------------------------------------------------------------------


async def test_deleting_a_bundle_removes_its_chargers_runtimes_and_ocpi_endpoints(
    voltlab: Voltlab,
) -> None:
    accepted = await create_bundle(voltlab.client, "small-urban-ac")
    cpo_id = accepted["cpo_id"]
    chargers = await bundle_chargers(voltlab.client, cpo_id)
    tenant_locations = {c["location_id"] for c in chargers}
    await eventually(
        lambda: all(voltlab.services.fleet.runtime(c["id"]).state == "running" for c in chargers)
    )
    # Token A opens the versions before; nothing after.
    async with ocpi_client(accepted["token_a"]) as ocpi:
        assert (await ocpi.get(accepted["ocpi_peer_url"])).status_code == 200

    answer = await voltlab.client.delete(f"/ocpi/cpos/{cpo_id}")
    assert answer.status_code == 204
    assert answer.content == b""

    assert (await voltlab.client.get(f"/ocpi/cpos/{cpo_id}")).status_code == 404
    assert (await voltlab.client.get(f"/ocpi/cpos/{cpo_id}/status")).status_code == 404
    assert await bundle_chargers(voltlab.client, cpo_id) == []
    for charger in chargers:
        assert voltlab.services.fleet.runtime(charger["id"]).state == "stopped"
        assert (await voltlab.client.get(f"/ocpp/chargers/{charger['id']}")).status_code == 404
    for location_id in tenant_locations:
        assert (await voltlab.client.get(f"/ocpp/locations/{location_id}")).status_code == 404
    assert (await voltlab.client.get("/ocpi/cpos")).json()["total"] == 0
    async with ocpi_client(accepted["token_a"]) as ocpi:
        refused = await ocpi.get(accepted["ocpi_peer_url"])
    assert refused.status_code == 401
    assert refused.json()["status_code"] == 2000


async def test_deleting_is_idempotent(voltlab: Voltlab) -> None:
    accepted = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    path = f"/ocpi/cpos/{accepted['cpo_id']}"
    assert (await voltlab.client.delete(path)).status_code == 204
    assert (await voltlab.client.delete(path)).status_code == 204
    assert (await voltlab.client.delete("/ocpi/cpos/987654")).status_code == 204
    assert (await voltlab.client.delete("/ocpi/cpos/not-a-number")).status_code == 204


async def test_another_tenant_can_neither_see_nor_delete_a_bundle(voltlab: Voltlab) -> None:
    accepted = await create_bundle(voltlab.client, "mixed-depot")
    cpo_id = accepted["cpo_id"]
    async with voltlab.client_for("globex") as globex:
        for path in ("", "/status", "/report", "/locations", "/peers", "/logs"):
            answer = await globex.get(f"/ocpi/cpos/{cpo_id}{path}")
            assert answer.status_code == 404, (path, answer.text)
        assert (await globex.get("/ocpi/cpos")).json()["total"] == 0
        assert await bundle_chargers(globex, cpo_id) == []
        assert (await globex.post(f"/ocpi/cpos/{cpo_id}/token-a")).status_code == 404
        assert (await globex.delete(f"/ocpi/cpos/{cpo_id}")).status_code == 204
    # Still there, chargers and all.
    assert (await voltlab.client.get(f"/ocpi/cpos/{cpo_id}")).status_code == 200
    assert len(await bundle_chargers(voltlab.client, cpo_id)) == 6
    async with ocpi_client(accepted["token_a"]) as ocpi:
        assert (await ocpi.get(accepted["ocpi_peer_url"])).status_code == 200


# -- Token A -----------------------------------------------------------------------------


async def test_a_new_token_a_replaces_the_old_one(voltlab: Voltlab) -> None:
    accepted = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    cpo_id = accepted["cpo_id"]
    answer = await voltlab.client.post(f"/ocpi/cpos/{cpo_id}/token-a")
    assert answer.status_code == 200, answer.text
    fresh = answer.json()
    assert fresh["cpo_id"] == cpo_id
    new_token = fresh["token_a"]
    assert new_token and new_token != accepted["token_a"]
    assert fresh["credentials_payload"] == {"token": new_token, "url": accepted["ocpi_peer_url"]}

    async with ocpi_client(accepted["token_a"]) as ocpi:
        old = await ocpi.get(accepted["ocpi_peer_url"])
    assert old.status_code == 401
    async with ocpi_client(new_token) as ocpi:
        new = await ocpi.get(accepted["ocpi_peer_url"])
    assert new.status_code == 200, new.text
    # Reading the bundle shows neither token.
    got = await voltlab.client.get(f"/ocpi/cpos/{cpo_id}")
    assert got.json()["token_a"] is None
    assert new_token not in got.text

    # A peer can register with the new Token A.
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    connected = await voltlab.client.post(
        f"/ocpi/cpos/{cpo['cpo_id']}/connect",
        json={"versions_url": accepted["ocpi_peer_url"], "token": new_token},
    )
    assert connected.status_code == 200, connected.text


async def test_concurrent_creations_with_one_party_id_get_distinct_party_ids(
    voltlab: Voltlab,
) -> None:
    answers = await asyncio.gather(
        *(
            voltlab.client.post("/ocpi/cpos", json=body("emsp-basic", role="emsp", party_id="SAM"))
            for _ in range(5)
        )
    )
    assert [a.status_code for a in answers] == [202] * 5
    party_ids = sorted(a.json()["party"]["party_id"] for a in answers)
    assert party_ids == ["SA2", "SA3", "SA4", "SA5", "SAM"]


async def test_a_deleted_bundles_id_is_not_given_to_the_next_bundle(voltlab: Voltlab) -> None:
    first = await post_bundle(voltlab.client, template="emsp-basic", role="emsp")
    assert (await voltlab.client.delete(first["destroy_url"])).status_code == 204
    second = await post_bundle(voltlab.client, template="emsp-basic", role="emsp")
    # A stale id (a script's DELETE after the TTL already destroyed the bundle) must not
    # reach another bundle.
    assert second["cpo_id"] != first["cpo_id"]
    assert (await voltlab.client.get(f"/ocpi/cpos/{first['cpo_id']}")).status_code == 404


async def test_connecting_with_a_wrong_token_a_answers_502(voltlab: Voltlab) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    emsp = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    answer = await voltlab.client.post(
        f"/ocpi/cpos/{emsp['cpo_id']}/connect",
        json={"versions_url": cpo["ocpi_peer_url"], "token": "not-their-token-a"},
    )
    assert answer.status_code == 502, answer.text
    assert "401" in answer.json()["detail"]
    assert (await voltlab.client.get(f"/ocpi/cpos/{emsp['cpo_id']}/peers")).json()["data"] == []
    # The real Token A still works afterwards.
    connected = await voltlab.client.post(
        f"/ocpi/cpos/{emsp['cpo_id']}/connect",
        json={"versions_url": cpo["ocpi_peer_url"], "token": cpo["token_a"]},
    )
    assert connected.status_code == 200, connected.text


@pytest.mark.parametrize("template", ["highway-dc", "emsp-basic"])
async def test_deleting_a_bundle_while_it_provisions_leaves_nothing_behind(
    voltlab: Voltlab, template: str
) -> None:
    role = "emsp" if template.startswith("emsp") else "cpo"
    accepted = await post_bundle(voltlab.client, template=template, role=role)
    assert (await voltlab.client.delete(accepted["destroy_url"])).status_code == 204
    # The provisioning task (same event loop: the server runs in the test's) runs its course.
    name = f"ocpi-bundle-{accepted['cpo_id']}"
    await eventually(lambda: all(t.get_name() != name for t in asyncio.all_tasks()), timeout=20)
    assert (await voltlab.client.get("/ocpp/chargers")).json()["total"] == 0
    assert (await voltlab.client.get("/ocpp/locations")).json()["total"] == 0
    assert voltlab.services.fleet.running_count() == 0
    assert accepted["cpo_id"] not in voltlab.services.csms.realms()
    assert await stored_token_uids(voltlab.services, accepted["cpo_id"]) == []


async def test_a_party_id_with_every_variant_taken_is_a_409(voltlab: Voltlab) -> None:
    # "ZZZ" itself and ZZ2..ZZ9, ZZA..ZZY: 34 more; "ZZZ" is both the original and a variant.
    party_ids = set()
    for _ in range(34):
        accepted = await post_bundle(
            voltlab.client, template="emsp-basic", role="emsp", party_id="ZZZ"
        )
        party_ids.add(accepted["party"]["party_id"])
    assert len(party_ids) == 34
    assert all(p.startswith("ZZ") for p in party_ids)
    refused = await voltlab.client.post(
        "/ocpi/cpos", json=body("emsp-basic", role="emsp", party_id="ZZZ")
    )
    assert refused.status_code == 409, refused.text
    assert "ZZZ" in refused.json()["detail"]
