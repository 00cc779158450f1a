"""OCPI transport helpers, one function at a time (no sockets): token header, pagination,
envelope, body reading, errors. The same helpers over real HTTP: test_client.py."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from pydantic import BaseModel
from starlette.requests import Request

from voltlab.ocpi import transport
from voltlab.ocpi.transport import (
    ClientError,
    Exchange,
    InvalidParameters,
    MethodNotAllowed,
    NoMatchingEndpoints,
    NotEnoughInformation,
    NotFound,
    OcpiClientError,
    OcpiError,
    OcpiTimeout,
    PageParams,
    ServerError,
    UnableToUseClientApi,
    Unauthorized,
    UnknownLocation,
    UnknownToken,
    UnsupportedVersion,
    authorization_header,
    body_text,
    correlation_headers,
    dump_json,
    envelope,
    error_response,
    next_link,
    ocpi_response,
    ocpi_timestamp,
    paginate,
    parse_page_params,
    read_json,
    read_json_optional,
    token_candidates,
)

OCPI_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- Authorization: Token ---------------------------------------------------------------


def test_a_base64_token_gives_the_decoded_token_first_then_the_raw_value():
    assert token_candidates(f"Token {b64('token-c-123')}") == ["token-c-123", b64("token-c-123")]


def test_a_plain_token_that_is_not_base64_gives_only_itself():
    assert token_candidates("Token token-c-123") == ["token-c-123"]


def test_a_plain_token_that_decodes_to_binary_is_taken_as_plain():
    # "abcd" is valid Base64, but of three non-printable bytes: not a credentials token.
    assert token_candidates("Token abcd") == ["abcd"]


def test_the_specifications_own_example_with_a_trailing_newline_decodes():
    # OCPI 2.2.1 encodes `echo`'s newline: ZXhhbXBsZS10b2tlbgo= is "example-token\n".
    assert token_candidates("Token ZXhhbXBsZS10b2tlbgo=") == [
        "example-token",
        "ZXhhbXBsZS10b2tlbgo=",
    ]


def test_base64_without_padding_is_forgiven():
    encoded = b64("abcde").rstrip("=")
    assert token_candidates(f"Token {encoded}") == ["abcde", encoded]


def test_the_scheme_is_case_insensitive_and_spaces_around_are_ignored():
    assert token_candidates(f"  token   {b64('x-1')}  ") == ["x-1", b64("x-1")]


@pytest.mark.parametrize(
    "header", [None, "", "Token", "Token   ", "Bearer abc", "Basic dXNlcjpwYXNz", "abc"]
)
def test_no_token_value_gives_no_candidates(header: str | None):
    assert token_candidates(header) == []


def test_authorization_header_is_token_then_base64_of_the_utf8_token():
    assert authorization_header("example-token") == "Token ZXhhbXBsZS10b2tlbg=="
    assert token_candidates(authorization_header("tok-\u00e9"))[-1] == b64("tok-\u00e9")
    assert token_candidates(authorization_header("abc-123"))[0] == "abc-123"


# --- Pagination parameters ----------------------------------------------------------------


def test_page_params_default_to_offset_0_and_the_default_limit():
    assert parse_page_params({}) == PageParams(offset=0, limit=50)
    assert parse_page_params({}, default_limit=20).limit == 20
    assert parse_page_params({"offset": "", "limit": ""}) == PageParams(offset=0, limit=50)


def test_a_limit_above_the_maximum_is_lowered_to_it():
    assert parse_page_params({"limit": "2000"}).limit == 100
    assert parse_page_params({"limit": "2000"}, max_limit=500).limit == 500
    assert parse_page_params({"limit": "7", "offset": "30"}) == PageParams(offset=30, limit=7)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"offset": "abc"}, "offset"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "1.5"}, "offset"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "2026-01-01"}, "date_from"),
        ({"date_to": "2026-13-01T00:00:00Z"}, "date_to"),
    ],
)
def test_malformed_page_params_raise_invalid_parameters_naming_the_parameter(
    query: dict[str, str], named: str
):
    with pytest.raises(InvalidParameters) as caught:
        parse_page_params(query)
    assert caught.value.status_code == 2001
    assert caught.value.http_status == 400
    assert caught.value.message.startswith(f"{named}:")


@pytest.mark.parametrize(
    "raw",
    [
        "2026-01-01T10:00:00Z",
        "2026-01-01T10:00:00",  # no designator: UTC
        "2026-01-01T10:00:00.000Z",
        "2026-01-01T12:00:00+02:00",  # an offset is converted
        "2026-01-01T12:00:00 02:00",  # ... also when its "+" arrived as a space
    ],
)
def test_dates_are_read_as_utc(raw: str):
    params = parse_page_params({"date_from": raw, "date_to": raw})
    assert params.date_from == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert params.date_to == params.date_from


# --- paginate and the Link header ---------------------------------------------------------

BASE = datetime(2026, 1, 1, tzinfo=UTC)
ITEMS = [{"id": i, "last_updated": BASE + timedelta(minutes=i)} for i in range(230)]


def page_of(query: dict[str, str], url: str = "https://x.org/ocpi/2.2.1/cdrs"):
    return paginate(
        ITEMS,
        parse_page_params(query),
        last_updated=lambda item: item["last_updated"],
        base_url=url,
    )


def test_a_first_page_has_total_count_limit_and_a_next_link():
    page, headers = page_of({})
    assert [item["id"] for item in page] == list(range(50))
    assert headers == {
        "X-Total-Count": "230",
        "X-Limit": "50",
        "Link": '<https://x.org/ocpi/2.2.1/cdrs?offset=50&limit=50>; rel="next"',
    }


def test_the_next_link_keeps_the_filters_and_replaces_offset_and_limit():
    url = "https://x.org/cdrs/?date_from=2026-01-01T00:10:00Z&limit=2000&offset=0&x=a%20b"
    page, headers = page_of(
        {"date_from": "2026-01-01T00:10:00Z", "limit": "2000", "offset": "0"}, url
    )
    assert len(page) == 100
    assert headers["X-Total-Count"] == "220"
    assert headers["X-Limit"] == "100"  # the limit applied, not the one asked for
    assert headers["Link"] == (
        "<https://x.org/cdrs/?offset=100&limit=100&date_from=2026-01-01T00:10:00Z&x=a%20b>;"
        ' rel="next"'
    )


def test_the_last_page_has_no_link_and_x_limit_stays_the_upper_limit():
    page, headers = page_of({"offset": "200", "limit": "100"})
    assert [item["id"] for item in page] == list(range(200, 230))
    assert headers == {"X-Total-Count": "230", "X-Limit": "100"}


def test_an_offset_past_the_end_gives_an_empty_page_without_link():
    page, headers = page_of({"offset": "500"})
    assert page == []
    assert "Link" not in headers


def test_date_from_is_inclusive_and_date_to_exclusive():
    page, headers = page_of(
        {"date_from": "2026-01-01T00:10:00Z", "date_to": "2026-01-01T00:20:00Z"}
    )
    assert [item["id"] for item in page] == list(range(10, 20))
    assert headers["X-Total-Count"] == "10"


def test_a_naive_last_updated_is_taken_as_utc():
    items = [BASE.replace(tzinfo=None), BASE + timedelta(hours=1)]
    page, _ = paginate(
        items,
        parse_page_params({"date_to": "2026-01-01T00:30:00Z"}),
        last_updated=lambda when: when,
        base_url="http://x/",
    )
    assert page == [items[0]]


def test_next_link_finds_rel_next_among_several_links():
    header = '<http://x/a?offset=0>; rel="prev", <http://x/a?offset=100&limit=50>; rel="next"'
    assert next_link(header) == "http://x/a?offset=100&limit=50"
    assert next_link("<http://x/a?offset=5>; rel=next") == "http://x/a?offset=5"
    assert next_link('<http://x/a>; rel="prev"') is None
    assert next_link(None) is None
    assert next_link("garbage") is None


# --- Envelope -----------------------------------------------------------------------------


def test_ocpi_timestamp_is_utc_with_second_precision_and_z():
    assert OCPI_DATETIME.fullmatch(ocpi_timestamp())
    assert len(ocpi_timestamp()) <= 25
    when = datetime(2026, 11, 22, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert ocpi_timestamp(when) == "2026-11-22T10:00:00Z"
    assert ocpi_timestamp(datetime(2026, 11, 22, 10)) == "2026-11-22T10:00:00Z"


def test_the_envelope_leaves_out_data_and_status_message_when_none():
    body = envelope()
    assert set(body) == {"status_code", "timestamp"}
    assert body["status_code"] == 1000
    assert envelope([], 1000, "Success")["data"] == []
    assert envelope({"a": 1}, 2001, "bad")["status_message"] == "bad"


def test_dump_json_writes_ocpi_datetimes_and_models_without_none_fields():
    class Thing(BaseModel):
        uid: str
        note: str | None = None
        when: datetime

    value = {
        "naive": datetime(2026, 1, 1, 10, 0, 0, 999),
        "offset": datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),
        "model": Thing(uid="a", when=datetime(2026, 1, 1, tzinfo=UTC)),
        "price": Decimal("0.25"),
    }
    assert orjson.loads(dump_json(value)) == {
        "naive": "2026-01-01T10:00:00Z",
        "offset": "2026-01-01T10:00:00Z",
        "model": {"uid": "a", "when": "2026-01-01T00:00:00Z"},
        "price": 0.25,
    }


def test_ocpi_response_is_json_with_the_given_http_status_and_headers():
    response = ocpi_response([1], http_status=201, headers={"X-Limit": "5"})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-limit"] == "5"
    body = orjson.loads(response.body)
    assert body["data"] == [1]
    assert body["status_code"] == 1000
    assert OCPI_DATETIME.fullmatch(body["timestamp"])


def test_error_response_renders_the_error_with_its_http_status_and_headers():
    response = error_response(UnknownToken(), {"X-Request-ID": "r1"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "r1"
    assert orjson.loads(response.body) == {
        "status_code": 2004,
        "status_message": "Unknown Token",
        "timestamp": orjson.loads(response.body)["timestamp"],
    }
    unauthorized = error_response(Unauthorized("unknown token"))
    assert unauthorized.status_code == 401
    assert unauthorized.headers["www-authenticate"] == "Token"


# --- Errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status_code", "http_status"),
    [
        (OcpiError, 2000, 400),
        (ClientError, 2000, 400),
        (InvalidParameters, 2001, 400),
        (NotEnoughInformation, 2002, 400),
        (UnknownLocation, 2003, 404),
        (UnknownToken, 2004, 404),
        (Unauthorized, 2000, 401),
        (MethodNotAllowed, 2000, 405),
        (NotFound, 2000, 404),
        (ServerError, 3000, 500),
        (UnableToUseClientApi, 3001, 200),
        (UnsupportedVersion, 3002, 200),
        (NoMatchingEndpoints, 3003, 200),
    ],
)
def test_each_error_carries_its_ocpi_status_and_http_status(
    error: type[OcpiError], status_code: int, http_status: int
):
    exc = error()
    assert (exc.status_code, exc.http_status) == (status_code, http_status)
    assert exc.message
    assert isinstance(exc, OcpiError)


def test_an_error_instance_can_override_its_statuses_without_touching_the_class():
    exc = UnknownLocation("no such location", http_status=200, data={"location_id": "L1"})
    assert (exc.status_code, exc.http_status, exc.data) == (2003, 200, {"location_id": "L1"})
    assert UnknownLocation().http_status == 404
    assert str(exc) == "no such location"


def test_a_client_error_reads_as_a_sentence():
    error = OcpiClientError(
        "HTTP 404",
        url="http://peer/tokens/x/authorize",
        method="POST",
        http_status=404,
        status_code=2004,
        status_message="Unknown Token",
        body="{}",
    )
    assert str(error) == (
        "POST http://peer/tokens/x/authorize: HTTP 404 (OCPI 2004, 'Unknown Token')"
    )
    timeout = OcpiTimeout("no answer within 0.3 s", url="http://peer/x")
    assert isinstance(timeout, OcpiClientError)
    assert str(timeout) == "http://peer/x: no answer within 0.3 s"
    assert timeout.http_status is None and timeout.status_code is None


# --- Reading bodies and the id headers ----------------------------------------------------


class Evse(BaseModel):
    uid: str


class Item(BaseModel):
    id: str
    last_updated: datetime
    evses: list[Evse] = []


def request_with(body: bytes = b"", headers: dict[str, str] | None = None) -> Request:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/items/1",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    return Request(scope, receive)


async def test_read_json_gives_the_model():
    item = await read_json(
        request_with(b'{"id": "1", "last_updated": "2026-01-01T00:00:00Z"}'), Item
    )
    assert item == Item(id="1", last_updated=BASE)


@pytest.mark.parametrize("body", [b"{not json", b'{"id": "1",}', b'{"id": NaN}', b"\xff"])
async def test_read_json_refuses_invalid_json_with_2001(body: bytes):
    with pytest.raises(InvalidParameters) as caught:
        await read_json(request_with(body), Item)
    assert caught.value.message.startswith("invalid JSON: ")
    assert caught.value.http_status == 400


async def test_read_json_names_every_failing_field():
    body = b'{"id": "1", "evses": [{"uid": "a"}, {}]}'
    with pytest.raises(InvalidParameters) as caught:
        await read_json(request_with(body), Item)
    assert caught.value.message == "last_updated: Field required; evses.1.uid: Field required"


async def test_read_json_refuses_an_empty_body_and_a_non_object():
    with pytest.raises(InvalidParameters, match="missing JSON body"):
        await read_json(request_with(b""), Item)
    with pytest.raises(InvalidParameters, match=r"^body: "):
        await read_json(request_with(b"[1, 2]"), Item)


async def test_read_json_optional_gives_none_for_no_body_or_null():
    assert await read_json_optional(request_with(b""), Evse) is None
    assert await read_json_optional(request_with(b"  null "), Evse) is None
    assert await read_json_optional(request_with(b'{"uid": "a"}'), Evse) == Evse(uid="a")
    with pytest.raises(InvalidParameters, match="uid: Field required"):
        await read_json_optional(request_with(b"{}"), Evse)


def test_correlation_headers_echo_the_callers_ids():
    request = request_with(headers={"X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"})
    assert correlation_headers(request) == {"X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"}


def test_correlation_headers_make_missing_or_unsafe_ids_once_per_request():
    request = request_with(headers={"X-Correlation-ID": "bad id\u00e9" + "x" * 200})
    first = correlation_headers(request)
    assert uuid.UUID(first["X-Request-ID"]).version == 4
    assert uuid.UUID(first["X-Correlation-ID"]).version == 4
    assert correlation_headers(request) == first


# --- Exchange and the public surface ------------------------------------------------------


def test_body_text_cuts_long_bodies_to_the_limit_and_says_so():
    assert body_text(None) is None
    assert body_text(b"short") == "short"
    cut = body_text(b"x" * 20_000)
    assert cut is not None
    assert len(cut.encode()) <= 16 * 1024
    assert cut.endswith("more bytes]")
    # A multi-byte character split by the cut is dropped, not garbled.
    assert "\ufffd" not in (body_text("\u00e9" * 10_000) or "")


def test_exchange_is_a_frozen_record():
    exchange = Exchange(
        direction="out",
        method="GET",
        url="http://x/",
        http_status=200,
        status_code=1000,
        request_body=None,
        response_body="{}",
        duration_ms=1.5,
        error=None,
        request_id="r",
        correlation_id="c",
        created_at=BASE,
    )
    with pytest.raises(AttributeError):
        exchange.http_status = 500  # type: ignore[misc]


def test_the_transport_package_exports_exactly_its_public_names():
    public = sorted(
        name
        for name, value in vars(transport).items()
        if not name.startswith("_")
        and type(value).__name__ != "module"
        and type(value).__module__ != "__future__"
    )
    assert sorted(transport.__all__) == public
