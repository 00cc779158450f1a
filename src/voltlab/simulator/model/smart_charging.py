"""Charging profiles and the limit they set (OCPP 1.6 §3.13 Smart Charging; 2.0.1 K01, K08, K10).

Version-neutral: both wire formats parse into one ``ChargingProfile``; 2.0.1's
``ChargingStationMaxProfile`` becomes ``ChargePointMaxProfile``.

    store = ProfileStore()
    profile = profile_from_16(request["csChargingProfiles"])
    status = store.install(
        request["connectorId"], profile, has_transaction=False, active_transaction_id=None
    )
    store.limit_w(1, now, tx_start=None)  # 11040.0, or None when nothing limits
    store.composite_schedule(1, now, 3600, rate_unit="A", tx_start=None)

Times are tz-aware UTC datetimes passed in by the caller; nothing here reads a clock.
Rules (voltlab's reading where the spec leaves room):
- per purpose the leading profile is the highest stackLevel that is valid *and* has a
  period active at that instant; a higher level outside its schedule does not shadow;
- TxProfile overrules TxDefaultProfile; a connector's TxDefaultProfile overrules
  connector 0's; ChargePointMaxProfile and ChargingStationExternalConstraints cap the
  result, which is the lowest of the leading limits;
- Absolute and Recurring schedules start at startSchedule, lacking it at validFrom,
  else at the time asked about (``now``); Relative ones at the transaction start, or at
  ``now`` when no transaction runs (as if one started then);
- Recurring repeats every day or week from startSchedule; ``duration`` ends a schedule.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, NamedTuple

from voltlab.ids import isoformat

CHARGE_POINT_MAX = "ChargePointMaxProfile"
EXTERNAL_CONSTRAINTS = "ChargingStationExternalConstraints"
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
PURPOSES = frozenset({CHARGE_POINT_MAX, EXTERNAL_CONSTRAINTS, TX_DEFAULT, TX})
KINDS = frozenset({"Absolute", "Recurring", "Relative"})
RATE_UNITS = frozenset({"A", "W"})
_STATION_MAX_201 = "ChargingStationMaxProfile"
_RECURRENCE_S = {"Daily": 86_400, "Weekly": 7 * 86_400}


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_period_s: int
    limit: float
    number_phases: int | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"startPeriod": self.start_period_s, "limit": self.limit}
        if self.number_phases is not None:
            wire["numberPhases"] = self.number_phases
        return wire


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    id: int
    stack_level: int
    purpose: str  # ChargePointMaxProfile | TxDefaultProfile | TxProfile | ...ExternalConstraints
    kind: str  # Absolute | Recurring | Relative
    recurrency: str | None  # Daily | Weekly
    valid_from: datetime | None
    valid_to: datetime | None
    transaction_id: str | None
    start_schedule: datetime | None
    duration_s: int | None
    rate_unit: str  # A | W
    periods: tuple[SchedulePeriod, ...]
    min_charging_rate: float | None = None

    def to_wire(self, version: str) -> dict[str, Any]:
        """1.6 ``csChargingProfiles`` or 2.0.1 ``chargingProfile``, as the CSMS would send it."""
        schedule: dict[str, Any] = {}
        if self.duration_s is not None:
            schedule["duration"] = self.duration_s
        if self.start_schedule is not None:
            schedule["startSchedule"] = isoformat(self.start_schedule)
        schedule["chargingRateUnit"] = self.rate_unit
        schedule["chargingSchedulePeriod"] = [p.to_wire() for p in self.periods]
        if self.min_charging_rate is not None:
            schedule["minChargingRate"] = self.min_charging_rate
        if version == "1.6":
            if self.purpose not in (CHARGE_POINT_MAX, TX_DEFAULT, TX):
                raise ValueError(f"{self.purpose} does not exist in OCPP 1.6")
            wire: dict[str, Any] = {"chargingProfileId": self.id}
            if self.transaction_id is not None:
                if not self.transaction_id.lstrip("-").isdigit():
                    raise ValueError("an OCPP 1.6 transactionId is an integer")
                wire["transactionId"] = int(self.transaction_id)
            purpose = self.purpose
        elif version == "2.0.1":
            wire = {"id": self.id}
            schedule = {"id": self.id, **schedule}  # one schedule per profile: reuse the id
            purpose = _STATION_MAX_201 if self.purpose == CHARGE_POINT_MAX else self.purpose
        else:
            raise ValueError(f"unknown OCPP version {version!r}")
        wire |= {
            "stackLevel": self.stack_level,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": self.kind,
        }
        if self.recurrency is not None:
            wire["recurrencyKind"] = self.recurrency
        if self.valid_from is not None:
            wire["validFrom"] = isoformat(self.valid_from)
        if self.valid_to is not None:
            wire["validTo"] = isoformat(self.valid_to)
        if version == "2.0.1":
            if self.transaction_id is not None:
                wire["transactionId"] = self.transaction_id
            wire["chargingSchedule"] = [schedule]
        else:
            wire["chargingSchedule"] = schedule
        return wire


def profile_from_16(cs_charging_profiles: dict[str, Any]) -> ChargingProfile:
    """Parse 1.6 ``csChargingProfiles``, or the ``chargingProfile`` of RemoteStartTransaction."""
    body = cs_charging_profiles
    tx = body.get("transactionId")
    return _parse(
        body, body["chargingProfileId"], None if tx is None else str(tx), body["chargingSchedule"]
    )


def profile_from_201(charging_profile: dict[str, Any]) -> ChargingProfile:
    """Parse a 2.0.1 ``chargingProfile``; only its first ``chargingSchedule`` is kept."""
    body = charging_profile
    return _parse(body, body["id"], body.get("transactionId"), body["chargingSchedule"][0])


def _parse(
    body: dict[str, Any], id_: Any, tx: str | None, schedule: dict[str, Any]
) -> ChargingProfile:
    purpose = body["chargingProfilePurpose"]
    min_rate = schedule.get("minChargingRate")
    return ChargingProfile(
        id=int(id_),
        stack_level=int(body["stackLevel"]),
        purpose=CHARGE_POINT_MAX if purpose == _STATION_MAX_201 else purpose,
        kind=body["chargingProfileKind"],
        recurrency=body.get("recurrencyKind"),
        valid_from=_parse_time(body.get("validFrom")),
        valid_to=_parse_time(body.get("validTo")),
        transaction_id=tx,
        start_schedule=_parse_time(schedule.get("startSchedule")),
        duration_s=None if schedule.get("duration") is None else int(schedule["duration"]),
        rate_unit=schedule["chargingRateUnit"],
        periods=tuple(
            SchedulePeriod(int(p["startPeriod"]), float(p["limit"]), p.get("numberPhases"))
            for p in schedule["chargingSchedulePeriod"]
        ),
        min_charging_rate=None if min_rate is None else float(min_rate),
    )


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def well_formed(profile: ChargingProfile) -> bool:
    """Whether the charger can use the profile at all: known purpose, kind and unit, and
    periods that start at 0 or later in increasing order."""
    starts = [p.start_period_s for p in profile.periods]
    return (
        profile.purpose in PURPOSES
        and profile.kind in KINDS
        and (profile.kind != "Recurring" or profile.recurrency in _RECURRENCE_S)
        and profile.rate_unit in RATE_UNITS
        and bool(starts)
        and starts[0] >= 0
        and all(a < b for a, b in pairwise(starts))
        and all(p.limit >= 0 for p in profile.periods)
    )


class _Limit(NamedTuple):
    watts: float
    number_phases: int | None  # the period's own numberPhases, if it gave one


def _schedule_start(p: ChargingProfile, tx_start: datetime | None, origin: datetime) -> datetime:
    if p.kind == "Relative":
        return tx_start or origin
    return p.start_schedule or p.valid_from or origin


def _active_period(
    p: ChargingProfile, at: datetime, tx_start: datetime | None, origin: datetime
) -> SchedulePeriod | None:
    if (p.valid_from is not None and at < p.valid_from) or (
        p.valid_to is not None and at >= p.valid_to
    ):
        return None
    elapsed = (at - _schedule_start(p, tx_start, origin)).total_seconds()
    if p.kind == "Recurring":
        elapsed %= _RECURRENCE_S[p.recurrency or ""]
    if elapsed < 0 or (p.duration_s is not None and elapsed >= p.duration_s):
        return None
    current = None
    for period in p.periods:
        if period.start_period_s > elapsed:
            break
        current = period
    return current


def _breakpoints(
    p: ChargingProfile, start: datetime, end: datetime, tx_start: datetime | None, origin: datetime
) -> Iterator[datetime]:
    """Every instant in [start, end] where ``p``'s active period may change."""
    yield from (t for t in (p.valid_from, p.valid_to) if t is not None)
    anchor = _schedule_start(p, tx_start, origin)
    offsets = [period.start_period_s for period in p.periods]
    if p.duration_s is not None:
        offsets.append(p.duration_s)
    cycles: range = range(1)
    cycle_s = 0
    if p.kind == "Recurring":
        cycle_s = _RECURRENCE_S[p.recurrency or ""]
        first = math.floor((start - anchor).total_seconds() / cycle_s)
        cycles = range(first, math.floor((end - anchor).total_seconds() / cycle_s) + 1)
    for k in cycles:
        for offset in offsets:
            yield anchor + timedelta(seconds=k * cycle_s + offset)


def _round_down(value: float) -> float:
    """Limits go on the wire with at most one decimal; rounding down never exceeds the limit."""
    return value if math.isinf(value) else math.floor(round(value * 10, 6)) / 10


class ProfileStore:
    """Installed profiles per connector/EVSE (0 = whole station)."""

    __slots__ = ("_installed",)

    def __init__(self) -> None:
        self._installed: dict[int, tuple[int, ChargingProfile]] = {}  # by profile id

    def __len__(self) -> int:
        return len(self._installed)

    def install(
        self,
        connector_id: int,
        profile: ChargingProfile,
        *,
        has_transaction: bool,
        active_transaction_id: str | None,
    ) -> str:
        """SetChargingProfile: ``"Accepted"`` or ``"Rejected"`` (1.6 §5.16, 2.0.1 K01)."""
        if connector_id < 0 or not well_formed(profile):
            return "Rejected"
        if profile.purpose == CHARGE_POINT_MAX and connector_id != 0:
            return "Rejected"
        if profile.purpose == TX:
            if connector_id == 0 or not has_transaction:
                return "Rejected"
            named = profile.transaction_id
            if active_transaction_id is not None and named not in (None, active_transaction_id):
                return "Rejected"
        for pid, (conn, old) in list(self._installed.items()):
            same_slot = (
                conn == connector_id
                and old.purpose == profile.purpose
                and old.stack_level == profile.stack_level
            )
            if pid == profile.id or same_slot:
                del self._installed[pid]
        self._installed[profile.id] = (connector_id, profile)
        return "Accepted"

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> int:
        """ClearChargingProfile: remove the profiles matching every criterion given; count them."""
        if purpose == _STATION_MAX_201:
            purpose = CHARGE_POINT_MAX
        doomed = [
            pid
            for pid, (conn, p) in self._installed.items()
            if (profile_id is None or pid == profile_id)
            and (connector_id is None or conn == connector_id)
            and (purpose is None or p.purpose == purpose)
            and (stack_level is None or p.stack_level == stack_level)
        ]
        for pid in doomed:
            del self._installed[pid]
        return len(doomed)

    def clear_transaction(self, connector_id: int) -> None:
        """The transaction on ``connector_id`` ended: its TxProfiles go with it."""
        self.clear(connector_id=connector_id, purpose=TX)

    def profiles(self) -> list[tuple[int, ChargingProfile]]:
        """``(connector_id, profile)`` in installation order."""
        return list(self._installed.values())

    def limit_w(
        self,
        connector_id: int,
        now: datetime,
        *,
        tx_start: datetime | None,
        voltage_v: float = 230.0,
        phases: int = 3,
    ) -> float | None:
        """The power limit in W on ``connector_id`` at ``now``; None = nothing limits it.

        Connector 0 answers for the whole station (its max profiles only).
        """
        found = self._limit_at(connector_id, now, tx_start, now, voltage_v, phases)
        return None if found is None else found.watts

    def composite_schedule(
        self,
        connector_id: int,
        now: datetime,
        duration_s: int,
        *,
        rate_unit: str,
        tx_start: datetime | None,
        voltage_v: float = 230.0,
        phases: int = 3,
        max_w: float | None = None,
    ) -> list[SchedulePeriod]:
        """GetCompositeSchedule over [now, now + duration_s): periods relative to ``now``.

        Equal neighbours merge; limits are in ``rate_unit``, rounded down to 0.1. ``max_w``
        (the station's rating) caps every period and fills stretches no profile limits.
        Without it such a stretch has ``limit=math.inf``, and a window with no limit at
        all gives ``[]``.
        """
        if rate_unit not in RATE_UNITS:
            raise ValueError(f"rate_unit must be 'A' or 'W', not {rate_unit!r}")
        end = now + timedelta(seconds=duration_s)
        instants = {now}
        for conn, p in self._installed.values():
            if conn in (0, connector_id):
                instants.update(
                    t for t in _breakpoints(p, now, end, tx_start, now) if now < t < end
                )
        periods: list[SchedulePeriod] = []
        limited = False
        for at in sorted(instants):
            found = self._limit_at(connector_id, at, tx_start, now, voltage_v, phases)
            if max_w is not None and (found is None or max_w < found.watts):
                found = _Limit(max_w, None)
            limited = limited or found is not None
            period = self._in_unit(
                found, int((at - now).total_seconds()), rate_unit, voltage_v, phases
            )
            if periods and periods[-1].start_period_s == period.start_period_s:
                periods.pop()  # two changes inside one second: the later one holds
            if periods and (periods[-1].limit, periods[-1].number_phases) == (
                period.limit,
                period.number_phases,
            ):
                continue
            periods.append(period)
        return periods if limited else []

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; profiles in their 2.0.1 wire form, which holds every field."""
        return {
            "profiles": [
                {"connector_id": conn, "profile": p.to_wire("2.0.1")} for conn, p in self.profiles()
            ]
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProfileStore:
        store = cls()
        for entry in data.get("profiles", []):
            profile = profile_from_201(entry["profile"])
            store._installed[profile.id] = (int(entry["connector_id"]), profile)
        return store

    # -- internals -------------------------------------------------------------------

    def _leading(
        self,
        connector_id: int,
        purpose: str,
        at: datetime,
        tx_start: datetime | None,
        origin: datetime,
        voltage_v: float,
        phases: int,
    ) -> _Limit | None:
        best: tuple[ChargingProfile, SchedulePeriod] | None = None
        for conn, p in self._installed.values():
            if conn != connector_id or p.purpose != purpose:
                continue
            if best is not None and p.stack_level <= best[0].stack_level:
                continue
            period = _active_period(p, at, tx_start, origin)
            if period is not None:
                best = (p, period)
        if best is None:
            return None
        profile, period = best
        if profile.rate_unit == "W":
            return _Limit(period.limit, period.number_phases)
        return _Limit(
            period.limit * voltage_v * (period.number_phases or phases), period.number_phases
        )

    def _limit_at(
        self,
        connector_id: int,
        at: datetime,
        tx_start: datetime | None,
        origin: datetime,
        voltage_v: float,
        phases: int,
    ) -> _Limit | None:
        def lead(conn: int, purpose: str) -> _Limit | None:
            return self._leading(conn, purpose, at, tx_start, origin, voltage_v, phases)

        found = [lead(0, CHARGE_POINT_MAX), lead(0, EXTERNAL_CONSTRAINTS)]
        if connector_id > 0:
            found.append(lead(connector_id, EXTERNAL_CONSTRAINTS))
            found.append(
                lead(connector_id, TX) or lead(connector_id, TX_DEFAULT) or lead(0, TX_DEFAULT)
            )
        limits = [f for f in found if f is not None]
        return min(limits, key=lambda f: f.watts) if limits else None

    @staticmethod
    def _in_unit(
        found: _Limit | None, offset_s: int, rate_unit: str, voltage_v: float, phases: int
    ) -> SchedulePeriod:
        if found is None:
            return SchedulePeriod(offset_s, math.inf)
        value = found.watts
        if rate_unit == "A":
            value /= voltage_v * (found.number_phases or phases)
        return SchedulePeriod(offset_s, _round_down(value), found.number_phases)
