"""All configuration of voltlab. Nothing else in the package reads ``os.environ``.

Every field is settable as ``VOLTLAB_<FIELD>`` (for example ``VOLTLAB_DATABASE_URL``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "voltlab"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VOLTLAB_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    # Empty means: SQLite file ``voltlab.db`` under ``data_dir``.
    database_url: str = ""
    database_echo: bool = False

    host: str = "127.0.0.1"
    port: int = 8080

    # JWT verification. HS256 with ``jwt_secret`` (or a secret generated into
    # ``data_dir/jwt_secret`` on first start); RS256/ES256 with a PEM public key or a
    # JWKS file for deployments whose tokens are minted elsewhere.
    jwt_algorithm: Literal["HS256", "RS256", "ES256"] = "HS256"
    jwt_secret: str = ""
    jwt_public_key_file: Path | None = None
    jwt_jwks_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_s: int = 10

    # Fleet.
    max_chargers: int = 20_000
    connect_timeout_s: float = 10.0
    ocpp_response_timeout_s: float = 30.0
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 60.0
    default_heartbeat_interval_s: int = 60
    default_meter_interval_s: int = 60
    # Connection ramp: chargers per second that may start dialing their CSMS (0: no
    # ramp). Independently, at most ``max_connecting`` dial (TCP and WebSocket handshake)
    # at the same time, so a bulk start or a restart never floods the event loop the API
    # shares.
    connection_ramp_per_s: float = 0.0
    max_connecting: int = 200

    # Frame log: buffered, batched writes; the newest ``framelog_retention`` frames
    # per charger are kept and every pruned frame is counted.
    framelog_flush_interval_s: float = 0.5
    framelog_batch_size: int = 2_000
    framelog_queue_size: int = 200_000
    framelog_retention: int = 5_000

    # OCPI. Every URL handed to a peer starts with ``public_base_url`` (empty: the URL
    # the management request came in on, i.e. ``http://{host}:{port}`` of ``serve``).
    public_base_url: str = ""
    # Hosted deployments refuse private and loopback peer addresses (SSRF guard).
    ocpi_block_private_peers: bool = False
    ocpi_http_timeout_s: float = 10.0
    # How often expired bundles (``ttl_seconds``) are looked for and destroyed.
    ocpi_sweep_interval_s: float = 15.0

    log_level: str = "INFO"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'voltlab.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url().startswith("sqlite")
