"""A session's ChargingPeriods (10.4.6) and what they cost.

``closed_periods`` cuts a stretch of a session into periods at every instant where another
PriceComponent of the tariff may become active; ``last_closed`` reads back where the
stored periods end; ``price`` and ``total_cost`` price them as the CDR will show them
(``cdr_period`` drops the Session-only dimensions).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from voltlab.ocpi.cpo.session_site import Site
from voltlab.ocpi.cpo.session_time import ocpi_datetime, parse_datetime, whole_second
from voltlab.ocpi.pricing import Priced, price_session

log = logging.getLogger(__name__)

# 10.4.3: dimensions marked "Session Only"; a CDR leaves them out.
SESSION_ONLY_DIMENSIONS = frozenset(
    {"CURRENT", "ENERGY_EXPORT", "ENERGY_IMPORT", "POWER", "STATE_OF_CHARGE"}
)


def _volume(period: Mapping[str, Any], kind: str) -> float:
    return sum(
        float(d.get("volume") or 0) for d in period.get("dimensions") or [] if d.get("type") == kind
    )


def last_closed(data: Mapping[str, Any]) -> tuple[datetime, float]:
    """Where the last closed period ends and the energy (kWh) delivered up to there."""
    periods = data.get("charging_periods") or []
    if not periods:
        return parse_datetime(data["start_date_time"]), 0.0
    last = periods[-1]
    hours = _volume(last, "TIME") + _volume(last, "PARKING_TIME")
    end = parse_datetime(last["start_date_time"]) + timedelta(seconds=round(hours * 3600))
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
    restriction's start/end time, local midnight where a restriction has a day_of_week or
    start/end_date, the session reaching min/max_duration, and the energy reaching
    min/max_kwh (interpolated). Nothing else cuts a period: a tariff without calendar
    restrictions does not split a session at midnight."""
    if not tariff:
        return set()
    out: set[datetime] = set()
    times: set[time] = set()
    span = (b - a).total_seconds()
    for element in tariff.get("elements") or []:
        r = element.get("restrictions") or {}
        if any(r.get(key) for key in ("day_of_week", "start_date", "end_date")):
            times.add(time(0, 0))
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
    return {whole_second(instant) for instant in out if a < whole_second(instant) < b}


def closed_periods(
    site: Site,
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
        return [charging_period(site, a, energy, 0.0, power_w)] if energy > 0 else []
    cuts = _tariff_instants(site.tariff, session_start, a, b, kwh_a, kwh_b, site.time_zone)
    points = [a, *sorted(cuts), b]
    span = (b - a).total_seconds()
    out = []
    done = 0.0
    for i, (p, q) in enumerate(itertools.pairwise(points)):
        last = i == len(points) - 2
        # The last piece takes the remainder, so the pieces add up to the measured energy.
        upto = energy if last else round(energy * (q - a).total_seconds() / span, 6)
        out.append(charging_period(site, p, upto - done, (q - p).total_seconds() / 3600, power_w))
        done = upto
    return out


def charging_period(
    site: Site, start: datetime, kwh: float, hours: float, power_w: float | None
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
    period: dict[str, Any] = {"start_date_time": ocpi_datetime(start), "dimensions": dimensions}
    if site.tariff is not None and site.tariff.get("id"):
        period["tariff_id"] = str(site.tariff["id"])
    return period


def price(
    site: Site,
    start: datetime,
    end: datetime,
    kwh: float,
    periods: Sequence[Mapping[str, Any]],
) -> Priced | None:
    if site.tariff is None:
        return None
    # Priced from what the CDR shows (no Session-only POWER), so the Session's running
    # cost and the CDR agree and the eMSP can recompute both from the CDR.
    visible = [cdr_period(p) for p in periods]
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


def total_cost(priced: Priced | None) -> dict[str, float]:
    """The session's total_cost: 0.00 without a tariff (voltlab then charges nothing, and
    9.3.1 reads 0.00 as free of charge, an absent total_cost as "unknown")."""
    return dict(priced.total_cost) if priced is not None else dict(FREE)


def cdr_period(period: Mapping[str, Any]) -> dict[str, Any]:
    dims = [
        d for d in period.get("dimensions") or [] if d.get("type") not in SESSION_ONLY_DIMENSIONS
    ]
    return {**period, "dimensions": dims or [{"type": "TIME", "volume": 0.0}]}
