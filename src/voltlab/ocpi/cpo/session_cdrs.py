"""The CDR of a completed OCPI session (10.3.1), with its CdrToken (10.4.5), its
CdrLocation (10.4.4) and its pricing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from voltlab.ids import new_id
from voltlab.ocpi.cpo.decision import token_type_to_ocpi
from voltlab.ocpi.cpo.grants import Grant
from voltlab.ocpi.cpo.session_periods import FREE, cdr_period, price
from voltlab.ocpi.cpo.session_site import Site
from voltlab.ocpi.cpo.session_time import ocpi_datetime, parse_datetime
from voltlab.ocpi.models import CDR, dump
from voltlab.ocpi.templates import OCPI_STANDARD, connector_details
from voltlab.storage.ocpi import OcpiBundle

if TYPE_CHECKING:
    from voltlab.csms.state import CsmsTransaction

log = logging.getLogger(__name__)


def cdr_token(bundle: OcpiBundle, grant: Grant | None, tx: CsmsTransaction) -> dict[str, Any]:
    """10.4.5 CdrToken: the token's eMSP party (the CPO's own for an unknown token, which
    no eMSP owns) and its contract_id (the uid when the token is unknown)."""
    token = grant.token if grant is not None else {}
    uid = str(token.get("uid") or tx.id_tag or "#NA")
    party = grant.emsp if grant is not None and grant.emsp and all(grant.emsp) else None
    if party is None and token.get("country_code") and token.get("party_id"):
        party = (str(token["country_code"]), str(token["party_id"]))
    if party is None:
        party = (bundle.country_code, bundle.party_id)
    try:
        fallback_type = token_type_to_ocpi(tx.id_token_type)
    except ValueError:
        fallback_type = "OTHER"
    return {
        "country_code": party[0].upper(),
        "party_id": party[1].upper(),
        "uid": uid,
        "type": str(token.get("type") or fallback_type),
        "contract_id": str(token.get("contract_id") or uid),
    }


def _cdr_location(site: Site, session: Mapping[str, Any], tx: CsmsTransaction) -> dict[str, Any]:
    """10.4.4 CdrLocation: the location's fields, the EVSE and its one connector. Text is
    cut to the CdrLocation's lengths (a user may name a location longer than OCPI allows)."""
    data = site.location.data
    n = site.evse_n(tx)
    details = connector_details(site.charger.connector_type, site.current_type, site.max_power_w)
    out: dict[str, Any] = {
        "id": site.location.id,
        "name": _cut(data.get("name"), 255),
        "address": _cut(data.get("address"), 45) or "#NA",
        "city": _cut(data.get("city"), 45) or "#NA",
        "postal_code": _cut(data.get("postal_code"), 10),
        "state": _cut(data.get("state"), 20),
        "country": data.get("country"),
        "coordinates": data.get("coordinates"),
        "evse_uid": session["evse_uid"],
        "evse_id": site.evse_id(n),
        "connector_id": session["connector_id"],
        "connector_standard": OCPI_STANDARD.get(site.charger.connector_type, "IEC_62196_T2"),
        "connector_format": details["connector_format"],
        "connector_power_type": details["power_type"],
    }
    return {k: v for k, v in out.items() if v is not None}


def _cut(value: Any, length: int) -> str | None:
    return str(value)[:length] if value else None


def cdr_for(
    site: Site, session: Mapping[str, Any], tx: CsmsTransaction, now: datetime
) -> dict[str, Any] | None:
    """The CDR of a COMPLETED session, priced with the location's tariff (None, logged,
    when it would not be a valid CDR)."""
    start = parse_datetime(session["start_date_time"])
    end = parse_datetime(session["end_date_time"])
    kwh = float(session["kwh"])
    periods = [cdr_period(p) for p in session.get("charging_periods") or []]
    priced = price(site, start, end, kwh, periods)
    cdr: dict[str, Any] = {
        "country_code": session["country_code"],
        "party_id": session["party_id"],
        # 10.3.1: a non-credit CDR id has at most 36 characters (39 leaves room for "-C").
        "id": new_id(),
        "start_date_time": session["start_date_time"],
        "end_date_time": session["end_date_time"],
        "session_id": session["id"],
        "cdr_token": session["cdr_token"],
        "auth_method": session["auth_method"],
        "cdr_location": _cdr_location(site, session, tx),
        "currency": session["currency"],
        "charging_periods": periods,
        "total_cost": dict(FREE),
        "total_energy": kwh,
        "total_time": round((end - start).total_seconds() / 3600, 6),
        "last_updated": ocpi_datetime(now),
    }
    if session.get("authorization_reference"):
        cdr["authorization_reference"] = session["authorization_reference"]
    if priced is not None and site.tariff is not None:
        fields = priced.cdr_fields()
        cdr.update(fields)
        cdr["charging_periods"] = [cdr_period(p) for p in fields["charging_periods"]]
        cdr["total_energy"] = kwh
        cdr["tariffs"] = [site.tariff]
    try:
        return dump(CDR.model_validate(cdr))
    except ValidationError as exc:
        log.error("refusing to send an invalid OCPI CDR for session %s: %s", session["id"], exc)
        return None
