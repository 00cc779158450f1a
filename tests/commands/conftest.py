"""Fixtures for the command tests: a live voltlab, chargers connected to a real CSMS.

The CSMS is voltlab's built-in ``CsmsServer`` (it accepts everything and tracks
transactions), with its sessions swapped for subclasses that also record every CALL a
charger sent and answer ``Authorize`` with a status chosen per id tag.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import call_result as result16
from ocpp.v201 import call_result as result201

from support.live import Voltlab, eventually
from voltlab.csms import server as csms_server_module
from voltlab.csms.server import CsmsServer
from voltlab.csms.v16 import CsmsSession16
from voltlab.csms.v201 import CsmsSession201

VERSIONS = {"1.6": "OCPP1.6", "2.0.1": "OCPP2.0.1"}
FINAL = ("succeeded", "failed")


@dataclass
class Call:
    action: str
    payload: dict[str, Any]  # camelCase, exactly as on the wire


@dataclass
class Recorder:
    """What the CSMS received, per charger identity, and how it answers Authorize."""

    calls: dict[str, list[Call]] = field(default_factory=lambda: defaultdict(list))
    tag_status: dict[str, str] = field(default_factory=dict)  # id tag -> Authorize status

    def of(self, identity: str, action: str) -> list[Call]:
        return [c for c in self.calls[identity] if c.action == action]


class _Recording:
    recorder: Recorder

    async def route_message(self, raw_msg: str) -> None:
        try:
            frame = json.loads(raw_msg)
        except ValueError:
            frame = None
        if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2:
            self.recorder.calls[self.id].append(Call(frame[2], frame[3]))  # type: ignore[attr-defined]
        await super().route_message(raw_msg)  # type: ignore[misc]


def _sessions(recorder: Recorder) -> tuple[type, type]:
    class Session16(_Recording, CsmsSession16):
        @on("Authorize")
        def on_authorize(self, id_tag: str) -> result16.Authorize:
            status = recorder.tag_status.get(id_tag, "Accepted")
            return result16.Authorize(id_tag_info={"status": status})

    class Session201(_Recording, CsmsSession201):
        @on("Authorize")
        def on_authorize(self, id_token: dict[str, Any], **_: Any) -> result201.Authorize:
            status = recorder.tag_status.get(id_token["id_token"], "Accepted")
            return result201.Authorize(id_token_info={"status": status})

    Session16.recorder = recorder
    Session201.recorder = recorder
    return Session16, Session201


class Csms(CsmsServer):
    recorder: Recorder


@pytest.fixture
async def csms(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Csms]:
    """The built-in CSMS on a free loopback port, recording (overrides the root ``csms``)."""
    recorder = Recorder()
    session16, session201 = _sessions(recorder)
    monkeypatch.setattr(csms_server_module, "CsmsSession16", session16)
    monkeypatch.setattr(csms_server_module, "CsmsSession201", session201)
    server = Csms()
    server.recorder = recorder
    async with server:
        yield server


@dataclass
class Charger:
    id: str
    identity: str
    version: str  # "1.6" | "2.0.1"

    @property
    def wire_version(self) -> str:
        return "ocpp1.6" if self.version == "1.6" else "ocpp2.0.1"


_identities = itertools.count(1)


@dataclass
class Lab:
    """A live voltlab (user of tenant ``acme``) and the CSMS its chargers connect to."""

    voltlab: Voltlab
    csms: Csms

    @property
    def client(self) -> httpx.AsyncClient:
        return self.voltlab.client

    @property
    def recorder(self) -> Recorder:
        return self.csms.recorder

    # -- chargers ------------------------------------------------------------------------
    async def location(self, name: str = "Depot") -> str:
        response = await self.client.post("/ocpp/locations", json={"name": name})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def charger(
        self,
        version: str = "1.6",
        *,
        identity: str | None = None,
        brand: str = "abb",
        model: str = "terra-184",
        connector_type: str = "CCS2",
        location_id: str | None = None,
        **fields: Any,
    ) -> Charger:
        """Create a charger pointed at the CSMS (meter values every second); wait until
        its boot is Accepted."""
        identity = identity or f"CP-{next(_identities):03d}"
        body: dict[str, Any] = {
            "identity": identity,
            "brand_slug": brand,
            "model_slug": model,
            "connector_type": connector_type,
            "ws_url": self.csms.url,
            "ocpp_version": VERSIONS[version],
            "meter_interval_s": 1,
            **fields,
        }
        if location_id is None:
            body["location_name"] = "Depot"
        else:
            body["location_id"] = location_id
        response = await self.client.post("/ocpp/chargers", json=body)
        assert response.status_code == 202, response.text
        charger = Charger(response.json()["charger_id"], identity, version)
        runtime = await self.booted(charger.id)
        # ... and the CSMS has the initial status of every connector (1.6 adds connector 0).
        statuses = len(runtime["connectors"]) + (1 if version == "1.6" else 0)
        await eventually(lambda: len(self.recorder.of(identity, "StatusNotification")) >= statuses)
        return charger

    async def booted(self, charger_id: str, timeout: float = 15) -> dict[str, Any]:
        async def ready() -> dict[str, Any] | None:
            rt = await self.runtime(charger_id)
            ok = rt["connection"] == "connected" and rt["boot_status"] == "Accepted"
            return rt if ok else None

        result: dict[str, Any] = await eventually(ready, timeout=timeout)
        return result

    async def runtime(self, charger_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/ocpp/chargers/{charger_id}")
        assert response.status_code == 200, response.text
        runtime: dict[str, Any] = response.json()["runtime"]
        return runtime

    async def connector(self, charger_id: str, index: int = 0) -> dict[str, Any]:
        connector: dict[str, Any] = (await self.runtime(charger_id))["connectors"][index]
        return connector

    async def wait_connector(
        self, charger_id: str, timeout: float = 10, index: int = 0, **expected: Any
    ) -> dict[str, Any]:
        """Poll the runtime until connector ``index`` has every ``expected`` field value."""

        async def reached() -> dict[str, Any] | None:
            connector = await self.connector(charger_id, index)
            return connector if all(connector[k] == v for k, v in expected.items()) else None

        try:
            result: dict[str, Any] = await eventually(reached, timeout=timeout)
        except TimeoutError:
            raise AssertionError(
                f"connector never reached {expected}: {await self.connector(charger_id, index)}"
            ) from None
        return result

    async def read(self, charger_id: str, what: str) -> Any:
        response = await self.client.get(f"/ocpp/chargers/{charger_id}/{what}")
        assert response.status_code == 200, response.text
        return response.json()

    # -- commands ------------------------------------------------------------------------
    async def post(
        self, name: str, target: dict[str, Any], event: dict[str, Any] | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"target": target}
        if event is not None:
            body["event"] = event
        response = await self.client.post(f"/ocpp/commands/{name}", json=body)
        assert response.status_code < 500, response.text
        return response

    async def single(self, name: str, charger: Charger, event: dict[str, Any] | None = None):
        """A single-charger command that must succeed; its answer."""
        response = await self.post(name, {"charger_id": charger.id}, event)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def fan_out(
        self, name: str, target: dict[str, Any], event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self.post(name, target, event)
        assert response.status_code == 202, response.text
        report: dict[str, Any] = response.json()
        return report

    async def outcome(self, command_id: str, timeout: float = 15) -> dict[str, Any]:
        """``GET /ocpp/commands/{id}`` polled until the command finished."""

        async def done() -> dict[str, Any] | None:
            response = await self.client.get(f"/ocpp/commands/{command_id}")
            assert response.status_code == 200, response.text
            record: dict[str, Any] = response.json()
            return record if record["status"] in FINAL else None

        result: dict[str, Any] = await eventually(done, timeout=timeout, interval=0.05)
        return result

    async def run(
        self, name: str, charger: Charger, event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A fan-out command on one charger: the final record, which must have succeeded."""
        report = await self.fan_out(name, {"charger_id": charger.id}, event or {})
        assert report["queued_count"] == 1, report
        record = await self.outcome(report["results"][0]["command"]["id"])
        assert record["status"] == "succeeded", record
        return record

    async def run_failing(
        self, name: str, charger: Charger, event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        report = await self.fan_out(name, {"charger_id": charger.id}, event or {})
        record = await self.outcome(report["results"][0]["command"]["id"])
        assert record["status"] == "failed", record
        return record


@pytest.fixture
def lab(voltlab: Voltlab, csms: Csms) -> Lab:
    return Lab(voltlab, csms)


Scenario = Callable[[Charger], Awaitable[None]]


async def on_both_versions(lab: Lab, scenario: Scenario, **fields: Any) -> None:
    """Run ``scenario`` on a fresh 1.6 and a fresh 2.0.1 charger at the same time (one
    live voltlab, half the waiting); a failure names the version it happened on."""
    chargers = await asyncio.gather(*(lab.charger(v, **fields) for v in VERSIONS))
    await concurrently(*(_named(scenario(cp), f"on OCPP {cp.version}") for cp in chargers))


async def concurrently(*steps: Awaitable[Any]) -> list[Any]:
    """Await every step at once; the first failure is raised after all have ended."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


async def _named(step: Awaitable[Any], note: str) -> Any:
    try:
        return await step
    except BaseException as exc:
        exc.add_note(note)
        raise
