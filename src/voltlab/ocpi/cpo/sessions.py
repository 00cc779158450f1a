"""A CPO bundle's OCPI Sessions and CDRs, made from the OCPP transactions of its chargers.

The CPO's CSMS hooks call ``started``, ``updated`` and ``ended`` in order per charger, off
the OCPP receive loop. Each call updates the row in ``ocpi_sessions`` (the OCPI Session as
sent, plus the charger and transaction behind it) and then pushes the change to the
token's eMSP (OCPI 2.2.1 9.1.1): PUT the new Session, PATCH every change, and at the end
POST one CDR (10.1.2). A token whose eMSP is unknown or not connected gives a Session and
a CDR that are stored only. Pushes never raise: a failure is in the bundle's exchange log
and in the application log.

Charging periods (10.4.6: "a period ends when the next period starts") are appended only
once closed, because a PATCH appends them at the eMSP and only a PUT could take one back
(9.2.2.3). A period closes when a meter update comes ``PERIOD_S`` or more after the start
of the still open one, and at the end of the session; a closed stretch is split at every
instant where another PriceComponent of the tariff may become active (10.3.1), with the
energy interpolated linearly. Each period has ENERGY (kWh) and TIME (h), or PARKING_TIME
(h) when no energy flowed, and POWER (kW, the charger's sampled power) when known. The end
of the last closed period and the energy up to it follow from the stored periods, so
nothing but the OCPI object itself needs storing.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from sqlalchemy import select

from voltlab import catalog
from voltlab.ids import new_id, utcnow
from voltlab.ocpi.cpo.decision import token_type_to_ocpi
from voltlab.ocpi.cpo.grants import Grant
from voltlab.ocpi.cpo.tokens import lookup
from voltlab.ocpi.models import CDR, Session, SessionPatch, dump
from voltlab.ocpi.parties import connected_peers, endpoint, token_party
from voltlab.ocpi.pricing import Priced, price_session
from voltlab.ocpi.templates import OCPI_STANDARD, connector_details, evse_id_for, evse_uid_for
from voltlab.ocpi.transport import OcpiClientError
from voltlab.simulator.spec import connectors_for
from voltlab.storage.models import Charger
from voltlab.storage.ocpi import (
    OcpiAuthorization,
    OcpiBundle,
    OcpiCdr,
    OcpiLocation,
    OcpiPeer,
    OcpiSession,
)

if TYPE_CHECKING:
    from voltlab.csms.state import CsmsTransaction
    from voltlab.services import Services

__all__ = [
    "PERIOD_S",
    "SESSION_ONLY_DIMENSIONS",
    "ended",
    "started",
    "tariff_for",
    "updated",
]

log = logging.getLogger(__name__)

# 9.3.1: a period every minute is too much for a 3 h AC session, one per 30 min too little
# for a 30 min DC one; five minutes gives both a useful progress view.
PERIOD_S = 300

# An Authorize logged this long before the start still decided it (ocpi.md: one decision
# per start within 60 s; some slack for the 2.0.1 plug-in-first case).
RECOVER_WINDOW_S = 120

# 10.4.3: dimensions marked "Session Only"; a CDR leaves them out.
SESSION_ONLY_DIMENSIONS = frozenset(
    {"CURRENT", "ENERGY_EXPORT", "ENERGY_IMPORT", "POWER", "STATE_OF_CHARGE"}
)

WIRE_VERSION = {"OCPP1.6": "1.6", "OCPP2.0.1": "2.0.1"}
AUTH_METHOD_OF_PATH = {
    "cache": "WHITELIST",
    "fallback": "WHITELIST",
    "realtime": "AUTH_REQUEST",
    "command": "COMMAND",
}
DEFAULT_CURRENCY = "EUR"


# --------------------------------------------------------------------------- the hooks


async def started(
    services: Services,
    bundle_id: int,
    charger_id: str,
    tx: CsmsTransaction,
    grant: Grant | None,
) -> None:
    """A transaction started: a new Session (ACTIVE, or INVALID for a refused tag), PUT."""
    try:
        site = await _site(services, bundle_id, charger_id)
        if site is None:
            return
        async with services.sessions() as db:
            existing = _match(await _rows(db, bundle_id, charger_id, tx), tx)
        if existing is not None:
            return  # already known (a 2.0.1 station resends Started after a CSMS restart)
        if grant is None:
            if not tx.id_tag:
                return  # no token yet (2.0.1 plug-in first): the first update with one opens it
            grant = await _recover_grant(services, site, tx)
        data = await _open(services, site, tx, grant)
        if data is not None and data["status"] == "ACTIVE":
            await _push_session(services, site.bundle, data, None)
    except Exception:
        # Called from a background task: a bug here must not stop the charger's next calls.
        log.exception("OCPI session start failed (bundle %s, charger %s)", bundle_id, charger_id)


async def updated(services: Services, bundle_id: int, charger_id: str, tx: CsmsTransaction) -> None:
    """New meter values: kwh, closed charging periods and the cost so far, PATCHed."""
    try:
        site = await _site(services, bundle_id, charger_id)
        if site is None:
            return
        row = await _current(services, site, tx)
        if row is None or row.status != "ACTIVE":
            return
        change = await _advance(services, site, row.id, tx, final=False)
        if change is not None:
            await _push_session(services, site.bundle, change.data, change.patch)
    except Exception:
        log.exception("OCPI session update failed (bundle %s, charger %s)", bundle_id, charger_id)


async def ended(services: Services, bundle_id: int, charger_id: str, tx: CsmsTransaction) -> None:
    """The transaction stopped: the Session COMPLETED (PATCH), then its CDR (POST)."""
    try:
        site = await _site(services, bundle_id, charger_id)
        if site is None:
            return
        row = await _current(services, site, tx)
        if row is None or row.status != "ACTIVE":
            return  # COMPLETED already (never ended twice) or INVALID (nothing to bill)
        change = await _advance(services, site, row.id, tx, final=True)
        if change is None:
            return
        await _push_session(services, site.bundle, change.data, change.patch)
        if change.cdr is not None:
            await _push_cdr(services, site.bundle, change.cdr)
    except Exception:
        log.exception("OCPI session end failed (bundle %s, charger %s)", bundle_id, charger_id)


# --------------------------------------------------------------------------- the site


@dataclass(frozen=True, slots=True)
class _Site:
    """Where a charger's sessions happen: its bundle, location, EVSE and tariff."""

    bundle: OcpiBundle
    charger: Charger
    location: OcpiLocation
    connector_count: int
    current_type: str
    max_power_w: int
    tariff: dict[str, Any] | None
    time_zone: tzinfo | None

    def evse_n(self, tx: CsmsTransaction) -> int:
        """The 1-based EVSE number of ``tx`` (one EVSE per connector, as ``projection``)."""
        refs = connectors_for(
            WIRE_VERSION.get(self.charger.ocpp_version, "1.6"), self.connector_count
        )
        for n, ref in enumerate(refs, start=1):
            if (ref.evse_id, ref.connector_id) == (tx.evse_id, tx.connector_id):
                return n
        for n in (tx.evse_id, tx.connector_id):
            if 1 <= n <= self.connector_count:
                return n
        return 1

    def evse_uid(self, n: int) -> str:
        return evse_uid_for(self.charger.identity, n, self.connector_count)

    def evse_id(self, n: int) -> str:
        return evse_id_for(self.bundle.country_code, self.bundle.party_id, self.charger.identity, n)

    @property
    def currency(self) -> str:
        return str(self.tariff["currency"]) if self.tariff else DEFAULT_CURRENCY


def tariff_for(
    bundle: OcpiBundle, location_data: Mapping[str, Any], current_type: str | None
) -> dict[str, Any] | None:
    """The Tariff that prices a charger: the location's tariff for the charger's current
    type (``tariffs_by_current``), else the location's ``tariff_id``, else the bundle's
    first tariff; ``None`` when the bundle has none (sessions are then free)."""
    tariffs = [t for t in bundle.tariffs or [] if isinstance(t, dict)]
    by_id = {str(t.get("id")): t for t in tariffs}
    wanted = [
        (location_data.get("tariffs_by_current") or {}).get((current_type or "").lower()),
        location_data.get("tariff_id"),
    ]
    for tariff_id in wanted:
        if tariff_id is not None and str(tariff_id) in by_id:
            return by_id[str(tariff_id)]
    return tariffs[0] if tariffs else None


def _zone(name: Any) -> tzinfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


async def _site(services: Services, bundle_id: int, charger_id: str) -> _Site | None:
    async with services.sessions() as db:
        bundle = await db.get(OcpiBundle, bundle_id)
        charger = await db.get(Charger, charger_id)
        if bundle is None or charger is None or bundle.role != "CPO":
            log.warning("no CPO bundle %s with charger %s: no OCPI session", bundle_id, charger_id)
            return None
        if charger.ocpi_location_id is None:
            log.warning("charger %s has no OCPI location: no OCPI session", charger_id)
            return None
        location = await db.get(OcpiLocation, (bundle_id, charger.ocpi_location_id))
    if location is None:
        log.warning("OCPI location %s is gone: no OCPI session", charger.ocpi_location_id)
        return None
    model = catalog.model(charger.brand_slug, charger.model_slug)
    current = model.current_type if model is not None else "ac"
    return _Site(
        bundle=bundle,
        charger=charger,
        location=location,
        connector_count=model.connector_count if model is not None else 1,
        current_type=current,
        max_power_w=model.max_power_w if model is not None else 22_000,
        tariff=tariff_for(bundle, location.data, current),
        time_zone=_zone(location.data.get("time_zone")),
    )


# --------------------------------------------------------------------------- rows


async def _rows(db: Any, bundle_id: int, charger_id: str, tx: CsmsTransaction) -> list[OcpiSession]:
    rows = await db.scalars(
        select(OcpiSession)
        .where(
            OcpiSession.bundle_id == bundle_id,
            OcpiSession.charger_id == charger_id,
            OcpiSession.transaction_id == tx.transaction_id,
        )
        .order_by(OcpiSession.id.desc())
    )
    return list(rows.all())


def _match(rows: Sequence[OcpiSession], tx: CsmsTransaction) -> OcpiSession | None:
    """The session of ``tx``: the charger's ACTIVE session with this transaction id, else
    one that started when ``tx`` did (finished, or INVALID). 1.6 transaction ids restart
    after a restart of voltlab, so an old finished session with the same id is not it."""
    for row in rows:
        if row.status == "ACTIVE":
            return row
    start = _ocpi(_second(tx.started_at))
    for row in rows:
        if row.data.get("start_date_time") == start:
            return row
    return None


async def _current(services: Services, site: _Site, tx: CsmsTransaction) -> OcpiSession | None:
    """The session of ``tx``, created now when voltlab missed the start (a restart)."""
    async with services.sessions() as db:
        row = _match(await _rows(db, site.bundle.id, site.charger.id, tx), tx)
    if row is not None:
        return row
    if not tx.id_tag:
        return None  # no token yet (2.0.1 plug-in first): nobody to bill, no session
    grant = await _recover_grant(services, site, tx)
    data = await _open(services, site, tx, grant)
    if data is None:
        return None
    if data["status"] == "ACTIVE":
        await _push_session(services, site.bundle, data, None)
    async with services.sessions() as db:
        return _match(await _rows(db, site.bundle.id, site.charger.id, tx), tx)


# --------------------------------------------------------------------------- the token


async def _recover_grant(services: Services, site: _Site, tx: CsmsTransaction) -> Grant | None:
    """What decided ``tx``'s tag when the hooks had no grant to give (a restart, or a 2.0.1
    idToken that came after the start): the charger's latest logged decision for the tag
    around the start, else the token cache (WHITELIST), else ``None`` (an unknown token)."""
    uid = tx.id_tag
    if not uid:
        return None
    try:
        ocpi_type = token_type_to_ocpi(tx.id_token_type) if tx.id_token_type else None
    except ValueError:
        ocpi_type = "OTHER"
    since = tx.started_at - timedelta(seconds=RECOVER_WINDOW_S)
    async with services.sessions() as db:
        logged = (
            await db.scalars(
                select(OcpiAuthorization)
                .where(
                    OcpiAuthorization.bundle_id == site.bundle.id,
                    OcpiAuthorization.charger_id == site.charger.id,
                    OcpiAuthorization.token_uid == uid,
                    OcpiAuthorization.created_at >= since,
                )
                .order_by(OcpiAuthorization.created_at.desc())
                .limit(1)
            )
        ).first()
    cached = await lookup(services, site.bundle.id, uid, ocpi_type)
    token = dict(cached.data) if cached is not None else {"uid": uid, "type": ocpi_type or "RFID"}
    cached_party = (cached.country_code, cached.party_id) if cached is not None else None
    if logged is not None:
        logged_party = (
            (logged.emsp_country_code, logged.emsp_party_id)
            if logged.emsp_country_code and logged.emsp_party_id
            else None
        )
        return Grant(
            path=logged.path,
            accepted=logged.ocpp_status == "Accepted",
            auth_method=AUTH_METHOD_OF_PATH.get(logged.path, "WHITELIST"),
            token=token,
            emsp=logged_party or cached_party,
            authorization_reference=logged.authorization_reference,
        )
    if cached is not None:
        return Grant(
            path="cache",
            accepted=True,
            auth_method="WHITELIST",
            token=token,
            emsp=cached_party,
            authorization_reference=None,
        )
    return None


def _cdr_token(bundle: OcpiBundle, grant: Grant | None, tx: CsmsTransaction) -> dict[str, Any]:
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


# --------------------------------------------------------------------------- time


def _second(when: datetime | None) -> datetime:
    """Aware UTC to the second: OCPI DateTimes carry no fractions, so every period boundary
    voltlab computes is on a whole second and reads back exactly."""
    when = when or utcnow()
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.replace(microsecond=0)


def _ocpi(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _kwh(tx: CsmsTransaction) -> float:
    return round(tx.energy_wh / 1000, 6)


# --------------------------------------------------------------------------- periods


def _volume(period: Mapping[str, Any], kind: str) -> float:
    return sum(
        float(d.get("volume") or 0) for d in period.get("dimensions") or [] if d.get("type") == kind
    )


def _closed_until(data: Mapping[str, Any]) -> tuple[datetime, float]:
    """Where the last closed period ends and the energy (kWh) delivered up to there."""
    periods = data.get("charging_periods") or []
    if not periods:
        return _parse(data["start_date_time"]), 0.0
    last = periods[-1]
    hours = _volume(last, "TIME") + _volume(last, "PARKING_TIME")
    end = _parse(last["start_date_time"]) + timedelta(seconds=round(hours * 3600))
    return end, round(sum(_volume(p, "ENERGY") for p in periods), 6)


def _tariff_instants(
    tariff: Mapping[str, Any] | None,
    session_start: datetime,
    a: datetime,
    b: datetime,
    kwh_a: float,
    kwh_b: float,
    zone: tzinfo | None,
) -> set[datetime]:
    """Instants in (a, b) where another PriceComponent may become active (10.3.1): each
    restriction's start/end time and local midnight (day_of_week, start/end_date), the
    session reaching min/max_duration, and the energy reaching min/max_kwh (interpolated)."""
    if not tariff:
        return set()
    out: set[datetime] = set()
    times = {time(0, 0)}
    span = (b - a).total_seconds()
    for element in tariff.get("elements") or []:
        r = element.get("restrictions") or {}
        for key in ("start_time", "end_time"):
            value = r.get(key)
            if isinstance(value, str) and len(value) == 5:
                with contextlib.suppress(ValueError):  # a malformed time restricts nothing
                    times.add(time(int(value[:2]), int(value[3:])))
        for key in ("min_duration", "max_duration"):
            value = r.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                out.add(session_start + timedelta(seconds=value))
        for key in ("min_kwh", "max_kwh"):
            value = r.get(key)
            if isinstance(value, int | float) and kwh_a < value < kwh_b and span > 0:
                share = (value - kwh_a) / (kwh_b - kwh_a)
                out.add(a + timedelta(seconds=span * share))
    local = zone or UTC
    day = a.astimezone(local).date() - timedelta(days=1)
    while day <= b.astimezone(local).date():
        for t in times:
            out.add(datetime.combine(day, t, tzinfo=local).astimezone(UTC))
        day += timedelta(days=1)
    return {_second(instant) for instant in out if a < _second(instant) < b}


def _periods(
    site: _Site,
    session_start: datetime,
    a: datetime,
    b: datetime,
    kwh_a: float,
    kwh_b: float,
    power_w: float | None,
) -> list[dict[str, Any]]:
    """The closed ChargingPeriods of [a, b], split at the tariff's instants."""
    energy = max(0.0, kwh_b - kwh_a)
    if b <= a:
        return [_period(site, a, energy, 0.0, power_w)] if energy > 0 else []
    cuts = _tariff_instants(site.tariff, session_start, a, b, kwh_a, kwh_b, site.time_zone)
    points = [a, *sorted(cuts), b]
    span = (b - a).total_seconds()
    out = []
    done = 0.0
    for i, (p, q) in enumerate(itertools.pairwise(points)):
        last = i == len(points) - 2
        # The last piece takes the remainder, so the pieces add up to the measured energy.
        upto = energy if last else round(energy * (q - a).total_seconds() / span, 6)
        out.append(_period(site, p, upto - done, (q - p).total_seconds() / 3600, power_w))
        done = upto
    return out


def _period(
    site: _Site, start: datetime, kwh: float, hours: float, power_w: float | None
) -> dict[str, Any]:
    if kwh > 0:
        dimensions = [
            {"type": "ENERGY", "volume": round(kwh, 6)},
            {"type": "TIME", "volume": round(hours, 6)},
        ]
        if power_w is not None:
            dimensions.append({"type": "POWER", "volume": round(power_w / 1000, 3)})
    else:
        # 10.4.3: TIME is time charging; a stretch without energy is parking.
        dimensions = [{"type": "PARKING_TIME", "volume": round(hours, 6)}]
    period: dict[str, Any] = {"start_date_time": _ocpi(start), "dimensions": dimensions}
    if site.tariff is not None and site.tariff.get("id"):
        period["tariff_id"] = str(site.tariff["id"])
    return period


def _price(
    site: _Site,
    start: datetime,
    end: datetime,
    kwh: float,
    periods: Sequence[Mapping[str, Any]],
) -> Priced | None:
    if site.tariff is None:
        return None
    # Priced from what the CDR shows (no Session-only POWER), so the Session's running
    # cost and the CDR agree and the eMSP can recompute both from the CDR.
    visible = [_cdr_period(p) for p in periods]
    try:
        return price_session(
            site.tariff,
            start=start,
            end=end,
            energy_kwh=kwh,
            charging_periods=visible or None,
            time_zone=site.time_zone,
        )
    except ValueError as exc:
        log.warning("tariff %s cannot price a session: %s", site.tariff.get("id"), exc)
        return None


FREE = {"excl_vat": 0.0, "incl_vat": 0.0}


def _cost(priced: Priced | None) -> dict[str, float]:
    """The session's total_cost: 0.00 without a tariff (voltlab then charges nothing, and
    9.3.1 reads 0.00 as free of charge, an absent total_cost as "unknown")."""
    return dict(priced.total_cost) if priced is not None else dict(FREE)


# --------------------------------------------------------------------------- the session


async def _open(
    services: Services, site: _Site, tx: CsmsTransaction, grant: Grant | None
) -> dict[str, Any] | None:
    """Store a new Session for ``tx``; its OCPI JSON (None when it would be invalid)."""
    bundle = site.bundle
    n = site.evse_n(tx)
    refused = grant is not None and not grant.accepted
    now = _second(utcnow())
    start = _second(tx.started_at)
    data: dict[str, Any] = {
        "country_code": bundle.country_code,
        "party_id": bundle.party_id,
        "id": new_id(),
        "start_date_time": _ocpi(start),
        "kwh": 0.0,
        "cdr_token": _cdr_token(bundle, grant, tx),
        "auth_method": grant.auth_method if grant is not None else "WHITELIST",
        "location_id": site.location.id,
        "evse_uid": site.evse_uid(n),
        "connector_id": "1",  # one connector per EVSE (projection)
        "currency": site.currency,
        # The cost of an empty session so far (a start fee, when the tariff has one).
        "total_cost": _cost(_price(site, start, start, 0.0, [])),
        # 9.4.3 INVALID: "will not be billed": the tag was refused, the charger stops.
        "status": "INVALID" if refused else "ACTIVE",
        "last_updated": _ocpi(now),
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
class _Change:
    data: dict[str, Any]  # the whole Session after the change
    patch: dict[str, Any]  # what changed, with last_updated (the PATCH body)
    cdr: dict[str, Any] | None = None


async def _advance(
    services: Services, site: _Site, row_id: int, tx: CsmsTransaction, *, final: bool
) -> _Change | None:
    """Apply ``tx``'s meter to the session (and end it when ``final``), in one database
    transaction with the CDR."""
    async with services.sessions.begin() as db:
        row = await db.get(OcpiSession, row_id)
        if row is None or row.status != "ACTIVE":
            return None
        before = dict(row.data)
        start = _parse(before["start_date_time"])
        closed_until, closed_kwh = _closed_until(before)
        # A lost or reordered meter value never makes the session's energy go down.
        kwh = max(float(before.get("kwh") or 0.0), _kwh(tx), closed_kwh)
        at = _second(tx.stopped_at if final else tx.updated_at)
        at = max(at, closed_until)
        periods = list(before.get("charging_periods") or [])
        added: list[dict[str, Any]] = []
        if final or (at - closed_until).total_seconds() >= PERIOD_S:
            added = _periods(site, start, closed_until, at, closed_kwh, kwh, tx.power_w)
            if final and not periods and not added:
                # 10.3.1: a CDR has at least one period, even for an empty session.
                added = [_period(site, start, 0.0, 0.0, None)]
        periods += added
        # Cost so far: the closed periods plus the open stretch (not sent until closed).
        priced_periods = list(periods)
        if not added and at > closed_until:
            priced_periods += _periods(site, start, closed_until, at, closed_kwh, kwh, tx.power_w)
        priced = _price(site, start, at, kwh, priced_periods)
        now = _second(utcnow())
        after = {**before, "kwh": kwh, "last_updated": _ocpi(now)}
        after["total_cost"] = _cost(priced)
        if periods:
            after["charging_periods"] = periods
        if final:
            after["status"] = "COMPLETED"
            after["end_date_time"] = _ocpi(at)
        valid = _valid_session(after)
        if valid is None:
            return None
        patch = {k: v for k, v in valid.items() if k != "charging_periods" and before.get(k) != v}
        if added:
            patch["charging_periods"] = valid["charging_periods"][-len(added) :]
        patch["last_updated"] = valid["last_updated"]
        patch = dump(SessionPatch.model_validate(patch))
        cdr = _cdr(site, valid, tx, now) if final else None
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
    return _Change(valid, patch, cdr)


# --------------------------------------------------------------------------- the CDR


def _cdr_location(site: _Site, session: Mapping[str, Any], tx: CsmsTransaction) -> dict[str, Any]:
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


def _cdr(
    site: _Site, session: Mapping[str, Any], tx: CsmsTransaction, now: datetime
) -> dict[str, Any] | None:
    """The CDR of a COMPLETED session, priced with the location's tariff (None, logged,
    when it would not be a valid CDR)."""
    start = _parse(session["start_date_time"])
    end = _parse(session["end_date_time"])
    kwh = float(session["kwh"])
    periods = [_cdr_period(p) for p in session.get("charging_periods") or []]
    priced = _price(site, start, end, kwh, periods)
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
        "last_updated": _ocpi(now),
    }
    if session.get("authorization_reference"):
        cdr["authorization_reference"] = session["authorization_reference"]
    if priced is not None and site.tariff is not None:
        fields = priced.cdr_fields()
        cdr.update(fields)
        cdr["charging_periods"] = [_cdr_period(p) for p in fields["charging_periods"]]
        cdr["total_energy"] = kwh
        cdr["tariffs"] = [site.tariff]
    try:
        return dump(CDR.model_validate(cdr))
    except ValidationError as exc:
        log.error("refusing to send an invalid OCPI CDR for session %s: %s", session["id"], exc)
        return None


def _cdr_period(period: Mapping[str, Any]) -> dict[str, Any]:
    dims = [
        d for d in period.get("dimensions") or [] if d.get("type") not in SESSION_ONLY_DIMENSIONS
    ]
    return {**period, "dimensions": dims or [{"type": "TIME", "volume": 0.0}]}


# --------------------------------------------------------------------------- pushes


def _parties(peer: OcpiPeer) -> set[tuple[str, str]]:
    parties = {
        (str(r.get("country_code", "")).upper(), str(r.get("party_id", "")).upper())
        for r in peer.roles or []
        if r.get("role") in (None, "EMSP")
    }
    if peer.role == "EMSP" and peer.country_code and peer.party_id:
        parties.add((peer.country_code.upper(), peer.party_id.upper()))
    return parties


async def _emsp_peer(
    services: Services, bundle: OcpiBundle, party: tuple[str, str]
) -> OcpiPeer | None:
    """The connected eMSP peer that owns ``party``'s tokens; None for the CPO's own party
    (an unknown token) and for an eMSP that is not connected."""
    if party == (bundle.country_code, bundle.party_id):
        return None
    async with services.sessions() as db:
        peers = await connected_peers(db, bundle.id)
    return next((p for p in peers if party in _parties(p) and p.token_theirs), None)


def _routing(bundle: OcpiBundle, to: tuple[str, str]) -> dict[str, str]:
    # 4.1.8.2: functional modules carry the routing headers, party to party too.
    return {
        "OCPI-from-country-code": bundle.country_code,
        "OCPI-from-party-id": bundle.party_id,
        "OCPI-to-country-code": to[0],
        "OCPI-to-party-id": to[1],
    }


async def _push_session(
    services: Services,
    bundle: OcpiBundle,
    data: dict[str, Any],
    patch: dict[str, Any] | None,
) -> None:
    """PUT ``data`` (``patch`` None) or PATCH ``patch`` to the token's eMSP."""
    party = token_party(data)
    peer = await _emsp_peer(services, bundle, party)
    base = endpoint(peer, "sessions", "RECEIVER") if peer is not None else None
    if peer is None or base is None:
        return
    url = f"{base.rstrip('/')}/{bundle.country_code}/{bundle.party_id}/{quote(data['id'], safe='')}"
    client = services.ocpi.client(bundle.id, peer.token_theirs)
    headers = _routing(bundle, party)
    try:
        if patch is None:
            await client.put(url, json=data, headers=headers)
            return
        try:
            await client.patch(url, json=patch, headers=headers)
        except OcpiClientError as exc:
            # 4.1.4.3: after a failed PATCH the eMSP's copy is in doubt; a PUT replaces it
            # whole (periods included), which also covers "the object doesn't exist".
            log.info("PATCH of session %s failed (%s); sending it whole", data["id"], exc)
            await client.put(url, json=data, headers=headers)
    except OcpiClientError as exc:
        log.warning("session %s not pushed to %s*%s: %s", data["id"], *party, exc)


async def _push_cdr(services: Services, bundle: OcpiBundle, cdr: dict[str, Any]) -> None:
    party = token_party(cdr)
    peer = await _emsp_peer(services, bundle, party)
    url = endpoint(peer, "cdrs", "RECEIVER") if peer is not None else None
    if peer is None or url is None:
        return
    client = services.ocpi.client(bundle.id, peer.token_theirs)
    try:
        reply = await client.post(url, json=cdr, headers=_routing(bundle, party))
    except OcpiClientError as exc:
        log.warning("CDR %s not pushed to %s*%s: %s", cdr["id"], *party, exc)
        return
    # 10.2.2.2: the eMSP answers where the CDR now lives; the CPO may GET it there later.
    log.info("CDR %s accepted by %s*%s at %s", cdr["id"], *party, reply.headers.get("Location"))
