"""The OCPI endpoints peers call (Token auth): versions, credentials both ways, locations
with pagination, EVSE statuses that follow the chargers, and the exchange log."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from support.live import Voltlab, eventually
from support.ocpi import (
    Roaming,
    bundle_chargers,
    connect_emsp_to_cpo,
    create_bundle,
    ocpi_client,
)
from voltlab.ocpi.client import OcpiClient
from voltlab.ocpi.transport import OcpiClientError

pytestmark = pytest.mark.timeout(60)

OCPI_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')

CPO_ENDPOINTS = {
    ("credentials", "SENDER"),
    ("locations", "SENDER"),
    ("sessions", "SENDER"),
    ("cdrs", "SENDER"),
    ("tariffs", "SENDER"),
    ("tokens", "RECEIVER"),
    ("commands", "RECEIVER"),
}
EMSP_ENDPOINTS = {
    ("credentials", "SENDER"),
    ("tokens", "SENDER"),
    ("locations", "RECEIVER"),
    ("sessions", "RECEIVER"),
    ("cdrs", "RECEIVER"),
    ("tariffs", "RECEIVER"),
    ("commands", "SENDER"),
}


def b64(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def assert_envelope(answer: httpx.Response, http_status: int, status_code: int) -> dict[str, Any]:
    assert answer.status_code == http_status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["status_code"] == status_code, body
    assert OCPI_DATETIME.match(body["timestamp"]), body["timestamp"]
    return body


def details_url(bundle: dict[str, Any]) -> str:
    return bundle["ocpi_peer_url"].removesuffix("/versions") + "/2.2.1"


def module_url(bundle: dict[str, Any], module: str) -> str:
    return f"{details_url(bundle)}/{module}"


# -- authorization -----------------------------------------------------------------------


async def test_a_request_without_a_known_token_gets_a_401_envelope(voltlab: Voltlab) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    other = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    versions = cpo["ocpi_peer_url"]
    async with httpx.AsyncClient(timeout=10) as http:
        missing = await http.get(versions)
        bearer = await http.get(versions, headers={"Authorization": f"Bearer {cpo['token_a']}"})
        unknown = await http.get(versions, headers={"Authorization": "Token no-such-token"})
        # Another bundle's Token A opens that bundle, not this one.
        foreign = await http.get(versions, headers={"Authorization": f"Token {other['token_a']}"})
        nowhere = await http.get(
            versions.replace(f"/ocpi/{cpo['cpo_id']}/", "/ocpi/99999/"),
            headers={"Authorization": f"Token {cpo['token_a']}"},
        )
    for answer in (missing, bearer, unknown, foreign, nowhere):
        body = assert_envelope(answer, 401, 2000)
        assert "data" not in body or body["data"] is None
        assert body.get("status_message")
        assert answer.headers["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("encode", [b64, str], ids=["base64", "plain"])
async def test_token_a_opens_versions_and_details_but_no_module(
    voltlab: Voltlab, encode: Any
) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    async with ocpi_client(encode(cpo["token_a"])) as ocpi:
        versions = await ocpi.get(cpo["ocpi_peer_url"])
        body = assert_envelope(versions, 200, 1000)
        assert body["data"] == [{"version": "2.2.1", "url": details_url(cpo)}]
        details = assert_envelope(await ocpi.get(details_url(cpo)), 200, 1000)
        assert details["data"]["version"] == "2.2.1"
        for module in ("locations", "credentials"):
            refused = await ocpi.get(module_url(cpo, module))
            assert_envelope(refused, 401, 2000)


async def test_version_details_list_the_endpoints_of_each_role(voltlab: Voltlab) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    emsp = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    for bundle, expected in ((cpo, CPO_ENDPOINTS), (emsp, EMSP_ENDPOINTS)):
        async with ocpi_client(bundle["token_a"]) as ocpi:
            details = (await ocpi.get(details_url(bundle))).json()["data"]
        endpoints = details["endpoints"]
        assert {(e["identifier"], e["role"]) for e in endpoints} == expected
        for endpoint in endpoints:
            assert endpoint["url"] == module_url(bundle, endpoint["identifier"])


# -- credentials -------------------------------------------------------------------------


async def test_the_credentials_lifecycle_seen_from_the_peer(voltlab: Voltlab) -> None:
    roaming = await connect_emsp_to_cpo(voltlab)
    cpo, emsp = roaming.cpo, roaming.emsp
    credentials = module_url(cpo, "credentials")
    locations = roaming.locations_url
    token_c = roaming.token_c

    async with ocpi_client(b64(token_c)) as ocpi:
        # GET: the CPO's credentials, with the token the peer uses.
        ours = assert_envelope(await ocpi.get(credentials), 200, 1000)["data"]
        assert ours["token"] == token_c
        assert ours["url"] == cpo["ocpi_peer_url"]
        assert ours["roles"] == [
            {
                "role": "CPO",
                "business_details": ours["roles"][0]["business_details"],
                "party_id": "CPO",
                "country_code": "NL",
            }
        ]
        assert ours["roles"][0]["business_details"]["name"]
        # POST again once registered: 405.
        again = await ocpi.post(
            credentials,
            json={"token": "x" * 20, "url": emsp["ocpi_peer_url"], "roles": ours["roles"]},
        )
        assert_envelope(again, 405, 2000)

    # PUT: the CPO fetches the peer's versions with the new token, and rotates C.
    fresh = (await voltlab.client.post(f"/ocpi/cpos/{emsp['cpo_id']}/token-a")).json()
    emsp_role = {
        "role": "EMSP",
        "business_details": {"name": "Renamed eMSP"},
        "party_id": "EMS",
        "country_code": "NL",
    }
    async with ocpi_client(b64(token_c)) as ocpi:
        put = await ocpi.put(
            credentials,
            json={"token": fresh["token_a"], "url": emsp["ocpi_peer_url"], "roles": [emsp_role]},
        )
    rotated = assert_envelope(put, 200, 1000)["data"]
    new_c = rotated["token"]
    assert new_c and new_c != token_c
    assert rotated["url"] == cpo["ocpi_peer_url"]
    peers = (await voltlab.client.get(f"/ocpi/cpos/{cpo['cpo_id']}/peers")).json()["data"]
    assert len(peers) == 1
    assert peers[0]["roles"][0]["business_details"]["name"] == "Renamed eMSP"

    async with ocpi_client(b64(token_c)) as ocpi:
        assert_envelope(await ocpi.get(locations), 401, 2000)
    async with ocpi_client(b64(new_c)) as ocpi:
        assert_envelope(await ocpi.get(locations), 200, 1000)
        # DELETE: unregistered; the token opens nothing any more.
        assert_envelope(await ocpi.delete(credentials), 200, 1000)
        assert_envelope(await ocpi.get(locations), 401, 2000)
        assert_envelope(await ocpi.get(credentials), 401, 2000)
        assert_envelope(await ocpi.delete(credentials), 401, 2000)
    peers = (await voltlab.client.get(f"/ocpi/cpos/{cpo['cpo_id']}/peers")).json()
    assert peers["data"] == []


async def test_put_and_delete_of_credentials_need_a_registration(voltlab: Voltlab) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    emsp = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    body = {
        "token": emsp["token_a"],
        "url": emsp["ocpi_peer_url"],
        "roles": [
            {
                "role": "EMSP",
                "business_details": {"name": "E"},
                "party_id": "EMS",
                "country_code": "NL",
            }
        ],
    }
    async with ocpi_client(b64(cpo["token_a"])) as ocpi:
        assert_envelope(await ocpi.put(module_url(cpo, "credentials"), json=body), 405, 2000)
        assert_envelope(await ocpi.delete(module_url(cpo, "credentials")), 405, 2000)
        # Token A still works afterwards, and a POST registers.
        registered = await ocpi.post(module_url(cpo, "credentials"), json=body)
    data = assert_envelope(registered, 200, 1000)["data"]
    assert data["token"] not in (cpo["token_a"], emsp["token_a"])
    peers = (await voltlab.client.get(f"/ocpi/cpos/{cpo['cpo_id']}/peers")).json()["data"]
    assert [p["party"] for p in peers] == [
        {"country_code": "NL", "party_id": "EMS", "role": "EMSP"}
    ]
    # Token A died with the registration.
    async with ocpi_client(cpo["token_a"]) as ocpi:
        assert_envelope(await ocpi.get(cpo["ocpi_peer_url"]), 401, 2000)


@pytest.mark.parametrize("missing", ["token", "url", "roles"])
async def test_a_credentials_post_missing_a_field_is_refused_naming_it(
    voltlab: Voltlab, missing: str
) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    emsp = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    body: dict[str, Any] = {
        "token": emsp["token_a"],
        "url": emsp["ocpi_peer_url"],
        "roles": [
            {
                "role": "EMSP",
                "business_details": {"name": "E"},
                "party_id": "EMS",
                "country_code": "NL",
            }
        ],
    }
    del body[missing]
    async with ocpi_client(b64(cpo["token_a"])) as ocpi:
        answer = await ocpi.post(module_url(cpo, "credentials"), json=body)
        refused = assert_envelope(answer, 400, 2001)
        assert missing in refused["status_message"]
        # Nothing was registered: Token A still opens the versions.
        assert_envelope(await ocpi.get(cpo["ocpi_peer_url"]), 200, 1000)


async def test_a_credentials_post_with_invalid_json_is_a_400(voltlab: Voltlab) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    async with ocpi_client(b64(cpo["token_a"])) as ocpi:
        for content in (b"{not json", b"", b"[1, 2"):
            answer = await ocpi.post(
                module_url(cpo, "credentials"),
                content=content,
                headers={"Content-Type": "application/json"},
            )
            assert_envelope(answer, 400, 2001)


async def test_request_and_correlation_ids_are_echoed_on_success_and_error(
    voltlab: Voltlab,
) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    ids = {"X-Request-ID": "req-123", "X-Correlation-ID": "corr-456"}
    async with ocpi_client(cpo["token_a"]) as ocpi:
        ok = await ocpi.get(cpo["ocpi_peer_url"], headers=ids)
        refused = await ocpi.get(module_url(cpo, "locations"), headers=ids)
        bad = await ocpi.post(module_url(cpo, "credentials"), content=b"{", headers=ids)
    async with httpx.AsyncClient(timeout=10) as http:
        anonymous = await http.get(cpo["ocpi_peer_url"], headers=ids)
    for answer, status in ((ok, 200), (refused, 401), (bad, 400), (anonymous, 401)):
        assert answer.status_code == status
        assert answer.headers["X-Request-ID"] == "req-123"
        assert answer.headers["X-Correlation-ID"] == "corr-456"
    # Without them, fresh ones come back.
    async with ocpi_client(cpo["token_a"]) as ocpi:
        plain = await ocpi.get(cpo["ocpi_peer_url"])
    assert plain.headers["X-Request-ID"]
    assert plain.headers["X-Correlation-ID"]


# -- locations: pagination ---------------------------------------------------------------


async def test_locations_page_over_more_than_a_hundred_locations(voltlab: Voltlab) -> None:
    cpo = await create_bundle(
        voltlab.client,
        "small-urban-ac",
        overrides={"locations": 105, "chargers_per_location": 1},
    )
    roaming = await connect_emsp_to_cpo(voltlab, cpo)
    url = roaming.locations_url
    seen: list[str] = []
    pages = 0
    async with ocpi_client(b64(roaming.token_c)) as ocpi:
        next_url: str | None = f"{url}?limit=50"
        while next_url is not None:
            answer = await ocpi.get(next_url)
            body = assert_envelope(answer, 200, 1000)
            pages += 1
            assert answer.headers["X-Total-Count"] == "105"
            assert answer.headers["X-Limit"] == "50"
            seen += [location["id"] for location in body["data"]]
            link = answer.headers.get("Link")
            if link is None:
                next_url = None
            else:
                match = LINK.match(link)
                assert match, link
                next_url = match["url"]
                assert next_url.startswith(url + "?"), next_url
        assert pages == 3
        assert len(seen) == len(set(seen)) == 105

        clamped = await ocpi.get(url, params={"limit": 500})
        assert clamped.headers["X-Limit"] == "100"
        assert len(clamped.json()["data"]) == 100
        assert "Link" in clamped.headers

        tail = await ocpi.get(url, params={"offset": 100, "limit": 50})
        assert [loc["id"] for loc in tail.json()["data"]] == seen[100:]
        assert "Link" not in tail.headers

        future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        later = await ocpi.get(url, params={"date_from": future})
        assert assert_envelope(later, 200, 1000)["data"] == []
        assert later.headers["X-Total-Count"] == "0"
        past = await ocpi.get(url, params={"date_to": "2020-01-01T00:00:00Z"})
        assert past.json()["data"] == []
        assert past.headers["X-Total-Count"] == "0"
        everything = await ocpi.get(
            url, params={"date_from": "2020-01-01T00:00:00Z", "date_to": future, "limit": 100}
        )
        assert everything.headers["X-Total-Count"] == "105"

        bad = await ocpi.get(url, params={"limit": "many"})
        assert_envelope(bad, 400, 2001)

    # The OCPI client crawls the same list through the links.
    async with OcpiClient.new_http_client() as http:
        client = OcpiClient(http, token=roaming.token_c)
        crawled = await client.get_all(url, limit=50)
    assert [location["id"] for location in crawled] == seen


# -- locations: objects and statuses ------------------------------------------------------


async def test_one_location_evse_and_connector_can_be_read(voltlab: Voltlab) -> None:
    roaming = await connect_emsp_to_cpo(voltlab)
    url = roaming.locations_url
    async with ocpi_client(b64(roaming.token_c)) as ocpi:
        listed = (await ocpi.get(url)).json()["data"]
        location = listed[0]
        assert (location["country_code"], location["party_id"]) == ("NL", "CPO")
        assert location["country"] == "NLD"
        assert OCPI_DATETIME.match(location["last_updated"])
        one = assert_envelope(await ocpi.get(f"{url}/{location['id']}"), 200, 1000)["data"]
        assert one["id"] == location["id"]
        assert [e["uid"] for e in one["evses"]] == [e["uid"] for e in location["evses"]]
        evse = one["evses"][0]
        assert OCPI_DATETIME.match(evse["last_updated"])
        got_evse = await ocpi.get(f"{url}/{location['id']}/{evse['uid']}")
        assert assert_envelope(got_evse, 200, 1000)["data"]["uid"] == evse["uid"]
        connector = evse["connectors"][0]
        got_connector = await ocpi.get(f"{url}/{location['id']}/{evse['uid']}/{connector['id']}")
        data = assert_envelope(got_connector, 200, 1000)["data"]
        assert data["id"] == connector["id"]
        assert data["standard"] == "IEC_62196_T2"
        assert OCPI_DATETIME.match(data["last_updated"])

        unknown = await ocpi.get(f"{url}/no-such-location")
        assert_envelope(unknown, 404, 2003)
        unknown_evse = await ocpi.get(f"{url}/{location['id']}/NO-SUCH-EVSE")
        assert_envelope(unknown_evse, 404, 2000)
        unknown_connector = await ocpi.get(f"{url}/{location['id']}/{evse['uid']}/9")
        assert_envelope(unknown_connector, 404, 2000)


async def test_a_location_of_another_bundle_is_unknown(voltlab: Voltlab) -> None:
    roaming = await connect_emsp_to_cpo(voltlab)
    other = await create_bundle(voltlab.client, "mixed-depot", party_id="OTH")
    theirs = (await voltlab.client.get(f"/ocpi/cpos/{other['cpo_id']}/locations")).json()
    location_id = theirs["data"][0]["id"]
    async with ocpi_client(b64(roaming.token_c)) as ocpi:
        answer = await ocpi.get(f"{roaming.locations_url}/{location_id}")
        assert_envelope(answer, 404, 2003)
        # And the peer's token does not open the other bundle.
        assert_envelope(await ocpi.get(module_url(other, "locations")), 401, 2000)


async def _evse(ocpi: httpx.AsyncClient, roaming: Roaming, charger: dict[str, Any]) -> Any:
    url = f"{roaming.locations_url}/{charger['ocpi_location_id']}/{charger['evse_uids'][0]}"
    answer = await ocpi.get(url)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


async def _wait_status(
    ocpi: httpx.AsyncClient, roaming: Roaming, charger: dict[str, Any], status: str
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        evse = await _evse(ocpi, roaming, charger)
        return evse if evse["status"] == status else None

    return await eventually(reached, timeout=15)


async def test_evse_statuses_follow_the_chargers(voltlab: Voltlab) -> None:
    roaming = await connect_emsp_to_cpo(voltlab)
    chargers = await bundle_chargers(voltlab.client, roaming.cpo["cpo_id"])
    single = [c for c in chargers if len(c["evse_uids"]) == 1]
    faulty, stopped, charging = single[0], single[1], chargers[0]
    assert charging not in single
    client = voltlab.client
    async with ocpi_client(b64(roaming.token_c)) as ocpi:
        before = {
            c["id"]: await _wait_status(ocpi, roaming, c, "AVAILABLE")
            for c in (faulty, stopped, charging)
        }
        await asyncio.sleep(1.1)  # OCPI times have second precision

        fault = await client.post(
            "/ocpp/commands/inject-fault",
            json={"target": {"charger_id": faulty["id"]}, "event": {"fault_type": "GroundFault"}},
        )
        assert fault.status_code == 200, fault.text
        broken = await _wait_status(ocpi, roaming, faulty, "OUTOFORDER")
        assert broken["last_updated"] > before[faulty["id"]]["last_updated"]

        stop = await client.post(f"/ocpp/chargers/{stopped['id']}/stop-charger")
        assert stop.status_code in (200, 202), stop.text
        offline = await _wait_status(ocpi, roaming, stopped, "UNKNOWN")
        assert offline["last_updated"] > before[stopped["id"]]["last_updated"]
        restart = await client.post(f"/ocpp/chargers/{stopped['id']}/start-charger")
        assert restart.status_code in (200, 202), restart.text
        await _wait_status(ocpi, roaming, stopped, "AVAILABLE")

        start = await client.post(
            "/ocpp/commands/start-session",
            json={"target": {"charger_id": charging["id"]}, "event": {"id_tag": "ANY"}},
        )
        assert start.status_code == 202, start.text
        busy = await _wait_status(ocpi, roaming, charging, "CHARGING")
        assert busy["last_updated"] > before[charging["id"]]["last_updated"]
        # The charger's other EVSE is still free.
        location = (
            await ocpi.get(f"{roaming.locations_url}/{charging['ocpi_location_id']}")
        ).json()["data"]
        statuses = {e["uid"]: e["status"] for e in location["evses"]}
        assert statuses[charging["evse_uids"][1]] == "AVAILABLE"

        # A location's last_updated is its newest EVSE's.
        assert location["last_updated"] >= busy["last_updated"]


# -- the exchange log --------------------------------------------------------------------


async def test_the_exchange_log_records_incoming_and_outgoing_exchanges(
    voltlab: Voltlab,
) -> None:
    roaming = await connect_emsp_to_cpo(voltlab)
    cpo_id = roaming.cpo["cpo_id"]
    async with ocpi_client(b64(roaming.token_c)) as ocpi:
        await ocpi.get(roaming.locations_url, headers={"X-Correlation-ID": "log-corr"})
        await ocpi.get(f"{roaming.locations_url}/nope")
    async with httpx.AsyncClient(timeout=10) as http:
        await http.get(roaming.cpo["ocpi_peer_url"])

    async def logged() -> dict[str, Any] | None:
        logs = (await voltlab.client.get(f"/ocpi/cpos/{cpo_id}/logs")).json()
        paths = [e["url"] for e in logs["data"]]
        return logs if any(p.endswith("/nope") for p in paths) else None

    logs = await eventually(logged)
    entries = logs["data"]
    assert logs["total"] == len(entries)
    incoming = [e for e in entries if e["direction"] == "in"]
    outgoing = [e for e in entries if e["direction"] == "out"]
    # The eMSP's handshake with the CPO: versions, details, credentials POST (in); the
    # CPO's fetch of the eMSP's versions and details with token B (out).
    assert any(e["method"] == "POST" and e["url"].endswith("/credentials") for e in incoming)
    assert any(e["url"].endswith("/versions") and e["status_code"] == 1000 for e in outgoing)
    assert all(e["http_status"] for e in outgoing)
    locations = next(
        e for e in incoming if e["url"].endswith("/locations") and e["method"] == "GET"
    )
    assert (locations["http_status"], locations["status_code"]) == (200, 1000)
    assert locations["correlation_id"] == "log-corr"
    missing = next(e for e in incoming if e["url"].endswith("/nope"))
    assert (missing["http_status"], missing["status_code"]) == (404, 2003)
    unauthorised = [e for e in incoming if e["http_status"] == 401]
    assert unauthorised and unauthorised[0]["status_code"] == 2000
    # Newest first (the log is in the order exchanges finished); filters by direction.
    assert entries.index(missing) < entries.index(locations)
    assert entries.index(unauthorised[0]) < entries.index(missing)
    only_out = (
        await voltlab.client.get(f"/ocpi/cpos/{cpo_id}/logs", params={"direction": "out"})
    ).json()
    assert {e["direction"] for e in only_out["data"]} == {"out"}
    # The CPO's background calls (a token pull) may add outgoing entries between the reads.
    assert only_out["total"] == len(only_out["data"]) >= len(outgoing)
    assert all(e in only_out["data"] for e in outgoing)

    # The eMSP logged its side: its outgoing calls to the CPO.
    emsp_logs = (await voltlab.client.get(f"/ocpi/cpos/{roaming.emsp['cpo_id']}/logs")).json()
    assert any(
        e["direction"] == "out" and e["method"] == "POST" and e["url"].endswith("/credentials")
        for e in emsp_logs["data"]
    )


async def test_the_ocpi_client_raises_the_peers_refusal(voltlab: Voltlab) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    async with OcpiClient.new_http_client() as http:
        client = OcpiClient(http, token="not-a-token", retries=0)
        with pytest.raises(OcpiClientError) as caught:
            await client.get(cpo["ocpi_peer_url"])
    assert caught.value.http_status == 401
    assert caught.value.status_code == 2000


async def test_a_credentials_post_whose_versions_cannot_be_fetched_keeps_token_a(
    voltlab: Voltlab,
) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    emsp = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    role = {
        "role": "EMSP",
        "business_details": {"name": "E"},
        "party_id": "EMS",
        "country_code": "NL",
    }
    async with ocpi_client(b64(cpo["token_a"])) as ocpi:
        # The eMSP's versions URL with a token the eMSP does not know.
        wrong_token = await ocpi.post(
            module_url(cpo, "credentials"),
            json={"token": "unknown-to-the-emsp", "url": emsp["ocpi_peer_url"], "roles": [role]},
        )
        assert_envelope(wrong_token, 200, 3001)
        closed = await ocpi.post(
            module_url(cpo, "credentials"),
            json={"token": emsp["token_a"], "url": "http://127.0.0.1:9/versions", "roles": [role]},
        )
        assert_envelope(closed, 200, 3001)
        # Token A survived both, and nobody was registered.
        assert_envelope(await ocpi.get(cpo["ocpi_peer_url"]), 200, 1000)
    peers = (await voltlab.client.get(f"/ocpi/cpos/{cpo['cpo_id']}/peers")).json()
    assert peers["data"] == []


async def test_a_credentials_put_whose_versions_cannot_be_fetched_keeps_token_c(
    voltlab: Voltlab,
) -> None:
    roaming = await connect_emsp_to_cpo(voltlab, template="mixed-depot")
    credentials = module_url(roaming.cpo, "credentials")
    async with ocpi_client(b64(roaming.token_c)) as ocpi:
        answer = await ocpi.put(
            credentials,
            json={
                "token": "unknown-to-the-emsp",
                "url": roaming.emsp["ocpi_peer_url"],
                "roles": [
                    {
                        "role": "EMSP",
                        "business_details": {"name": "E"},
                        "party_id": "EMS",
                        "country_code": "NL",
                    }
                ],
            },
        )
        assert_envelope(answer, 200, 3001)
        still = assert_envelope(await ocpi.get(credentials), 200, 1000)
    assert still["data"]["token"] == roaming.token_c


async def test_the_next_link_keeps_the_filters(voltlab: Voltlab) -> None:
    roaming = await connect_emsp_to_cpo(voltlab, template="highway-dc")
    async with ocpi_client(b64(roaming.token_c)) as ocpi:
        first = await ocpi.get(
            roaming.locations_url, params={"date_from": "2020-01-01T00:00:00Z", "limit": 2}
        )
        assert first.headers["X-Total-Count"] == "3"
        match = LINK.match(first.headers["Link"])
        assert match, first.headers["Link"]
        assert "date_from=2020-01-01T00:00:00Z" in match["url"]
        assert "offset=2" in match["url"] and "limit=2" in match["url"]
        second = await ocpi.get(match["url"])
    ids = [loc["id"] for loc in first.json()["data"] + second.json()["data"]]
    assert len(set(ids)) == 3
    assert "Link" not in second.headers


async def test_evse_statuses_follow_ocpp_2_0_1_chargers_too(voltlab: Voltlab) -> None:
    roaming = await connect_emsp_to_cpo(voltlab, template="mixed-depot")
    chargers = await bundle_chargers(voltlab.client, roaming.cpo["cpo_id"])
    modern = [c for c in chargers if c["ocpp_version"] == "OCPP2.0.1"]
    assert len(modern) >= 2
    faulty, busy = modern[0], modern[1]
    client = voltlab.client
    async with ocpi_client(b64(roaming.token_c)) as ocpi:
        for charger in (faulty, busy):
            await _wait_status(ocpi, roaming, charger, "AVAILABLE")
        fault = await client.post(
            "/ocpp/commands/inject-fault",
            json={"target": {"charger_id": faulty["id"]}, "event": {"fault_type": "OverVoltage"}},
        )
        assert fault.status_code == 200, fault.text
        await _wait_status(ocpi, roaming, faulty, "OUTOFORDER")
        cleared = await client.post(
            "/ocpp/commands/clear-fault",
            json={"target": {"charger_id": faulty["id"]}, "event": {}},
        )
        assert cleared.status_code == 200, cleared.text
        await _wait_status(ocpi, roaming, faulty, "AVAILABLE")

        start = await client.post(
            "/ocpp/commands/start-session",
            json={"target": {"charger_id": busy["id"]}, "event": {"id_tag": "ANY"}},
        )
        assert start.status_code == 202, start.text
        await _wait_status(ocpi, roaming, busy, "CHARGING")
