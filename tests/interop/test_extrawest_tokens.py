"""The OCPI 2.2.1 tokens module between voltlab bundles and an independent implementation,
extrawest-ocpi (in its own virtualenv and process: see ``harness`` and ``extrawest_app``),
both ways.

1. extrawest as eMSP, voltlab as CPO: voltlab pulls extrawest's tokens after the handshake
   and decides tags presented on its simulated chargers with them (cache, or extrawest's
   authorize endpoint in real time).
2. voltlab as eMSP, extrawest as CPO: voltlab pushes its token changes to extrawest
   (PUT, PATCH), and extrawest reads voltlab's token list and authorize answer, validated
   with extrawest's own pydantic models.

extrawest's deviations these tests show (none of them bends voltlab):

- **Single objects as one-element lists.** Its authorize answer is
  ``{"data": [AuthorizationInfo], "status_code": 1000}`` (so are its answers to a token
  PUT, PATCH and GET). voltlab cannot read it: the decision takes the *fallback* path with
  the error ``unreadable AuthorizationInfo: AuthorizationInfo must be an object, not
  [...]`` although extrawest said ALLOWED; a NEVER token is then refused. With the list
  unwrapped (the peer's ``spec_single_objects`` switch) the same tag goes the real-time
  path and is accepted: the wrapping is the only obstacle.
- **A broken ``Link`` header** in its paginated lists:
  ``<https://{host}/ocpi/cpo/VersionNumber.v_2_2_1/ModuleID.tokens/?date_from=None&
  date_to=None&offset=2&limit=2>; rel="next"`` (https on a plain-HTTP server, "cpo" even
  for an eMSP, enum names instead of ``2.2.1``/``tokens``, ``None`` filters); ``Link: ''``
  on the last page. voltlab follows it, cannot connect (TLS to a plain-HTTP port), retries
  the GET twice and gives up with a clear error in its exchange log and in
  ``POST .../tokens/pull``; it neither hangs nor crashes.
- **Unknown token: HTTP 404 ``{"detail": "Object not found."}``**, no OCPI envelope (and
  so no 2004). voltlab takes only 2004 for "unknown token": the bare 404 is a failed call,
  the fallback path with the error ``POST ...: HTTP 404``, and the fallback
  policy refuses a token the CPO does not hold (OCPP 1.6 ``Invalid``).
- **CiStrings lower-cased**: it sends ``de``/``xwe``/``xw00000001`` (and a lower-cased
  ``contract_id``) and stores what it receives lower-cased. voltlab stores country and
  party upper-case and keeps the uid as sent; tags match case-insensitively.
- **``token_type`` instead of ``type``**: its token endpoints read the token type from a
  ``token_type`` query parameter; OCPI's ``?type=APP_USER`` is ignored and RFID assumed.
- **``data`` required in an envelope**: its ``OCPIResponse`` model refuses an envelope
  without ``data``, which OCPI makes optional; voltlab's error answers (404 + 2004 for an
  unknown token) carry none.
- No client side for tokens: it never pulls a token list, so a voltlab eMSP's tokens that
  predate the handshake stay unknown to it (voltlab pushes changes only; pulling is the
  CPO's part). The peer's ``/debug/fetch`` stands in for that client.

voltlab's side:

- A pull whose second page fails keeps the pages received before it (``OcpiClient.pages``
  hands each page out; ``cpo.tokens.pull`` stores it at once), and says why it stopped.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from interop import harness
from interop.harness import ExtrawestPeer, StartPeer
from support.live import Voltlab, eventually
from support.ocpi import bundle_chargers, create_bundle

# Building extrawest's virtualenv (first run on a machine) happens in the first test's setup.
TIMEOUT_S = 90 + (0 if harness.venv_ready() else harness.INSTALL_TIMEOUT_S)
pytestmark = pytest.mark.timeout(TIMEOUT_S)

NEVER_UID = "XW00000003"  # the token the eMSP peer gets on top of its two seeded ones
UNKNOWN_UID = "XWUNKNOWN01"
LOCATION_REFS = {"location_id": "XWLOC1", "evse_uids": ["XWLOC1-1"]}


def b64(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


# ---- voltlab's management API ------------------------------------------------------------


async def exchanges(voltlab: Voltlab, bundle_id: str, direction: str) -> list[dict[str, Any]]:
    """The bundle's OCPI exchange log, oldest first."""
    answer = await voltlab.client.get(
        f"/ocpi/cpos/{bundle_id}/logs", params={"direction": direction, "limit": 1000}
    )
    assert answer.status_code == 200, answer.text
    return list(reversed(answer.json()["data"]))


async def logged(
    voltlab: Voltlab, bundle_id: str, method: str, url_part: str, count: int = 1
) -> list[dict[str, Any]]:
    """The outgoing exchanges ``method`` to a URL containing ``url_part``, once there are
    ``count`` of them (the log is written in batches)."""

    async def found() -> list[dict[str, Any]] | None:
        rows = [
            e
            for e in await exchanges(voltlab, bundle_id, "out")
            if e["method"] == method and url_part in e["url"]
        ]
        return rows if len(rows) >= count else None

    rows: list[dict[str, Any]] = await eventually(found, timeout=10)
    return rows


async def token_list(voltlab: Voltlab, bundle_id: str) -> list[dict[str, Any]]:
    answer = await voltlab.client.get(f"/ocpi/cpos/{bundle_id}/tokens", params={"limit": 100})
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


async def booted_chargers(voltlab: Voltlab, cpo_id: str) -> list[dict[str, Any]]:
    async def booted() -> list[dict[str, Any]] | None:
        rows = await bundle_chargers(voltlab.client, cpo_id)
        ok = rows and all(r["runtime"]["boot_status"] == "Accepted" for r in rows)
        return rows if ok else None

    rows: list[dict[str, Any]] = await eventually(booted, timeout=30)
    return rows


async def present(voltlab: Voltlab, charger: dict[str, Any], uid: str) -> dict[str, Any]:
    """Present ``uid`` on the charger (OCPP Authorize); the command's result, and the
    CPO's authorization log entry for it."""
    answer = await voltlab.client.post(
        "/ocpp/commands/authorize-id-tag",
        json={"target": {"charger_id": charger["id"]}, "event": {"id_tag": uid}},
    )
    assert answer.status_code == 202, answer.text
    command_id = answer.json()["results"][0]["command"]["id"]

    async def finished() -> dict[str, Any] | None:
        record = (await voltlab.client.get(f"/ocpp/commands/{command_id}")).json()
        return record if record["status"] in ("succeeded", "failed") else None

    record: dict[str, Any] = await eventually(finished, timeout=20)
    assert record["status"] == "succeeded", record
    return {"ocpp": record["result"], "decision": await decision_on(voltlab, charger)}


async def decision_on(voltlab: Voltlab, charger: dict[str, Any]) -> dict[str, Any]:
    """The newest authorization log entry of the charger's CPO for that charger."""

    async def found() -> dict[str, Any] | None:
        answer = await voltlab.client.get(f"/ocpi/cpos/{charger['ocpi_cpo_id']}/authorizations")
        assert answer.status_code == 200, answer.text
        rows = [r for r in answer.json()["data"] if r["charger_id"] == charger["id"]]
        return rows[0] if rows else None

    row: dict[str, Any] = await eventually(found, timeout=10)
    return row


# ---- the extrawest side ---------------------------------------------------------------------


async def peer_get(url: str, token: str, **params: Any) -> httpx.Response:
    """A GET at the peer with ``token`` (the one voltlab calls it with), from the test."""
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(
            url, params=params or None, headers={"Authorization": f"Token {b64(token)}"}
        )


async def emsp_peer_connected_to(
    voltlab: Voltlab, extrawest: StartPeer, *, page_size: int | None = None
) -> tuple[dict[str, Any], ExtrawestPeer, str, str]:
    """A voltlab CPO bundle, an extrawest eMSP (two ALLOWED tokens and a NEVER one, pages
    of ``page_size`` when given) registered with it (extrawest initiating); (the bundle,
    the peer, extrawest's tokens URL as voltlab holds it, the token voltlab calls
    extrawest with)."""
    cpo = await create_bundle(voltlab.client, "small-urban-ac")
    peer = await extrawest("EMSP")
    await peer.add_token(uid=NEVER_UID, whitelist="NEVER")
    if page_size is not None:
        await peer.configure(max_page_size=page_size)
    connected = await peer.connect(cpo["ocpi_peer_url"], cpo["token_a"])
    assert connected.status_code == 200, connected.text
    answer = await voltlab.client.get(f"/ocpi/cpos/{cpo['cpo_id']}/peers")
    assert answer.status_code == 200, answer.text
    [listed] = answer.json()["data"]
    tokens_url = next(e["url"] for e in listed["endpoints"] if e["identifier"] == "tokens")
    return cpo, peer, tokens_url, connected.json()["party"]["token_ours"]


async def cpo_peer_connected_to(
    voltlab: Voltlab, extrawest: StartPeer
) -> tuple[dict[str, Any], ExtrawestPeer, str]:
    """A voltlab eMSP bundle (template emsp-basic) registered with an extrawest CPO,
    voltlab initiating; (the bundle, the peer, the CPO's tokens URL as voltlab holds it)."""
    emsp = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    peer = await extrawest("CPO")
    connected = await voltlab.client.post(
        f"/ocpi/cpos/{emsp['cpo_id']}/connect",
        json={"versions_url": peer.versions_url, "token": peer.token_a},
    )
    assert connected.status_code == 200, connected.text
    endpoints = connected.json()["endpoints"]
    tokens_url = next(e["url"] for e in endpoints if e["identifier"] == "tokens")
    return emsp, peer, tokens_url


def pushed(state: dict[str, Any], uid: str) -> dict[str, Any] | None:
    """The token extrawest (CPO) holds for ``uid``: it lower-cases CiStrings."""
    return next((t for t in state["tokens_pushed"] if t["uid"].upper() == uid.upper()), None)


# ---- 1. extrawest as eMSP, voltlab as CPO ----------------------------------------------------


async def test_a_voltlab_cpo_pulls_an_extrawest_emsps_tokens_and_decides_with_them(
    voltlab: Voltlab, extrawest: StartPeer
) -> None:
    cpo, peer, tokens_url, voltlab_token = await emsp_peer_connected_to(voltlab, extrawest)

    # After the handshake voltlab pulled the three tokens, under extrawest's party. They
    # arrive lower-cased (extrawest's CiStrings); voltlab upper-cases country and party.
    async def cached() -> list[dict[str, Any]] | None:
        rows = await token_list(voltlab, cpo["cpo_id"])
        return rows if len(rows) == 3 else None

    tokens = await eventually(cached, timeout=10)
    assert {(t["country_code"], t["party_id"]) for t in tokens} == {("DE", "XWE")}
    assert {t["uid"]: t["whitelist"] for t in tokens} == {
        "xw00000001": "ALLOWED",
        "xw00000002": "ALLOWED",
        "xw00000003": "NEVER",
    }
    assert all(t["valid"] and t["type"] == "RFID" for t in tokens)

    # One page: extrawest's default page (50) holds them all, and its last page carries
    # an empty Link header, which voltlab reads as "no next page".
    [pull] = await logged(voltlab, cpo["cpo_id"], "GET", tokens_url)
    assert pull["url"] == tokens_url  # no limit or offset asked
    assert (pull["http_status"], pull["status_code"], pull["error"]) == (200, 1000, None)
    direct = await peer_get(tokens_url, voltlab_token)
    assert direct.headers["link"] == ""
    assert direct.headers["x-total-count"] == "3"

    chargers = await booted_chargers(voltlab, cpo["cpo_id"])
    ocpp_versions = {c["ocpp_version"] for c in chargers}
    assert ocpp_versions == {"OCPP1.6"}, ocpp_versions

    # A cached ALLOWED token (presented upper-case): decided from the cache, no call.
    allowed = await present(voltlab, chargers[0], "XW00000001")
    assert allowed["ocpp"]["status"] == "Accepted"
    assert allowed["decision"]["path"] == "cache"
    assert allowed["decision"]["token_uid"] == "xw00000001"
    assert (await peer.state())["authorize_calls"] == []

    # The NEVER token is asked at extrawest in real time, with the charger's location.
    # extrawest answers ALLOWED, as a one-element list: voltlab cannot read that, takes
    # the fallback path, and its policy ("whitelist") refuses a NEVER token.
    never = await present(voltlab, chargers[1], NEVER_UID)
    [asked] = (await peer.state())["authorize_calls"]
    assert asked["token_uid"] == NEVER_UID.lower()
    assert asked["token_type"] == "RFID"
    assert asked["location_reference"]["location_id"] == chargers[1]["ocpi_location_id"]
    [call] = await logged(voltlab, cpo["cpo_id"], "POST", f"/{NEVER_UID}/authorize")
    assert call["url"] == f"{tokens_url.rstrip('/')}/{NEVER_UID}/authorize?type=RFID"
    assert (call["http_status"], call["status_code"]) == (200, 1000)
    answered = json.loads(call["response_body"])
    assert isinstance(answered["data"], list)  # the deviation, as voltlab logged it
    [info] = answered["data"]
    assert info["allowed"] == "ALLOWED"
    decision = never["decision"]
    assert decision["path"] == "fallback"
    assert decision["ocpi_allowed"] is None
    assert decision["ocpp_status"] == never["ocpp"]["status"] == "Invalid"
    assert decision["error"].startswith(
        "unreadable AuthorizationInfo: AuthorizationInfo must be an object, not [{"
    )
    assert info["authorization_reference"] in decision["error"]
    assert decision["authorization_reference"] is None
    assert decision["emsp"] == {"country_code": "DE", "party_id": "XWE"}

    # An uncached uid: voltlab asks extrawest too. extrawest's 404 carries no envelope,
    # so no 2004: voltlab reads it as a failed call, not as "unknown token" (only 2004
    # says that), and its fallback policy refuses a token it does not hold.
    unknown = await present(voltlab, chargers[2], UNKNOWN_UID)
    [call] = await logged(voltlab, cpo["cpo_id"], "POST", f"/{UNKNOWN_UID}/authorize")
    assert (call["http_status"], call["status_code"]) == (404, None)
    assert json.loads(call["response_body"]) == {"detail": "Object not found."}
    decision = unknown["decision"]
    assert decision["path"] == "fallback", str(decision)
    assert decision["ocpi_allowed"] is None
    assert decision["ocpp_status"] == unknown["ocpp"]["status"] == "Invalid"
    assert decision["error"] == f"POST {call['url']}: HTTP 404"
    assert decision["authorization_reference"] is None
    assert decision["emsp"] is None
    # extrawest refused it before its backend saw it (no authorize_calls entry).
    state = await peer.state()
    assert [c["token_uid"] for c in state["authorize_calls"]] == [NEVER_UID.lower()]
    assert [
        (r["method"], r["path"].rsplit("/", 2)[-2], r["query"], r["http_status"])
        for r in state["requests"]
        if r["path"].endswith("/authorize")
    ] == [("POST", NEVER_UID, "type=RFID", 200), ("POST", UNKNOWN_UID, "type=RFID", 404)]


async def test_with_the_list_unwrapped_voltlab_decides_in_real_time(
    voltlab: Voltlab, extrawest: StartPeer
) -> None:
    """Control: the same NEVER tag, extrawest's authorize answer changed in one respect
    only (``data: AuthorizationInfo`` instead of ``data: [AuthorizationInfo]``)."""
    cpo, peer, _, _ = await emsp_peer_connected_to(voltlab, extrawest)
    assert (await peer.configure(spec_single_objects=True))["spec_single_objects"] is True

    async def cached() -> bool:
        return len(await token_list(voltlab, cpo["cpo_id"])) == 3

    await eventually(cached, timeout=10)
    chargers = await booted_chargers(voltlab, cpo["cpo_id"])

    never = await present(voltlab, chargers[0], NEVER_UID)
    [call] = await logged(voltlab, cpo["cpo_id"], "POST", f"/{NEVER_UID}/authorize")
    info = json.loads(call["response_body"])["data"]
    assert info["allowed"] == "ALLOWED"
    decision = never["decision"]
    assert decision["path"] == "realtime"
    assert decision["ocpi_allowed"] == "ALLOWED"
    assert decision["ocpp_status"] == never["ocpp"]["status"] == "Accepted"
    assert decision["error"] is None
    assert decision["authorization_reference"] == info["authorization_reference"]
    assert decision["emsp"] == {"country_code": "DE", "party_id": "XWE"}


async def test_a_broken_link_header_ends_the_pull_with_a_clear_error(
    voltlab: Voltlab, extrawest: StartPeer
) -> None:
    started = time.monotonic()
    cpo, _, tokens_url, voltlab_token = await emsp_peer_connected_to(
        voltlab, extrawest, page_size=2
    )

    # What extrawest sends: page 1 (two tokens) with a next link voltlab cannot use...
    first = await peer_get(tokens_url, voltlab_token)
    assert [t["uid"] for t in first.json()["data"]] == ["xw00000001", "xw00000002"]
    host = httpx.URL(tokens_url).netloc.decode()
    broken = (
        f"https://{host}/ocpi/cpo/VersionNumber.v_2_2_1/ModuleID.tokens/"
        "?date_from=None&date_to=None&offset=2&limit=2"
    )
    assert first.headers["link"] == f'<{broken}>; rel="next"'
    assert first.headers["x-total-count"] == "3"
    assert first.headers["x-limit"] == "2"
    # ... while the page it means is there, on the real URL, with an empty Link.
    last = await peer_get(tokens_url, voltlab_token, offset=2, limit=2)
    assert [t["uid"] for t in last.json()["data"]] == ["xw00000003"]
    assert last.headers["link"] == ""

    # voltlab's pull after the handshake: page 1 fine, then the broken link, tried three
    # times (a GET is retried twice after a connect error), each a clear error.
    [page_one] = await logged(voltlab, cpo["cpo_id"], "GET", tokens_url)
    assert (page_one["http_status"], page_one["status_code"]) == (200, 1000)
    assert page_one["error"] is None
    attempts = await logged(voltlab, cpo["cpo_id"], "GET", broken, count=3)
    assert len(attempts) == 3
    for attempt in attempts:
        assert attempt["url"] == broken
        assert attempt["http_status"] is None
        assert attempt["error"].startswith(f"GET {broken}: cannot connect: ")
        assert "SSL" in attempt["error"]  # TLS spoken to extrawest's plain-HTTP port
        assert attempt["correlation_id"] == page_one["correlation_id"]  # one crawl
    assert time.monotonic() - started < 30

    # Pulling again ends the same way, quickly, and says why.
    began = time.monotonic()
    again = await voltlab.client.post(f"/ocpi/cpos/{cpo['cpo_id']}/tokens/pull")
    pull_s = time.monotonic() - began
    assert again.status_code == 200, again.text
    [result] = again.json()["data"]
    assert result["party"] == {"country_code": "DE", "party_id": "XWE"}
    assert result["error"].startswith(f"GET {broken}: cannot connect: ")
    assert pull_s < 10, pull_s

    # voltlab is unharmed: the peer stays connected.
    peers = (await voltlab.client.get(f"/ocpi/cpos/{cpo['cpo_id']}/peers")).json()["data"]
    assert [p["status"] for p in peers] == ["CONNECTED"]

    # The tokens of the first page, received with 200/1000, are kept.
    kept = sorted(t["uid"] for t in await token_list(voltlab, cpo["cpo_id"]))
    assert kept == ["xw00000001", "xw00000002"]


# ---- 2. voltlab as eMSP, extrawest as CPO ----------------------------------------------------


async def test_a_voltlab_emsp_pushes_its_token_changes_to_an_extrawest_cpo(
    voltlab: Voltlab, extrawest: StartPeer
) -> None:
    emsp, peer, tokens_url = await cpo_peer_connected_to(voltlab, extrawest)
    base = emsp["cpo_id"]
    # voltlab pushes changes, not its existing tokens: the CPO pulls those (and extrawest
    # has no client to pull with).
    assert (await peer.state())["tokens_pushed"] == []

    # Create: a PUT of the whole token.
    created = await voltlab.client.post(
        f"/ocpi/cpos/{base}/tokens",
        json={"uid": "VLTEST0001", "whitelist": "ALLOWED_OFFLINE", "visual_number": "VL 1"},
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    [target] = created.json()["pushed_to"]
    assert (target["country_code"], target["party_id"]) == ("DE", "XWC")

    async def held(uid: str, **expected: Any) -> dict[str, Any] | None:
        found = pushed(await peer.state(), uid)
        ok = found is not None and all(found[k] == v for k, v in expected.items())
        return found if ok else None

    stored = await eventually(lambda: held("VLTEST0001"), timeout=10)
    assert (stored["country_code"], stored["party_id"], stored["uid"]) == (
        "nl",
        "ems",
        "vltest0001",
    )
    assert stored["whitelist"] == "ALLOWED_OFFLINE"
    assert stored["valid"] is True
    assert stored["type"] == "RFID"
    assert stored["contract_id"].upper() == token["contract_id"]
    assert stored["last_updated"] == token["last_updated"]
    assert stored["pushed_by"].upper() == "NL*EMS"
    put_url = f"{tokens_url.rstrip('/')}/NL/EMS/VLTEST0001"
    [put] = await logged(voltlab, base, "PUT", put_url)
    assert put["url"] == f"{put_url}?type=RFID"
    assert (put["http_status"], put["status_code"], put["error"]) == (200, 1000, None)

    # Update: a PATCH with the changed fields and last_updated.
    updated = await voltlab.client.put(
        f"/ocpi/cpos/{base}/tokens/VLTEST0001",
        json={"whitelist": "NEVER", "visual_number": "VL 1b"},
    )
    assert updated.status_code == 200, updated.text
    token = updated.json()["token"]
    stored = await eventually(lambda: held("VLTEST0001", whitelist="NEVER"), timeout=10)
    assert stored["visual_number"] == "VL 1b"
    assert stored["last_updated"] == token["last_updated"]
    assert stored["valid"] is True
    [patch] = await logged(voltlab, base, "PATCH", put_url)
    assert json.loads(patch["request_body"]) == {
        "whitelist": "NEVER",
        "visual_number": "VL 1b",
        "last_updated": token["last_updated"],
    }
    assert (patch["http_status"], patch["status_code"], patch["error"]) == (200, 1000, None)

    # Invalidate (DELETE): a PATCH with valid false.
    deleted = await voltlab.client.delete(f"/ocpi/cpos/{base}/tokens/VLTEST0001")
    assert deleted.status_code == 200, deleted.text
    token = deleted.json()["token"]
    stored = await eventually(lambda: held("VLTEST0001", valid=False), timeout=10)
    assert stored["whitelist"] == "NEVER"
    assert stored["last_updated"] == token["last_updated"]
    patches = await logged(voltlab, base, "PATCH", put_url, count=2)
    assert json.loads(patches[1]["request_body"]) == {
        "valid": False,
        "last_updated": token["last_updated"],
    }
    assert (patches[1]["http_status"], patches[1]["status_code"]) == (200, 1000)

    # An APP_USER token: voltlab says ?type=APP_USER; extrawest reads a "token_type"
    # parameter instead and hands RFID to its backend (the body's type is right).
    app = await voltlab.client.post(
        f"/ocpi/cpos/{base}/tokens", json={"uid": "VLAPP0001", "type": "APP_USER"}
    )
    assert app.status_code == 201, app.text
    stored = await eventually(lambda: held("VLAPP0001"), timeout=10)
    assert stored["type"] == "APP_USER"
    assert stored["token_type_arg"] == "RFID"
    [put] = await logged(voltlab, base, "PUT", "/NL/EMS/VLAPP0001")
    assert put["url"].endswith("/NL/EMS/VLAPP0001?type=APP_USER")
    assert (put["http_status"], put["status_code"]) == (200, 1000)

    # Every push went through; extrawest saw voltlab's Base64 token on each.
    state = await peer.state()
    [registered] = state["parties"]
    pushes = [r for r in state["requests"] if "/tokens/" in r["path"]]
    assert [(r["method"], r["http_status"], r["query"]) for r in pushes] == [
        ("PUT", 200, "type=RFID"),
        ("PATCH", 200, "type=RFID"),
        ("PATCH", 200, "type=RFID"),
        ("PUT", 200, "type=APP_USER"),
    ]
    assert all(r["authorization"] == f"Token {b64(registered['token_ours'])}" for r in pushes)


async def test_an_extrawest_cpo_reads_a_voltlab_emsps_tokens_and_authorize_answers(
    voltlab: Voltlab, extrawest: StartPeer
) -> None:
    emsp, peer, _ = await cpo_peer_connected_to(voltlab, extrawest)
    created = await voltlab.client.post(
        f"/ocpi/cpos/{emsp['cpo_id']}/tokens", json={"uid": "VLTEST0002"}
    )
    assert created.status_code == 201, created.text
    deleted = await voltlab.client.delete(f"/ocpi/cpos/{emsp['cpo_id']}/tokens/VLTEST0002")
    assert deleted.status_code == 200, deleted.text
    ours = await token_list(voltlab, emsp["cpo_id"])

    [registered] = (await peer.state())["parties"]
    tokens_url = next(
        e["url"]
        for e in registered["endpoints"]
        if (e["identifier"], e["role"]) == ("tokens", "SENDER")
    )

    # extrawest pages through voltlab's list following voltlab's Link headers; every
    # object passes extrawest's own Token model.
    seen: list[dict[str, Any]] = []
    url: str | None = tokens_url
    params: dict[str, Any] | None = {"limit": 4}
    pages = 0
    while url is not None:
        page = await peer.fetch(url, params=params, parse="tokens")
        pages += 1
        assert page["http_status"] == 200, page
        assert page["envelope_error"] is None, page
        assert page["body"]["status_code"] == 1000
        assert page["errors"] == [], page["errors"]
        assert page["headers"]["x-total-count"] == str(len(ours))
        assert page["headers"]["x-limit"] == "4"
        sent = page["sent_headers"]
        assert page["headers"]["x-request-id"] == sent["X-Request-ID"]
        assert page["headers"]["x-correlation-id"] == sent["X-Correlation-ID"]
        seen += page["parsed"]
        link = page["headers"].get("link")
        url = link.split(">", 1)[0].removeprefix("<") if link else None
        params = None
        assert pages <= len(ours)
    assert pages == -(-len(ours) // 4)
    assert [t["uid"].upper() for t in seen] == [t["uid"].upper() for t in ours]
    assert {(t["country_code"], t["party_id"]) for t in seen} == {("nl", "ems")}
    assert any(t["uid"] == "vltest0002" and t["valid"] is False for t in seen)

    # voltlab's authorize answers parse as extrawest's AuthorizationInfo.
    good = next(t for t in ours if t["valid"] and t["type"] == "RFID")
    allowed = await peer.fetch(
        f"{tokens_url}/{good['uid']}/authorize",
        method="POST",
        json=LOCATION_REFS,
        parse="authorization_info",
    )
    assert allowed["http_status"] == 200, allowed
    assert allowed["errors"] == [], allowed["errors"]
    info = allowed["parsed"]
    assert info["allowed"] == "ALLOWED"
    assert info["token"]["uid"] == good["uid"].lower()
    assert info["location"] == {"location_id": "xwloc1", "evse_uids": ["xwloc1-1"]}
    assert 0 < len(info["authorization_reference"]) <= 36
    assert info["info"]["text"]
    assert allowed["headers"]["x-request-id"] == allowed["sent_headers"]["X-Request-ID"]

    blocked = await peer.fetch(
        f"{tokens_url}/VLTEST0002/authorize", method="POST", parse="authorization_info"
    )
    assert blocked["http_status"] == 200, blocked
    assert blocked["errors"] == [], blocked["errors"]
    assert blocked["parsed"]["allowed"] == "BLOCKED"
    assert blocked["parsed"]["authorization_reference"] is None
    assert blocked["parsed"]["location"] is None

    unknown = await peer.fetch(
        f"{tokens_url}/NOSUCHTOKEN/authorize", method="POST", json=LOCATION_REFS
    )
    assert unknown["http_status"] == 404
    assert unknown["body"]["status_code"] == 2004
    # OCPI makes an envelope's data optional ("?"); voltlab's error answers carry none,
    # and extrawest's own OCPIResponse model requires it.
    assert "data" not in unknown["body"]
    assert "data\n  field required" in unknown["envelope_error"]
