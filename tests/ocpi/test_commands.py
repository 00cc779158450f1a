"""OCPI commands between bundles of one live voltlab: an eMSP bundle sends START_SESSION,
STOP_SESSION and UNLOCK_CONNECTOR to CPO bundles whose simulated chargers (OCPP 1.6 and
2.0.1) run at the built-in CSMS; the CommandResult comes back to the eMSP's response_url."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from support.live import Voltlab, eventually
from support.ocpi import bundle_chargers, create_bundle, ocpi_client
from voltlab.storage.ocpi import OcpiAuthorization, OcpiCommand, OcpiPeer, OcpiSession

pytestmark = pytest.mark.timeout(120)


@dataclass
class Outlet:
    """One EVSE of a CPO bundle and the charger behind it."""

    cpo: dict[str, Any]  # the 202 answer of POST /ocpi/cpos
    charger: dict[str, Any]  # the charger as GET /ocpp/chargers shows it
    location_id: str
    evse_uid: str
    n: int  # the charger's connector (1.6) / EVSE (2.0.1) number behind the EVSE

    @property
    def realm(self) -> str:
        return str(self.cpo["cpo_id"])

    @property
    def party(self) -> dict[str, str]:
        return {"country_code": "NL", "party_id": self.cpo["party"]["party_id"]}

    @property
    def version(self) -> str:
        return "1.6" if self.charger["ocpp_version"] == "OCPP1.6" else "2.0.1"


@dataclass
class Lab:
    voltlab: Voltlab
    emsp: dict[str, Any]
    cpos: list[dict[str, Any]]

    @property
    def client(self) -> httpx.AsyncClient:
        return self.voltlab.client

    async def send(self, command: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(
            f"/ocpi/cpos/{self.emsp['cpo_id']}/commands/{command}", json=body
        )

    async def result(self, command_id: str, timeout: float = 30) -> dict[str, Any]:
        """Poll the eMSP's command until the CPO's CommandResult has arrived."""
        url = f"/ocpi/cpos/{self.emsp['cpo_id']}/commands/{command_id}"

        async def arrived() -> dict[str, Any] | None:
            answer = await self.client.get(url)
            assert answer.status_code == 200, answer.text
            return answer.json()["result"]

        return await eventually(arrived, timeout=timeout, interval=0.1)  # type: ignore[no-any-return]

    async def token_c(self, cpo: dict[str, Any]) -> str:
        """What the eMSP calls ``cpo`` with."""
        return (await self._peer(self.emsp["cpo_id"], cpo["party"]["party_id"])).token_theirs

    async def token_b(self, cpo: dict[str, Any]) -> str:
        """What ``cpo`` calls the eMSP with."""
        return (await self._peer(cpo["cpo_id"], self.emsp["party"]["party_id"])).token_theirs

    async def commands_url(self, cpo: dict[str, Any]) -> str:
        peer = await self._peer(self.emsp["cpo_id"], cpo["party"]["party_id"])
        return next(e["url"] for e in peer.endpoints if e["identifier"] == "commands")

    async def _peer(self, bundle_id: str, party_id: str) -> OcpiPeer:
        async with self.voltlab.services.sessions() as session:
            rows = await session.scalars(
                select(OcpiPeer).where(
                    OcpiPeer.bundle_id == int(bundle_id), OcpiPeer.party_id == party_id
                )
            )
            return rows.one()

    def station(self, outlet: Outlet) -> Any:
        return self.voltlab.services.csms.station(outlet.realm, outlet.charger["identity"])

    def transaction(self, outlet: Outlet) -> Any:
        """The running transaction on the outlet's EVSE at the CSMS, or None."""
        station = self.station(outlet)
        if station is None:
            return None
        running = [t for t in station.transactions.values() if t.active and t.evse_id == outlet.n]
        return running[0] if running else None

    async def outlets(self, cpo: dict[str, Any]) -> list[Outlet]:
        """Every EVSE of ``cpo``, once its charger is connected and Available."""
        chargers = await bundle_chargers(self.client, cpo["cpo_id"])
        async with ocpi_client(await self.token_c(cpo)) as ocpi:
            locations_url = (await self.commands_url(cpo)).replace("/commands", "/locations")
            locations = (await ocpi.get(locations_url)).json()["data"]
        outlets = []
        for location in locations:
            for evse in location["evses"]:
                charger = next(
                    c
                    for c in chargers
                    if evse["uid"] == c["identity"] or evse["uid"].startswith(c["identity"] + "_C")
                )
                suffix = evse["uid"].removeprefix(charger["identity"])
                n = int(suffix.removeprefix("_C")) if suffix else 1
                outlets.append(Outlet(cpo, charger, location["id"], evse["uid"], n))

        def ready() -> bool:
            for outlet in outlets:
                station = self.station(outlet)
                if station is None or not station.connected:
                    return False
                key = (outlet.n, outlet.n if outlet.version == "1.6" else 1)
                if station.connectors.get(key) != "Available":
                    return False
            return True

        await eventually(ready, timeout=30)
        return outlets

    async def plug(self, outlet: Outlet) -> None:
        event = {"connector_id": outlet.n} if outlet.version == "1.6" else {"evse_id": outlet.n}
        answer = await self.client.post(
            "/ocpp/commands/plug-connector",
            json={"target": {"charger_id": outlet.charger["id"]}, "event": event},
        )
        assert answer.status_code in (200, 202), answer.text

        def plugged() -> bool:
            station = self.station(outlet)
            key = (outlet.n, outlet.n if outlet.version == "1.6" else 1)
            return station is not None and station.connectors.get(key) in ("Preparing", "Occupied")

        await eventually(plugged, timeout=15)


async def make_lab(voltlab: Voltlab, *templates: str) -> Lab:
    """CPO bundles of ``templates`` (parties CP1, CP2...) and an ``emsp-basic`` bundle
    connected to each of them, the eMSP initiating."""
    client = voltlab.client
    small = {"overrides": {"locations": 1, "chargers_per_location": 1}}
    sizes = {"small-urban-ac": small, "mixed-depot": {"overrides": {"chargers_per_location": 2}}}
    cpos = []
    for i, template in enumerate(templates, start=1):
        cpos.append(await create_bundle(client, template, party_id=f"CP{i}", **sizes[template]))
    emsp = await create_bundle(client, "emsp-basic", role="emsp")
    for cpo in cpos:
        connected = await client.post(
            f"/ocpi/cpos/{emsp['cpo_id']}/connect",
            json={"versions_url": cpo["ocpi_peer_url"], "token": cpo["token_a"]},
        )
        assert connected.status_code == 200, connected.text
    return Lab(voltlab, emsp, cpos)


async def start_session(lab: Lab, outlet: Outlet) -> dict[str, Any]:
    """START_SESSION on a plugged outlet: the answer, the result, the running transaction."""
    await lab.plug(outlet)
    sent = await lab.send(
        "START_SESSION",
        {**outlet.party, "location_id": outlet.location_id, "evse_uid": outlet.evse_uid},
    )
    assert sent.status_code == 200, sent.text
    command = sent.json()
    assert command["command"] == "START_SESSION"
    assert command["cpo"] == outlet.party
    assert command["response"]["result"] == "ACCEPTED"
    assert command["response"]["timeout"] > 0
    assert command["request"]["token"]["type"] == "APP_USER"
    assert command["request"]["response_url"].endswith(f"/START_SESSION/{command['id']}")
    assert (await lab.result(command["id"]))["result"] == "ACCEPTED"
    uid = command["request"]["token"]["uid"]

    def started() -> Any:
        # The CSMS lists a 2.0.1 transaction before it has decided on its idToken.
        tx = lab.transaction(outlet)
        return tx if tx is not None and tx.id_tag is not None else None

    tx = await eventually(started, timeout=15)
    assert tx.id_tag == uid
    return command


async def stop_session(lab: Lab, outlet: Outlet, session_id: str) -> None:
    sent = await lab.send("STOP_SESSION", {**outlet.party, "session_id": session_id})
    assert sent.status_code == 200, sent.text
    assert sent.json()["response"]["result"] == "ACCEPTED", sent.json()
    assert (await lab.result(sent.json()["id"]))["result"] == "ACCEPTED"
    await eventually(lambda: lab.transaction(outlet) is None, timeout=15)


async def _session_of(lab: Lab, outlet: Outlet) -> str | None:
    async with lab.voltlab.services.sessions() as session:
        row = (
            await session.scalars(
                select(OcpiSession).where(
                    OcpiSession.bundle_id == int(outlet.cpo["cpo_id"]),
                    OcpiSession.charger_id == outlet.charger["id"],
                )
            )
        ).first()
    return row.session_id if row is not None else None


# -- START_SESSION and STOP_SESSION on both OCPP versions -------------------------------------


async def test_start_session_and_stop_it_on_ocpp16_and_201(voltlab: Voltlab) -> None:
    lab = await make_lab(voltlab, "small-urban-ac", "mixed-depot")
    ac16 = (await lab.outlets(lab.cpos[0]))[0]
    depot = await lab.outlets(lab.cpos[1])
    dc201 = next(o for o in depot if o.version == "2.0.1")
    assert ac16.version == "1.6"

    for outlet in (ac16, dc201):
        command = await start_session(lab, outlet)
        # The CPO stored the command it received, with the same result.
        received = (await lab.client.get(f"/ocpi/cpos/{outlet.cpo['cpo_id']}/commands")).json()
        assert received["total"] == 1
        assert received["data"][0]["direction"] == "received"
        assert received["data"][0]["emsp"]["party_id"] == lab.emsp["party"]["party_id"]
        assert received["data"][0]["result"] == {"result": "ACCEPTED"}
        # The charger's start was accepted as the command's: no decision of its own,
        # the command's authorization_reference kept.
        tx = lab.transaction(outlet)
        assert tx.authorization is not None and tx.authorization.status == "Accepted"
        reference = command["request"]["authorization_reference"]
        async with voltlab.services.sessions() as session:
            logged = (
                await session.scalars(
                    select(OcpiAuthorization).where(
                        OcpiAuthorization.bundle_id == int(outlet.cpo["cpo_id"]),
                        OcpiAuthorization.trigger == "command",
                    )
                )
            ).all()
        assert [a.authorization_reference for a in logged] == [reference]

        # A second start on the same EVSE: the CPO accepts the command, the EVSE is taken.
        again = await lab.send(
            "START_SESSION",
            {**outlet.party, "location_id": outlet.location_id, "evse_uid": outlet.evse_uid},
        )
        assert again.json()["response"]["result"] == "ACCEPTED", again.text
        assert (await lab.result(again.json()["id"]))["result"] == "EVSE_OCCUPIED"

        # STOP_SESSION of the Session the CPO reported for it (its ocpi_sessions row),
        # which carries the command's authorization_reference and auth method.
        session_id = await eventually(lambda o=outlet: _session_of(lab, o), timeout=15)
        async with voltlab.services.sessions() as session:
            row = (
                await session.scalars(
                    select(OcpiSession).where(
                        OcpiSession.bundle_id == int(outlet.cpo["cpo_id"]),
                        OcpiSession.session_id == session_id,
                    )
                )
            ).one()
        assert row.authorization_reference == reference
        assert row.data.get("auth_method") == "COMMAND"
        await stop_session(lab, outlet, session_id)

    listed = (await lab.client.get(f"/ocpi/cpos/{lab.emsp['cpo_id']}/commands")).json()
    assert [c["command"] for c in listed["data"]] == [
        "STOP_SESSION",
        "START_SESSION",
        "START_SESSION",
    ] * 2
    assert all(c["direction"] == "sent" and c["result"] for c in listed["data"])


# -- what the CPO refuses, and the charger's other answers ------------------------------------


async def test_refusals_unlock_and_an_offline_charger(voltlab: Voltlab) -> None:
    lab = await make_lab(voltlab, "small-urban-ac")
    cpo = lab.cpos[0]
    outlets = await lab.outlets(cpo)
    party = outlets[0].party

    # STOP_SESSION of a session the CPO does not know.
    unknown = await lab.send("STOP_SESSION", {**party, "session_id": "NO-SUCH-SESSION"})
    assert unknown.status_code == 200, unknown.text
    assert unknown.json()["response"]["result"] == "UNKNOWN_SESSION"
    assert unknown.json()["result"] is None

    # START_SESSION at a location the CPO does not have: REJECTED with OCPI 2003.
    nowhere = await lab.send("START_SESSION", {**party, "location_id": "NOWHERE"})
    assert nowhere.status_code == 200, nowhere.text
    assert nowhere.json()["response"]["result"] == "REJECTED"
    assert nowhere.json()["status_code"] == 2003
    assert "NOWHERE" in nowhere.json()["status_message"]
    assert "error" not in nowhere.json()

    # UNLOCK_CONNECTOR reaches the charger and a result comes back.
    unlock = await lab.send(
        "UNLOCK_CONNECTOR",
        {**party, "location_id": outlets[0].location_id, "evse_uid": outlets[0].evse_uid},
    )
    assert unlock.status_code == 200, unlock.text
    assert unlock.json()["response"]["result"] == "ACCEPTED"
    unlocked = await lab.result(unlock.json()["id"])
    assert unlocked["result"] in ("ACCEPTED", "FAILED", "REJECTED", "NOT_SUPPORTED")

    # START_SESSION on a charger that is offline: accepted by the CPO, FAILED at the charger.
    offline = outlets[-1]
    stopped = await lab.client.post(f"/ocpp/chargers/{offline.charger['id']}/stop-charger")
    assert stopped.status_code in (200, 202), stopped.text
    await eventually(lambda: not lab.station(offline).connected, timeout=15)
    sent = await lab.send(
        "START_SESSION",
        {**party, "location_id": offline.location_id, "evse_uid": offline.evse_uid},
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["response"]["result"] == "ACCEPTED"
    failed = await lab.result(sent.json()["id"])
    assert failed["result"] == "FAILED"
    assert "offline" in failed["message"][0]["text"]


async def test_ocpi_protocol_answers(voltlab: Voltlab) -> None:
    lab = await make_lab(voltlab, "small-urban-ac")
    cpo = lab.cpos[0]
    commands_url = await lab.commands_url(cpo)
    token_c = base64.b64encode((await lab.token_c(cpo)).encode()).decode()
    response_url = f"{lab.emsp['ocpi_peer_url'].removesuffix('/versions')}/2.2.1/commands/X/1"
    async with ocpi_client(token_c) as ocpi:
        # RESERVE_NOW: not supported by this CPO.
        reserve = await ocpi.post(
            f"{commands_url}/RESERVE_NOW", json={"response_url": response_url}
        )
        assert reserve.status_code == 200, reserve.text
        assert reserve.json()["status_code"] == 1000
        assert reserve.json()["data"]["result"] == "NOT_SUPPORTED"

        # A body without its token: 400 + 2001, naming the field.
        invalid = await ocpi.post(
            f"{commands_url}/START_SESSION",
            json={"response_url": response_url, "location_id": "L1"},
        )
        assert invalid.status_code == 400, invalid.text
        assert invalid.json()["status_code"] == 2001
        assert "token" in invalid.json()["status_message"]

        # An unknown command is no endpoint.
        bogus = await ocpi.post(f"{commands_url}/SELF_DESTRUCT", json={})
        assert bogus.status_code == 404, bogus.text
        assert bogus.json()["status_code"] == 2000

        # Unknown location, straight from the CPO: HTTP 200, OCPI 2003, REJECTED.
        nowhere = await ocpi.post(
            f"{commands_url}/UNLOCK_CONNECTOR",
            json={
                "response_url": response_url,
                "location_id": "NOWHERE",
                "evse_uid": "E1",
                "connector_id": "1",
            },
        )
        assert nowhere.status_code == 200, nowhere.text
        assert nowhere.json()["status_code"] == 2003
        assert nowhere.json()["data"]["result"] == "REJECTED"

    # A fresh Token A is no registration: 401.
    fresh = await lab.client.post(f"/ocpi/cpos/{cpo['cpo_id']}/token-a")
    assert fresh.status_code == 200, fresh.text
    async with ocpi_client(fresh.json()["token_a"]) as ocpi:
        refused = await ocpi.post(f"{commands_url}/RESERVE_NOW", json={})
    assert refused.status_code == 401, refused.text

    # A result for a command the eMSP never sent: 404, and nothing is stored.
    token_b = await lab.token_b(cpo)
    async with ocpi_client(token_b) as ocpi:
        stray = await ocpi.post(
            f"{lab.emsp['ocpi_peer_url'].removesuffix('/versions')}/2.2.1/commands/START_SESSION/nope",
            json={"result": "ACCEPTED"},
        )
    assert stray.status_code == 404, stray.text

    async with voltlab.services.sessions() as session:
        received = list(
            (
                await session.scalars(
                    select(OcpiCommand).where(OcpiCommand.bundle_id == int(cpo["cpo_id"]))
                )
            ).all()
        )
    # Stored: RESERVE_NOW and the unknown location; not the invalid body nor the bogus name.
    assert sorted(r.command for r in received) == ["RESERVE_NOW", "UNLOCK_CONNECTOR"]


async def test_management_validation(voltlab: Voltlab) -> None:
    lab = await make_lab(voltlab, "small-urban-ac")
    cpo = lab.cpos[0]
    emsp = lab.emsp["cpo_id"]
    assert (await lab.send("RESERVE_NOW", {})).status_code == 422
    missing = await lab.send("START_SESSION", {})
    assert missing.status_code == 422, missing.text
    assert missing.json()["detail"][0]["loc"] == ["body", "location_id"]
    unknown_field = await lab.send("STOP_SESSION", {"session_id": "S", "colour": "red"})
    assert unknown_field.status_code == 422, unknown_field.text
    on_a_cpo = await lab.client.post(
        f"/ocpi/cpos/{cpo['cpo_id']}/commands/STOP_SESSION", json={"session_id": "S"}
    )
    assert on_a_cpo.status_code == 400, on_a_cpo.text
    no_such_cpo = await lab.send(
        "STOP_SESSION", {"country_code": "DE", "party_id": "ZZZ", "session_id": "S"}
    )
    assert no_such_cpo.status_code == 400, no_such_cpo.text
    assert (await lab.client.get(f"/ocpi/cpos/{emsp}/commands/nope")).status_code == 404
    # The CPO is gone (its side of the registration with it): the peer's failure is a 502
    # carrying what it answered, and the command stays listed with the error.
    assert (await lab.client.delete(f"/ocpi/cpos/{cpo['cpo_id']}")).status_code == 204
    failed = await lab.send("STOP_SESSION", {"session_id": "S"})
    assert failed.status_code == 502, failed.text
    assert "401" in failed.json()["detail"]
    listed = (await lab.client.get(f"/ocpi/cpos/{emsp}/commands")).json()["data"]
    assert listed[0]["response"] is None and "401" in listed[0]["error"]
    other_tenant = lab.voltlab.client_for("other")
    async with other_tenant:
        assert (await other_tenant.get(f"/ocpi/cpos/{emsp}/commands")).status_code == 404
