"""The OCPI 2.2.1 credentials handshake between voltlab bundles and an independent
implementation, extrawest-ocpi (in its own virtualenv and process: see ``harness``), both
directions, what the exchanged tokens open afterwards, and wrong Tokens A.

extrawest's quirks the tests live with (none of them bends voltlab):

- it lower-cases every CiString it reads and writes (``country_code``, ``party_id``:
  "de", "xwc"): the spec calls them case-insensitive, so party ids compare upper-cased;
- it refuses unknown tokens on the versions, details and credentials endpoints with HTTP
  401 ``{"detail": "Unauthorized"}`` (no OCPI envelope) and on the module endpoints with
  HTTP 403, not 401.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from interop import harness
from interop.harness import StartPeer
from support.live import Voltlab
from support.ocpi import create_bundle, ocpi_client

# Building extrawest's virtualenv (first run on a machine) happens in the first test's setup.
TIMEOUT_S = 90 + (0 if harness.venv_ready() else harness.INSTALL_TIMEOUT_S)
pytestmark = pytest.mark.timeout(TIMEOUT_S)


def b64(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def party(item: dict[str, Any]) -> tuple[str, str, str]:
    """(COUNTRY, PARTY, ROLE) of a peer or a CredentialsRole, case folded (CiStrings)."""
    return (item["country_code"].upper(), item["party_id"].upper(), item["role"])


async def voltlab_peer_row(voltlab: Voltlab, bundle_id: str) -> Any:
    from voltlab.storage.ocpi import OcpiPeer

    async with voltlab.services.sessions() as session:
        rows = await session.scalars(select(OcpiPeer).where(OcpiPeer.bundle_id == int(bundle_id)))
        return rows.one()


async def peers_of(voltlab: Voltlab, bundle_id: str) -> list[dict[str, Any]]:
    answer = await voltlab.client.get(f"/ocpi/cpos/{bundle_id}/peers")
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


async def exchanges(voltlab: Voltlab, bundle_id: str, direction: str) -> list[dict[str, Any]]:
    answer = await voltlab.client.get(
        f"/ocpi/cpos/{bundle_id}/logs", params={"direction": direction}
    )
    assert answer.status_code == 200, answer.text
    return list(reversed(answer.json()["data"]))  # oldest first


# ---- 1. extrawest initiates -------------------------------------------------------------


async def test_an_extrawest_emsp_registers_with_a_voltlab_cpo(
    voltlab: Voltlab, extrawest: StartPeer
) -> None:
    cpo = await create_bundle(voltlab.client, "small-urban-ac")
    peer = await extrawest("EMSP")

    answer = await peer.connect(cpo["ocpi_peer_url"], cpo["token_a"])
    assert answer.status_code == 200, answer.text
    registered = answer.json()["party"]
    assert registered["status"] == "CONNECTED"
    assert party(registered) == ("NL", "CPO", "CPO")
    assert [s["step"] for s in answer.json()["steps"]] == ["versions", "details", "credentials"]

    # voltlab lists extrawest, registered by extrawest, with extrawest's endpoints.
    [listed] = await peers_of(voltlab, cpo["cpo_id"])
    assert listed["status"] == "CONNECTED"
    assert listed["party"] == {"country_code": "DE", "party_id": "XWE", "role": "EMSP"}
    assert listed["initiated_by"] == "them"
    assert listed["versions_url"] == peer.versions_url
    assert {(e["identifier"], e["role"]) for e in listed["endpoints"]} == {
        ("credentials", "RECEIVER"),
        ("tokens", "SENDER"),
    }

    # Both sides hold the same pair of tokens: extrawest's B is what voltlab calls it with,
    # voltlab's C what extrawest calls voltlab with.
    row = await voltlab_peer_row(voltlab, cpo["cpo_id"])
    [held] = (await peer.state())["parties"]
    assert held["initiated_by"] == "us"
    assert held["token_ours"] == row.token_theirs  # B
    assert held["token_theirs"] == row.token_ours  # C

    # While extrawest's POST was in flight voltlab fetched extrawest's versions and details
    # with B, Base64-encoded as 2.2.1 says; extrawest accepted them. (What voltlab does once
    # connected, e.g. pulling the eMSP's tokens, may follow.)
    seen = [r for r in (await peer.state())["requests"] if r["token"] == held["token_ours"]]
    assert [(r["method"], r["path"], r["http_status"]) for r in seen[:2]] == [
        ("GET", "/ocpi/versions", 200),
        ("GET", "/ocpi/2.2.1/details", 200),
    ]
    assert all(r["authorization"] == f"Token {b64(held['token_ours'])}" for r in seen)

    # Token C opens the CPO's locations.
    locations_url = next(
        e["url"] for e in registered["endpoints"] if e["identifier"] == "locations"
    )
    async with ocpi_client(b64(held["token_theirs"])) as ocpi:
        locations = await ocpi.get(locations_url)
    assert locations.status_code == 200, locations.text
    body = locations.json()
    assert body["status_code"] == 1000
    assert body["data"], body
    assert [evse for location in body["data"] for evse in location["evses"]]

    # Token A died with the handshake: plain or Base64, and for a second registration.
    async with ocpi_client(cpo["token_a"]) as ocpi:
        refused = await ocpi.get(cpo["ocpi_peer_url"])
    assert refused.status_code == 401
    assert refused.json()["status_code"] == 2000
    again = await peer.connect(cpo["ocpi_peer_url"], cpo["token_a"])
    assert again.status_code == 502, again.text
    assert again.json()["failed_at"] == "versions"
    assert again.json()["steps"][0]["http_status"] == 401

    # voltlab's exchange log has extrawest's three calls and its own two.
    came_in = [
        (e["method"], e["url"].split("/ocpi/", 1)[1], e["http_status"])
        for e in await exchanges(voltlab, cpo["cpo_id"], "in")
    ]
    assert came_in[:3] == [
        ("GET", f"{cpo['cpo_id']}/versions", 200),
        ("GET", f"{cpo['cpo_id']}/2.2.1", 200),
        ("POST", f"{cpo['cpo_id']}/2.2.1/credentials", 200),
    ]
    went_out = [(e["method"], e["url"]) for e in await exchanges(voltlab, cpo["cpo_id"], "out")]
    assert went_out[:2] == [
        ("GET", peer.versions_url),
        ("GET", f"{peer.base_url}/ocpi/2.2.1/details"),
    ]


# ---- 2. voltlab initiates ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "fields", "peer_role", "module"),
    [
        ("emsp-basic", {"role": "emsp"}, "CPO", "locations"),
        ("highway-dc", {}, "EMSP", "tokens"),
    ],
    ids=["voltlab-emsp-to-extrawest-cpo", "voltlab-cpo-to-extrawest-emsp"],
)
async def test_a_voltlab_bundle_registers_with_extrawest(
    voltlab: Voltlab,
    extrawest: StartPeer,
    template: str,
    fields: dict[str, Any],
    peer_role: str,
    module: str,
) -> None:
    bundle = await create_bundle(voltlab.client, template, **fields)
    our_role = "EMSP" if fields.get("role") == "emsp" else "CPO"
    peer = await extrawest(peer_role)

    connected = await voltlab.client.post(
        f"/ocpi/cpos/{bundle['cpo_id']}/connect",
        json={"versions_url": peer.versions_url, "token": peer.token_a},
    )
    assert connected.status_code == 200, connected.text
    answer = connected.json()
    assert answer["status"] == "CONNECTED"
    assert answer["initiated_by"] == "us"
    # extrawest answered "de"/"xwc" (it lower-cases CiStrings); voltlab stores upper case.
    assert answer["party"] == {
        "country_code": "DE",
        "party_id": peer.party_id,
        "role": peer_role,
    }
    assert module in {e["identifier"] for e in answer["endpoints"]}

    # extrawest registered voltlab's party with the token voltlab gave it (B), and voltlab
    # holds the token extrawest answered (C); Token A is spent.
    row = await voltlab_peer_row(voltlab, bundle["cpo_id"])
    state = await peer.state()
    [held] = state["parties"]
    assert held["status"] == "CONNECTED"
    assert held["initiated_by"] == "them"
    assert party(held) == ("NL", "CPO" if our_role == "CPO" else "EMS", our_role)
    assert held["versions_url"] == bundle["ocpi_peer_url"]
    assert held["token_theirs"] == row.token_ours  # B, voltlab's
    assert held["token_ours"] == row.token_theirs  # C, extrawest's
    assert state["tokens_a"] == []
    assert {e["identifier"] for e in held["endpoints"]} >= {"credentials", "locations", "tokens"}
    # voltlab's three calls carried Token A, Base64-encoded (extrawest decodes 2.2.x headers).
    handshake = state["requests"][:3]
    assert [(r["method"], r["http_status"], r["token_a"]) for r in handshake] == [
        ("GET", 200, True),
        ("GET", 200, True),
        ("POST", 200, True),
    ]
    assert all(r["authorization"] == f"Token {b64(peer.token_a)}" for r in handshake)

    # extrawest's requests reached voltlab with B: versions, details (during the POST).
    came_in = [
        (e["method"], e["url"].split("/ocpi/", 1)[1], e["http_status"])
        for e in await exchanges(voltlab, bundle["cpo_id"], "in")
    ]
    assert came_in[:2] == [
        ("GET", f"{bundle['cpo_id']}/versions", 200),
        ("GET", f"{bundle['cpo_id']}/2.2.1", 200),
    ]
    went_out = [
        (e["method"], e["http_status"], e["status_code"])
        for e in await exchanges(voltlab, bundle["cpo_id"], "out")
    ]
    assert went_out[:3] == [("GET", 200, 1000), ("GET", 200, 1000), ("POST", 200, 1000)]

    # The tokens work both ways: C opens extrawest's module, B voltlab's credentials.
    module_url = next(e["url"] for e in answer["endpoints"] if e["identifier"] == module)
    async with ocpi_client(b64(row.token_theirs)) as ocpi:
        opened = await ocpi.get(module_url)
    assert opened.status_code == 200, opened.text
    assert opened.json()["status_code"] == 1000
    assert opened.json()["data"]
    credentials_url = f"{bundle['ocpi_peer_url'].removesuffix('/versions')}/2.2.1/credentials"
    async with ocpi_client(b64(held["token_theirs"])) as ocpi:
        ours = await ocpi.get(credentials_url)
    assert ours.status_code == 200, ours.text
    assert ours.json()["data"]["token"] == held["token_theirs"]


# ---- 3. a wrong Token A ------------------------------------------------------------------


async def test_voltlab_with_a_wrong_token_a_is_refused_by_extrawest(
    voltlab: Voltlab, extrawest: StartPeer
) -> None:
    emsp = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    peer = await extrawest("CPO")

    refused = await voltlab.client.post(
        f"/ocpi/cpos/{emsp['cpo_id']}/connect",
        json={"versions_url": peer.versions_url, "token": "not-" + peer.token_a},
    )
    assert refused.status_code == 502, refused.text
    detail = refused.json()["detail"]
    assert peer.versions_url in detail
    assert "HTTP 401" in detail

    assert await peers_of(voltlab, emsp["cpo_id"]) == []
    state = await peer.state()
    assert state["parties"] == []
    assert state["tokens_a"] == [peer.token_a]  # untouched
    assert [(r["method"], r["path"], r["http_status"]) for r in state["requests"]] == [
        ("GET", "/ocpi/versions", 401)
    ]

    # The right Token A still works afterwards.
    connected = await voltlab.client.post(
        f"/ocpi/cpos/{emsp['cpo_id']}/connect",
        json={"versions_url": peer.versions_url, "token": peer.token_a},
    )
    assert connected.status_code == 200, connected.text


async def test_extrawest_with_a_wrong_token_a_is_refused_by_voltlab(
    voltlab: Voltlab, extrawest: StartPeer
) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    peer = await extrawest("EMSP")

    refused = await peer.connect(cpo["ocpi_peer_url"], "not-" + cpo["token_a"])
    assert refused.status_code == 502, refused.text
    failure = refused.json()
    assert failure["failed_at"] == "versions"
    [step] = failure["steps"]
    assert step["http_status"] == 401
    assert step["body"]["status_code"] == 2000

    # The credentials POST itself, with a wrong Token A, is refused too.
    credentials_url = f"{cpo['ocpi_peer_url'].removesuffix('/versions')}/2.2.1/credentials"
    async with httpx.AsyncClient(timeout=10) as client:
        posted = await client.post(
            credentials_url,
            headers={"Authorization": f"Token {b64('not-' + cpo['token_a'])}"},
            json={
                "token": "a-token-b",
                "url": peer.versions_url,
                "roles": [(await peer.state())["party"]],
            },
        )
    assert posted.status_code == 401, posted.text
    assert posted.json()["status_code"] == 2000

    assert await peers_of(voltlab, cpo["cpo_id"]) == []
    assert (await peer.state())["parties"] == []
    came_in = [
        (e["method"], e["http_status"]) for e in await exchanges(voltlab, cpo["cpo_id"], "in")
    ]
    assert came_in == [("GET", 401), ("POST", 401)]

    # voltlab's Token A survived the wrong ones.
    connected = await peer.connect(cpo["ocpi_peer_url"], cpo["token_a"])
    assert connected.status_code == 200, connected.text
    [listed] = await peers_of(voltlab, cpo["cpo_id"])
    assert listed["party"] == {"country_code": "DE", "party_id": "XWE", "role": "EMSP"}
