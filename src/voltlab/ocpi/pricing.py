"""Price a charging session with an OCPI 2.2.1 Tariff (plain dict in OCPI JSON shape).

``price_session(tariff, start=, end=, energy_kwh=, ...)`` returns a ``Priced`` with the
CDR's money and volume fields; ``validate_tariff(tariff)`` only checks the shape.
Pure: no I/O, no clock, no database.

Rules (OCPI 2.2.1 mod_tariffs and mod_cdrs; docs/protocols.md "Tariffs, to price a CDR"):

* **Element choice.** For each dimension (``ENERGY``, ``TIME``, ``PARKING_TIME``,
  ``FLAT``) the first TariffElement that has a PriceComponent of that dimension and whose
  restrictions all match wins; within an element the first component of a dimension counts.
  No match: that dimension is free. Elements with a ``reservation`` restriction never
  match (voltlab prices charging sessions, not reservations).
* **Where restrictions are evaluated.** Per charging period:

  - ``charging_periods`` given (OCPI ChargingPeriod dicts): each period is priced with
    the state at its ``start_date_time`` (the CPO is required to start a period whenever
    another PriceComponent becomes active, so the caller's periods carry the splits).
    A period ends where the next one starts (the last at ``end``). Volumes come from its
    ``ENERGY`` (kWh), ``TIME`` and ``PARKING_TIME`` (h) dimensions; a period with neither
    time dimension counts its duration as ``TIME`` when it has energy (or when no period
    reports energy), else as ``PARKING_TIME``. When no period has an ``ENERGY``
    dimension (the spec's CDR example), ``energy_kwh`` is spread over the periods in
    proportion to their ``TIME``; otherwise the periods' energy is the truth and
    ``energy_kwh`` is not used. ``parking_hours`` is not used either. Power for
    ``min/max_power`` is the period's ``POWER`` dimension, else its average
    (energy / TIME); current for ``min/max_current`` is its ``CURRENT`` dimension.
  - no periods: voltlab synthesizes them. The session is charging from ``start`` for
    ``(end - start) - parking_hours`` at a constant power (energy spread linearly), then
    parking until ``end``. It is cut at every instant a restriction can change (each
    ``start_time``/``end_time`` and local midnight, ``start + min/max_duration``, the
    instant the cumulative energy reaches ``min/max_kwh``, the end of charging); each
    piece is priced with the state in its middle, and neighbouring pieces priced by the
    same elements are merged back into one ChargingPeriod. Power is the average power of
    the charging part; current is unknown.

  Unknown data (no power, no current) skips that restriction (it counts as matching).
* **Restriction semantics.** ``start_time``/``end_time``: local time of day, start
  inclusive, end exclusive; ``start_time > end_time`` is a range crossing midnight
  (``22:00``-``06:00``), equal times mean the whole day; ``start_date`` inclusive,
  ``end_date`` exclusive; ``day_of_week`` is the local weekday of the instant (a night
  range is matched per calendar day); ``min_*`` inclusive, ``max_*`` exclusive for kWh
  (cumulative energy of the session so far), duration (seconds since ``start``), power
  (kW) and current (A). Local time is ``time_zone`` (pass the Location's, e.g.
  ``ZoneInfo("Europe/Paris")``); without it, the offset of ``start`` (UTC when naive).
  Naive datetimes (arguments and period ``start_date_time``) are UTC, as in OCPI.
* **step_size** (mod_cdrs "step_size"): applied once per session on the session total,
  with the step of the last PriceComponent that priced that dimension, the extra amount
  billed at that component's price: once for ``ENERGY`` (Wh), once for ``TIME`` and
  ``PARKING_TIME`` combined (s): when parking was priced, only the total parking time is
  rounded ("the charging duration is not rounded up, as it is followed by another time
  based period"), else the total charging time. ``step_size`` 0 means no rounding.
* **VAT** is per component: ``incl = excl * (1 + vat / 100)``; a component without
  ``vat`` has no VAT applicable (``incl = excl``).
* **Money.** Amounts are accumulated exactly (``Decimal``); each dimension total is
  rounded half-up to 2 decimals (OCPI has no rounding rule; voltlab's choice, protocols.md);
  ``total_cost`` is the sum of the rounded dimension totals (so the parts add up), then
  bounded by ``min_price`` / ``max_price`` (excl. and incl. VAT each bounded by their own
  value; a bound without ``incl_vat`` scales ``incl_vat`` with ``excl_vat``). The
  dimension totals are not changed by the bounds. Results are floats with 2 decimals.
* ``FLAT`` is billed once, with the element that matches at the session's start, and
  counted in ``total_fixed_cost``.
* The tariff's own ``start_date_time``/``end_date_time``/``type`` are not checked here:
  choosing the tariff is the caller's business.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

__all__ = [
    "DAYS_OF_WEEK",
    "DIMENSIONS",
    "Priced",
    "price_session",
    "validate_tariff",
]

DIMENSIONS: tuple[str, ...] = ("ENERGY", "FLAT", "PARKING_TIME", "TIME")
DAYS_OF_WEEK: tuple[str, ...] = (
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
    "SUNDAY",
)
_RESERVATION_TYPES = ("RESERVATION", "RESERVATION_EXPIRES")
_TIME_RE = re.compile(r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$")
_DATE_RE = re.compile(r"^([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")

_US_PER_S = 1_000_000
_US_PER_H = Decimal(3_600_000_000)
_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")
_NANO = Decimal("0.000000001")
_ZERO = Decimal(0)


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class _Component:
    type: str
    price: Decimal
    vat: Decimal | None
    step_size: int

    def incl(self, excl: Decimal) -> Decimal:
        return excl if self.vat is None else excl * (1 + self.vat / 100)


@dataclass(frozen=True, slots=True)
class _Restrictions:
    start_time: time | None = None
    end_time: time | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    day_of_week: frozenset[int] | None = None
    reservation: str | None = None


@dataclass(frozen=True, slots=True)
class _Element:
    index: int
    components: dict[str, _Component]
    restrictions: _Restrictions | None


@dataclass(frozen=True, slots=True)
class _Bound:
    excl_vat: Decimal
    incl_vat: Decimal | None


@dataclass(frozen=True, slots=True)
class _Tariff:
    id: str | None
    currency: str
    elements: tuple[_Element, ...]
    min_price: _Bound | None
    max_price: _Bound | None


def _number(value: Any, where: str, *, minimum: Decimal | None = _ZERO) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"{where}: must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: must be a finite number, got {value!r}")
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if minimum is not None and number < minimum:
        raise ValueError(f"{where}: must be >= {minimum}, got {value!r}")
    return number


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: must be a non-negative integer, got {value!r}")
    return value


def _time_of_day(value: Any, where: str) -> time:
    if not isinstance(value, str) or not _TIME_RE.match(value):
        raise ValueError(f"{where}: must be a time of day 'HH:MM' (24h), got {value!r}")
    return time(int(value[:2]), int(value[3:]))


def _day(value: Any, where: str) -> date:
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise ValueError(f"{where}: must be a date 'YYYY-MM-DD', got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{where}: not a calendar date: {value!r}") from None


def _restrictions(raw: Any, where: str) -> _Restrictions | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be an object, got {raw!r}")
    values: dict[str, Any] = {}
    for key in ("start_time", "end_time"):
        if raw.get(key) is not None:
            values[key] = _time_of_day(raw[key], f"{where}.{key}")
    for key in ("start_date", "end_date"):
        if raw.get(key) is not None:
            values[key] = _day(raw[key], f"{where}.{key}")
    for key in ("min_kwh", "max_kwh", "min_current", "max_current", "min_power", "max_power"):
        if raw.get(key) is not None:
            values[key] = _number(raw[key], f"{where}.{key}")
    for key in ("min_duration", "max_duration"):
        if raw.get(key) is not None:
            values[key] = _integer(raw[key], f"{where}.{key}")
    days = raw.get("day_of_week")
    if days is not None:
        if not isinstance(days, list) or not all(d in DAYS_OF_WEEK for d in days):
            raise ValueError(
                f"{where}.day_of_week: must be a list of {', '.join(DAYS_OF_WEEK)}, got {days!r}"
            )
        if days:  # an empty list restricts nothing
            values["day_of_week"] = frozenset(DAYS_OF_WEEK.index(d) for d in days)
    reservation = raw.get("reservation")
    if reservation is not None:
        if reservation not in _RESERVATION_TYPES:
            raise ValueError(
                f"{where}.reservation: must be one of {_RESERVATION_TYPES}, got {reservation!r}"
            )
        values["reservation"] = reservation
    return _Restrictions(**values)


def _component(raw: Any, where: str) -> _Component:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be an object, got {raw!r}")
    kind = raw.get("type")
    if kind not in DIMENSIONS:
        raise ValueError(f"{where}.type: must be one of {DIMENSIONS}, got {kind!r}")
    if "price" not in raw:
        raise ValueError(f"{where}.price: required")
    if "step_size" not in raw:
        raise ValueError(f"{where}.step_size: required")
    vat = raw.get("vat")
    return _Component(
        type=kind,
        price=_number(raw["price"], f"{where}.price"),
        vat=None if vat is None else _number(vat, f"{where}.vat"),
        step_size=_integer(raw["step_size"], f"{where}.step_size"),
    )


def _bound(raw: Any, where: str) -> _Bound | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or "excl_vat" not in raw:
        raise ValueError(f"{where}: must be a Price {{excl_vat, incl_vat?}}, got {raw!r}")
    incl = raw.get("incl_vat")
    return _Bound(
        excl_vat=_number(raw["excl_vat"], f"{where}.excl_vat"),
        incl_vat=None if incl is None else _number(incl, f"{where}.incl_vat"),
    )


def _parse_tariff(tariff: Any) -> _Tariff:
    if not isinstance(tariff, Mapping):
        raise ValueError(f"tariff: must be an object, got {type(tariff).__name__}")
    currency = tariff.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        raise ValueError(f"tariff.currency: must be an ISO 4217 code, got {currency!r}")
    tariff_id = tariff.get("id")
    if tariff_id is not None and not isinstance(tariff_id, str):
        raise ValueError(f"tariff.id: must be a string, got {tariff_id!r}")
    raw_elements = tariff.get("elements")
    if not isinstance(raw_elements, list) or not raw_elements:
        raise ValueError(f"tariff.elements: must be a non-empty list, got {raw_elements!r}")
    elements = []
    for i, raw in enumerate(raw_elements):
        where = f"tariff.elements[{i}]"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}: must be an object, got {raw!r}")
        raw_components = raw.get("price_components")
        if not isinstance(raw_components, list) or not raw_components:
            raise ValueError(
                f"{where}.price_components: must be a non-empty list, got {raw_components!r}"
            )
        components: dict[str, _Component] = {}
        for j, raw_component in enumerate(raw_components):
            component = _component(raw_component, f"{where}.price_components[{j}]")
            components.setdefault(component.type, component)
        restrictions = _restrictions(raw.get("restrictions"), f"{where}.restrictions")
        elements.append(_Element(i, components, restrictions))
    min_price = _bound(tariff.get("min_price"), "tariff.min_price")
    max_price = _bound(tariff.get("max_price"), "tariff.max_price")
    if min_price and max_price and min_price.excl_vat > max_price.excl_vat:
        raise ValueError("tariff.min_price: excl_vat is above max_price.excl_vat")
    return _Tariff(tariff_id, currency, tuple(elements), min_price, max_price)


def validate_tariff(tariff: Any) -> None:
    """Raise ValueError, naming the field, when ``tariff`` is not a priceable OCPI Tariff."""
    _parse_tariff(tariff)


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class _State:
    """What restrictions look at: the state of the session at one instant."""

    local: datetime  # local wall time (aware)
    elapsed_s: Decimal
    kwh: Decimal  # energy charged so far in the session
    power_kw: Decimal | None
    current_a: Decimal | None


def _in_time_window(r: _Restrictions, t: time) -> bool:
    start, end = r.start_time, r.end_time
    if start is not None and end is not None:
        if start == end:
            return True
        if start < end:
            return start <= t < end
        return t >= start or t < end  # crosses midnight
    if start is not None:
        return t >= start
    if end is not None:
        return t < end
    return True


def _within(value: Decimal | None, low: Decimal | None, high: Decimal | None) -> bool:
    if value is None:
        return True  # no data: the restriction is skipped
    if low is not None and value < low:
        return False
    return not (high is not None and value >= high)


def _matches(r: _Restrictions | None, s: _State) -> bool:
    if r is None:
        return True
    if r.reservation is not None:
        return False
    if not _in_time_window(r, s.local.time().replace(tzinfo=None)):
        return False
    day = s.local.date()
    if r.start_date is not None and day < r.start_date:
        return False
    if r.end_date is not None and day >= r.end_date:
        return False
    if r.day_of_week is not None and s.local.weekday() not in r.day_of_week:
        return False
    min_duration = None if r.min_duration is None else Decimal(r.min_duration)
    max_duration = None if r.max_duration is None else Decimal(r.max_duration)
    return (
        _within(s.kwh, r.min_kwh, r.max_kwh)
        and _within(s.elapsed_s, min_duration, max_duration)
        and _within(s.power_kw, r.min_power, r.max_power)
        and _within(s.current_a, r.min_current, r.max_current)
    )


def _select(tariff: _Tariff, dimension: str, state: _State) -> _Element | None:
    for element in tariff.elements:
        if dimension in element.components and _matches(element.restrictions, state):
            return element
    return None


# --------------------------------------------------------------------------- periods


@dataclass(slots=True)
class _Period:
    start_us: int  # offset from the session start, microseconds
    end_us: int
    energy_kwh: Decimal
    time_h: Decimal
    parking_h: Decimal
    state: _State
    raw: Mapping[str, Any] | None = None  # the caller's ChargingPeriod, when given
    chosen: dict[str, _Element | None] = field(default_factory=dict)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * _US_PER_S + delta.microseconds


def _ocpi_datetime(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dimension_volumes(raw: Mapping[str, Any], where: str) -> dict[str, Decimal]:
    dims = raw.get("dimensions")
    if not isinstance(dims, list):
        raise ValueError(f"{where}.dimensions: must be a list, got {dims!r}")
    volumes: dict[str, Decimal] = {}
    for k, dim in enumerate(dims):
        if not isinstance(dim, Mapping) or not isinstance(dim.get("type"), str):
            raise ValueError(f"{where}.dimensions[{k}]: must be {{type, volume}}, got {dim!r}")
        volume = _number(dim.get("volume"), f"{where}.dimensions[{k}].volume")
        volumes[dim["type"]] = volumes.get(dim["type"], _ZERO) + volume
    return volumes


def _given_periods(
    raw_periods: Sequence[Any],
    start: datetime,
    end: datetime,
    zone: tzinfo,
    energy_kwh: Decimal,
) -> list[_Period]:
    if not raw_periods:
        raise ValueError("charging_periods: must not be empty (pass None to synthesize them)")
    starts: list[int] = []
    for i, raw in enumerate(raw_periods):
        where = f"charging_periods[{i}]"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}: must be an object, got {raw!r}")
        value = raw.get("start_date_time")
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{where}.start_date_time: not a DateTime: {value!r}") from None
        if not isinstance(value, datetime):
            raise ValueError(f"{where}.start_date_time: required DateTime, got {value!r}")
        offset = _us(_utc(value) - start)
        if offset < 0 or offset > _us(end - start):
            raise ValueError(f"{where}.start_date_time: outside the session")
        if starts and offset < starts[-1]:
            raise ValueError(f"{where}.start_date_time: periods must be in time order")
        starts.append(offset)
    total_us = _us(end - start)
    all_volumes = [
        _dimension_volumes(raw, f"charging_periods[{i}]") for i, raw in enumerate(raw_periods)
    ]
    energy_known = any("ENERGY" in volumes for volumes in all_volumes)
    spans = []  # (start_us, end_us, time_h, parking_h)
    for i, volumes in enumerate(all_volumes):
        start_us = starts[i]
        end_us = starts[i + 1] if i + 1 < len(starts) else total_us
        time_h = volumes.get("TIME")
        parking_h = volumes.get("PARKING_TIME")
        if time_h is None and parking_h is None:
            duration_h = Decimal(end_us - start_us) / _US_PER_H
            charging = volumes.get("ENERGY", _ZERO) > 0 or not energy_known
            time_h, parking_h = (duration_h, _ZERO) if charging else (_ZERO, duration_h)
        spans.append((start_us, end_us, time_h or _ZERO, parking_h or _ZERO))
    charging_h = sum((span[2] for span in spans), _ZERO)
    periods: list[_Period] = []
    kwh_so_far = _ZERO
    for raw, volumes, (start_us, end_us, time_h, parking_h) in zip(
        raw_periods, all_volumes, spans, strict=True
    ):
        if energy_known:
            energy = volumes.get("ENERGY", _ZERO)
        else:  # no period reports energy: spread energy_kwh over the charging time
            energy = energy_kwh * time_h / charging_h if charging_h else _ZERO
        power = volumes.get("POWER")
        if power is None and time_h > 0:
            power = energy / time_h
        state = _State(
            local=(start + timedelta(microseconds=start_us)).astimezone(zone),
            elapsed_s=Decimal(start_us) / _US_PER_S,
            kwh=kwh_so_far,
            power_kw=power,
            current_a=volumes.get("CURRENT"),
        )
        periods.append(_Period(start_us, end_us, energy, time_h, parking_h, state, raw))
        kwh_so_far += energy
    if not energy_known and not charging_h and energy_kwh and periods:
        periods[0].energy_kwh = energy_kwh
    return periods


def _local_instants(tariff: _Tariff, start: datetime, end: datetime, zone: tzinfo) -> set[datetime]:
    """Instants where a time-of-day or calendar restriction can change."""
    times = {time(0, 0)}
    for element in tariff.elements:
        r = element.restrictions
        if r is not None:
            times.update(t for t in (r.start_time, r.end_time) if t is not None)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    instants = set()
    day = first
    while day <= last:
        for t in times:
            instants.add(datetime.combine(day, t, tzinfo=zone).astimezone(UTC))
        day += timedelta(days=1)
    return instants


def _synthesized_periods(
    tariff: _Tariff,
    start: datetime,
    end: datetime,
    zone: tzinfo,
    energy: Decimal,
    parking_us: int,
) -> list[_Period]:
    total_us = _us(end - start)
    charge_us = total_us - parking_us
    cuts = {0, charge_us, total_us}
    cuts.update(_us(instant - start) for instant in _local_instants(tariff, start, end, zone))
    for element in tariff.elements:
        r = element.restrictions
        if r is None:
            continue
        for seconds in (r.min_duration, r.max_duration):
            if seconds is not None:
                cuts.add(seconds * _US_PER_S)
        if energy > 0 and charge_us > 0:
            for kwh in (r.min_kwh, r.max_kwh):
                if kwh is not None and 0 < kwh < energy:
                    at = (Decimal(charge_us) * kwh / energy).to_integral_value(ROUND_HALF_EVEN)
                    cuts.add(int(at))
    points = sorted(c for c in cuts if 0 <= c <= total_us)
    power = energy / (Decimal(charge_us) / _US_PER_H) if charge_us > 0 else None

    def state_at(offset: int, charging: bool) -> _State:
        if not charging:
            kwh = energy
        elif charge_us > 0:
            kwh = energy * Decimal(offset) / Decimal(charge_us)
        else:
            kwh = _ZERO
        return _State(
            local=(start + timedelta(microseconds=offset)).astimezone(zone),
            elapsed_s=Decimal(offset) / _US_PER_S,
            kwh=kwh,
            power_kw=power if charging else None,
            current_a=None,
        )

    periods: list[_Period] = []
    if charge_us == 0 and (energy > 0 or total_us == 0):
        # Energy without charging time (or an empty session): one instantaneous period.
        periods.append(_Period(0, 0, energy, _ZERO, _ZERO, state_at(0, True)))
    for a, b in itertools.pairwise(points):
        if b <= a:
            continue
        charging = b <= charge_us
        hours = Decimal(b - a) / _US_PER_H
        if charging:
            part = energy * Decimal(b - a) / Decimal(charge_us)
            periods.append(_Period(a, b, part, hours, _ZERO, state_at((a + b) // 2, True)))
        else:
            periods.append(_Period(a, b, _ZERO, _ZERO, hours, state_at((a + b) // 2, False)))
    return periods


def _choose(tariff: _Tariff, period: _Period) -> None:
    for dimension, volume in (
        ("ENERGY", period.energy_kwh),
        ("TIME", period.time_h),
        ("PARKING_TIME", period.parking_h),
    ):
        period.chosen[dimension] = _select(tariff, dimension, period.state) if volume else None


def _chosen_key(period: _Period) -> dict[str, int | None]:
    return {d: (e.index if e is not None else None) for d, e in period.chosen.items()}


def _merge(periods: list[_Period]) -> list[_Period]:
    merged: list[_Period] = []
    for period in periods:
        prev = merged[-1] if merged else None
        same_phase = prev is not None and (prev.parking_h > 0) == (period.parking_h > 0)
        if (
            prev is not None
            and same_phase
            and prev.end_us == period.start_us
            and _chosen_key(prev) == _chosen_key(period)
        ):
            prev.end_us = period.end_us
            prev.energy_kwh += period.energy_kwh
            prev.time_h += period.time_h
            prev.parking_h += period.parking_h
        else:
            merged.append(period)
    return merged


# --------------------------------------------------------------------------- pricing


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _quantity(value: Decimal) -> float:
    return float(value.quantize(_MICRO, rounding=ROUND_HALF_UP))


def _price(excl: Decimal, incl: Decimal) -> dict[str, float]:
    return {"excl_vat": float(excl), "incl_vat": float(incl)}


def _steps_up(amount: Decimal, step: int) -> Decimal:
    """``amount`` rounded up to a whole number of ``step`` (tiny float noise ignored)."""
    units = (amount / step).quantize(_NANO, rounding=ROUND_HALF_UP)
    return Decimal(math.ceil(units)) * step


@dataclass(frozen=True)
class Priced:
    """A priced session: the CDR's money and volume fields (OCPI JSON shapes).

    Prices are ``{excl_vat, incl_vat}`` floats with 2 decimals; volumes are floats
    (kWh, hours). ``billed_*`` are the volumes after ``step_size`` rounding.
    """

    currency: str
    tariff_id: str | None
    total_cost: dict[str, float]
    total_fixed_cost: dict[str, float]
    total_energy_cost: dict[str, float]
    total_time_cost: dict[str, float]
    total_parking_cost: dict[str, float]
    total_energy: float
    total_time: float
    total_parking_time: float
    charging_periods: list[dict[str, Any]]
    billed_energy: float
    billed_time: float
    billed_parking_time: float

    def cdr_fields(self) -> dict[str, Any]:
        """The fields of an OCPI 2.2.1 CDR this pricing fills in."""
        return {
            "currency": self.currency,
            "charging_periods": [dict(p) for p in self.charging_periods],
            "total_cost": dict(self.total_cost),
            "total_fixed_cost": dict(self.total_fixed_cost),
            "total_energy": self.total_energy,
            "total_energy_cost": dict(self.total_energy_cost),
            "total_time": self.total_time,
            "total_time_cost": dict(self.total_time_cost),
            "total_parking_time": self.total_parking_time,
            "total_parking_cost": dict(self.total_parking_cost),
        }


def _apply_bound(
    excl: Decimal, incl: Decimal, bound: _Bound | None, pick: Any, vat_ratio: Decimal
) -> tuple[Decimal, Decimal]:
    if bound is None:
        return excl, incl
    new_excl = pick(excl, bound.excl_vat)
    if bound.incl_vat is not None:
        new_incl = pick(incl, bound.incl_vat)
    elif new_excl != excl:
        new_incl = new_excl * vat_ratio
    else:
        new_incl = incl
    return _money(new_excl), _money(new_incl)


def price_session(
    tariff: Mapping[str, Any],
    *,
    start: datetime,
    end: datetime,
    energy_kwh: float,
    charging_periods: Sequence[Mapping[str, Any]] | None = None,
    parking_hours: float = 0.0,
    time_zone: tzinfo | None = None,
) -> Priced:
    """Price one session; see the module docstring for every rule.

    ``start``/``end`` bound the whole session (charging and parking, as the CDR's
    ``start_date_time``/``end_date_time``); ``parking_hours`` is the part of it, at the
    end, where the EV was not charging. ValueError names the bad tariff field or argument.
    """
    parsed = _parse_tariff(tariff)
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        raise ValueError("start and end: must be datetimes")
    zone: tzinfo = time_zone if time_zone is not None else (start.tzinfo or UTC)
    start_utc, end_utc = _utc(start), _utc(end)
    if end_utc < start_utc:
        raise ValueError("end: must not be before start")
    total_us = _us(end_utc - start_utc)

    energy = _number(energy_kwh, "energy_kwh")
    if charging_periods is not None:
        periods = _given_periods(charging_periods, start_utc, end_utc, zone, energy)
    else:
        parking = _number(parking_hours, "parking_hours")
        parking_us = int((parking * _US_PER_H).to_integral_value(ROUND_HALF_EVEN))
        if parking_us > total_us:
            raise ValueError("parking_hours: longer than the session (end - start)")
        periods = _synthesized_periods(parsed, start_utc, end_utc, zone, energy, parking_us)

    for period in periods:
        _choose(parsed, period)
    if charging_periods is None:
        periods = _merge(periods)

    sums = {d: [_ZERO, _ZERO] for d in DIMENSIONS}  # dimension -> [excl, incl]
    volumes = {"ENERGY": _ZERO, "TIME": _ZERO, "PARKING_TIME": _ZERO}
    last: dict[str, _Component] = {}
    for period in periods:
        for dimension, volume in (
            ("ENERGY", period.energy_kwh),
            ("TIME", period.time_h),
            ("PARKING_TIME", period.parking_h),
        ):
            volumes[dimension] += volume
            element = period.chosen.get(dimension)
            if element is None or not volume:
                continue
            component = element.components[dimension]
            excl = volume * component.price
            sums[dimension][0] += excl
            sums[dimension][1] += component.incl(excl)
            last[dimension] = component

    # step_size: once for ENERGY (Wh), once for TIME and PARKING_TIME combined (s).
    billed = dict(volumes)
    energy_step = last.get("ENERGY")
    if energy_step is not None and energy_step.step_size:
        wh = volumes["ENERGY"] * 1000
        billed["ENERGY"] = _steps_up(wh, energy_step.step_size) / 1000
    time_dimension = "PARKING_TIME" if "PARKING_TIME" in last else "TIME"
    time_step = last.get(time_dimension)
    if time_step is not None and time_step.step_size:
        seconds = volumes[time_dimension] * 3600
        billed[time_dimension] = _steps_up(seconds, time_step.step_size) / 3600
    for dimension in ("ENERGY", "TIME", "PARKING_TIME"):
        extra = billed[dimension] - volumes[dimension]
        if extra > 0:
            component = last[dimension]
            sums[dimension][0] += extra * component.price
            sums[dimension][1] += component.incl(extra * component.price)

    if periods:
        first = periods[0].state
        local_start = start_utc.astimezone(zone)
        at_start = _State(local_start, _ZERO, _ZERO, first.power_kw, first.current_a)
        flat = _select(parsed, "FLAT", at_start)
        if flat is not None:
            component = flat.components["FLAT"]
            sums["FLAT"][0] += component.price
            sums["FLAT"][1] += component.incl(component.price)

    rounded = {d: (_money(excl), _money(incl)) for d, (excl, incl) in sums.items()}
    total_excl = sum((excl for excl, _ in rounded.values()), _ZERO)
    total_incl = sum((incl for _, incl in rounded.values()), _ZERO)
    # A bound without incl_vat keeps the session's effective VAT rate.
    unrounded_excl = sum((excl for excl, _ in sums.values()), _ZERO)
    unrounded_incl = sum((incl for _, incl in sums.values()), _ZERO)
    vat_ratio = unrounded_incl / unrounded_excl if unrounded_excl else Decimal(1)
    bounds = ((parsed.min_price, max), (parsed.max_price, min))
    for bound, pick in bounds:
        total_excl, total_incl = _apply_bound(total_excl, total_incl, bound, pick, vat_ratio)

    out_periods = []
    for period in periods:
        if period.raw is not None:
            out = dict(period.raw)
            value = out.get("start_date_time")
            if isinstance(value, datetime):
                out["start_date_time"] = _ocpi_datetime(value)
        else:
            dims = []
            if period.parking_h > 0:
                dims.append({"type": "PARKING_TIME", "volume": _quantity(period.parking_h)})
            else:
                dims.append({"type": "ENERGY", "volume": _quantity(period.energy_kwh)})
                dims.append({"type": "TIME", "volume": _quantity(period.time_h)})
            out = {
                "start_date_time": _ocpi_datetime(
                    start_utc + timedelta(microseconds=period.start_us)
                ),
                "dimensions": dims,
            }
        if parsed.id is not None:
            out["tariff_id"] = parsed.id
        out_periods.append(out)

    return Priced(
        currency=parsed.currency,
        tariff_id=parsed.id,
        total_cost=_price(total_excl, total_incl),
        total_fixed_cost=_price(*rounded["FLAT"]),
        total_energy_cost=_price(*rounded["ENERGY"]),
        total_time_cost=_price(*rounded["TIME"]),
        total_parking_cost=_price(*rounded["PARKING_TIME"]),
        total_energy=_quantity(volumes["ENERGY"]),
        total_time=_quantity(Decimal(total_us) / _US_PER_H),
        total_parking_time=_quantity(volumes["PARKING_TIME"]),
        charging_periods=out_periods,
        billed_energy=_quantity(billed["ENERGY"]),
        billed_time=_quantity(billed["TIME"]),
        billed_parking_time=_quantity(billed["PARKING_TIME"]),
    )
