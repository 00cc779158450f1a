"""The station's behaviour settings, read from either version's configuration."""

from __future__ import annotations

from dataclasses import dataclass

from voltlab.simulator.model.authorization import AuthConfig


@dataclass(frozen=True, slots=True)
class StationSettings:
    auth: AuthConfig
    heartbeat_interval_s: int
    meter_interval_s: int
    measurands: tuple[str, ...]
    ping_interval_s: int
    connection_timeout_s: int
    authorize_remote_start: bool
    stop_on_invalid_id: bool
    max_energy_on_invalid_id_wh: int | None
    stop_on_ev_side_disconnect: bool
    unlock_on_ev_side_disconnect: bool
    message_attempts: int
    message_retry_interval_s: int
    local_list_max_length: int
    cache_max_entries: int
    cache_lifetime_s: int | None
