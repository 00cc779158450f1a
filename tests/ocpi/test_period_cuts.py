"""Where a session's ChargingPeriods are cut (10.3.1): at the instants a tariff's
restrictions can change which PriceComponent applies, and nowhere else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from voltlab.ocpi.cpo.session_periods import _tariff_instants

BERLIN = ZoneInfo("Europe/Berlin")
# 22:30 to 00:30 local time on 2026-12-07/08 (21:30 to 23:30 UTC): it crosses midnight.
START = datetime(2026, 12, 7, 21, 30, tzinfo=UTC)
END = START + timedelta(hours=2)
MIDNIGHT = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)


def _cuts(*restrictions: dict) -> list[datetime]:
    tariff = {"elements": [{"price_components": [], "restrictions": r} for r in restrictions]}
    return sorted(_tariff_instants(tariff, START, START, END, 0.0, 40.0, BERLIN))


def test_a_tariff_without_calendar_restrictions_does_not_cut_at_midnight():
    assert _cuts({"min_duration": 3600}) == [START + timedelta(hours=1)]
    assert _cuts({}) == []


def test_day_of_week_or_a_date_cuts_at_local_midnight():
    assert _cuts({"day_of_week": ["MONDAY"]}) == [MIDNIGHT]
    assert _cuts({"start_date": "2026-12-08"}) == [MIDNIGHT]
    assert _cuts({"end_date": "2026-12-08"}, {"min_kwh": 20.0}) == [
        START + timedelta(hours=1),  # 20 of 40 kWh, at half of the stretch
        MIDNIGHT,
    ]


def test_times_of_day_cut_where_they_fall_in_local_time():
    # 23:00 Berlin is 22:00 UTC; a malformed time restricts nothing and cuts nothing.
    assert _cuts({"start_time": "23:00", "end_time": "07:00"}) == [START + timedelta(minutes=30)]
    assert _cuts({"start_time": "25:99"}) == []
