"""The OCPI client against a peer built from the server helpers, over real HTTP on loopback.

The peer (a small FastAPI app under uvicorn, in the test's event loop) serves 230 items with
pagination, takes PUTs and authorize POSTs, and can fail on purpose: 503/429 a given number
of times, answer late, answer something that is not OCPI.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI, Request
from pydantic import BaseModel
from starlette.responses import JSONResponse, PlainTextResponse, Response

from voltlab.ocpi.client import OcpiClient
from voltlab.ocpi.transport import (
    Exchange,
    InvalidParameters,
    NotEnoughInformation,
    OcpiClientError,
    OcpiTimeout,
    UnableToUseClientApi,
    Unauthorized,
    UnknownToken,
    correlation_headers,
    install,
    ocpi_response,
    paginate,
    parse_page_params,
    read_json,
    read_json_optional,
    token_candidates,
)

TOKEN = "token-c-5f1d8a"
BASE = datetime(2026, 1, 1, tzinfo=UTC)
ITEMS = [{"id": f"item-{i:03d}", "last_updated": BASE + timedelta(minutes=i)} for i in range(230)]
ALL_IDS = [item["id"] for item in ITEMS]


class Item(BaseModel):
    id: str
    last_updated: datetime
    note: str | None = None


class LocationReferences(BaseModel):
    location_id: str
    evse_uids: list[str] = []


@dataclass
class Peer:
    """The test peer: its app, and what it saw."""

    hits: Counter[str] = field(default_factory=Counter)
    stored: dict[str, bytes] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> FastAPI:
        app = FastAPI()
        install(app)

        def authorize(request: Request) -> None:
            if TOKEN not in token_candidates(request.headers.get("Authorization")):
                raise Unauthorized("unknown token")

        def reply(
            request: Request,
            data: object = None,
            *,
            http_status: int = 200,
            headers: dict[str, str] | None = None,
        ) -> Response:
            return ocpi_response(
                data,
                http_status=http_status,
                headers={**correlation_headers(request), **(headers or {})},
            )

        @app.get("/ocpi/items")
        async def list_items(request: Request) -> Response:
            authorize(request)
            self.hits["items"] += 1
            params = parse_page_params(request.query_params)
            page, headers = paginate(
                ITEMS,
                params,
                last_updated=lambda item: item["last_updated"],
                base_url=str(request.url),
            )
            return reply(request, page, headers=headers)

        @app.put("/ocpi/items/{item_id}")
        async def put_item(request: Request, item_id: str) -> Response:
            authorize(request)
            item = await read_json(request, Item)
            if item.id != item_id:
                raise InvalidParameters("id in the URL and in the body differ")
            created = item_id not in self.stored
            self.stored[item_id] = await request.body()
            return reply(request, http_status=201 if created else 200)

        @app.post("/ocpi/tokens/{uid}/authorize")
        async def authorize_token(request: Request, uid: str) -> Response:
            authorize(request)
            refs = await read_json_optional(request, LocationReferences)
            if uid == "unknown":
                raise UnknownToken()
            if uid == "needs-location" and refs is None:
                raise NotEnoughInformation("LocationReferences needed for this token")
            data = {"allowed": "ALLOWED", "location": refs}
            return reply(request, {k: v for k, v in data.items() if v is not None})

        @app.api_route("/ocpi/flaky/{key}/{failures}", methods=["GET", "POST", "PUT"])
        async def flaky(request: Request, key: str, failures: int) -> Response:
            authorize(request)
            self.hits[key] += 1
            if self.hits[key] <= failures:
                status = int(request.query_params.get("status", "503"))
                # As a proxy in front of a peer would answer: not OCPI.
                return PlainTextResponse("try again later", status_code=status)
            return reply(request, {"hits": self.hits[key]})

        @app.get("/ocpi/slow")
        async def slow(request: Request) -> Response:
            self.hits["slow"] += 1
            async with asyncio.timeout(5):
                await self.release.wait()
            return reply(request, "late")

        @app.get("/ocpi/text")
        async def text() -> Response:
            return PlainTextResponse("hello")

        @app.get("/ocpi/not-an-envelope")
        async def not_an_envelope() -> Response:
            return JSONResponse({"data": [1, 2]})

        @app.get("/ocpi/registration")
        async def registration(request: Request) -> Response:
            raise UnableToUseClientApi("GET of your versions failed")

        return app


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """uvicorn on a free loopback port, in this event loop (as tests/support/live.py does)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(5):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the test peer did not start")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(5):
            await task


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    peer = Peer()
    yield peer
    peer.release.set()


@pytest.fixture
async def base_url(peer: Peer) -> AsyncIterator[str]:
    async with serving(peer.app()) as url:
        yield url
        peer.release.set()  # let a parked slow request finish before the server stops


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = OcpiClient.new_http_client(timeout_s=5.0)
    yield client
    await client.aclose()


@pytest.fixture
def exchanges() -> list[Exchange]:
    return []


@pytest.fixture
def client(http: httpx.AsyncClient, exchanges: list[Exchange]) -> OcpiClient:
    return OcpiClient(http, token=TOKEN, on_exchange=exchanges.append)


def token_header(token: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}


# --- Pagination ---------------------------------------------------------------------------


async def test_get_all_follows_the_next_links_and_returns_every_item_once(
    client: OcpiClient, base_url: str, exchanges: list[Exchange]
):
    items = await client.get_all(f"{base_url}/ocpi/items", limit=100)
    assert [item["id"] for item in items] == ALL_IDS
    assert [exchange.http_status for exchange in exchanges] == [200, 200, 200]
    assert [exchange.url.split("?", 1)[1] for exchange in exchanges] == [
        "limit=100",
        "offset=100&limit=100",
        "offset=200&limit=100",
    ]
    # One crawl, one correlation id; one request id per request.
    assert len({exchange.correlation_id for exchange in exchanges}) == 1
    assert len({exchange.request_id for exchange in exchanges}) == 3


async def test_get_all_with_the_servers_default_and_maximum_limits(
    client: OcpiClient, base_url: str, peer: Peer
):
    assert [item["id"] for item in await client.get_all(f"{base_url}/ocpi/items")] == ALL_IDS
    assert peer.hits["items"] == 5  # default limit 50
    items = await client.get_all(f"{base_url}/ocpi/items", limit=2000)
    assert [item["id"] for item in items] == ALL_IDS
    assert peer.hits["items"] == 5 + 3  # 2000 lowered to 100


async def test_a_page_carries_total_count_limit_and_a_link_that_keeps_the_filters(
    http: httpx.AsyncClient, base_url: str
):
    answer = await http.get(
        f"{base_url}/ocpi/items",
        params={"date_from": "2026-01-01T00:10:00Z", "limit": "2000"},
        headers=token_header(TOKEN),
    )
    assert answer.status_code == 200
    assert answer.headers["X-Total-Count"] == "220"
    assert answer.headers["X-Limit"] == "100"
    assert answer.headers["Link"] == (
        f'<{base_url}/ocpi/items?offset=100&limit=100&date_from=2026-01-01T00:10:00Z>; rel="next"'
    )
    body = answer.json()
    assert body["status_code"] == 1000
    assert body["data"][0]["id"] == "item-010"
    assert body["data"][0]["last_updated"] == "2026-01-01T00:10:00Z"
    assert len(body["data"]) == 100


async def test_the_last_page_has_no_link(client: OcpiClient, base_url: str):
    reply = await client.get(f"{base_url}/ocpi/items", params={"offset": 200, "limit": 100})
    assert len(reply.data) == 30
    assert reply.next_url is None
    assert "Link" not in reply.headers
    assert (reply.total_count, reply.limit) == (230, 100)


async def test_date_from_is_inclusive_and_date_to_exclusive(client: OcpiClient, base_url: str):
    window = {"date_from": "2026-01-01T00:10:00Z", "date_to": "2026-01-01T02:30:00Z"}
    items = await client.get_all(f"{base_url}/ocpi/items", params=window, limit=30)
    assert [item["id"] for item in items] == ALL_IDS[10:150]
    reply = await client.get(f"{base_url}/ocpi/items", params=window)
    assert reply.total_count == 140


async def test_malformed_pagination_parameters_answer_400_with_2001(
    client: OcpiClient, base_url: str
):
    with pytest.raises(OcpiClientError) as caught:
        await client.get(f"{base_url}/ocpi/items", params={"date_from": "yesterday"})
    assert (caught.value.http_status, caught.value.status_code) == (400, 2001)
    assert caught.value.status_message is not None
    assert caught.value.status_message.startswith("date_from:")


# --- Authorization ------------------------------------------------------------------------


async def test_a_wrong_token_answers_a_401_envelope(http: httpx.AsyncClient, base_url: str):
    answer = await http.get(f"{base_url}/ocpi/items", headers=token_header("not-the-token"))
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["WWW-Authenticate"] == "Token"
    body = answer.json()
    assert body["status_code"] == 2000
    assert body["status_message"] == "unknown token"
    assert "data" not in body
    assert "timestamp" in body


async def test_a_missing_authorization_header_answers_401(http: httpx.AsyncClient, base_url: str):
    answer = await http.get(f"{base_url}/ocpi/items")
    assert answer.status_code == 401
    assert answer.json()["status_code"] == 2000


async def test_the_client_raises_on_a_401_with_what_the_peer_said(
    client: OcpiClient, base_url: str, exchanges: list[Exchange]
):
    with pytest.raises(OcpiClientError) as caught:
        await client.with_token("not-the-token").get(f"{base_url}/ocpi/items")
    error = caught.value
    assert (error.http_status, error.status_code, error.status_message) == (
        401,
        2000,
        "unknown token",
    )
    assert error.url == f"{base_url}/ocpi/items"
    assert error.body is not None and '"status_code":2000' in error.body
    assert "HTTP 401" in str(error)
    assert len(exchanges) == 1  # with_token keeps the recorder; a 401 is not retried


async def test_the_token_is_accepted_base64_encoded_and_plain(
    client: OcpiClient, http: httpx.AsyncClient, base_url: str
):
    url = f"{base_url}/ocpi/items"
    assert (await client.get(url)).status_code == 1000  # the client sends Base64
    plain = await http.get(url, headers={"Authorization": f"Token {TOKEN}"})
    assert plain.status_code == 200
    assert plain.json()["status_code"] == 1000


async def test_with_token_switches_the_token(http: httpx.AsyncClient, base_url: str):
    wrong = OcpiClient(http, token="wrong")
    with pytest.raises(OcpiClientError):
        await wrong.get(f"{base_url}/ocpi/items")
    assert (await wrong.with_token(TOKEN).get(f"{base_url}/ocpi/items")).http_status == 200


# --- Request bodies -----------------------------------------------------------------------


async def test_invalid_json_answers_400_with_2001(http: httpx.AsyncClient, base_url: str):
    answer = await http.put(
        f"{base_url}/ocpi/items/item-1",
        content=b'{"id": "item-1", ',
        headers={**token_header(TOKEN), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["status_code"] == 2001
    assert body["status_message"].startswith("invalid JSON: ")


async def test_a_missing_required_field_answers_400_with_2001_naming_the_field(
    client: OcpiClient, base_url: str
):
    with pytest.raises(OcpiClientError) as caught:
        await client.put(f"{base_url}/ocpi/items/item-1", json={"id": "item-1"})
    assert (caught.value.http_status, caught.value.status_code) == (400, 2001)
    assert caught.value.status_message == "last_updated: Field required"


async def test_a_put_answers_201_then_200_and_a_model_is_sent_without_none_fields(
    client: OcpiClient, base_url: str, peer: Peer
):
    item = Item(id="item-1", last_updated=datetime(2026, 5, 1, 12, tzinfo=UTC))
    first = await client.put(f"{base_url}/ocpi/items/item-1", json=item)
    assert (first.http_status, first.status_code, first.data) == (201, 1000, None)
    assert orjson.loads(peer.stored["item-1"]) == {
        "id": "item-1",
        "last_updated": "2026-05-01T12:00:00Z",
    }
    # A dict goes as given, its None as null.
    second = await client.put(f"{base_url}/ocpi/items/item-1", json=item.model_dump())
    assert second.http_status == 200
    assert orjson.loads(peer.stored["item-1"]) == {
        "id": "item-1",
        "last_updated": "2026-05-01T12:00:00Z",
        "note": None,
    }


async def test_authorize_takes_no_body_or_location_references(client: OcpiClient, base_url: str):
    url = f"{base_url}/ocpi/tokens/012345/authorize"
    assert (await client.post(url)).data == {"allowed": "ALLOWED"}
    refs = LocationReferences(location_id="LOC1", evse_uids=["E1"])
    assert (await client.post(url, json=refs)).data == {
        "allowed": "ALLOWED",
        "location": {"location_id": "LOC1", "evse_uids": ["E1"]},
    }


async def test_an_unknown_token_answers_404_with_2004_and_no_data(
    client: OcpiClient, http: httpx.AsyncClient, base_url: str
):
    url = f"{base_url}/ocpi/tokens/unknown/authorize"
    answer = await http.post(url, headers=token_header(TOKEN))
    assert answer.status_code == 404
    assert "data" not in answer.json()
    with pytest.raises(OcpiClientError) as caught:
        await client.post(url)
    assert (caught.value.http_status, caught.value.status_code) == (404, 2004)


async def test_not_enough_information_answers_2002(client: OcpiClient, base_url: str):
    with pytest.raises(OcpiClientError) as caught:
        await client.post(f"{base_url}/ocpi/tokens/needs-location/authorize")
    assert (caught.value.http_status, caught.value.status_code) == (400, 2002)


# --- X-Request-ID and X-Correlation-ID ----------------------------------------------------


async def test_request_and_correlation_ids_are_echoed(http: httpx.AsyncClient, base_url: str):
    ids = {"X-Request-ID": "req-774321", "X-Correlation-ID": "corr-123456"}
    for headers in (token_header(TOKEN), token_header("wrong")):  # success and error alike
        answer = await http.get(f"{base_url}/ocpi/items", headers={**headers, **ids})
        assert answer.headers["X-Request-ID"] == "req-774321"
        assert answer.headers["X-Correlation-ID"] == "corr-123456"


async def test_missing_ids_are_answered_with_new_ones(http: httpx.AsyncClient, base_url: str):
    answer = await http.get(f"{base_url}/ocpi/items", headers=token_header(TOKEN))
    assert uuid.UUID(answer.headers["X-Request-ID"]).version == 4
    assert uuid.UUID(answer.headers["X-Correlation-ID"]).version == 4


async def test_the_client_sends_fresh_request_ids_and_the_given_correlation_id(
    client: OcpiClient, base_url: str, exchanges: list[Exchange]
):
    reply = await client.get(f"{base_url}/ocpi/items", correlation_id="corr-42")
    assert reply.headers["X-Correlation-ID"] == "corr-42"
    assert reply.headers["X-Request-ID"] == exchanges[0].request_id
    await client.get(f"{base_url}/ocpi/items")
    assert exchanges[1].request_id != exchanges[0].request_id
    assert exchanges[1].correlation_id not in (None, "corr-42")


# --- Retries and timeouts -----------------------------------------------------------------


async def test_an_idempotent_request_is_retried_on_503_then_succeeds(
    client: OcpiClient, base_url: str, peer: Peer, exchanges: list[Exchange]
):
    reply = await client.get(f"{base_url}/ocpi/flaky/get/2")
    assert reply.data == {"hits": 3}
    assert peer.hits["get"] == 3
    assert [exchange.http_status for exchange in exchanges] == [503, 503, 200]
    assert [exchange.error is None for exchange in exchanges] == [False, False, True]
    assert len({exchange.request_id for exchange in exchanges}) == 3
    assert len({exchange.correlation_id for exchange in exchanges}) == 1


async def test_a_put_is_retried_on_429(client: OcpiClient, base_url: str, peer: Peer):
    reply = await client.put(f"{base_url}/ocpi/flaky/put/1?status=429", json={"a": 1})
    assert reply.data == {"hits": 2}
    assert peer.hits["put"] == 2


async def test_retries_give_up_after_the_configured_count(
    client: OcpiClient, base_url: str, peer: Peer
):
    with pytest.raises(OcpiClientError) as caught:
        await client.get(f"{base_url}/ocpi/flaky/many/10?status=502")
    assert caught.value.http_status == 502
    assert caught.value.status_code is None
    assert caught.value.body == "try again later"
    assert peer.hits["many"] == 3  # 1 + retries=2


async def test_a_post_is_not_retried(
    client: OcpiClient, base_url: str, peer: Peer, exchanges: list[Exchange]
):
    with pytest.raises(OcpiClientError) as caught:
        await client.post(f"{base_url}/ocpi/flaky/post/1", json={"a": 1})
    assert caught.value.http_status == 503
    assert peer.hits["post"] == 1
    assert len(exchanges) == 1


async def test_a_slow_peer_raises_ocpi_timeout(
    client: OcpiClient, base_url: str, peer: Peer, exchanges: list[Exchange]
):
    started = time.perf_counter()
    with pytest.raises(OcpiTimeout) as caught:
        await client.get(f"{base_url}/ocpi/slow", timeout_s=0.3)
    assert 0.25 < time.perf_counter() - started < 1.5
    assert caught.value.http_status is None
    assert "0.3 s" in str(caught.value)
    assert peer.hits["slow"] == 1  # a read timeout is not retried
    (exchange,) = exchanges
    assert exchange.http_status is None and exchange.error is not None
    assert exchange.duration_ms >= 250


async def test_the_clients_own_timeout_applies_when_the_call_gives_none(
    http: httpx.AsyncClient, base_url: str
):
    quick = OcpiClient(http, token=TOKEN, timeout_s=0.3)
    with pytest.raises(OcpiTimeout):
        await quick.get(f"{base_url}/ocpi/slow")


async def test_a_refused_connection_is_retried_then_raised(
    client: OcpiClient, exchanges: list[Exchange]
):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(OcpiClientError) as caught:
        await client.get(f"http://127.0.0.1:{port}/ocpi/versions")
    assert not isinstance(caught.value, OcpiTimeout)
    assert caught.value.http_status is None
    assert "cannot connect" in str(caught.value)
    assert len(exchanges) == 3
    assert all(e.http_status is None and e.error for e in exchanges)


# --- Answers that are not OCPI successes --------------------------------------------------


async def test_a_non_json_answer_raises(client: OcpiClient, base_url: str):
    with pytest.raises(OcpiClientError) as caught:
        await client.get(f"{base_url}/ocpi/text")
    assert (caught.value.http_status, caught.value.status_code) == (200, None)
    assert caught.value.body == "hello"
    assert "not an OCPI envelope" in str(caught.value)


async def test_json_without_status_code_raises(client: OcpiClient, base_url: str):
    with pytest.raises(OcpiClientError, match="not an OCPI envelope"):
        await client.get(f"{base_url}/ocpi/not-an-envelope")


async def test_an_error_status_code_in_an_http_200_raises(client: OcpiClient, base_url: str):
    with pytest.raises(OcpiClientError) as caught:
        await client.get(f"{base_url}/ocpi/registration")
    assert (caught.value.http_status, caught.value.status_code) == (200, 3001)
    assert caught.value.status_message == "GET of your versions failed"


# --- The exchange log ---------------------------------------------------------------------


async def test_every_exchange_is_reported_with_its_outcome(
    client: OcpiClient, base_url: str, exchanges: list[Exchange]
):
    before = datetime.now(UTC)
    await client.put(
        f"{base_url}/ocpi/items/item-7",
        json=Item(id="item-7", last_updated=BASE),
        correlation_id="corr-7",
    )
    with pytest.raises(OcpiClientError):
        await client.post(f"{base_url}/ocpi/tokens/unknown/authorize?type=RFID")

    ok, failed = exchanges
    assert ok.direction == failed.direction == "out"
    assert (ok.method, ok.url) == ("PUT", f"{base_url}/ocpi/items/item-7")
    assert (ok.http_status, ok.status_code, ok.error) == (201, 1000, None)
    assert ok.request_body == '{"id":"item-7","last_updated":"2026-01-01T00:00:00Z"}'
    assert ok.response_body is not None and orjson.loads(ok.response_body)["status_code"] == 1000
    assert ok.correlation_id == "corr-7"
    assert ok.duration_ms > 0
    assert ok.created_at.tzinfo is not None and ok.created_at.utcoffset() == timedelta(0)
    assert before <= ok.created_at <= failed.created_at

    assert (failed.method, failed.url) == (
        "POST",
        f"{base_url}/ocpi/tokens/unknown/authorize?type=RFID",
    )
    assert (failed.http_status, failed.status_code) == (404, 2004)
    assert failed.request_body is None
    assert failed.error is not None and "HTTP 404" in failed.error


async def test_a_failing_recorder_does_not_fail_the_call(http: httpx.AsyncClient, base_url: str):
    def broken(_: Exchange) -> None:
        raise RuntimeError("disk full")

    client = OcpiClient(http, token=TOKEN, on_exchange=broken)
    assert (await client.get(f"{base_url}/ocpi/items")).status_code == 1000
