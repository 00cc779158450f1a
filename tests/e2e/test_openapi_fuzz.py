"""Property-based fuzzing of every operation in voltlab's OpenAPI document (schemathesis).

Whatever a client sends, valid or not, voltlab must never answer 5xx: bad input is a
4xx (api.md, "Errors"). Each operation gets a small, derandomized budget of schema-valid
and schema-violating requests, once with a user token and once with an admin token plus
``X-Organization-Id``. Some requests use the ids of a seeded location, charger, bulk job
and command (and commands are aimed at them), so that the handlers behind the 404s run
too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from support.csms import RecordingCsms
from support.live import eventually, token

from .conftest import ServedVoltlab

pytestmark = [
    pytest.mark.timeout(240),
    # The recording CSMS shares this process: its websockets keepalive pings draw from
    # the global `random` (in the event loop thread) while Hypothesis generates cases in
    # the worker thread, which Hypothesis reports as strategy code using `random`.
    pytest.mark.filterwarnings(
        "ignore:Do not use the `random` module inside strategies"
        ":hypothesis.errors.HypothesisDeprecationWarning"
    ),
]

EXAMPLES_PER_OPERATION = 15
ORG_HEADER = "x-organization-id"


@dataclass
class Seeds:
    """Ids that exist in the tenant, to reach past the 404s."""

    path_parameters: dict[str, str] = field(default_factory=dict)
    ws_url: str = "ws://127.0.0.1:9/ocpp"

    def for_operation(self, operation: Any) -> dict[str, str]:
        names = {p.name for p in operation.path_parameters}
        return {k: v for k, v in self.path_parameters.items() if k in names}


@dataclass
class Findings:
    failures: list[str] = field(default_factory=list)
    operations: int = 0
    requests: int = 0


# Bodies that pass schema validation but that random generation almost never finds (a
# brand/model/connector combination from the catalog): they reach the create paths.
CATALOG_COMBOS = [
    ("abb", "terra-184", "CCS2", "OCPP1.6"),
    ("alfen", "eve-single-pro-line", "Type2", "OCPP2.0.1"),
    ("wallbox", "pulsar-plus", "Type1", "OCPP1.6"),
    ("wallbox", "pulsar-plus", "Type2", "OCPP2.0.1"),  # a version the model lacks
]
IDENTITIES = st.from_regex(r"[A-Za-z0-9._-]{1,48}", fullmatch=True)
NAMES = st.text(min_size=1, max_size=255)
PASSWORDS = st.text(st.characters(min_codepoint=0x20, exclude_characters="\x7f"), min_size=1)
INTERVALS = st.integers(min_value=1, max_value=86_400)


def _charger_body(seeds: Seeds) -> Any:
    def build(combo: tuple[str, str, str, str], identity: str, ws_url: str, *more: dict) -> dict:
        brand, model, connector, version = combo
        body = {
            "identity": identity,
            "brand_slug": brand,
            "model_slug": model,
            "connector_type": connector,
            "ocpp_version": version,
            "ws_url": ws_url,
        }
        for fields in more:
            body.update(fields)
        return body

    ws_urls = st.sampled_from([seeds.ws_url, "ws://127.0.0.1:9/ocpp", "wss://localhost:1/x"])
    seeded = seeds.path_parameters.get("location_id", "none")
    location = st.one_of(
        st.fixed_dictionaries({"location_id": st.sampled_from([seeded, "no-such-location"])}),
        st.fixed_dictionaries({"location_name": NAMES}),
    )
    optional = st.fixed_dictionaries(
        {},
        optional={
            "charge_point_name": NAMES,
            "name": NAMES,
            "password": PASSWORDS.filter(lambda p: len(p) <= 128),
            "heartbeat_interval_s": INTERVALS,
            "meter_interval_s": INTERVALS,
        },
    )
    combos = st.sampled_from(CATALOG_COMBOS)
    return st.builds(build, combos, IDENTITIES, ws_urls, location, optional)


def _group_bodies(seeds: Seeds) -> Any:
    def build(combo: tuple[str, str, str, str], prefix: str, count: dict) -> dict:
        brand, model, connector, version = combo
        template = {
            "brand_slug": brand,
            "model_slug": model,
            "connector_type": connector,
            "ocpp_version": version,
            "ws_url": seeds.ws_url,
            "identity_prefix": prefix,
        }
        return {"template": template, **count}

    counts = st.one_of(
        st.fixed_dictionaries({"charger_ids": st.lists(IDENTITIES, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"chargers_number": st.integers(min_value=1, max_value=3)}),
        st.fixed_dictionaries(
            {
                "charger_ids": st.lists(IDENTITIES, max_size=3),
                "chargers_number": st.integers(min_value=1, max_value=3),
            }
        ),
    )
    prefixes = st.from_regex(r"[A-Za-z0-9._-]{0,40}", fullmatch=True)
    group = st.builds(build, st.sampled_from(CATALOG_COMBOS), prefixes, counts)
    return st.lists(group, min_size=1, max_size=3)


def _retargeted_commands(operation: Any, headers: dict[str, str] | None, seeds: Seeds) -> Any:
    """Command bodies as generated, but aimed at the seeded charger or location."""
    charger_id = seeds.path_parameters.get("charger_id", "none")
    location_id = seeds.path_parameters.get("location_id", "none")
    targets = st.sampled_from(
        [
            {"charger_id": charger_id},
            {"location_id": location_id},
            {"location_id": location_id, "charger_ids": [charger_id, "no-such-charger"]},
        ]
    )

    def aim(case: Any, target: dict[str, Any]) -> Any:
        if isinstance(case.body, dict):
            case.body = {**case.body, "target": target}
        return case

    cases = operation.as_strategy(GenerationMode.POSITIVE, headers=headers)
    return st.builds(aim, cases, targets)


def _catalog_bodies(operation: Any, seeds: Seeds) -> Any | None:
    if operation.method.upper() != "POST":
        return None
    if operation.path == "/ocpp/chargers":
        return _charger_body(seeds)
    if operation.path == "/ocpp/locations/{location_id}/chargers":
        return _group_bodies(seeds)
    return None


def _strategies(operation: Any, fixed_headers: dict[str, str], seeds: Seeds) -> list[Any]:
    """Valid and invalid requests, with random and with seeded path ids; for the two
    create operations also catalog-shaped bodies."""
    headers = fixed_headers or None
    known = seeds.for_operation(operation)
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(mode, headers=headers))
        if known:
            strategies.append(operation.as_strategy(mode, headers=headers, path_parameters=known))
    if operation.method.upper() == "POST" and operation.path.startswith("/ocpp/commands/"):
        strategies.append(_retargeted_commands(operation, headers, seeds))
    bodies = _catalog_bodies(operation, seeds)
    if bodies is not None:

        def with_body(body: Any) -> Any:
            return operation.as_strategy(headers=headers, path_parameters=known, body=body)

        strategies.append(bodies.flatmap(with_body))
    return strategies


def _in_safe_order(operations: Iterator[Any]) -> list[Any]:
    """The seeded ids must live as long as possible: stopping the charger's runtime after
    the commands (which need it running), deletes after that, and the location's delete
    (which may cascade) last of all."""

    def rank(operation: Any) -> tuple[int, str]:
        if operation.path == "/ocpp/chargers/{charger_id}/stop-charger":
            return (1, operation.label)
        if operation.method.upper() == "DELETE":
            last = operation.path == "/ocpp/locations/{location_id}"
            return (3 if last else 2, operation.label)
        return (0, operation.label)

    return sorted(operations, key=rank)


def fuzz(base_url: str, auth: dict[str, str], *, admin_org: str | None, seeds: Seeds) -> Findings:
    """Every operation, a bounded number of cases; every 5xx is collected, not just the first."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=10)
    fixed_headers = {ORG_HEADER: admin_org} if admin_org else {}
    findings = Findings()
    session = requests.Session()
    for operation in _in_safe_order(result.ok() for result in schema.get_all_operations()):
        findings.operations += 1
        strategies = _strategies(operation, fixed_headers, seeds)
        strategy = st.one_of(strategies)
        # the create operations get more cases, for their catalog-shaped bodies
        has_bodies = _catalog_bodies(operation, seeds) is not None
        budget = EXAMPLES_PER_OPERATION * (2 if has_bodies else 1)

        @settings(
            max_examples=budget,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            # Always a valid token (a generated Authorization header is a plain 401), and no
            # X-Organization-Id with a user token (a plain 403): the point is the handlers.
            case.headers = {
                **{k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"},
                **auth,
            }
            if admin_org is None:
                case.headers.pop(ORG_HEADER, None)
            findings.requests += 1
            case.call_and_validate(
                base_url=base_url,
                session=session,
                headers=auth,
                checks=[not_a_server_error],
                timeout=10,
            )

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a FailureGroup
            findings.failures.append(f"{operation.label}:\n{exc}")  # with a curl reproduction
    return findings


async def _seed(served: ServedVoltlab, csms: RecordingCsms) -> Seeds:
    headers = {"Authorization": f"Bearer {token('acme')}"}
    async with httpx.AsyncClient(base_url=served.base_url, headers=headers, timeout=10) as client:
        location = (await client.post("/ocpp/locations", json={"name": "Fuzz Site"})).json()
        charger = await client.post(
            "/ocpp/chargers",
            json={
                "identity": "FUZZ-1",
                "brand_slug": "abb",
                "model_slug": "terra-184",
                "connector_type": "CCS2",
                "ws_url": csms.url,
                "location_id": location["id"],
            },
        )
        job = await client.post(
            f"/ocpp/locations/{location['id']}/chargers",
            json=[
                {
                    "template": {
                        "brand_slug": "zaptec",
                        "model_slug": "pro",
                        "connector_type": "Type2",
                        "ocpp_version": "OCPP2.0.1",
                        "ws_url": csms.url,
                        "identity_prefix": "FUZZ-BULK-",
                    },
                    "chargers_number": 2,
                }
            ],
        )
        bundle = await client.post(
            "/ocpi/cpos",
            json={
                "template": "small-urban-ac",
                "country_code": "NL",
                "party_id": "FUZ",
                "name_prefix": "FUZZ",
            },
        )
        assert charger.status_code == 202, charger.text
        assert job.status_code == 202, job.text
        assert bundle.status_code == 202, bundle.text
    await csms.wait_for("FUZZ-1", "BootNotification")
    charger_id = charger.json()["charger_id"]

    async def plugged_in() -> str | None:
        async with httpx.AsyncClient(base_url=served.base_url, headers=headers) as client:
            body = {"target": {"charger_id": charger_id}, "event": {}}
            response = await client.post("/ocpp/commands/plug-connector", json=body)
            report = response.json()
            return report["results"][0]["command"]["id"] if report.get("results") else None

    command_id = await eventually(plugged_in)  # once the runtime is READY
    seeds = Seeds(
        ws_url=csms.url,
        path_parameters={
            "location_id": location["id"],
            "charger_id": charger_id,
            "job_id": job.json()["job_id"],
            "command_id": command_id,
            "brand_slug": "abb",
            "model_slug": "terra-184",
            # an OCPI CPO bundle, so its management routes run past the 404
            "cpo_id": bundle.json()["cpo_id"],
        },
    )

    job_path = f"/ocpp/locations/{location['id']}/chargers/jobs/{job.json()['job_id']}"

    async def job_done() -> bool:
        async with httpx.AsyncClient(base_url=served.base_url, headers=headers) as client:
            return (await client.get(job_path)).json()["status"] == "READY"

    await eventually(job_done)
    return seeds


@pytest.mark.parametrize(
    ("role", "admin_org"), [("user", None), ("admin", "acme")], ids=["user-token", "admin-token"]
)
async def test_no_operation_answers_a_server_error(
    served: ServedVoltlab, csms: RecordingCsms, role: str, admin_org: str | None
):
    seeds = await _seed(served, csms)
    auth = {"Authorization": f"Bearer {token('acme' if role == 'user' else None, role)}"}

    started = time.monotonic()
    findings = await asyncio.to_thread(
        fuzz, served.base_url, auth, admin_org=admin_org, seeds=seeds
    )
    elapsed = time.monotonic() - started

    assert findings.operations >= 20, "the OpenAPI document lost operations"
    assert findings.requests >= findings.operations * 5
    assert not findings.failures, (
        f"{len(findings.failures)} operation(s) answered 5xx "
        f"({findings.requests} requests in {elapsed:.0f}s):\n\n"
        + "\n\n".join(findings.failures)
        + f"\n\nvoltlab log tail:\n{served.log_tail()}"
    )
