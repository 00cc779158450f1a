"""CDRs module objects (spec ch. 10). CdrToken, AuthMethod and ChargingPeriod, shared with
the Session, are in ``sessions``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from voltlab.ocpi.models.base import CiString, CountryCode, DateTime, OcpiModel, PartyId, String
from voltlab.ocpi.models.common import GeoLocation, Price
from voltlab.ocpi.models.locations import ConnectorFormat, ConnectorType, PowerType
from voltlab.ocpi.models.sessions import AuthMethod, CdrToken, ChargingPeriod
from voltlab.ocpi.models.tariffs import Tariff


class CdrLocation(OcpiModel):
    """The parts of the Location, EVSE and Connector a CDR needs (10.4.4).

    For a reservation that never became a session, the EVSE and connector ids may be "#NA".
    """

    id: Annotated[str, CiString(36)]
    name: Annotated[str, String(255)] | None = None
    address: Annotated[str, String(45)]
    city: Annotated[str, String(45)]
    # Optional since 2.2.1 (required in 2.2), in line with Location.
    postal_code: Annotated[str, String(10)] | None = None
    state: Annotated[str, String(20)] | None = None
    country: Annotated[str, String(3)]
    coordinates: GeoLocation
    evse_uid: Annotated[str, CiString(36)]
    evse_id: Annotated[str, CiString(48)]
    connector_id: Annotated[str, CiString(36)]
    connector_standard: ConnectorType
    connector_format: ConnectorFormat
    connector_power_type: PowerType


class SignedValue(OcpiModel):
    """One signed meter value with its plain data (10.4.8)."""

    # "Start", "End" or "Intermediate" at the time of writing; more may follow.
    nature: Annotated[str, CiString(32)]
    plain_data: Annotated[str, String(512)]
    # 5000 since 2.2.1 (512 in 2.2).
    signed_data: Annotated[str, String(5000)]


class SignedData(OcpiModel):
    """Signed meter data of a session, e.g. for German Eichrecht (10.4.7)."""

    encoding_method: Annotated[str, CiString(36)]
    encoding_method_version: int | None = None
    public_key: Annotated[str, String(512)] | None = None
    signed_values: Annotated[list[SignedValue], Field(min_length=1)]
    url: Annotated[str, String(512)] | None = None


class CDR(OcpiModel):
    """Charge Detail Record: the sealed, billable account of a session (10.3.1)."""

    country_code: CountryCode
    party_id: PartyId
    # 39, not 36: room to append a suffix to the original id for a Credit CDR.
    id: Annotated[str, CiString(39)]
    start_date_time: DateTime
    end_date_time: DateTime
    session_id: Annotated[str, CiString(36)] | None = None
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: Annotated[str, CiString(36)] | None = None
    cdr_location: CdrLocation
    meter_id: Annotated[str, String(255)] | None = None
    currency: Annotated[str, String(3)]
    tariffs: list[Tariff] | None = None
    charging_periods: Annotated[list[ChargingPeriod], Field(min_length=1)]
    signed_data: SignedData | None = None
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy: float
    total_energy_cost: Price | None = None
    total_time: float
    total_time_cost: Price | None = None
    total_parking_time: float | None = None
    total_parking_cost: Price | None = None
    total_reservation_cost: Price | None = None
    remark: Annotated[str, String(255)] | None = None
    invoice_reference_id: Annotated[str, CiString(39)] | None = None
    credit: bool | None = None
    credit_reference_id: Annotated[str, CiString(39)] | None = None
    home_charging_compensation: bool | None = None
    last_updated: DateTime
