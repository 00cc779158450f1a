"""The OCPI 2.2.1 models read the specification's own examples and write them back unchanged,
and refuse what the specification does not allow.

The JSON examples are copied from the OCPI 2.2.1 specification (sections noted per example).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import voltlab.ocpi.models as models
from voltlab.ocpi.models import (
    CDR,
    AuthorizationInfo,
    CommandResponse,
    CommandResponseType,
    CommandResult,
    Connector,
    Credentials,
    Endpoint,
    Location,
    ModuleID,
    Session,
    SessionPatch,
    StartSession,
    Tariff,
    Token,
    TokenPatch,
    TokenType,
    VersionDetails,
    dump,
)

# 8.3.1.1 Example public charging location (two EVSEs).
LOCATION: dict[str, Any] = {
    "country_code": "BE",
    "party_id": "BEC",
    "id": "LOC1",
    "publish": True,
    "name": "Gent Zuid",
    "address": "F.Rooseveltlaan 3A",
    "city": "Gent",
    "postal_code": "9000",
    "country": "BEL",
    "coordinates": {"latitude": "51.047599", "longitude": "3.729944"},
    "parking_type": "ON_STREET",
    "evses": [
        {
            "uid": "3256",
            "evse_id": "BE*BEC*E041503001",
            "status": "AVAILABLE",
            "capabilities": ["RESERVABLE"],
            "connectors": [
                {
                    "id": "1",
                    "standard": "IEC_62196_T2",
                    "format": "CABLE",
                    "power_type": "AC_3_PHASE",
                    "max_voltage": 220,
                    "max_amperage": 16,
                    "tariff_ids": ["11"],
                    "last_updated": "2015-03-16T10:10:02Z",
                },
                {
                    "id": "2",
                    "standard": "IEC_62196_T2",
                    "format": "SOCKET",
                    "power_type": "AC_3_PHASE",
                    "max_voltage": 220,
                    "max_amperage": 16,
                    "tariff_ids": ["13"],
                    "last_updated": "2015-03-18T08:12:01Z",
                },
            ],
            "physical_reference": "1",
            "floor_level": "-1",
            "last_updated": "2015-06-28T08:12:01Z",
        },
        {
            "uid": "3257",
            "evse_id": "BE*BEC*E041503002",
            "status": "RESERVED",
            "capabilities": ["RESERVABLE"],
            "connectors": [
                {
                    "id": "1",
                    "standard": "IEC_62196_T2",
                    "format": "SOCKET",
                    "power_type": "AC_3_PHASE",
                    "max_voltage": 220,
                    "max_amperage": 16,
                    "tariff_ids": ["12"],
                    "last_updated": "2015-06-29T20:39:09Z",
                }
            ],
            "physical_reference": "2",
            "floor_level": "-2",
            "last_updated": "2015-06-29T20:39:09Z",
        },
    ],
    "operator": {"name": "BeCharged"},
    "time_zone": "Europe/Brussels",
    "last_updated": "2015-06-29T20:39:09Z",
}

# 8.3.1.4 Example charging location with limited visibility.
LOCATION_LIMITED_VISIBILITY: dict[str, Any] = {
    "country_code": "NL",
    "party_id": "ALL",
    "id": "f76c2e0c-a6ef-4f67-bf23-6a187e5ca0e0",
    "publish": False,
    "publish_allowed_to": [
        {"visual_number": "12345-67", "issuer": "NewMotion"},
        {"visual_number": "0055375624", "issuer": "ANWB"},
        {"uid": "12345678905880", "type": "RFID"},
    ],
    "name": "Water State",
    "address": "Taco van der Veenplein 12",
    "city": "Leeuwarden",
    "postal_code": "8923 EM",
    "country": "NLD",
    "coordinates": {"latitude": "53.213763", "longitude": "5.804638"},
    "parking_type": "UNDERGROUND_GARAGE",
    "evses": [
        {
            "uid": "8c1b3487-61ac-40a7-a367-21eee99dbd90",
            "evse_id": "NL*ALL*EGO0000013",
            "status": "AVAILABLE",
            "connectors": [
                {
                    "id": "1",
                    "standard": "IEC_62196_T2",
                    "format": "SOCKET",
                    "power_type": "AC_3_PHASE",
                    "max_voltage": 230,
                    "max_amperage": 16,
                    "last_updated": "2019-09-27T00:19:45Z",
                }
            ],
            "last_updated": "2019-09-27T00:19:45Z",
        }
    ],
    "time_zone": "Europe/Amsterdam",
    "last_updated": "2019-09-27T00:19:45Z",
}

# 8.3.1.6 Example charge point in a parking garage with opening hours, plus the complete
# energy mix of 8.4.6.1.
LOCATION_WITH_OPENING_HOURS: dict[str, Any] = {
    "country_code": "SE",
    "party_id": "EVC",
    "id": "cbb0df21-d17d-40ba-a4aa-dc588c8f98cb",
    "publish": True,
    "name": "P-Huset Leonard",
    "address": "Claesgatan 6",
    "city": "Malmö",
    "postal_code": "214 26",
    "country": "SWE",
    "coordinates": {"latitude": "55.590325", "longitude": "13.008307"},
    "parking_type": "PARKING_GARAGE",
    "evses": [
        {
            "uid": "eccb8dd9-4189-433e-b100-cc0945dd17dc",
            "evse_id": "SE*EVC*E000000123",
            "status": "AVAILABLE",
            "connectors": [
                {
                    "id": "1",
                    "standard": "IEC_62196_T2",
                    "format": "SOCKET",
                    "power_type": "AC_3_PHASE",
                    "max_voltage": 230,
                    "max_amperage": 32,
                    "last_updated": "2017-03-07T02:21:22Z",
                }
            ],
            "last_updated": "2017-03-07T02:21:22Z",
        }
    ],
    "time_zone": "Europe/Stockholm",
    "opening_times": {
        "twentyfourseven": False,
        "regular_hours": [
            {"weekday": day, "period_begin": "07:00", "period_end": "18:00"} for day in range(1, 8)
        ],
        "exceptional_closings": [
            {"period_begin": "2018-12-25T03:00:00Z", "period_end": "2018-12-25T05:00:00Z"}
        ],
    },
    "charging_when_closed": True,
    "energy_mix": {
        "is_green_energy": False,
        "energy_sources": [
            {"source": "GENERAL_GREEN", "percentage": 35.9},
            {"source": "GAS", "percentage": 6.3},
            {"source": "COAL", "percentage": 33.2},
            {"source": "GENERAL_FOSSIL", "percentage": 2.9},
            {"source": "NUCLEAR", "percentage": 21.7},
        ],
        "environ_impact": [
            {"category": "NUCLEAR_WASTE", "amount": 0.0006},
            {"category": "CARBON_DIOXIDE", "amount": 372},
        ],
        "supplier_name": "E.ON Energy Deutschland",
        "energy_product_name": "E.ON DirektStrom eco",
    },
    "last_updated": "2017-03-07T02:21:22Z",
}

# 12.3.2.1 Full RFID example.
TOKEN: dict[str, Any] = {
    "country_code": "DE",
    "party_id": "TNM",
    "uid": "12345678905880",
    "type": "RFID",
    "contract_id": "DE8ACC12E46L89",
    "visual_number": "DF000-2001-8999-1",
    "issuer": "TheNewMotion",
    "group_id": "DF000-2001-8999",
    "valid": True,
    "whitelist": "ALLOWED",
    "language": "it",
    "default_profile_type": "GREEN",
    "energy_contract": {"supplier_name": "Greenpeace Energy eG", "contract_id": "0123456789"},
    "last_updated": "2018-12-10T17:25:10Z",
}

# 12.3.2.1 Simple APP_USER example.
TOKEN_APP_USER: dict[str, Any] = {
    "country_code": "DE",
    "party_id": "TNM",
    "uid": "bdf21bce-fc97-11e8-8eb2-f2801f1b9fd1",
    "type": "APP_USER",
    "contract_id": "DE8ACC12E46L89",
    "issuer": "TheNewMotion",
    "valid": True,
    "whitelist": "ALLOWED",
    "last_updated": "2018-12-10T17:16:15Z",
}

# The spec has no AuthorizationInfo example; this one wraps its APP_USER Token (12.3.1).
AUTHORIZATION_INFO: dict[str, Any] = {
    "allowed": "ALLOWED",
    "token": TOKEN_APP_USER,
    "location": {"location_id": "LOC1", "evse_uids": ["3256", "3257"]},
    "authorization_reference": "ea6c1f4e-0bb2-4a80-8c3b-2e0d9e7f3c11",
    "info": {"language": "en", "text": "Enjoy your charge"},
}

# 9.3.1.1 Simple Session example of a short finished session.
SESSION: dict[str, Any] = {
    "country_code": "BE",
    "party_id": "BEC",
    "id": "101",
    "start_date_time": "2015-06-29T22:39:09Z",
    "end_date_time": "2015-06-29T23:50:16Z",
    "kwh": 41.12,
    "cdr_token": {
        "country_code": "NL",
        "party_id": "TST",
        "uid": "123abc",
        "type": "RFID",
        "contract_id": "NL-TST-C12345678-S",
    },
    "auth_method": "WHITELIST",
    "location_id": "LOC1",
    "evse_uid": "3256",
    "connector_id": "1",
    "currency": "EUR",
    "charging_periods": [
        {
            "start_date_time": "2015-06-29T22:39:09Z",
            "dimensions": [
                {"type": "ENERGY", "volume": 120},
                {"type": "MAX_CURRENT", "volume": 30},
            ],
        },
        {
            "start_date_time": "2015-06-29T22:40:54Z",
            "dimensions": [
                {"type": "ENERGY", "volume": 41000},
                {"type": "MIN_CURRENT", "volume": 34},
            ],
        },
        {
            "start_date_time": "2015-06-29T23:07:09Z",
            "dimensions": [{"type": "PARKING_TIME", "volume": 0.718}],
            "tariff_id": "12",
        },
    ],
    "total_cost": {"excl_vat": 8.50, "incl_vat": 9.35},
    "status": "COMPLETED",
    "last_updated": "2015-06-29T23:50:17Z",
}

# 9.2.2.3 Example: adding a new ChargingPeriod (a PATCH body).
SESSION_PATCH: dict[str, Any] = {
    "kwh": 15.00,
    "charging_periods": [
        {
            "start_date_time": "2019-06-23T08:16:02Z",
            "dimensions": [{"type": "ENERGY", "volume": 2200}],
        }
    ],
    "total_cost": {"excl_vat": 0.80, "incl_vat": 0.88},
    "last_updated": "2019-06-23T08:16:02Z",
}

# 10.3.1.1 Example of a CDR.
CDR_EXAMPLE: dict[str, Any] = {
    "country_code": "BE",
    "party_id": "BEC",
    "id": "12345",
    "start_date_time": "2015-06-29T21:39:09Z",
    "end_date_time": "2015-06-29T23:37:32Z",
    "cdr_token": {
        "country_code": "DE",
        "party_id": "TNM",
        "uid": "012345678",
        "type": "RFID",
        "contract_id": "DE8ACC12E46L89",
    },
    "auth_method": "WHITELIST",
    "cdr_location": {
        "id": "LOC1",
        "name": "Gent Zuid",
        "address": "F.Rooseveltlaan 3A",
        "city": "Gent",
        "postal_code": "9000",
        "country": "BEL",
        "coordinates": {"latitude": "3.729944", "longitude": "51.047599"},
        "evse_uid": "3256",
        "evse_id": "BE*BEC*E041503003",
        "connector_id": "1",
        "connector_standard": "IEC_62196_T2",
        "connector_format": "SOCKET",
        "connector_power_type": "AC_1_PHASE",
    },
    "currency": "EUR",
    "tariffs": [
        {
            "country_code": "BE",
            "party_id": "BEC",
            "id": "12",
            "currency": "EUR",
            "elements": [
                {
                    "price_components": [
                        {"type": "TIME", "price": 2.00, "vat": 10.0, "step_size": 300}
                    ]
                }
            ],
            "last_updated": "2015-02-02T14:15:01Z",
        }
    ],
    "charging_periods": [
        {
            "start_date_time": "2015-06-29T21:39:09Z",
            "dimensions": [{"type": "TIME", "volume": 1.973}],
            "tariff_id": "12",
        }
    ],
    "total_cost": {"excl_vat": 4.00, "incl_vat": 4.40},
    "total_energy": 15.342,
    "total_time": 1.973,
    "total_time_cost": {"excl_vat": 4.00, "incl_vat": 4.40},
    "last_updated": "2015-06-29T22:01:13Z",
}

# 11.3.1.1 Tariff example with reservation time and expire time.
TARIFF_RESERVATION: dict[str, Any] = {
    "country_code": "DE",
    "party_id": "ALL",
    "id": "20",
    "currency": "EUR",
    "elements": [
        {
            "price_components": [{"type": "TIME", "price": 6.00, "vat": 20.0, "step_size": 600}],
            "restrictions": {"reservation": "RESERVATION_EXPIRES"},
        },
        {
            "price_components": [{"type": "TIME", "price": 3.00, "vat": 20.0, "step_size": 600}],
            "restrictions": {"reservation": "RESERVATION"},
        },
        {
            "price_components": [
                {"type": "FLAT", "price": 0.50, "vat": 20.0, "step_size": 1},
                {"type": "ENERGY", "price": 0.25, "vat": 10.0, "step_size": 1},
            ]
        },
    ],
    "last_updated": "2019-02-03T17:00:11Z",
}

# 11.4.2.1 Example Tariff (time-of-day restrictions, no VAT given).
TARIFF_TIME_OF_DAY: dict[str, Any] = {
    "country_code": "DE",
    "party_id": "ALL",
    "id": "22",
    "currency": "EUR",
    "elements": [
        {
            "price_components": [
                {"type": "TIME", "price": 1.20, "step_size": 1800},
                {"type": "PARKING_TIME", "price": 1.00, "step_size": 900},
            ],
            "restrictions": {"start_time": "00:00", "end_time": "17:00"},
        },
        {
            "price_components": [
                {"type": "TIME", "price": 2.40, "step_size": 900},
                {"type": "PARKING_TIME", "price": 1.00, "step_size": 900},
            ],
            "restrictions": {"start_time": "17:00", "end_time": "20:00"},
        },
        {
            "price_components": [{"type": "TIME", "price": 2.40, "step_size": 900}],
            "restrictions": {"start_time": "20:00", "end_time": "00:00"},
        },
    ],
    "last_updated": "2018-12-18T17:07:11Z",
}

# 11.4.6.1 Example: Tariff with max_power Tariff Restrictions (has a type).
TARIFF_MAX_POWER: dict[str, Any] = {
    "country_code": "DE",
    "party_id": "ALL",
    "id": "1",
    "currency": "EUR",
    "type": "REGULAR",
    "elements": [
        {
            "price_components": [{"type": "ENERGY", "price": 0.20, "vat": 20.0, "step_size": 1}],
            "restrictions": {"max_power": 16.00},
        },
        {
            "price_components": [{"type": "ENERGY", "price": 0.35, "vat": 20.0, "step_size": 1}],
            "restrictions": {"max_power": 32.00},
        },
        {"price_components": [{"type": "ENERGY", "price": 0.50, "vat": 20.0, "step_size": 1}]},
    ],
    "last_updated": "2018-12-05T12:01:09Z",
}

# 7.3.2 Example of a CPO credentials object with full business details.
CREDENTIALS: dict[str, Any] = {
    "token": "9e80ae10-28be-11e9-b210-d663bd873d93",
    "url": "https://example.com/ocpi/versions",
    "roles": [
        {
            "role": "CPO",
            "party_id": "EXA",
            "country_code": "NL",
            "business_details": {
                "name": "Example Operator",
                "logo": {
                    "url": "https://example.com/img/logo.jpg",
                    "thumbnail": "https://example.com/img/logo_thumb.jpg",
                    "category": "OPERATOR",
                    "type": "jpeg",
                    "width": 512,
                    "height": 512,
                },
                "website": "http://example.com",
            },
        }
    ],
}

# 6.2.6.1 Simple version details example: party with both CPO and eMSP.
VERSION_DETAILS: dict[str, Any] = {
    "version": "2.2",
    "endpoints": [
        {
            "identifier": "credentials",
            "role": "RECEIVER",
            "url": "https://example.com/ocpi/2.2/credentials",
        },
        {
            "identifier": "locations",
            "role": "SENDER",
            "url": "https://example.com/ocpi/cpo/2.2/locations",
        },
        {
            "identifier": "tokens",
            "role": "RECEIVER",
            "url": "https://example.com/ocpi/cpo/2.2/tokens",
        },
        {
            "identifier": "locations",
            "role": "RECEIVER",
            "url": "https://example.com/ocpi/msp/2.2/locations",
        },
        {
            "identifier": "tokens",
            "role": "SENDER",
            "url": "https://example.com/ocpi/msp/2.2/tokens",
        },
    ],
}

# The spec has no CommandResponse example; fields per 13.3.2.
COMMAND_RESPONSE: dict[str, Any] = {
    "result": "REJECTED",
    "timeout": 30,
    "message": [
        {"language": "en", "text": "Session belongs to another eMSP"},
        {"language": "nl", "text": "Sessie hoort bij een andere eMSP"},
    ],
}

SPEC_EXAMPLES = [
    pytest.param(Location, LOCATION, id="location-with-evses"),
    pytest.param(Location, LOCATION_LIMITED_VISIBILITY, id="location-publish-allowed-to"),
    pytest.param(Location, LOCATION_WITH_OPENING_HOURS, id="location-opening-hours-energy-mix"),
    pytest.param(Token, TOKEN, id="token-full-rfid"),
    pytest.param(Token, TOKEN_APP_USER, id="token-app-user"),
    pytest.param(AuthorizationInfo, AUTHORIZATION_INFO, id="authorization-info"),
    pytest.param(Session, SESSION, id="session-finished"),
    pytest.param(SessionPatch, SESSION_PATCH, id="session-patch"),
    pytest.param(CDR, CDR_EXAMPLE, id="cdr"),
    pytest.param(Tariff, TARIFF_RESERVATION, id="tariff-reservation"),
    pytest.param(Tariff, TARIFF_TIME_OF_DAY, id="tariff-time-of-day"),
    pytest.param(Tariff, TARIFF_MAX_POWER, id="tariff-max-power"),
    pytest.param(Credentials, CREDENTIALS, id="credentials"),
    pytest.param(VersionDetails, VERSION_DETAILS, id="version-details"),
    pytest.param(CommandResponse, COMMAND_RESPONSE, id="command-response"),
]


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[Any, ...], str]]:
    return [(error["loc"], error["type"]) for error in exc.value.errors()]


# --- Round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "example"), SPEC_EXAMPLES)
def test_a_spec_example_reads_and_dumps_back_unchanged(model: type[BaseModel], example: dict):
    assert dump(model.model_validate(example)) == example


@pytest.mark.parametrize(("model", "example"), SPEC_EXAMPLES)
def test_a_spec_example_read_from_json_text_dumps_back_unchanged(
    model: type[BaseModel], example: dict
):
    text = model.model_validate(example).model_dump_json(exclude_none=True)
    assert dump(model.model_validate_json(text)) == example


def test_the_spec_example_is_read_into_typed_values():
    location = Location.model_validate(LOCATION)

    assert location.last_updated == datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC)
    assert location.evses is not None
    connector = location.evses[0].connectors[0]
    assert connector.standard == "IEC_62196_T2"
    assert connector.max_voltage == 220
    assert location.publish_allowed_to is None


def test_fields_the_spec_does_not_define_are_ignored_not_refused():
    later = {**TOKEN_APP_USER, "some_future_field": "x"}

    token = Token.model_validate(later)

    assert dump(token) == TOKEN_APP_USER


def test_dump_leaves_absent_optionals_out_instead_of_writing_null():
    assert dump(CommandResponse(result=CommandResponseType.ACCEPTED, timeout=30)) == {
        "result": "ACCEPTED",
        "timeout": 30,
    }


# --- DateTime -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "written"),
    [
        ("2015-06-29T20:39:09.123+00:00", "2015-06-29T20:39:09Z"),
        ("2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
        ("2015-06-29T20:39:09", "2015-06-29T20:39:09Z"),
        ("2016-12-29T17:45:09.2Z", "2016-12-29T17:45:09Z"),
        ("2016-12-29T17:45:09.2", "2016-12-29T17:45:09Z"),
        ("2018-01-01T01:08:01.123456789Z", "2018-01-01T01:08:01Z"),
        ("2018-01-01T03:08:01+02:00", "2018-01-01T01:08:01Z"),
    ],
)
def test_a_datetime_is_written_in_utc_to_the_second_with_z(wire: str, written: str):
    patch = TokenPatch.model_validate({"last_updated": wire})

    assert dump(patch) == {"last_updated": written}


def test_a_datetime_is_held_as_an_aware_utc_datetime():
    patch = TokenPatch.model_validate({"last_updated": "2015-06-29T22:39:09.5+02:00"})

    assert patch.last_updated == datetime(2015, 6, 29, 20, 39, 9, 500000, tzinfo=UTC)
    assert patch.last_updated.utcoffset() == timedelta(0)


def test_a_python_datetime_is_accepted_and_a_naive_one_taken_as_utc():
    aware = datetime(2020, 1, 1, 14, 0, 0, 999999, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2020, 1, 1, 12, 0, 0)

    assert dump(TokenPatch(last_updated=aware)) == {"last_updated": "2020-01-01T12:00:00Z"}
    assert dump(TokenPatch(last_updated=naive)) == {"last_updated": "2020-01-01T12:00:00Z"}


@pytest.mark.parametrize(
    "wire",
    [
        "2015-06-29",
        "2015-06-29 20:39:09",
        "20:39:09",
        "yesterday",
        "2015-13-29T20:39:09Z",
        1435610349,
    ],
)
def test_a_value_that_is_not_an_rfc_3339_datetime_is_refused(wire: object):
    with pytest.raises(ValidationError) as exc:
        TokenPatch.model_validate({"last_updated": wire})

    assert _errors(exc) == [(("last_updated",), "value_error")]


# --- Refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "example", "field"),
    [
        (Token, TOKEN, "contract_id"),
        (Token, TOKEN, "last_updated"),
        (Location, LOCATION, "time_zone"),
        (Session, SESSION, "cdr_token"),
        (CDR, CDR_EXAMPLE, "charging_periods"),
        (Tariff, TARIFF_MAX_POWER, "elements"),
        (Credentials, CREDENTIALS, "roles"),
        (CommandResponse, COMMAND_RESPONSE, "timeout"),
    ],
)
def test_a_missing_required_field_is_refused_by_name(
    model: type[BaseModel], example: dict, field: str
):
    data = {key: value for key, value in example.items() if key != field}

    with pytest.raises(ValidationError) as exc:
        model.model_validate(data)

    assert _errors(exc) == [((field,), "missing")]


def test_a_missing_field_deep_inside_is_refused_with_its_path():
    data = copy.deepcopy(LOCATION)
    del data["evses"][1]["connectors"][0]["power_type"]

    with pytest.raises(ValidationError) as exc:
        Location.model_validate(data)

    assert _errors(exc) == [(("evses", 1, "connectors", 0, "power_type"), "missing")]


@pytest.mark.parametrize(
    ("field", "value"),
    [("country_code", "DEU"), ("party_id", "TNMX"), ("uid", "x" * 37), ("issuer", "x" * 65)],
)
def test_a_value_longer_than_the_spec_allows_is_refused_by_name(field: str, value: str):
    with pytest.raises(ValidationError) as exc:
        Token.model_validate({**TOKEN, field: value})

    assert _errors(exc) == [((field,), "string_too_long")]


def test_an_id_at_exactly_the_spec_length_is_accepted():
    token = Token.model_validate({**TOKEN, "uid": "x" * 36})

    assert token.uid == "x" * 36


def test_a_cdr_id_may_be_39_characters_for_a_credit_cdr_but_not_40():
    assert CDR.model_validate({**CDR_EXAMPLE, "id": "x" * 39}).id == "x" * 39
    with pytest.raises(ValidationError) as exc:
        CDR.model_validate({**CDR_EXAMPLE, "id": "x" * 40})

    assert _errors(exc) == [(("id",), "string_too_long")]


def test_a_country_code_or_party_id_in_lower_case_is_stored_upper_case():
    token = Token.model_validate({**TOKEN, "country_code": "de", "party_id": "tnm"})

    assert (token.country_code, token.party_id) == ("DE", "TNM")


@pytest.mark.parametrize(("field", "value"), [("country_code", "D1"), ("party_id", "T-M")])
def test_a_country_code_or_party_id_with_other_characters_is_refused(field: str, value: str):
    with pytest.raises(ValidationError) as exc:
        Token.model_validate({**TOKEN, field: value})

    assert _errors(exc) == [((field,), "value_error")]


def test_a_cistring_with_non_ascii_characters_is_refused():
    with pytest.raises(ValidationError) as exc:
        Token.model_validate({**TOKEN, "uid": "caf\u00e9"})

    assert _errors(exc) == [(("uid",), "value_error")]


def test_a_string_with_a_line_break_is_refused():
    with pytest.raises(ValidationError) as exc:
        Token.model_validate({**TOKEN, "issuer": "The\nNewMotion"})

    assert _errors(exc) == [(("issuer",), "value_error")]


@pytest.mark.parametrize(
    ("model", "example", "field", "value"),
    [
        (Token, TOKEN, "type", "NFC"),
        (Token, TOKEN, "whitelist", "SOMETIMES"),
        (Token, TOKEN, "type", "rfid"),
        (Session, SESSION, "status", "FINISHED"),
        (Tariff, TARIFF_MAX_POWER, "type", "PROFILE_SLOW"),
        (CommandResponse, COMMAND_RESPONSE, "result", "TIMEOUT"),
        (VersionDetails, VERSION_DETAILS, "version", "2.3.0"),
    ],
)
def test_a_value_outside_a_spec_enum_is_refused_by_name(
    model: type[BaseModel], example: dict, field: str, value: str
):
    with pytest.raises(ValidationError) as exc:
        model.model_validate({**example, field: value})

    assert _errors(exc) == [((field,), "enum")]


def test_an_unknown_connector_standard_is_refused_where_it_sits():
    data = copy.deepcopy(LOCATION)
    data["evses"][0]["connectors"][1]["standard"] = "TYPE_2"

    with pytest.raises(ValidationError) as exc:
        Location.model_validate(data)

    assert _errors(exc) == [(("evses", 0, "connectors", 1, "standard"), "enum")]


def test_a_list_the_spec_marks_one_or_more_may_not_be_empty():
    data = copy.deepcopy(LOCATION)
    data["evses"][0]["connectors"] = []

    with pytest.raises(ValidationError) as exc:
        Location.model_validate(data)

    assert _errors(exc) == [(("evses", 0, "connectors"), "too_short")]


@pytest.mark.parametrize("latitude", ["51.0475", "51,047599", "151.047599", "51.04759912"])
def test_a_latitude_outside_the_spec_regex_is_refused(latitude: str):
    data = {**LOCATION, "coordinates": {"latitude": latitude, "longitude": "3.729944"}}

    with pytest.raises(ValidationError) as exc:
        Location.model_validate(data)

    assert [loc for loc, _ in _errors(exc)] == [("coordinates", "latitude")]


def test_a_regular_hours_time_must_be_hh_mm_in_24_hour_format():
    data = copy.deepcopy(LOCATION_WITH_OPENING_HOURS)
    data["opening_times"]["regular_hours"][0]["period_end"] = "24:00"

    with pytest.raises(ValidationError) as exc:
        Location.model_validate(data)

    assert _errors(exc) == [
        (("opening_times", "regular_hours", 0, "period_end"), "string_pattern_mismatch")
    ]


def test_a_credentials_token_with_whitespace_is_refused():
    with pytest.raises(ValidationError) as exc:
        Credentials.model_validate({**CREDENTIALS, "token": "abc def"})

    assert _errors(exc) == [(("token",), "string_pattern_mismatch")]


# --- Patches --------------------------------------------------------------------------------


@pytest.mark.parametrize("patch_model", [TokenPatch, SessionPatch])
def test_a_patch_without_last_updated_is_refused(patch_model: type[BaseModel]):
    with pytest.raises(ValidationError) as exc:
        patch_model.model_validate({"valid": False, "kwh": 1.0})

    assert _errors(exc) == [(("last_updated",), "missing")]


def test_a_token_patch_needs_nothing_but_last_updated_and_dumps_only_what_it_got():
    body = {"valid": False, "last_updated": "2019-06-19T08:39:09Z"}

    patch = TokenPatch.model_validate(body)

    assert dump(patch) == body


def test_a_token_patch_still_checks_the_fields_it_carries():
    with pytest.raises(ValidationError) as exc:
        TokenPatch.model_validate(
            {"whitelist": "SOMETIMES", "last_updated": "2019-06-19T08:39:09Z"}
        )

    assert _errors(exc) == [(("whitelist",), "enum")]


# --- Specifics ------------------------------------------------------------------------------


def test_a_custom_module_identifier_is_kept_as_the_spec_allows():
    endpoint = Endpoint.model_validate(
        {"identifier": "nltnm-tokens", "role": "SENDER", "url": "https://example.com/x"}
    )
    known = Endpoint.model_validate(
        {"identifier": "tokens", "role": "SENDER", "url": "https://example.com/y"}
    )

    assert endpoint.identifier == "nltnm-tokens"
    assert known.identifier is ModuleID.TOKENS
    assert dump(endpoint)["identifier"] == "nltnm-tokens"


def test_a_start_session_carries_a_full_token_object():
    command = StartSession.model_validate(
        {
            "response_url": "https://www.server.com/ocpi/emsp/2.2.1/commands/START_SESSION/1234",
            "token": TOKEN_APP_USER,
            "location_id": "LOC1",
            "evse_uid": "3256",
        }
    )

    assert command.token.type is TokenType.APP_USER
    assert dump(command)["token"] == TOKEN_APP_USER


def test_a_command_result_has_only_a_result_and_an_optional_message():
    assert dump(CommandResult.model_validate({"result": "EVSE_OCCUPIED"})) == {
        "result": "EVSE_OCCUPIED"
    }


def test_connector_ints_refuse_fractions():
    data = {**LOCATION["evses"][0]["connectors"][0], "max_voltage": 220.5}

    with pytest.raises(ValidationError) as exc:
        Connector.model_validate(data)

    assert [loc for loc, _ in _errors(exc)] == [("max_voltage",)]


def test_every_exported_model_is_fully_built():
    exported = [getattr(models, name) for name in models.__all__]
    pydantic_models = [m for m in exported if isinstance(m, type) and issubclass(m, BaseModel)]

    assert len(pydantic_models) > 40
    assert all(m.__pydantic_complete__ for m in pydantic_models)
