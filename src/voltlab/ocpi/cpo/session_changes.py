"""What a transaction does to its stored OCPI Session: ``open_session`` stores a new one,
``advance`` applies a meter update (closing charging periods, pricing the session so far)
and, at the end, completes it and stores its CDR. Each runs in one database transaction
and returns what the eMSP is to be sent."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from voltlab.ids import new_id, utcnow
from voltlab.ocpi.cpo.grants import Grant
from voltlab.ocpi.cpo.session_cdrs import cdr_for, cdr_token
from voltlab.ocpi.cpo.session_periods import (
    charging_period,
    closed_periods,
    last_closed,
    price,
    total_cost,
)
from voltlab.ocpi.cpo.session_site import Site
from voltlab.ocpi.cpo.session_time import ocpi_datetime, parse_datetime, whole_second
from voltlab.ocpi.models import Session, SessionPatch, dump
from voltlab.storage.ocpi import OcpiCdr, OcpiSession

if TYPE_CHECKING:
    from voltlab.csms.state import CsmsTransaction
    from voltlab.services import Services

log = logging.getLogger(__name__)

# 9.3.1: a period every minute is too much for a 3 h AC session, one per 30 min too little
# for a 30 min DC one; five minutes gives both a useful progress view.
PERIOD_S = 300


def _kwh(tx: CsmsTransaction) -> float:
    return round(tx.energy_wh / 1000, 6)


async def open_session(
    services: Services, site: Site, tx: CsmsTransaction, grant: Grant | None
) -> dict[str, Any] | None:
    """Store a new Session for ``tx``; its OCPI JSON (None when it would be invalid)."""
    bundle = site.bundle
    n = site.evse_n(tx)
    refused = grant is not None and not grant.accepted
    now = whole_second(utcnow())
    start = whole_second(tx.started_at)
    data: dict[str, Any] = {
        "country_code": bundle.country_code,
        "party_id": bundle.party_id,
        "id": new_id(),
        "start_date_time": ocpi_datetime(start),
        "kwh": 0.0,
        "cdr_token": cdr_token(bundle, grant, tx),
        "auth_method": grant.auth_method if grant is not None else "WHITELIST",
        "location_id": site.location.id,
        "evse_uid": site.evse_uid(n),
        "connector_id": "1",  # one connector per EVSE (projection)
        "currency": site.currency,
        # The cost of an empty session so far (a start fee, when the tariff has one).
        "total_cost": total_cost(price(site, start, start, 0.0, [])),
        # 9.4.3 INVALID: "will not be billed": the tag was refused, the charger stops.
        "status": "INVALID" if refused else "ACTIVE",
        "last_updated": ocpi_datetime(now),
    }
    if grant is not None and grant.authorization_reference:
        data["authorization_reference"] = grant.authorization_reference
    valid = _valid_session(data)
    if valid is None:
        return None
    async with services.sessions.begin() as db:
        db.add(
            OcpiSession(
                org_id=bundle.org_id,
                bundle_id=bundle.id,
                country_code=bundle.country_code,
                party_id=bundle.party_id,
                session_id=valid["id"],
                status=valid["status"],
                authorization_reference=valid.get("authorization_reference"),
                charger_id=site.charger.id,
                transaction_id=tx.transaction_id,
                data=valid,
                last_updated=now,
            )
        )
    return valid


def _valid_session(data: dict[str, Any]) -> dict[str, Any] | None:
    """``data`` as the Session model writes it; None (logged) when it is not a valid
    Session: voltlab never stores or sends one."""
    try:
        return dump(Session.model_validate(data))
    except ValidationError as exc:
        log.error("refusing to send an invalid OCPI Session %s: %s", data.get("id"), exc)
        return None


@dataclass(frozen=True, slots=True)
class Change:
    data: dict[str, Any]  # the whole Session after the change
    patch: dict[str, Any]  # what changed, with last_updated (the PATCH body)
    cdr: dict[str, Any] | None = None


async def advance(
    services: Services, site: Site, row_id: int, tx: CsmsTransaction, *, final: bool
) -> Change | None:
    """Apply ``tx``'s meter to the session (and end it when ``final``), in one database
    transaction with the CDR."""
    async with services.sessions.begin() as db:
        row = await db.get(OcpiSession, row_id)
        if row is None or row.status != "ACTIVE":
            return None
        before = dict(row.data)
        start = parse_datetime(before["start_date_time"])
        closed_until, closed_kwh = last_closed(before)
        # A lost or reordered meter value never makes the session's energy go down.
        kwh = max(float(before.get("kwh") or 0.0), _kwh(tx), closed_kwh)
        at = whole_second(tx.stopped_at if final else tx.updated_at)
        at = max(at, closed_until)
        periods = list(before.get("charging_periods") or [])
        added: list[dict[str, Any]] = []
        if final or (at - closed_until).total_seconds() >= PERIOD_S:
            added = closed_periods(site, start, closed_until, at, closed_kwh, kwh, tx.power_w)
            if final and not periods and not added:
                # 10.3.1: a CDR has at least one period, even for an empty session.
                added = [charging_period(site, start, 0.0, 0.0, None)]
        periods += added
        # Cost so far: the closed periods plus the open stretch (not sent until closed).
        priced_periods = list(periods)
        if not added and at > closed_until:
            priced_periods += closed_periods(
                site, start, closed_until, at, closed_kwh, kwh, tx.power_w
            )
        priced = price(site, start, at, kwh, priced_periods)
        now = whole_second(utcnow())
        after = {**before, "kwh": kwh, "last_updated": ocpi_datetime(now)}
        after["total_cost"] = total_cost(priced)
        if periods:
            after["charging_periods"] = periods
        if final:
            after["status"] = "COMPLETED"
            after["end_date_time"] = ocpi_datetime(at)
        valid = _valid_session(after)
        if valid is None:
            return None
        patch = {k: v for k, v in valid.items() if k != "charging_periods" and before.get(k) != v}
        if added:
            patch["charging_periods"] = valid["charging_periods"][-len(added) :]
        patch["last_updated"] = valid["last_updated"]
        patch = dump(SessionPatch.model_validate(patch))
        cdr = cdr_for(site, valid, tx, now) if final else None
        row.data = valid
        row.status = valid["status"]
        row.authorization_reference = valid.get("authorization_reference")
        row.last_updated = now
        if cdr is not None:
            db.add(
                OcpiCdr(
                    org_id=site.bundle.org_id,
                    bundle_id=site.bundle.id,
                    country_code=site.bundle.country_code,
                    party_id=site.bundle.party_id,
                    cdr_id=cdr["id"],
                    authorization_reference=cdr.get("authorization_reference"),
                    data=cdr,
                    last_updated=now,
                )
            )
    return Change(valid, patch, cdr)
