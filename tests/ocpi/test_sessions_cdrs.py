"""OCPP transactions become OCPI Sessions and CDRs: a CPO bundle pushes them to the token's
eMSP bundle (PUT, PATCHes, POST), both sides list them, the eMSP validates what it gets,
and the CPO's SENDER lists paginate. ``started``/``updated``/``ended`` are called directly
with transactions built here, as the CPO's CSMS hooks call them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from support.live import Voltlab, eventually
from support.ocpi import Roaming, bundle_chargers, connect_emsp_to_cpo, ocpi_client, stored_peer
from voltlab.csms.state import CsmsTransaction
from voltlab.ocpi.cpo import sessions
from voltlab.ocpi.cpo.authorize import Where, log
from voltlab.ocpi.cpo.grants import Grant
from voltlab.ocpi.pricing import price_session
from voltlab.storage.ocpi import OcpiBundle, OcpiLocation, OcpiToken

pytestmark = pytest.mark.timeout(120)

REFERENCE = "REF-0001"


@dataclass
class Lab:
    """A CPO bundle connected to an eMSP bundle, one charger, one eMSP token."""

    voltlab: Voltlab
    roaming: Roaming
    cpo_id: int
    emsp_id: int
    emsp_party: tuple[str, str]
    charger: dict[str, Any]
    token: dict[str, Any]  # the eMSP's OCPI Token
    tariff: dict[str, Any] | None
    time_zone: ZoneInfo
    emsp_endpoints: dict[str, str]  # the eMSP's module URLs, as the CPO stored them

    @property
    def client(self) -> httpx.AsyncClient:
        return self.voltlab.client

    def grant(self, **fields: Any) -> Grant:
        values: dict[str, Any] = {
            "path": "realtime",
            "accepted": True,
            "auth_method": "AUTH_REQUEST",
            "token": self.token,
            "emsp": self.emsp_party,
            "authorization_reference": REFERENCE,
        }
        return Grant(**{**values, **fields})

    async def start(self, tx: CsmsTransaction, grant: Grant | None) -> None:
        await sessions.started(self.voltlab.services, self.cpo_id, self.charger["id"], tx, grant)

    async def update(self, tx: CsmsTransaction) -> None:
        await sessions.updated(self.voltlab.services, self.cpo_id, self.charger["id"], tx)

    async def end(self, tx: CsmsTransaction) -> None:
        await sessions.ended(self.voltlab.services, self.cpo_id, self.charger["id"], tx)

    async def listed(self, bundle_id: int, what: str, **params: Any) -> dict[str, Any]:
        answer = await self.client.get(f"/ocpi/cpos/{bundle_id}/{what}", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]


async def make_lab(voltlab: Voltlab, template: str = "small-urban-ac") -> Lab:
    roaming = await connect_emsp_to_cpo(voltlab, template=template)
    cpo_id, emsp_id = int(roaming.cpo["cpo_id"]), int(roaming.emsp["cpo_id"])
    charger = (await bundle_chargers(voltlab.client, str(cpo_id)))[0]
    async with voltlab.services.sessions() as db:
        bundle = await db.get(OcpiBundle, cpo_id)
        location = await db.get(OcpiLocation, (cpo_id, charger["ocpi_location_id"]))
        tokens = (
            await db.scalars(
                select(OcpiToken).where(OcpiToken.bundle_id == emsp_id).order_by(OcpiToken.id)
            )
        ).all()
    assert bundle is not None and location is not None
    token = next(
        t.data for t in tokens if t.valid and t.whitelist == "ALLOWED" and t.type == "RFID"
    )
    cpo_side = await stored_peer(voltlab.services, cpo_id)
    party = roaming.emsp["party"]
    return Lab(
        voltlab=voltlab,
        roaming=roaming,
        cpo_id=cpo_id,
        emsp_id=emsp_id,
        emsp_party=(party["country_code"], party["party_id"]),
        charger=charger,
        token=token,
        tariff=sessions.tariff_for(
            bundle, location.data, "dc" if "DC" in template.upper() else "ac"
        ),
        time_zone=ZoneInfo(location.data["time_zone"]),
        emsp_endpoints={e["identifier"]: e["url"] for e in cpo_side.endpoints},
    )


def whole_minute_ago(minutes: int) -> datetime:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(second=0, microsecond=0)


def at(minutes: float, t0: datetime) -> datetime:
    return t0 + timedelta(minutes=minutes)


def transaction(t0: datetime, tx_id: str, uid: str, meter_start: float = 1000.0) -> CsmsTransaction:
    return CsmsTransaction(
        transaction_id=tx_id,
        evse_id=1,
        connector_id=1,
        id_tag=uid,
        meter_start_wh=meter_start,
        meter_wh=meter_start,
        started_at=t0,
        updated_at=t0,
    )


def metered(tx: CsmsTransaction, wh: float, when: datetime, **fields: Any) -> CsmsTransaction:
    """A snapshot of ``tx`` after a meter value, as the hooks pass them."""
    return dataclasses.replace(tx, meter_wh=wh, updated_at=when, **fields)


def hours(period: dict[str, Any]) -> float:
    return sum(d["volume"] for d in period["dimensions"] if d["type"] in ("TIME", "PARKING_TIME"))


def energy(periods: list[dict[str, Any]]) -> float:
    return round(
        sum(d["volume"] for p in periods for d in p["dimensions"] if d["type"] == "ENERGY"), 6
    )


def price_of(lab: Lab, start: datetime, end: datetime, kwh: float, periods: Any = None) -> Any:
    assert lab.tariff is not None
    return price_session(
        lab.tariff,
        start=start,
        end=end,
        energy_kwh=kwh,
        charging_periods=periods,
        time_zone=lab.time_zone,
    )


# --------------------------------------------------------------------------- the flow


async def test_a_transaction_becomes_a_session_pushed_to_the_emsp_and_one_cdr(
    voltlab: Voltlab,
) -> None:
    lab = await make_lab(voltlab)
    t0 = whole_minute_ago(40)
    uid = lab.token["uid"]
    tx = transaction(t0, "T-1", uid)

    await lab.start(tx, lab.grant())
    cpo_sent = (await lab.listed(lab.cpo_id, "sessions"))["data"]
    emsp_got = (await lab.listed(lab.emsp_id, "sessions"))["data"]
    assert len(cpo_sent) == len(emsp_got) == 1
    session = emsp_got[0]
    assert session["status"] == "ACTIVE"
    assert session["kwh"] == 0
    assert session["start_date_time"] == t0.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (session["country_code"], session["party_id"]) == ("NL", "CPO")
    assert session["cdr_token"] == {
        "country_code": lab.emsp_party[0],
        "party_id": lab.emsp_party[1],
        "uid": uid,
        "type": "RFID",
        "contract_id": lab.token["contract_id"],
    }
    assert session["auth_method"] == "AUTH_REQUEST"
    assert session["authorization_reference"] == REFERENCE
    assert session["location_id"] == lab.charger["ocpi_location_id"]
    assert session["evse_uid"] == lab.charger["evse_uids"][0]
    assert session["connector_id"] == "1"
    assert session["currency"] == "EUR"
    assert "." not in session["last_updated"] and session["last_updated"].endswith("Z")
    assert "pushed" not in session  # the eMSP received it, it pushed nothing

    # Meter values: kwh grows; a period is appended once 5 minutes or more have passed.
    tx = metered(tx, 6000, at(10, t0), power_w=30_000)
    await lab.update(tx)
    session = (await lab.listed(lab.emsp_id, "sessions"))["data"][0]
    assert session["kwh"] == 5.0
    assert len(session["charging_periods"]) == 1
    assert session["total_cost"] == price_of(lab, t0, at(10, t0), 5.0).total_cost

    tx = metered(tx, 11000, at(20, t0))
    await lab.update(tx)
    tx = metered(tx, 11500, at(22, t0))  # two minutes later: kwh, no new period
    await lab.update(tx)
    session = (await lab.listed(lab.emsp_id, "sessions"))["data"][0]
    assert session["kwh"] == 10.5
    assert [p["start_date_time"] for p in session["charging_periods"]] == [
        at(0, t0).strftime("%Y-%m-%dT%H:%M:%SZ"),
        at(10, t0).strftime("%Y-%m-%dT%H:%M:%SZ"),
    ]
    assert energy(session["charging_periods"]) == 10.0
    first = session["charging_periods"][0]
    assert {d["type"]: d["volume"] for d in first["dimensions"]} == {
        "ENERGY": 5.0,
        "TIME": pytest.approx(10 / 60, abs=1e-6),
        "POWER": 30.0,
    }
    assert first["tariff_id"] == lab.tariff["id"]  # type: ignore[index]

    tx = dataclasses.replace(metered(tx, 15000, at(30, t0)), stopped_at=at(30, t0))
    await lab.end(tx)
    cpo_session = (await lab.listed(lab.cpo_id, "sessions"))["data"][0]
    session = (await lab.listed(lab.emsp_id, "sessions"))["data"][0]
    assert session["status"] == "COMPLETED"
    assert session["end_date_time"] == at(30, t0).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert session["kwh"] == 14.0
    # The PATCHes appended exactly the periods the CPO holds: both copies agree.
    assert {k: v for k, v in cpo_session.items() if k != "pushed"} == session
    periods = session["charging_periods"]
    assert len(periods) == 3
    assert energy(periods) == 14.0
    assert sum(hours(p) for p in periods) == pytest.approx(0.5, abs=1e-5)

    cdrs = (await lab.listed(lab.emsp_id, "cdrs"))["data"]
    assert len(cdrs) == 1
    cdr = cdrs[0]
    assert len(cdr["id"]) <= 36
    assert cdr["session_id"] == session["id"]
    assert cdr["authorization_reference"] == session["authorization_reference"] == REFERENCE
    assert cdr["cdr_token"] == session["cdr_token"]
    assert cdr["auth_method"] == "AUTH_REQUEST"
    assert cdr["start_date_time"] == session["start_date_time"]
    assert cdr["end_date_time"] == session["end_date_time"]
    assert cdr["total_energy"] == 14.0
    assert cdr["total_time"] == 0.5
    assert cdr["tariffs"] == [lab.tariff]
    # The CDR's total is the location's tariff applied to the CDR's own periods...
    priced = price_of(lab, t0, at(30, t0), 14.0, cdr["charging_periods"])
    assert cdr["total_cost"] == priced.total_cost == {"excl_vat": 5.46, "incl_vat": 6.61}
    assert cdr["total_energy_cost"] == priced.total_energy_cost
    assert session["total_cost"] == cdr["total_cost"]
    # ... without the Session-only POWER dimension.
    assert all(d["type"] != "POWER" for p in cdr["charging_periods"] for d in p["dimensions"])
    location = cdr["cdr_location"]
    assert location["id"] == lab.charger["ocpi_location_id"]
    assert location["evse_uid"] == session["evse_uid"]
    assert location["evse_id"].startswith("NL*CPO*E")
    assert (location["connector_standard"], location["connector_power_type"]) == (
        "IEC_62196_T2",
        "AC_3_PHASE",
    )
    for key in ("name", "address", "city", "postal_code", "country", "coordinates"):
        assert location[key], key
    cpo_cdrs = (await lab.listed(lab.cpo_id, "cdrs"))["data"]
    assert [c["id"] for c in cpo_cdrs] == [cdr["id"]]

    # Ended twice, or updated after the end: nothing more.
    await lab.end(tx)
    await lab.update(metered(tx, 20000, at(35, t0)))
    assert (await lab.listed(lab.emsp_id, "cdrs"))["total"] == 1
    assert (await lab.listed(lab.cpo_id, "cdrs"))["total"] == 1
    assert (await lab.listed(lab.emsp_id, "sessions"))["data"][0] == session

    # The CPO's lists say both objects reached the eMSP (read from the exchange log).
    async def pushed() -> bool:
        s = (await lab.listed(lab.cpo_id, "sessions"))["data"][0]
        c = (await lab.listed(lab.cpo_id, "cdrs"))["data"][0]
        return s["pushed"] is True and c["pushed"] is True

    await eventually(pushed)

    # Filters of the management lists.
    for bundle_id in (lab.cpo_id, lab.emsp_id):
        assert (await lab.listed(bundle_id, "sessions", status="COMPLETED"))["total"] == 1
        assert (await lab.listed(bundle_id, "sessions", status="ACTIVE"))["total"] == 0
        found = await lab.listed(bundle_id, "sessions", authorization_reference=REFERENCE)
        assert found["total"] == 1
        found = await lab.listed(bundle_id, "cdrs", authorization_reference="OTHER")
        assert found["total"] == 0
    bad = await lab.client.get(f"/ocpi/cpos/{lab.cpo_id}/sessions", params={"status": "DONE"})
    assert bad.status_code == 422

    # Another tenant sees none of it.
    async with voltlab.client_for("other-tenant") as other:
        for what in ("sessions", "cdrs", "authorizations"):
            for bundle_id in (lab.cpo_id, lab.emsp_id):
                answer = await other.get(f"/ocpi/cpos/{bundle_id}/{what}")
                assert answer.status_code == 404, (what, answer.text)


async def test_cdr_periods_split_where_the_time_fee_starts(voltlab: Voltlab) -> None:
    """highway-dc: EUR 0.59/kWh plus a time fee after 60 minutes (min_duration 3600): the
    stretch closed at the end (50 to 90 minutes) is split at 60 minutes (10.3.1)."""
    lab = await make_lab(voltlab, "highway-dc")
    t0 = whole_minute_ago(100)
    tx = transaction(t0, "HW-1", lab.token["uid"], meter_start=0.0)
    await lab.start(tx, lab.grant(path="cache", auth_method="WHITELIST"))
    tx = metered(tx, 20_000, at(20, t0))
    await lab.update(tx)
    tx = metered(tx, 50_000, at(50, t0))
    await lab.update(tx)
    tx = dataclasses.replace(metered(tx, 90_000, at(90, t0)), stopped_at=at(90, t0))
    await lab.end(tx)

    session = (await lab.listed(lab.emsp_id, "sessions"))["data"][0]
    starts = [p["start_date_time"] for p in session["charging_periods"]]
    assert starts == [at(m, t0).strftime("%Y-%m-%dT%H:%M:%SZ") for m in (0, 20, 50, 60)]
    assert [p["dimensions"][0]["volume"] for p in session["charging_periods"]] == [
        20.0,
        30.0,
        10.0,
        30.0,
    ]
    cdr = (await lab.listed(lab.emsp_id, "cdrs"))["data"][0]
    assert cdr["auth_method"] == "WHITELIST"
    priced = price_of(lab, t0, at(90, t0), 90.0, cdr["charging_periods"])
    # 90 kWh x 0.59 + 30 min x 6.00/h, 19% VAT; the same as pricing the bare totals.
    assert cdr["total_cost"] == priced.total_cost == {"excl_vat": 56.1, "incl_vat": 66.76}
    assert price_of(lab, t0, at(90, t0), 90.0).total_cost == cdr["total_cost"]
    assert cdr["total_time_cost"] == {"excl_vat": 3.0, "incl_vat": 3.57}
    assert cdr["cdr_location"]["connector_power_type"] == "DC"


# --------------------------------------------------------------------------- edge cases


async def test_unknown_refused_and_recovered_tokens(voltlab: Voltlab) -> None:
    lab = await make_lab(voltlab)
    services = voltlab.services
    t0 = whole_minute_ago(30)

    # A token no eMSP knows: the session and its CDR stay at the CPO.
    unknown = transaction(t0, "U-1", "DEADBEEF")
    await lab.start(unknown, lab.grant(token={"uid": "DEADBEEF", "type": "RFID"}, emsp=None))
    await lab.end(dataclasses.replace(metered(unknown, 3000, at(6, t0)), stopped_at=at(6, t0)))
    sent = (await lab.listed(lab.cpo_id, "sessions"))["data"]
    assert len(sent) == 1
    assert sent[0]["cdr_token"] == {
        "country_code": "NL",
        "party_id": "CPO",
        "uid": "DEADBEEF",
        "type": "RFID",
        "contract_id": "DEADBEEF",
    }
    assert sent[0]["status"] == "COMPLETED" and sent[0]["pushed"] is None
    assert (await lab.listed(lab.cpo_id, "cdrs"))["total"] == 1
    assert (await lab.listed(lab.emsp_id, "sessions"))["total"] == 0
    assert (await lab.listed(lab.emsp_id, "cdrs"))["total"] == 0

    # A refused tag: an INVALID session (not billed), never pushed, no CDR.
    refused = transaction(t0, "R-1", lab.token["uid"])
    await lab.start(refused, lab.grant(accepted=False, authorization_reference=None))
    await lab.update(metered(refused, 1500, at(8, t0)))
    await lab.end(dataclasses.replace(metered(refused, 1500, at(9, t0)), stopped_at=at(9, t0)))
    invalid = (await lab.listed(lab.cpo_id, "sessions", status="INVALID"))["data"]
    assert len(invalid) == 1 and invalid[0]["kwh"] == 0
    assert (await lab.listed(lab.cpo_id, "sessions"))["total"] == 2
    assert (await lab.listed(lab.cpo_id, "cdrs"))["total"] == 1
    assert (await lab.listed(lab.emsp_id, "sessions"))["total"] == 0

    # 2.0.1 plug-in first: no token at the start, no session; the first update with the
    # token opens it, with the decision the authorization log holds for that tag.
    charger = lab.charger
    where = Where(charger["id"], charger["ocpi_location_id"], charger["evse_uids"][0])
    async with services.sessions() as db:
        bundle = await db.get(OcpiBundle, lab.cpo_id)
    assert bundle is not None
    await log(
        services,
        bundle,
        lab.grant(authorization_reference="REF-LOGGED"),
        where=where,
        trigger="start_transaction",
        ocpp_status="Accepted",
        latency_ms=12.5,
    )
    plugged = CsmsTransaction(
        transaction_id="tx-201",
        evse_id=1,
        connector_id=1,
        id_tag=None,
        meter_start_wh=0.0,
        started_at=datetime.now(UTC) - timedelta(seconds=30),
        updated_at=datetime.now(UTC) - timedelta(seconds=30),
    )
    await lab.start(plugged, None)
    assert (await lab.listed(lab.cpo_id, "sessions"))["total"] == 2
    authorized = metered(
        plugged, 500, datetime.now(UTC), id_tag=lab.token["uid"], id_token_type="ISO14443"
    )
    await lab.update(authorized)
    got = (await lab.listed(lab.emsp_id, "sessions"))["data"]
    assert len(got) == 1
    assert got[0]["authorization_reference"] == "REF-LOGGED"
    assert got[0]["auth_method"] == "AUTH_REQUEST"
    assert got[0]["kwh"] == 0.5

    # The authorization log, newest first, filtered by token.
    log_page = await lab.listed(lab.cpo_id, "authorizations", token_uid=lab.token["uid"].lower())
    assert log_page["total"] == 1 and log_page["page"] == 1 and log_page["limit"] == 50
    entry = log_page["data"][0]
    assert entry == {
        "id": entry["id"],
        "token_uid": lab.token["uid"],
        "token_type": "RFID",
        "emsp": {"country_code": lab.emsp_party[0], "party_id": lab.emsp_party[1]},
        "charger_id": charger["id"],
        "location_id": charger["ocpi_location_id"],
        "evse_uid": charger["evse_uids"][0],
        "trigger": "start_transaction",
        "path": "realtime",
        "ocpi_allowed": None,
        "ocpp_status": "Accepted",
        "latency_ms": 12.5,
        "authorization_reference": "REF-LOGGED",
        "error": None,
        "created_at": entry["created_at"],
    }
    assert entry["created_at"].endswith("Z")
    assert (await lab.listed(lab.cpo_id, "authorizations", token_uid="NOPE"))["total"] == 0


# --------------------------------------------------------------------------- the eMSP receiver


def session_object(session_id: str = "S-1", **fields: Any) -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": "CPO",
        "id": session_id,
        "start_date_time": "2026-01-05T10:00:00Z",
        "kwh": 0.0,
        "cdr_token": {
            "country_code": "NL",
            "party_id": "EMS",
            "uid": "AA11",
            "type": "RFID",
            "contract_id": "NL-EMS-C1",
        },
        "auth_method": "WHITELIST",
        "location_id": "LOC1",
        "evse_uid": "EVSE1",
        "connector_id": "1",
        "currency": "EUR",
        "status": "ACTIVE",
        "last_updated": "2026-01-05T10:00:00Z",
        **fields,
    }


def assert_ocpi(answer: httpx.Response, http_status: int, status_code: int) -> dict[str, Any]:
    assert answer.status_code == http_status, answer.text
    body = answer.json()
    assert body["status_code"] == status_code, body
    return body  # type: ignore[no-any-return]


async def test_the_emsp_receiver_validates_and_stores(voltlab: Voltlab) -> None:
    lab = await make_lab(voltlab)
    base = lab.emsp_endpoints["sessions"]
    url = f"{base}/NL/CPO/S-1"
    period = {
        "start_date_time": "2026-01-05T10:00:00Z",
        "dimensions": [{"type": "ENERGY", "volume": 1.5}],
    }
    async with ocpi_client(lab.roaming.token_b) as cpo:
        # Unknown session: GET and PATCH are 404.
        assert_ocpi(await cpo.get(url), 404, 2000)
        patch = {"kwh": 1.0, "last_updated": "2026-01-05T10:05:00Z"}
        assert_ocpi(await cpo.patch(url, json=patch), 404, 2000)

        # An invalid Session (no kwh) or one whose id is not the URL's: 400 + 2001.
        incomplete = session_object()
        del incomplete["kwh"]
        body = assert_ocpi(await cpo.put(url, json=incomplete), 400, 2001)
        assert "kwh" in body["status_message"]
        assert_ocpi(await cpo.put(url, json=session_object("S-2")), 400, 2001)
        assert_ocpi(await cpo.put(url, content=b"{not json"), 400, 2001)

        # PUT creates (201), PUT again replaces (200).
        assert_ocpi(await cpo.put(url, json=session_object()), 201, 1000)
        full = session_object(charging_periods=[period])
        assert_ocpi(await cpo.put(url, json=full), 200, 1000)

        # PATCH without last_updated: 400 + 2001; with it, fields change and periods add up.
        body = assert_ocpi(await cpo.patch(url, json={"kwh": 2.0}), 400, 2001)
        assert "last_updated" in body["status_message"]
        second = {**period, "start_date_time": "2026-01-05T10:10:00Z"}
        patch = {"kwh": 3.0, "charging_periods": [second], "last_updated": "2026-01-05T10:15:00Z"}
        assert_ocpi(await cpo.patch(url, json=patch), 200, 1000)
        patch = {"charging_periods": [], "last_updated": "2026-01-05T10:16:00Z"}
        assert_ocpi(await cpo.patch(url, json=patch), 200, 1000)
        assert_ocpi(
            await cpo.patch(url, json={"kwh": None, "last_updated": "2026-01-05T10:17:00Z"}),
            400,
            2001,
        )
        stored = assert_ocpi(await cpo.get(url), 200, 1000)["data"]
        assert stored["kwh"] == 3.0
        assert stored["last_updated"] == "2026-01-05T10:16:00Z"
        assert [p["start_date_time"] for p in stored["charging_periods"]] == [
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:10:00Z",
        ]

        # A party the caller did not register: 404 (4.1.5.1); a body of another party: 2001.
        assert_ocpi(await cpo.get(f"{base}/DE/XYZ/S-1"), 404, 2000)
        other = session_object(country_code="DE")
        assert_ocpi(await cpo.put(url, json=other), 400, 2001)

        # CDRs: POST -> 201 + Location; GET there; the same CDR again -> 200; changed -> refused.
        cdr = {
            "country_code": "NL",
            "party_id": "CPO",
            "id": "CDR-1",
            "start_date_time": "2026-01-05T10:00:00Z",
            "end_date_time": "2026-01-05T10:30:00Z",
            "session_id": "S-1",
            "cdr_token": session_object()["cdr_token"],
            "auth_method": "WHITELIST",
            "cdr_location": {
                "id": "LOC1",
                "address": "Main 1",
                "city": "Utrecht",
                "country": "NLD",
                "coordinates": {"latitude": "52.090700", "longitude": "5.121400"},
                "evse_uid": "EVSE1",
                "evse_id": "NL*CPO*E1*1",
                "connector_id": "1",
                "connector_standard": "IEC_62196_T2",
                "connector_format": "SOCKET",
                "connector_power_type": "AC_3_PHASE",
            },
            "currency": "EUR",
            "charging_periods": [period],
            "total_cost": {"excl_vat": 0.59},
            "total_energy": 1.5,
            "total_time": 0.5,
            "last_updated": "2026-01-05T10:31:00Z",
        }
        cdrs_url = lab.emsp_endpoints["cdrs"]
        posted = await cpo.post(cdrs_url, json=cdr)
        assert_ocpi(posted, 201, 1000)
        location = posted.headers["Location"]
        assert location == f"{cdrs_url}/CDR-1"
        assert assert_ocpi(await cpo.get(location), 200, 1000)["data"]["id"] == "CDR-1"
        again = await cpo.post(cdrs_url, json=cdr)
        assert_ocpi(again, 200, 1000)
        assert again.headers["Location"] == location
        changed = {**cdr, "total_cost": {"excl_vat": 9.99}}
        assert_ocpi(await cpo.post(cdrs_url, json=changed), 400, 2000)
        missing = {k: v for k, v in cdr.items() if k != "total_cost"}
        assert_ocpi(await cpo.post(cdrs_url, json={**missing, "id": "CDR-2"}), 400, 2001)
        foreign = {**cdr, "id": "CDR-3", "party_id": "XYZ"}
        assert_ocpi(await cpo.post(cdrs_url, json=foreign), 400, 2001)
        assert_ocpi(await cpo.get(f"{cdrs_url}/CDR-404"), 404, 2000)

    # The eMSP's token for the CPO does not open the eMSP's own receiver, Token A nothing.
    async with ocpi_client("not-a-token") as stranger:
        assert_ocpi(await stranger.get(url), 401, 2000)
    # The CPO serves no RECEIVER interface: the eMSP cannot push sessions to it.
    async with ocpi_client(lab.roaming.token_c) as emsp:
        cpo_sessions = lab.roaming.endpoints["sessions"]
        assert_ocpi(await emsp.put(f"{cpo_sessions}/NL/EMS/S-1", json=session_object()), 404, 2000)
        assert_ocpi(await emsp.get(f"{lab.roaming.endpoints['cdrs']}/CDR-1"), 404, 2000)

    got = (await lab.listed(lab.emsp_id, "sessions"))["data"]
    assert [s["id"] for s in got] == ["S-1"]
    assert [c["id"] for c in (await lab.listed(lab.emsp_id, "cdrs"))["data"]] == ["CDR-1"]


# --------------------------------------------------------------------------- the CPO sender


async def test_the_cpo_sender_lists_paginate(voltlab: Voltlab) -> None:
    lab = await make_lab(voltlab)
    t0 = whole_minute_ago(60)
    for n in range(3):
        tx = transaction(at(n, t0), f"P-{n}", lab.token["uid"])
        await lab.start(tx, lab.grant(authorization_reference=f"REF-{n}"))
        if n == 0:
            end = at(10, t0)
            await lab.end(dataclasses.replace(metered(tx, 4000, end), stopped_at=end))
    # Another eMSP's token (not connected): not this eMSP's business.
    other = lab.grant(token={"uid": "OTHER1", "type": "RFID"}, emsp=("DE", "XYZ"))
    await lab.start(transaction(t0, "P-X", "OTHER1"), other)
    assert (await lab.listed(lab.cpo_id, "sessions"))["total"] == 4

    sessions_url = lab.roaming.endpoints["sessions"]
    async with ocpi_client(lab.roaming.token_c) as emsp:
        first = await emsp.get(sessions_url, params={"limit": 2})
        body = assert_ocpi(first, 200, 1000)
        assert first.headers["X-Total-Count"] == "3"
        assert first.headers["X-Limit"] == "2"
        assert [s["authorization_reference"] for s in body["data"]] == ["REF-0", "REF-1"]
        link = first.headers["Link"]
        assert link.endswith('>; rel="next"') and "offset=2" in link
        second = await emsp.get(link[1 : link.index(">")])
        body = assert_ocpi(second, 200, 1000)
        assert [s["authorization_reference"] for s in body["data"]] == ["REF-2"]
        assert "Link" not in second.headers

        future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        later = await emsp.get(sessions_url, params={"date_from": future})
        assert assert_ocpi(later, 200, 1000)["data"] == []
        assert later.headers["X-Total-Count"] == "0"
        earlier = await emsp.get(f"{sessions_url}/", params={"date_to": future, "limit": 10})
        assert len(assert_ocpi(earlier, 200, 1000)["data"]) == 3
        assert_ocpi(await emsp.get(sessions_url, params={"date_from": "yesterday"}), 400, 2001)

        cdrs = await emsp.get(lab.roaming.endpoints["cdrs"], params={"limit": 1})
        body = assert_ocpi(cdrs, 200, 1000)
        assert [c["session_id"] for c in body["data"]] == [
            (await lab.listed(lab.cpo_id, "sessions", authorization_reference="REF-0"))["data"][0][
                "id"
            ]
        ]
        assert cdrs.headers["X-Total-Count"] == "1" and "Link" not in cdrs.headers

    # The eMSP bundle serves no SENDER list.
    async with ocpi_client(lab.roaming.token_b) as cpo:
        assert_ocpi(await cpo.get(lab.emsp_endpoints["sessions"]), 404, 2000)
