"""The tokens module between two bundles of one live voltlab: the CPO's pull after a
handshake, the eMSP's pushes, the eMSP's real-time authorize answer and its lab
behaviour, the CPO's receiver checks, and the management routes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from support.live import Voltlab, eventually
from support.ocpi import create_bundle, ocpi_client
from voltlab.storage.ocpi import OcpiPeer

pytestmark = pytest.mark.timeout(60)


@dataclass
class Pair:
    """A CPO and an eMSP bundle after the handshake, and what each uses to call the other."""

    cpo: dict[str, Any]
    emsp: dict[str, Any]
    cpo_token: str  # the CPO's credentials token at the eMSP
    emsp_token: str  # the eMSP's credentials token at the CPO
    emsp_tokens_url: str  # the eMSP's tokens Sender endpoint
    cpo_tokens_url: str  # the CPO's tokens Receiver endpoint


async def _peer(voltlab: Voltlab, bundle_id: str) -> OcpiPeer:
    async with voltlab.services.sessions() as session:
        rows = await session.scalars(select(OcpiPeer).where(OcpiPeer.bundle_id == int(bundle_id)))
        return rows.one()


def _url(peer: OcpiPeer, module: str, role: str) -> str:
    return next(
        e["url"] for e in peer.endpoints or [] if e["identifier"] == module and e["role"] == role
    )


async def _connected(
    voltlab: Voltlab,
    *,
    initiator: str = "cpo",
    emsp_template: str = "emsp-basic",
    **emsp_fields: Any,
) -> Pair:
    client = voltlab.client
    cpo = await create_bundle(client, "small-urban-ac")
    emsp = await create_bundle(client, emsp_template, role="emsp", **emsp_fields)
    first, second = (cpo, emsp) if initiator == "cpo" else (emsp, cpo)
    connected = await client.post(
        f"/ocpi/cpos/{first['cpo_id']}/connect",
        json={"versions_url": second["ocpi_peer_url"], "token": second["token_a"]},
    )
    assert connected.status_code == 200, connected.text
    cpo_peer = await _peer(voltlab, cpo["cpo_id"])
    emsp_peer = await _peer(voltlab, emsp["cpo_id"])
    assert cpo_peer.token_theirs and emsp_peer.token_theirs
    return Pair(
        cpo=cpo,
        emsp=emsp,
        cpo_token=cpo_peer.token_theirs,
        emsp_token=emsp_peer.token_theirs,
        emsp_tokens_url=_url(cpo_peer, "tokens", "SENDER"),
        cpo_tokens_url=_url(emsp_peer, "tokens", "RECEIVER"),
    )


async def _tokens(client: httpx.AsyncClient, bundle_id: str) -> list[dict[str, Any]]:
    """Every token the management API shows for a bundle (all pages)."""
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = await client.get(
            f"/ocpi/cpos/{bundle_id}/tokens", params={"page": page, "limit": 100}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items.extend(body["data"])
        if len(items) >= body["total"] or not body["data"]:
            return items
        page += 1


def _keys(tokens: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    return {(t["country_code"], t["party_id"], t["uid"], t["type"]) for t in tokens}


# ---- pull after the handshake ------------------------------------------------------------


@pytest.mark.parametrize("initiator", ["cpo", "emsp"])
async def test_after_a_handshake_the_cpo_has_pulled_every_emsp_token(
    voltlab: Voltlab, initiator: str
) -> None:
    pair = await _connected(voltlab, initiator=initiator)
    client = voltlab.client
    emsp_tokens = await _tokens(client, pair.emsp["cpo_id"])
    assert len(emsp_tokens) == 9  # emsp-basic: one token per case it covers

    async def pulled() -> bool:
        return _keys(await _tokens(client, pair.cpo["cpo_id"])) == _keys(emsp_tokens)

    await eventually(pulled, timeout=15)
    cached = await _tokens(client, pair.cpo["cpo_id"])
    # Cached per eMSP party, as the eMSP sent them.
    assert {(t["country_code"], t["party_id"]) for t in cached} == {("NL", "EMS")}
    by_uid = {t["uid"]: t for t in emsp_tokens}
    for token in cached:
        mine = by_uid[token["uid"]]
        assert {k: v for k, v in token.items() if k != "label"} == {
            k: v for k, v in mine.items() if k != "label"
        }

    # Pulling again on demand finds the same tokens.
    again = await client.post(f"/ocpi/cpos/{pair.cpo['cpo_id']}/tokens/pull")
    assert again.status_code == 200, again.text
    assert again.json()["total"] == 9
    assert again.json()["data"][0]["party"] == {"country_code": "NL", "party_id": "EMS"}
    assert len(await _tokens(client, pair.cpo["cpo_id"])) == 9


async def test_a_big_token_list_is_paginated_and_pulled_whole(voltlab: Voltlab) -> None:
    pair = await _connected(voltlab, emsp_template="emsp-fleet", overrides={"tokens": 120})
    async with ocpi_client(pair.cpo_token) as ocpi:
        first = await ocpi.get(pair.emsp_tokens_url, params={"limit": 50})
        assert first.status_code == 200, first.text
        assert first.headers["X-Total-Count"] == "120"
        assert first.headers["X-Limit"] == "50"
        assert len(first.json()["data"]) == 50
        uids = [t["uid"] for t in first.json()["data"]]
        link = first.headers["Link"]
        while link:
            following = link[link.index("<") + 1 : link.index(">")]
            page = await ocpi.get(following)
            assert page.status_code == 200, page.text
            uids.extend(t["uid"] for t in page.json()["data"])
            link = page.headers.get("Link", "")
        assert len(uids) == len(set(uids)) == 120

        # A limit above the server's maximum is lowered, and X-Limit says so.
        capped = await ocpi.get(pair.emsp_tokens_url, params={"limit": 1000})
        assert capped.headers["X-Limit"] == "100"
        assert len(capped.json()["data"]) == 100

        # date_to before every token's last_updated: nothing.
        empty = await ocpi.get(pair.emsp_tokens_url, params={"date_to": "2000-01-01T00:00:00Z"})
        assert empty.json()["data"] == []
        assert empty.headers["X-Total-Count"] == "0"

    async def pulled() -> bool:
        answer = await voltlab.client.get(f"/ocpi/cpos/{pair.cpo['cpo_id']}/tokens?limit=1")
        return answer.json()["total"] == 120

    await eventually(pulled, timeout=15)


# ---- pushes --------------------------------------------------------------------------------


async def test_token_changes_on_the_emsp_are_pushed_to_the_cpo_cache(voltlab: Voltlab) -> None:
    pair = await _connected(voltlab)
    client = voltlab.client
    emsp_id, cpo_id = pair.emsp["cpo_id"], pair.cpo["cpo_id"]
    await eventually(lambda: _count(client, cpo_id, 9), timeout=15)

    created = await client.post(
        f"/ocpi/cpos/{emsp_id}/tokens",
        json={"uid": "CAFE0001", "whitelist": "ALWAYS", "visual_number": "EMS-1", "label": "new"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["token"]["country_code"] == "NL" and body["token"]["party_id"] == "EMS"
    assert body["token"]["label"] == "new"
    assert [(p["country_code"], p["party_id"]) for p in body["pushed_to"]] == [("NL", "CPO")]

    async def cached(check: Any) -> bool:
        answer = await client.get(f"/ocpi/cpos/{cpo_id}/tokens/CAFE0001")
        return answer.status_code == 200 and check(answer.json())

    await eventually(lambda: cached(lambda t: t["whitelist"] == "ALWAYS"))

    updated = await client.put(
        f"/ocpi/cpos/{emsp_id}/tokens/CAFE0001",
        json={"whitelist": "NEVER", "group_id": "GROUP-1"},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["token"]["whitelist"] == "NEVER"
    await eventually(
        lambda: cached(lambda t: t["whitelist"] == "NEVER" and t["group_id"] == "GROUP-1")
    )

    # Removing an optional field goes out as a full PUT.
    removed = await client.put(f"/ocpi/cpos/{emsp_id}/tokens/CAFE0001", json={"group_id": None})
    assert removed.status_code == 200, removed.text
    assert "group_id" not in removed.json()["token"]
    await eventually(lambda: cached(lambda t: "group_id" not in t))

    deleted = await client.delete(f"/ocpi/cpos/{emsp_id}/tokens/CAFE0001")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["token"]["valid"] is False
    await eventually(lambda: cached(lambda t: t["valid"] is False))
    # OCPI never deletes a token: the eMSP still has it, invalid.
    mine = (await client.get(f"/ocpi/cpos/{emsp_id}/tokens/CAFE0001")).json()
    assert mine["valid"] is False

    # push=false: the CPO is not told; a token pushed after it arrives, it never does.
    hidden = await client.post(f"/ocpi/cpos/{emsp_id}/tokens?push=false", json={"uid": "HIDDEN01"})
    assert hidden.status_code == 201, hidden.text
    assert hidden.json()["pushed_to"] == []
    later = await client.post(f"/ocpi/cpos/{emsp_id}/tokens", json={"uid": "LATER001"})
    assert later.status_code == 201, later.text
    await eventually(lambda: _has(client, cpo_id, "LATER001"))
    assert (await client.get(f"/ocpi/cpos/{cpo_id}/tokens/HIDDEN01")).status_code == 404

    # An update of a token the CPO never got: its PATCH is refused (404), so a PUT follows.
    await client.put(f"/ocpi/cpos/{emsp_id}/tokens/HIDDEN01", json={"visual_number": "V-2"})
    await eventually(lambda: _has(client, cpo_id, "HIDDEN01"))


async def _count(client: httpx.AsyncClient, bundle_id: str, expected: int) -> bool:
    answer = await client.get(f"/ocpi/cpos/{bundle_id}/tokens?limit=1")
    return answer.json()["total"] == expected


async def _has(client: httpx.AsyncClient, bundle_id: str, uid: str) -> bool:
    return (await client.get(f"/ocpi/cpos/{bundle_id}/tokens/{uid}")).status_code == 200


async def test_token_management_rules(voltlab: Voltlab) -> None:
    client = voltlab.client
    cpo = await create_bundle(client, "small-urban-ac")
    emsp = await create_bundle(client, "emsp-basic", role="emsp")
    base = f"/ocpi/cpos/{emsp['cpo_id']}/tokens"

    made = await client.post(base, json={})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert len(token["uid"]) == 16 and token["type"] == "RFID" and token["valid"] is True
    assert token["whitelist"] == "ALLOWED" and token["contract_id"] and token["issuer"]
    assert token["last_updated"].endswith("Z") and len(token["last_updated"]) == 20
    assert made.json()["pushed_to"] == []  # no CPO connected

    again = await client.post(base, json={"uid": token["uid"]})
    assert again.status_code == 409
    for bad in ({"uid": "x" * 37}, {"whitelist": "SOMETIMES"}, {"country_code": "DE"}):
        refused = await client.post(base, json=bad)
        assert refused.status_code == 422, (bad, refused.text)
    refused = await client.put(f"{base}/{token['uid']}", json={"issuer": None})
    assert refused.status_code == 422
    refused = await client.put(f"{base}/{token['uid']}", json={"uid": "OTHER"})
    assert refused.status_code == 422
    assert (await client.put(f"{base}/NOPE", json={"valid": False})).status_code == 404
    assert (await client.delete(f"{base}/NOPE")).status_code == 404

    # uid + type identify a token; without a type the RFID one is found first, and a uid
    # that differs only in case is found when nothing matches exactly (OCPI CiString).
    app = await client.post(base, json={"uid": token["uid"], "type": "APP_USER"})
    assert app.status_code == 201, app.text
    assert (await client.get(f"{base}/{token['uid']}")).json()["type"] == "RFID"
    found = await client.get(f"{base}/{token['uid']}", params={"type": "APP_USER"})
    assert found.json()["type"] == "APP_USER"
    assert (await client.post(base, json={"uid": "CASE00AB"})).status_code == 201
    lowered = await client.get(f"{base}/case00ab")
    assert lowered.status_code == 200 and lowered.json()["uid"] == "CASE00AB"
    assert (await client.get(f"{base}/{token['uid']}?type=CARD")).status_code == 422

    # A CPO's cache is read-only.
    cpo_base = f"/ocpi/cpos/{cpo['cpo_id']}/tokens"
    assert (await client.post(cpo_base, json={})).status_code == 400
    # An eMSP does not pull.
    assert (await client.post(f"{base}/pull")).status_code == 400
    # Another tenant sees nothing.
    async with voltlab.client_for("globex") as other:
        assert (await other.get(base)).status_code == 404


# ---- the eMSP's authorize answer ---------------------------------------------------------


async def _emsp_token(client: httpx.AsyncClient, emsp_id: str, **match: Any) -> dict[str, Any]:
    tokens = await _tokens(client, emsp_id)
    return next(t for t in tokens if all(t.get(k) == v for k, v in match.items()))


async def test_the_emsp_answers_authorize(voltlab: Voltlab) -> None:
    pair = await _connected(voltlab)
    client = voltlab.client
    good = await _emsp_token(client, pair.emsp["cpo_id"], whitelist="NEVER", type="RFID")
    blocked = await _emsp_token(client, pair.emsp["cpo_id"], valid=False, whitelist="ALLOWED")
    app_user = await _emsp_token(client, pair.emsp["cpo_id"], type="APP_USER")
    refs = {"location_id": "LOC1", "evse_uids": ["EVSE1"]}

    async with ocpi_client(pair.cpo_token) as ocpi:
        url = f"{pair.emsp_tokens_url}/{good['uid']}/authorize"
        first = await ocpi.post(url, params={"type": "RFID"}, json=refs)
        second = await ocpi.post(url, json=refs)  # type defaults to RFID
        for answer in (first, second):
            assert answer.status_code == 200, answer.text
            assert answer.json()["status_code"] == 1000
        one, two = first.json()["data"], second.json()["data"]
        assert one["allowed"] == two["allowed"] == "ALLOWED"
        assert one["token"] == {k: v for k, v in good.items() if k != "label"}
        assert one["location"] == refs
        assert one["info"] == {"language": "en", "text": f"Welcome, {good['visual_number']}"}
        # A fresh reference per answer.
        assert one["authorization_reference"] != two["authorization_reference"]
        assert 0 < len(one["authorization_reference"]) <= 36

        # No body is fine: no location in the answer.
        bare = (await ocpi.post(url)).json()["data"]
        assert bare["allowed"] == "ALLOWED" and "location" not in bare

        refused = await ocpi.post(f"{pair.emsp_tokens_url}/{blocked['uid']}/authorize")
        data = refused.json()["data"]
        assert data["allowed"] == "BLOCKED"
        assert "authorization_reference" not in data and "location" not in data
        assert data["info"]["text"]

        unknown = await ocpi.post(f"{pair.emsp_tokens_url}/NOSUCHTOKEN/authorize", json=refs)
        assert unknown.status_code == 404
        assert unknown.json()["status_code"] == 2004
        assert "data" not in unknown.json()
        # uid and type identify a token: the APP_USER token is unknown as RFID.
        as_rfid = await ocpi.post(f"{pair.emsp_tokens_url}/{app_user['uid']}/authorize")
        assert as_rfid.status_code == 404
        as_app = await ocpi.post(
            f"{pair.emsp_tokens_url}/{app_user['uid']}/authorize", params={"type": "APP_USER"}
        )
        assert as_app.json()["data"]["allowed"] == "ALLOWED"

        malformed = await ocpi.post(url, json={"evse_uids": ["EVSE1"]})  # no location_id
        assert malformed.status_code == 400 and malformed.json()["status_code"] == 2001
        bad_type = await ocpi.post(url, params={"type": "CARD"})
        assert bad_type.status_code == 400 and bad_type.json()["status_code"] == 2001

        # The CPO's Receiver paths do not exist on an eMSP.
        wrong = await ocpi.get(f"{pair.emsp_tokens_url}/NL/EMS/{good['uid']}")
        assert wrong.status_code == 404


async def test_the_emsp_behaviour_shapes_its_authorize_answer(voltlab: Voltlab) -> None:
    pair = await _connected(voltlab)
    client = voltlab.client
    emsp_id = pair.emsp["cpo_id"]
    good = await _emsp_token(client, emsp_id, whitelist="NEVER", type="RFID")
    blocked = await _emsp_token(client, emsp_id, valid=False, whitelist="ALLOWED")
    url = f"{pair.emsp_tokens_url}/{good['uid']}/authorize"

    async def behave(**fields: Any) -> None:
        answer = await client.put(f"/ocpi/cpos/{emsp_id}/behaviour", json=fields)
        assert answer.status_code == 200, answer.text

    async with ocpi_client(pair.cpo_token) as ocpi:
        await behave(answer_delay_ms=400)
        started = time.perf_counter()
        delayed = await ocpi.post(url)
        assert time.perf_counter() - started >= 0.4
        assert delayed.json()["data"]["allowed"] == "ALLOWED"

        await behave(
            answer_delay_ms=0,
            forced_answers={good["uid"]: "NO_CREDIT", blocked["uid"]: "ALLOWED"},
        )
        forced = (await ocpi.post(url)).json()["data"]
        assert forced["allowed"] == "NO_CREDIT" and "authorization_reference" not in forced
        lifted = (await ocpi.post(f"{pair.emsp_tokens_url}/{blocked['uid']}/authorize")).json()
        assert lifted["data"]["allowed"] == "ALLOWED"
        assert lifted["data"]["authorization_reference"]

        await behave(error={"http_status": 503, "status_code": 3000})
        failed = await ocpi.post(url)
        assert failed.status_code == 503
        assert failed.json()["status_code"] == 3000
        await behave(error={"http_status": 400, "status_code": 2002})
        failed = await ocpi.post(url)
        assert failed.status_code == 400 and failed.json()["status_code"] == 2002

        await behave(error=None, silent=True)
        with pytest.raises(httpx.TimeoutException):
            await ocpi.post(url, timeout=0.5)

        # The held request ends soon after the caller hung up (it never pins the server).
        async def released() -> bool:
            logs = await client.get(f"/ocpi/cpos/{emsp_id}/logs", params={"direction": "in"})
            return any(
                entry["status_code"] == 3000 and "/authorize" in entry["url"]
                for entry in logs.json()["data"]
            )

        await eventually(released, timeout=5)

        await behave(silent=False, forced_answers={})
        assert (await ocpi.post(url)).json()["data"]["allowed"] == "ALLOWED"


# ---- the CPO's Receiver interface ---------------------------------------------------------


def _token(uid: str, **fields: Any) -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": "EMS",
        "uid": uid,
        "type": "RFID",
        "contract_id": "NLEMSC0000001",
        "issuer": "Test",
        "valid": True,
        "whitelist": "ALLOWED",
        "last_updated": "2026-01-01T10:00:00Z",
        **fields,
    }


async def test_the_cpo_receiver_checks_what_the_emsp_pushes(voltlab: Voltlab) -> None:
    pair = await _connected(voltlab)
    base = pair.cpo_tokens_url
    async with ocpi_client(pair.emsp_token) as ocpi:
        put = await ocpi.put(f"{base}/NL/EMS/PUSH0001", json=_token("PUSH0001"))
        assert put.status_code == 201, put.text
        assert put.json()["status_code"] == 1000
        replaced = await ocpi.put(
            f"{base}/NL/EMS/PUSH0001", params={"type": "RFID"}, json=_token("PUSH0001")
        )
        assert replaced.status_code == 200
        got = await ocpi.get(f"{base}/NL/EMS/PUSH0001")
        assert got.status_code == 200 and got.json()["data"]["uid"] == "PUSH0001"

        patched = await ocpi.patch(
            f"{base}/NL/EMS/PUSH0001", json={"valid": False, "last_updated": "2026-01-02T00:00:00Z"}
        )
        assert patched.status_code == 200, patched.text
        got = (await ocpi.get(f"{base}/NL/EMS/PUSH0001")).json()["data"]
        assert got["valid"] is False and got["last_updated"] == "2026-01-02T00:00:00Z"

        no_stamp = await ocpi.patch(f"{base}/NL/EMS/PUSH0001", json={"valid": True})
        assert no_stamp.status_code == 400
        assert no_stamp.json()["status_code"] == 2001
        assert "last_updated" in no_stamp.json()["status_message"]

        other_uid = await ocpi.put(f"{base}/NL/EMS/PUSH0002", json=_token("PUSH0003"))
        assert other_uid.status_code == 400 and other_uid.json()["status_code"] == 2001
        other_type = await ocpi.put(
            f"{base}/NL/EMS/PUSH0002", params={"type": "APP_USER"}, json=_token("PUSH0002")
        )
        assert other_type.status_code == 400 and other_type.json()["status_code"] == 2001
        incomplete = await ocpi.put(
            f"{base}/NL/EMS/PUSH0002", json={"uid": "PUSH0002", "valid": True}
        )
        assert incomplete.status_code == 400 and incomplete.json()["status_code"] == 2001
        not_json = await ocpi.put(f"{base}/NL/EMS/PUSH0002", content=b"{nope")
        assert not_json.status_code == 400

        unknown = await ocpi.get(f"{base}/NL/EMS/NOSUCH")
        assert unknown.status_code == 404 and unknown.json()["status_code"] == 2004
        unknown = await ocpi.patch(
            f"{base}/NL/EMS/NOSUCH", json={"valid": False, "last_updated": "2026-01-02T00:00:00Z"}
        )
        assert unknown.status_code == 404 and unknown.json()["status_code"] == 2004

        # Another party's tokens are not the caller's to push (OCPI 2.2.1 4.1.5.1).
        foreign = await ocpi.put(
            f"{base}/DE/XYZ/PUSH0009", json=_token("PUSH0009", country_code="DE", party_id="XYZ")
        )
        assert foreign.status_code == 404

        # The eMSP's Sender list does not exist on a CPO.
        assert (await ocpi.get(base)).status_code == 404

    # The pushed token is in the CPO's management view, invalid as patched.
    seen = (await voltlab.client.get(f"/ocpi/cpos/{pair.cpo['cpo_id']}/tokens/PUSH0001")).json()
    assert seen["valid"] is False


async def test_token_a_cannot_call_the_tokens_module(voltlab: Voltlab) -> None:
    client = voltlab.client
    cpo = await create_bundle(client, "small-urban-ac")
    emsp = await create_bundle(client, "emsp-basic", role="emsp")
    emsp_tokens = emsp["ocpi_peer_url"].replace("/versions", "/2.2.1/tokens")
    cpo_tokens = cpo["ocpi_peer_url"].replace("/versions", "/2.2.1/tokens")
    async with ocpi_client(emsp["token_a"]) as ocpi:
        listed = await ocpi.get(emsp_tokens)
        assert listed.status_code == 401
        assert listed.json()["status_code"] == 2000
        assert (await ocpi.post(f"{emsp_tokens}/ABC/authorize")).status_code == 401
    async with ocpi_client(cpo["token_a"]) as ocpi:
        pushed = await ocpi.put(f"{cpo_tokens}/NL/EMS/ABC", json=_token("ABC"))
        assert pushed.status_code == 401
    async with ocpi_client("not-a-token") as ocpi:
        assert (await ocpi.get(emsp_tokens)).status_code == 401


# ---- behaviour management -------------------------------------------------------------------


async def test_behaviour_is_merged_and_validated_per_role(voltlab: Voltlab) -> None:
    client = voltlab.client
    cpo = await create_bundle(client, "small-urban-ac")
    emsp = await create_bundle(client, "emsp-basic", role="emsp")
    emsp_url = f"/ocpi/cpos/{emsp['cpo_id']}/behaviour"
    cpo_url = f"/ocpi/cpos/{cpo['cpo_id']}/behaviour"

    assert (await client.get(emsp_url)).json() == {
        "answer_delay_ms": 0,
        "forced_answers": {},
        "error": None,
        "silent": False,
    }
    assert (await client.get(cpo_url)).json() == {
        "realtime_timeout_ms": 5000,
        "fallback_policy": "whitelist",
    }

    first = await client.put(emsp_url, json={"answer_delay_ms": 250})
    assert first.status_code == 200, first.text
    second = await client.put(emsp_url, json={"forced_answers": {"ABC": "EXPIRED"}})
    assert second.json() == {
        "answer_delay_ms": 250,
        "forced_answers": {"ABC": "EXPIRED"},
        "error": None,
        "silent": False,
    }
    third = await client.put(emsp_url, json={"error": {"http_status": 500, "status_code": 3000}})
    assert third.json()["error"] == {"http_status": 500, "status_code": 3000}
    assert third.json()["answer_delay_ms"] == 250
    cleared = await client.put(emsp_url, json={"error": None})
    assert cleared.json()["error"] is None
    assert (await client.get(emsp_url)).json() == cleared.json()

    changed = await client.put(cpo_url, json={"realtime_timeout_ms": 800})
    assert changed.json() == {"realtime_timeout_ms": 800, "fallback_policy": "whitelist"}
    changed = await client.put(cpo_url, json={"fallback_policy": "accept_known"})
    assert changed.json() == {"realtime_timeout_ms": 800, "fallback_policy": "accept_known"}

    async def refused(url: str, body: dict[str, Any], field: str) -> None:
        answer = await client.put(url, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert any(field in error["loc"] for error in answer.json()["detail"]), answer.text

    await refused(emsp_url, {"answer_delay_ms": 120_001}, "answer_delay_ms")
    await refused(emsp_url, {"answer_delay_ms": -1}, "answer_delay_ms")
    await refused(emsp_url, {"answer_delay_ms": None}, "answer_delay_ms")
    await refused(emsp_url, {"forced_answers": {"ABC": "MAYBE"}}, "forced_answers")
    await refused(emsp_url, {"forced_answers": {"x" * 37: "ALLOWED"}}, "forced_answers")
    await refused(emsp_url, {"error": {"http_status": 200, "status_code": 3000}}, "error")
    await refused(emsp_url, {"error": {"http_status": 500, "status_code": 1000}}, "error")
    await refused(emsp_url, {"error": {"http_status": 500}}, "error")
    await refused(emsp_url, {"silent": "maybe"}, "silent")
    await refused(emsp_url, {"realtime_timeout_ms": 1000}, "realtime_timeout_ms")
    await refused(emsp_url, {"mood": "grumpy"}, "mood")
    await refused(cpo_url, {"silent": True}, "silent")
    await refused(cpo_url, {"forced_answers": {}}, "forced_answers")
    await refused(cpo_url, {"realtime_timeout_ms": 99}, "realtime_timeout_ms")
    await refused(cpo_url, {"realtime_timeout_ms": 60_001}, "realtime_timeout_ms")
    await refused(cpo_url, {"fallback_policy": "coin_toss"}, "fallback_policy")
    # Nothing refused was stored.
    assert (await client.get(emsp_url)).json()["answer_delay_ms"] == 250
    assert (await client.get(cpo_url)).json()["realtime_timeout_ms"] == 800
