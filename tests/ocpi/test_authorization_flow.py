"""The CPO's token authorization flow end to end, on real sockets (ocpi.md "The token
authorization flow", the tables of ``voltlab.ocpi.cpo.decision``, protocols.md section 5).

A live voltlab hosts a CPO bundle, whose simulated chargers (OCPP 1.6 ``small-urban-ac``,
OCPP 2.0.1 ``mixed-depot``) run at the built-in CSMS, and an eMSP bundle (``emsp-basic``)
connected to it over real OCPI HTTP. Tags are presented through the REST API exactly as a
user does (``authorize-id-tag``, ``start-session``, OCPI commands); what the CPO decided is
read from its authorization log, what reached the eMSP from the eMSP's exchange log, what
the charger was told from its OCPP frame log.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from support.live import Voltlab, eventually
from support.ocpi import bundle_chargers, create_bundle

pytestmark = pytest.mark.timeout(60)

# The template that gives a charger of each OCPP version, and the version's spelling there.
TEMPLATES = {"1.6": "small-urban-ac", "2.0.1": "mixed-depot"}
OCPP = {"1.6": "OCPP1.6", "2.0.1": "OCPP2.0.1"}

TIMEOUT_MS = 300  # the CPO's realtime_timeout_ms in the fallback tests
SLOW_MS = 2000  # the eMSP's answer_delay_ms there: far beyond the CPO's patience
SESSION_S = 2  # how long a simulated session charges before it stops by itself
UNKNOWN_UID = "NOSUCHCARD000001"  # no eMSP knows it
REFERENCE = re.compile(r"^[0-9a-f]{32}$")  # what voltlab's CPO and eMSP mint


@dataclass(frozen=True)
class Outlet:
    """Where a tag is presented: a charger and one of its connectors (1.6) / EVSEs (2.0.1)."""

    charger: dict[str, Any]  # as GET /ocpp/chargers shows it
    n: int = 1

    @property
    def version(self) -> str:
        return "1.6" if self.charger["ocpp_version"] == "OCPP1.6" else "2.0.1"

    @property
    def evse_uid(self) -> str:
        return str(self.charger["evse_uids"][self.n - 1])

    @property
    def where(self) -> dict[str, int]:
        """The connector in an OCPP command's event."""
        return {"connector_id" if self.version == "1.6" else "evse_id": self.n}


@dataclass
class Flow:
    """One CPO bundle and one eMSP bundle of a live voltlab, connected, tokens pulled."""

    client: httpx.AsyncClient
    cpo: dict[str, Any]  # the 202 answers of POST /ocpi/cpos
    emsp: dict[str, Any]
    chargers: list[dict[str, Any]]
    tokens: list[dict[str, Any]]  # the eMSP's own tokens (management view)

    @property
    def cpo_id(self) -> str:
        return str(self.cpo["cpo_id"])

    @property
    def emsp_id(self) -> str:
        return str(self.emsp["cpo_id"])

    @property
    def emsp_party(self) -> dict[str, str]:
        party = self.emsp["party"]
        return {"country_code": party["country_code"], "party_id": party["party_id"]}

    def charger(self, version: str, index: int = 0) -> dict[str, Any]:
        return [c for c in self.chargers if c["ocpp_version"] == OCPP[version]][index]

    def outlet(self, version: str, index: int = 0) -> Outlet:
        return Outlet(self.charger(version, index))

    def token(self, whitelist: str, *, valid: bool = True, kind: str = "RFID") -> str:
        """The uid of the template's token with this whitelist, validity and type."""
        for token in self.tokens:
            if (token["whitelist"], token["valid"], token["type"]) == (whitelist, valid, kind):
                return str(token["uid"])
        raise AssertionError(f"emsp-basic has no {kind} {whitelist} token with valid={valid}")

    async def issue(self, uid: str, whitelist: str, *, valid: bool = True) -> str:
        """A new eMSP token, pushed; returns once the CPO's cache holds it."""
        created = await self.client.post(
            f"/ocpi/cpos/{self.emsp_id}/tokens",
            json={"uid": uid, "whitelist": whitelist, "valid": valid},
        )
        assert created.status_code == 201, created.text

        async def cached() -> bool:
            answer = await self.client.get(f"/ocpi/cpos/{self.cpo_id}/tokens/{uid}")
            return answer.status_code == 200 and answer.json()["valid"] is valid

        await eventually(cached, timeout=10)
        return uid

    # -- driving the chargers -------------------------------------------------------------

    async def command(self, name: str, outlet: Outlet, event: dict[str, Any]) -> dict[str, Any]:
        """Run ``POST /ocpp/commands/{name}`` on the outlet's charger; the charger's result."""
        body = {"target": {"charger_id": outlet.charger["id"]}, "event": event}
        queued = await self.client.post(f"/ocpp/commands/{name}", json=body)
        assert queued.status_code == 202, queued.text
        command_id = queued.json()["results"][0]["command"]["id"]

        async def finished() -> dict[str, Any] | None:
            record = (await self.client.get(f"/ocpp/commands/{command_id}")).json()
            return record if record["status"] in ("succeeded", "failed") else None

        record = await eventually(finished, timeout=15)
        assert record["status"] == "succeeded", record
        return record["result"]  # type: ignore[no-any-return]

    async def proxy(self, outlet: Outlet, action: str, payload: dict[str, Any]) -> Any:
        """The charger sends ``action`` as given (``proxy-message``); the CSMS's answer."""
        body = {
            "target": {"charger_id": outlet.charger["id"]},
            "event": {"action": action, "payload": payload},
        }
        queued = await self.client.post("/ocpp/commands/proxy-message", json=body)
        assert queued.status_code == 200, queued.text
        command_id = queued.json()["id"]

        async def finished() -> dict[str, Any] | None:
            record = (await self.client.get(f"/ocpp/commands/{command_id}")).json()
            return record if record["status"] in ("succeeded", "failed") else None

        record = await eventually(finished, timeout=15)
        assert record["status"] == "succeeded", record
        return record["result"]

    async def present(self, outlet: Outlet, uid: str) -> dict[str, Any]:
        """Present ``uid`` (OCPP Authorize); the charger's decision, which must come from
        the CSMS (not the charger's own cache or offline rules)."""
        result = await self.command("authorize-id-tag", outlet, {"id_tag": uid})
        assert result["source"] == "csms", result
        return result

    async def start(self, outlet: Outlet, uid: str) -> dict[str, Any]:
        """A session of ``SESSION_S`` seconds started by presenting ``uid``."""
        event = {"id_tag": uid, "duration_seconds": SESSION_S, **outlet.where}
        result = await self.command("start-session", outlet, event)
        assert result["authorization"]["status"] == "Accepted", result
        assert result["transaction_id"] is not None, result
        return result

    # -- what the bundles recorded ---------------------------------------------------------

    async def decisions(self, uid: str) -> list[dict[str, Any]]:
        """The CPO's authorization log for ``uid``, newest first."""
        answer = await self.client.get(
            f"/ocpi/cpos/{self.cpo_id}/authorizations", params={"token_uid": uid, "limit": 100}
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert page["total"] == len(page["data"])
        return page["data"]  # type: ignore[no-any-return]

    async def decision(self, uid: str) -> dict[str, Any]:
        """The one decision the CPO logged for ``uid``."""
        rows = await self.decisions(uid)
        assert len(rows) == 1, rows
        return rows[0]

    async def authorize_calls(self, uid: str) -> list[dict[str, Any]]:
        """The ``POST {tokens}/{uid}/authorize`` requests the eMSP served, newest first."""
        answer = await self.client.get(
            f"/ocpi/cpos/{self.emsp_id}/logs", params={"direction": "in", "limit": 1000}
        )
        assert answer.status_code == 200, answer.text
        path = f"/tokens/{uid}/authorize"
        return [e for e in answer.json()["data"] if path in e["url"].split("?")[0]]

    async def emsp_answer(self, uid: str) -> dict[str, Any]:
        """The AuthorizationInfo of the eMSP's one answer to an authorize of ``uid``."""
        calls = await self.authorize_calls(uid)
        assert len(calls) == 1, calls
        assert calls[0]["http_status"] == 200, calls[0]
        return json.loads(calls[0]["response_body"])["data"]  # type: ignore[no-any-return]

    async def authorize_answer(self, outlet: Outlet, uid: str) -> dict[str, Any]:
        """The payload of the CSMS's CALLRESULT to the charger's last Authorize of ``uid``,
        read from the charger's frame log."""
        url = f"/ocpp/chargers/{outlet.charger['id']}/logs"

        async def answered() -> dict[str, Any] | None:
            answer = await self.client.get(url, params={"event": "Authorize", "limit": 1000})
            assert answer.status_code == 200, answer.text
            frames = [json.loads(entry["message"]) for entry in answer.json()["data"]]
            calls = [
                f[1]
                for f in frames
                if f[0] == 2 and _presented_uid(f[3]) == uid  # newest first
            ]
            results = {f[1]: f[2] for f in frames if f[0] == 3}
            return results.get(calls[0]) if calls else None

        return await eventually(answered, timeout=10)  # type: ignore[no-any-return]

    async def sessions(self, bundle_id: str, uid: str) -> list[dict[str, Any]]:
        answer = await self.client.get(f"/ocpi/cpos/{bundle_id}/sessions", params={"limit": 100})
        assert answer.status_code == 200, answer.text
        return [s for s in answer.json()["data"] if s["cdr_token"]["uid"] == uid]

    async def cdrs(self, bundle_id: str, uid: str) -> list[dict[str, Any]]:
        answer = await self.client.get(f"/ocpi/cpos/{bundle_id}/cdrs", params={"limit": 100})
        assert answer.status_code == 200, answer.text
        return [c for c in answer.json()["data"] if c["cdr_token"]["uid"] == uid]

    # -- misbehaving on purpose -------------------------------------------------------------

    async def emsp_behaves(self, **fields: Any) -> None:
        answer = await self.client.put(f"/ocpi/cpos/{self.emsp_id}/behaviour", json=fields)
        assert answer.status_code == 200, answer.text

    async def cpo_behaves(self, **fields: Any) -> None:
        answer = await self.client.put(f"/ocpi/cpos/{self.cpo_id}/behaviour", json=fields)
        assert answer.status_code == 200, answer.text


def _presented_uid(payload: dict[str, Any]) -> str | None:
    """The tag of an Authorize request: 1.6 ``idTag``, 2.0.1 ``idToken.idToken``."""
    if "idTag" in payload:
        return str(payload["idTag"])
    return str(payload["idToken"]["idToken"]) if "idToken" in payload else None


async def make_flow(voltlab: Voltlab, template: str = "small-urban-ac") -> Flow:
    """A CPO bundle of ``template`` and an ``emsp-basic`` eMSP bundle, the eMSP connected
    (it initiates the handshake), the CPO's cache holding every eMSP token, and every
    charger booted at the built-in CSMS."""
    client = voltlab.client
    cpo = await create_bundle(client, template)
    emsp = await create_bundle(client, "emsp-basic", role="emsp")
    connected = await client.post(
        f"/ocpi/cpos/{emsp['cpo_id']}/connect",
        json={"versions_url": cpo["ocpi_peer_url"], "token": cpo["token_a"]},
    )
    assert connected.status_code == 200, connected.text
    own = (await client.get(f"/ocpi/cpos/{emsp['cpo_id']}/tokens", params={"limit": 100})).json()
    assert own["total"] == len(own["data"]) > 0

    async def pulled() -> bool:
        cache = await client.get(f"/ocpi/cpos/{cpo['cpo_id']}/tokens", params={"limit": 100})
        return bool(cache.json()["total"] == own["total"])

    await eventually(pulled, timeout=10)

    async def booted() -> list[dict[str, Any]] | None:
        rows = await bundle_chargers(client, cpo["cpo_id"])
        ready = all(
            r["runtime"]["connection"] == "connected" and r["runtime"]["boot_status"] == "Accepted"
            for r in rows
        )
        return rows if rows and ready else None

    chargers = await eventually(booted, timeout=20)
    return Flow(client, cpo, emsp, chargers, own["data"])


# ============================================================================ the cache path


@pytest.mark.parametrize("whitelist", ["ALWAYS", "ALLOWED"])
async def test_a_valid_cached_token_is_accepted_from_the_cache_without_asking_the_emsp(
    voltlab: Voltlab, whitelist: str
) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    uid = flow.token(whitelist)
    # Were the eMSP asked, it would refuse: an Accepted can only come from the cache.
    await flow.emsp_behaves(forced_answers={uid: "BLOCKED"})

    answer = await flow.present(outlet, uid)

    assert answer["status"] == "Accepted"
    row = await flow.decision(uid)
    assert row["path"] == "cache"
    assert row["ocpp_status"] == "Accepted"
    assert row["ocpi_allowed"] is None
    assert row["error"] is None
    assert row["emsp"] == flow.emsp_party
    assert row["charger_id"] == outlet.charger["id"]
    assert row["location_id"] == outlet.charger["ocpi_location_id"]
    assert REFERENCE.match(row["authorization_reference"] or ""), row  # the CPO minted it
    # A NEVER token presented afterwards reaches the eMSP's log: the log is read right,
    # and the cached token's absence from it is real.
    never = flow.token("NEVER")
    await flow.present(outlet, never)
    assert len(await flow.authorize_calls(never)) == 1
    assert await flow.authorize_calls(uid) == []


@pytest.mark.parametrize("whitelist", ["ALLOWED", "ALWAYS"])
async def test_a_cached_token_with_valid_false_is_refused_blocked_without_asking_the_emsp(
    voltlab: Voltlab, whitelist: str
) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    uid = flow.token(whitelist, valid=False)
    # Were the eMSP asked, it would accept: a refusal can only come from the cache.
    await flow.emsp_behaves(forced_answers={uid: "ALLOWED"})

    answer = await flow.present(outlet, uid)

    assert answer["status"] == "Blocked"
    row = await flow.decision(uid)
    assert row["path"] == "cache"
    assert row["ocpp_status"] == "Blocked"
    assert row["ocpi_allowed"] is None
    assert row["authorization_reference"] is None
    assert await flow.authorize_calls(uid) == []


# ============================================================================ real time


@pytest.mark.parametrize("whitelist", ["NEVER", "ALLOWED_OFFLINE"])
async def test_a_real_time_token_is_accepted_by_the_emsp_with_the_emsps_reference(
    voltlab: Voltlab, whitelist: str
) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    uid = flow.token(whitelist)

    answer = await flow.present(outlet, uid)

    assert answer["status"] == "Accepted"
    row = await flow.decision(uid)
    assert row["path"] == "realtime"
    assert row["ocpi_allowed"] == "ALLOWED"
    assert row["ocpp_status"] == "Accepted"
    assert row["error"] is None
    assert row["emsp"] == flow.emsp_party
    info = await flow.emsp_answer(uid)
    assert info["allowed"] == "ALLOWED"
    assert REFERENCE.match(info["authorization_reference"]), info
    assert row["authorization_reference"] == info["authorization_reference"]
    # The request named the charger's location (LocationReferences).
    assert info["location"]["location_id"] == outlet.charger["ocpi_location_id"]


FORCED = [
    # allowed, OCPP version, the status the charger is told (protocols.md section 5)
    ("BLOCKED", "1.6", "Blocked"),
    ("EXPIRED", "1.6", "Expired"),
    ("NO_CREDIT", "1.6", "Invalid"),
    ("NOT_ALLOWED", "1.6", "Invalid"),
    ("BLOCKED", "2.0.1", "Blocked"),
    ("EXPIRED", "2.0.1", "Expired"),
    ("NO_CREDIT", "2.0.1", "NoCredit"),
    ("NOT_ALLOWED", "2.0.1", "NotAtThisLocation"),
]


@pytest.mark.parametrize(("allowed", "version", "status"), FORCED)
async def test_the_emsps_refusal_reaches_the_charger_as_its_versions_status(
    voltlab: Voltlab, allowed: str, version: str, status: str
) -> None:
    flow = await make_flow(voltlab, TEMPLATES[version])
    outlet = flow.outlet(version)
    uid = flow.token("NEVER")
    await flow.emsp_behaves(forced_answers={uid: allowed})

    answer = await flow.present(outlet, uid)

    assert answer["status"] == status
    row = await flow.decision(uid)
    assert row["path"] == "realtime"
    assert row["ocpi_allowed"] == allowed
    assert row["ocpp_status"] == status
    assert row["authorization_reference"] is None  # nothing was authorized
    assert row["emsp"] == flow.emsp_party
    assert (await flow.emsp_answer(uid))["allowed"] == allowed


@pytest.mark.parametrize(("version", "status"), [("1.6", "Invalid"), ("2.0.1", "Unknown")])
async def test_a_token_nobody_knows_is_asked_in_real_time_and_refused_as_unknown(
    voltlab: Voltlab, version: str, status: str
) -> None:
    flow = await make_flow(voltlab, TEMPLATES[version])
    outlet = flow.outlet(version)
    cached = await flow.client.get(f"/ocpi/cpos/{flow.cpo_id}/tokens/{UNKNOWN_UID}")
    assert cached.status_code == 404, cached.text

    answer = await flow.present(outlet, UNKNOWN_UID)

    assert answer["status"] == status
    row = await flow.decision(UNKNOWN_UID)
    assert row["path"] == "realtime"
    assert row["ocpi_allowed"] is None
    assert row["ocpp_status"] == status
    assert row["authorization_reference"] is None
    assert row["emsp"] is None
    # The CPO asked the eMSP (every connected eMSP: the token is not cached): 404 + 2004.
    calls = await flow.authorize_calls(UNKNOWN_UID)
    assert [(c["http_status"], c["status_code"]) for c in calls] == [(404, 2004)]


async def test_a_token_the_cpo_was_never_sent_is_asked_in_real_time_and_accepted(
    voltlab: Voltlab,
) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    created = await flow.client.post(
        f"/ocpi/cpos/{flow.emsp_id}/tokens",
        params={"push": "false"},
        json={"uid": "LATECARD00000001", "whitelist": "ALWAYS", "label": "never pushed"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["pushed_to"] == []
    uid = created.json()["token"]["uid"]
    cached = await flow.client.get(f"/ocpi/cpos/{flow.cpo_id}/tokens/{uid}")
    assert cached.status_code == 404, cached.text

    answer = await flow.present(outlet, uid)

    assert answer["status"] == "Accepted"
    row = await flow.decision(uid)
    assert row["path"] == "realtime"  # not cached, so asked, whatever its whitelist
    assert row["ocpi_allowed"] == "ALLOWED"
    assert row["emsp"] == flow.emsp_party  # the eMSP that answered owns it
    assert (
        row["authorization_reference"] == (await flow.emsp_answer(uid))["authorization_reference"]
    )


# ============================================================================ fallback

SLOW, SILENT = {"answer_delay_ms": SLOW_MS}, {"silent": True}
FALLBACKS = [
    # CPO fallback_policy, token whitelist, how the eMSP fails to answer, status
    pytest.param("whitelist", "ALLOWED_OFFLINE", SLOW, "Accepted", id="whitelist-offline-slow"),
    pytest.param("whitelist", "ALLOWED_OFFLINE", SILENT, "Accepted", id="whitelist-offline-silent"),
    pytest.param("whitelist", "NEVER", SLOW, "Invalid", id="whitelist-never-slow"),
    pytest.param("whitelist", "NEVER", SILENT, "Invalid", id="whitelist-never-silent"),
    pytest.param("refuse", "ALLOWED_OFFLINE", SLOW, "Invalid", id="refuse-offline"),
    pytest.param("accept_known", "NEVER", SLOW, "Accepted", id="accept_known-never"),
]


@pytest.mark.parametrize(("policy", "whitelist", "misbehaviour", "status"), FALLBACKS)
async def test_when_the_emsp_does_not_answer_in_time_the_fallback_policy_decides(
    voltlab: Voltlab, policy: str, whitelist: str, misbehaviour: dict[str, Any], status: str
) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    uid = flow.token(whitelist)
    await flow.cpo_behaves(realtime_timeout_ms=TIMEOUT_MS, fallback_policy=policy)
    await flow.emsp_behaves(**misbehaviour)

    began = time.monotonic()
    answer = await flow.present(outlet, uid)
    took_s = time.monotonic() - began

    assert answer["status"] == status
    assert took_s < SLOW_MS / 1000, "the charger waited for the eMSP"
    row = await flow.decision(uid)
    assert row["path"] == "fallback"
    assert row["ocpp_status"] == status
    assert row["ocpi_allowed"] is None
    assert row["error"] == f"timeout after {TIMEOUT_MS} ms"
    assert TIMEOUT_MS <= row["latency_ms"] < TIMEOUT_MS + 700, row
    assert row["emsp"] == flow.emsp_party
    if status == "Accepted":
        assert REFERENCE.match(row["authorization_reference"] or ""), row  # minted by the CPO
    else:
        assert row["authorization_reference"] is None


async def test_an_unknown_token_is_refused_by_every_policy_when_the_emsp_is_slow(
    voltlab: Voltlab,
) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    await flow.cpo_behaves(realtime_timeout_ms=TIMEOUT_MS, fallback_policy="accept_known")
    await flow.emsp_behaves(answer_delay_ms=SLOW_MS)

    answer = await flow.present(outlet, UNKNOWN_UID)

    assert answer["status"] == "Invalid"
    row = await flow.decision(UNKNOWN_UID)
    assert (row["path"], row["error"]) == ("fallback", f"timeout after {TIMEOUT_MS} ms")
    assert row["authorization_reference"] is None


ERRORS = [
    # the OCPI error the eMSP answers every authorize with, token whitelist, status
    pytest.param(
        {"http_status": 503, "status_code": 3000}, "ALLOWED_OFFLINE", "Accepted", id="503"
    ),
    pytest.param({"http_status": 503, "status_code": 3000}, "NEVER", "Invalid", id="503-never"),
    # Only OCPI 2004 says "unknown token": a 404 with another status is an error too.
    pytest.param(
        {"http_status": 404, "status_code": 3000}, "ALLOWED_OFFLINE", "Accepted", id="404"
    ),
]


@pytest.mark.parametrize(("error", "whitelist", "status"), ERRORS)
async def test_when_the_emsp_answers_with_an_error_the_cpo_falls_back_and_logs_it(
    voltlab: Voltlab, error: dict[str, int], whitelist: str, status: str
) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    uid = flow.token(whitelist)
    await flow.emsp_behaves(error=error)

    answer = await flow.present(outlet, uid)

    assert answer["status"] == status
    row = await flow.decision(uid)
    assert row["path"] == "fallback"
    assert row["ocpp_status"] == status
    assert row["ocpi_allowed"] is None
    said = f"HTTP {error['http_status']}", f"OCPI {error['status_code']}"
    assert all(text in (row["error"] or "") for text in said), row
    assert row["latency_ms"] < 1000  # an error is an answer: nobody waited for a timeout
    calls = await flow.authorize_calls(uid)
    assert [(c["http_status"], c["status_code"]) for c in calls] == [tuple(error.values())]
    assert (row["authorization_reference"] is not None) == (status == "Accepted")


async def test_an_emsp_error_saying_unknown_token_refuses_in_real_time(voltlab: Voltlab) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    uid = flow.token("ALLOWED_OFFLINE")
    await flow.emsp_behaves(error={"http_status": 404, "status_code": 2004})

    assert (await flow.present(outlet, uid))["status"] == "Invalid"
    row = await flow.decision(uid)
    assert (row["path"], row["ocpi_allowed"], row["error"]) == ("realtime", None, None)


async def test_when_the_emsp_is_gone_a_cached_allowed_offline_token_falls_back_to_accepted(
    voltlab: Voltlab,
) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    uid = flow.token("ALLOWED_OFFLINE")
    gone = await flow.client.delete(f"/ocpi/cpos/{flow.emsp_id}")
    assert gone.status_code == 204, gone.text

    assert (await flow.present(outlet, uid))["status"] == "Accepted"
    row = await flow.decision(uid)
    assert row["path"] == "fallback"
    assert row["error"], row  # what the unreachable eMSP's address answered
    assert REFERENCE.match(row["authorization_reference"] or ""), row


async def test_a_cached_token_with_valid_false_is_never_accepted_by_the_fallback(
    voltlab: Voltlab,
) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    uid = await flow.issue("LOSTCARD00000001", "ALLOWED_OFFLINE", valid=False)
    await flow.cpo_behaves(realtime_timeout_ms=TIMEOUT_MS, fallback_policy="accept_known")
    await flow.emsp_behaves(answer_delay_ms=SLOW_MS)

    assert (await flow.present(outlet, uid))["status"] == "Blocked"
    row = await flow.decision(uid)
    assert (row["path"], row["ocpp_status"]) == ("fallback", "Blocked")
    assert row["error"] == f"timeout after {TIMEOUT_MS} ms"
    assert row["authorization_reference"] is None


async def test_the_emsps_real_time_answer_wins_over_a_cached_valid_false(
    voltlab: Voltlab,
) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    uid = await flow.issue("LOSTCARD00000002", "NEVER", valid=False)

    # The eMSP itself answers BLOCKED for its invalid token ...
    assert (await flow.present(outlet, uid))["status"] == "Blocked"
    refused = (await flow.decisions(uid))[0]
    assert (refused["path"], refused["ocpi_allowed"]) == ("realtime", "BLOCKED")
    # ... and when it says ALLOWED (the token's state changed), the CPO follows it.
    await flow.emsp_behaves(forced_answers={uid: "ALLOWED"})
    assert (await flow.present(outlet, uid))["status"] == "Accepted"
    accepted = (await flow.decisions(uid))[0]
    assert (accepted["path"], accepted["ocpi_allowed"]) == ("realtime", "ALLOWED")
    assert len(await flow.authorize_calls(uid)) == 2


async def test_a_tag_matches_its_cached_token_whatever_its_case(voltlab: Voltlab) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    uid = flow.token("ALWAYS")
    assert uid != uid.lower()

    assert (await flow.present(outlet, uid.lower()))["status"] == "Accepted"
    row = await flow.decision(uid)
    assert row["path"] == "cache"
    assert row["token_uid"] == uid  # the cached token's spelling
    assert await flow.authorize_calls(uid) == []
    assert await flow.authorize_calls(uid.lower()) == []


# ============================================================================ the charger's answer


async def test_a_2_0_1_charger_is_shown_the_emsps_info_and_a_1_6_charger_gets_none(
    voltlab: Voltlab,
) -> None:
    flow = await make_flow(voltlab, "mixed-depot")
    ev201, ac16 = flow.outlet("2.0.1"), flow.outlet("1.6")
    accepted, refused = flow.token("NEVER"), flow.token("ALLOWED_OFFLINE")
    await flow.emsp_behaves(forced_answers={refused: "NO_CREDIT"})

    assert (await flow.present(ev201, accepted))["status"] == "Accepted"
    assert (await flow.present(ev201, refused))["status"] == "NoCredit"
    for uid in (accepted, refused):
        info = (await flow.emsp_answer(uid))["info"]
        assert info["text"]
        sent = (await flow.authorize_answer(ev201, uid))["idTokenInfo"]
        assert sent["personalMessage"]["content"] == info["text"], sent

    # A cache decision has no eMSP info: the 2.0.1 answer carries no message of its own.
    always = flow.token("ALWAYS")
    assert (await flow.present(ev201, always))["status"] == "Accepted"
    assert "personalMessage" not in (await flow.authorize_answer(ev201, always))["idTokenInfo"]

    # A 1.6 answer has no personal message (idTagInfo has no such field), though the
    # eMSP answered with info again.
    assert (await flow.present(ac16, accepted))["status"] == "Accepted"
    calls = await flow.authorize_calls(accepted)  # newest first
    assert len(calls) == 2
    assert json.loads(calls[0]["response_body"])["data"]["info"]["text"]
    sent = (await flow.authorize_answer(ac16, accepted))["idTagInfo"]
    assert sent["status"] == "Accepted"
    assert set(sent) <= {"status", "expiryDate", "parentIdTag"}, sent


# ============================================================================ references


async def _session_references(
    flow: Flow, uid: str, auth_method: str, expected: dict[str, Any]
) -> str:
    """Wait for the CDR of ``uid``'s one session at the eMSP, then check that one decision,
    the CPO's Session, the eMSP's copy and the CDR all carry the same reference."""
    cdrs = await eventually(lambda: flow.cdrs(flow.emsp_id, uid), timeout=30)
    rows = await flow.decisions(uid)
    assert len(rows) == 1, f"one start, one decision: {rows}"
    reference = rows[0]["authorization_reference"]
    assert REFERENCE.match(reference or ""), rows
    for field, value in expected.items():
        assert rows[0][field] == value, (field, rows[0])
    sent = await flow.sessions(flow.cpo_id, uid)
    received = await flow.sessions(flow.emsp_id, uid)
    assert len(sent) == len(received) == len(cdrs) == 1, (sent, received, cdrs)
    assert received[0]["id"] == sent[0]["id"]
    for name, item in (("CPO session", sent[0]), ("eMSP session", received[0]), ("CDR", cdrs[0])):
        assert item.get("authorization_reference") == reference, (name, item)
        assert item["auth_method"] == auth_method, (name, item)
    assert cdrs[0]["cdr_token"]["party_id"] == flow.emsp_party["party_id"]
    return str(reference)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_each_start_has_one_decision_whose_reference_the_session_and_cdr_carry(
    voltlab: Voltlab, version: str
) -> None:
    flow = await make_flow(voltlab, TEMPLATES[version])
    chargers = [c for c in flow.chargers if c["ocpp_version"] == OCPP[version]]
    outlets = [Outlet(c, n) for c in chargers for n in range(1, len(c["evse_uids"]) + 1)]
    assert len(outlets) >= 4, outlets
    cache_at, realtime_at, command_at, fallback_at = outlets[:4]
    whitelisted, realtime = flow.token("ALWAYS"), flow.token("NEVER")
    offline, app = flow.token("ALLOWED_OFFLINE"), flow.token("ALLOWED", kind="APP_USER")

    # A cache hit and a real-time token, at once; each session stops by itself.
    await asyncio.gather(flow.start(cache_at, whitelisted), flow.start(realtime_at, realtime))

    # A remote start: the EV is plugged in, the eMSP sends START_SESSION.
    await flow.command("plug-connector", command_at, command_at.where)
    sent = await flow.client.post(
        f"/ocpi/cpos/{flow.emsp_id}/commands/START_SESSION",
        json={
            "token_uid": app,
            "location_id": command_at.charger["ocpi_location_id"],
            "evse_uid": command_at.evse_uid,
        },
    )
    assert sent.status_code == 200, sent.text
    start = sent.json()
    assert start["response"]["result"] == "ACCEPTED", start

    # A fallback: the eMSP answers too late, the ALLOWED_OFFLINE token is accepted anyway.
    await flow.cpo_behaves(realtime_timeout_ms=TIMEOUT_MS)
    await flow.emsp_behaves(answer_delay_ms=SLOW_MS)
    await flow.start(fallback_at, offline)

    # The remote session runs until the eMSP stops it.
    async def running() -> dict[str, Any] | None:
        active = [s for s in await flow.sessions(flow.cpo_id, app) if s["status"] == "ACTIVE"]
        return active[0] if active else None

    session = await eventually(running, timeout=20)
    stop = await flow.client.post(
        f"/ocpi/cpos/{flow.emsp_id}/commands/STOP_SESSION", json={"session_id": session["id"]}
    )
    assert stop.status_code == 200, stop.text
    assert stop.json()["response"]["result"] == "ACCEPTED", stop.json()

    references = [
        await _session_references(
            flow, whitelisted, "WHITELIST", {"path": "cache", "ocpp_status": "Accepted"}
        ),
        await _session_references(
            flow, realtime, "AUTH_REQUEST", {"path": "realtime", "ocpi_allowed": "ALLOWED"}
        ),
        await _session_references(
            flow, offline, "WHITELIST", {"path": "fallback", "ocpp_status": "Accepted"}
        ),
        await _session_references(flow, app, "COMMAND", {"path": "command", "trigger": "command"}),
    ]
    assert references[3] == start["request"]["authorization_reference"]
    assert len(set(references)) == 4, references


async def test_a_resent_start_transaction_reuses_the_authorizes_decision(
    voltlab: Voltlab,
) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    uid = flow.token("NEVER")
    assert (await flow.present(outlet, uid))["status"] == "Accepted"
    # The eMSP would now refuse: a start that asked it again would be refused.
    await flow.emsp_behaves(forced_answers={uid: "BLOCKED"})

    # The charger sends its StartTransaction twice (it did not see the first answer).
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    start = {"connectorId": 1, "idTag": uid, "meterStart": 0, "timestamp": now}
    answers = [await flow.proxy(outlet, "StartTransaction", start) for _ in range(2)]

    statuses = [a["payload"]["idTagInfo"]["status"] for a in answers]
    assert statuses == ["Accepted", "Accepted"], answers
    assert len(await flow.decisions(uid)) == 1
    assert len(await flow.authorize_calls(uid)) == 1


async def test_a_second_start_after_one_authorize_gets_a_decision_of_its_own(
    voltlab: Voltlab,
) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    uid = flow.token("NEVER")
    start = {"id_tag": uid, **outlet.where}

    # Authorize, then a transaction: the start reuses the Authorize's decision.
    assert (await flow.present(outlet, uid))["status"] == "Accepted"
    first = await flow.command("start-transaction", outlet, start)
    assert first["id_tag_status"] == "Accepted", first
    await flow.command("stop-transaction", outlet, {"transaction_id": first["transaction_id"]})
    assert len(await flow.decisions(uid)) == 1

    # The eMSP blocks the token; the same tag starts again at once, without an Authorize:
    # a new start, so a new (real-time) decision, not the first start's.
    await flow.emsp_behaves(forced_answers={uid: "BLOCKED"})
    second = await flow.command("start-transaction", outlet, start)

    assert second["id_tag_status"] == "Blocked", second
    rows = await flow.decisions(uid)  # newest first
    assert [(r["trigger"], r["ocpi_allowed"]) for r in rows] == [
        ("start_transaction", "BLOCKED"),
        ("authorize", "ALLOWED"),
    ], rows
    assert rows[0]["evse_uid"] == outlet.evse_uid  # a StartTransaction names its connector
    assert len(await flow.authorize_calls(uid)) == 2


# ============================================================================ behaviour


async def test_a_behaviour_change_takes_effect_at_the_next_presentation(
    voltlab: Voltlab,
) -> None:
    flow = await make_flow(voltlab)
    outlet = flow.outlet("1.6")
    uid = flow.token("ALLOWED_OFFLINE")

    async def present() -> tuple[str, str]:
        status = (await flow.present(outlet, uid))["status"]
        row = (await flow.decisions(uid))[0]
        assert row["ocpp_status"] == status
        return status, row["path"]

    assert await present() == ("Accepted", "realtime")
    await flow.emsp_behaves(forced_answers={uid: "EXPIRED"})
    assert await present() == ("Expired", "realtime")
    await flow.emsp_behaves(forced_answers={})
    assert await present() == ("Accepted", "realtime")

    await flow.cpo_behaves(realtime_timeout_ms=TIMEOUT_MS)
    await flow.emsp_behaves(silent=True)
    assert await present() == ("Accepted", "fallback")
    await flow.cpo_behaves(fallback_policy="refuse")
    assert await present() == ("Invalid", "fallback")
    await flow.emsp_behaves(silent=False)
    assert await present() == ("Accepted", "realtime")

    assert len(await flow.decisions(uid)) == 6
