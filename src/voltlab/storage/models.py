"""Tables. Every tenant-owned row carries ``org_id``; repositories filter on it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from voltlab.storage.base import Base, JSONType, UTCDateTime

ID = String(36)


class Location(Base):
    __tablename__ = "locations"
    __table_args__ = (Index("ix_locations_org_created", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(128), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(64))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    timezone: Mapped[str | None] = mapped_column(String(64))
    owner_name: Mapped[str | None] = mapped_column(String(255))
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(32), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Charger(Base):
    __tablename__ = "chargers"
    __table_args__ = (
        UniqueConstraint("org_id", "identity", name="uq_chargers_org_identity"),
        Index("ix_chargers_org_location", "org_id", "location_id"),
        Index("ix_chargers_desired_state", "desired_state"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(128), index=True)
    identity: Mapped[str] = mapped_column(String(48))
    name: Mapped[str | None] = mapped_column(String(255))
    charge_point_name: Mapped[str | None] = mapped_column(String(255))
    brand_slug: Mapped[str] = mapped_column(String(64))
    model_slug: Mapped[str] = mapped_column(String(64))
    connector_type: Mapped[str] = mapped_column(String(32))
    ocpp_version: Mapped[str] = mapped_column(String(16))
    ws_url: Mapped[str] = mapped_column(Text)
    password: Mapped[str | None] = mapped_column(String(255))
    # Security profiles 2/3: PEM text (the key is never returned by the API).
    ca_cert: Mapped[str | None] = mapped_column(Text)
    client_cert: Mapped[str | None] = mapped_column(Text)
    client_key: Mapped[str | None] = mapped_column(Text)
    heartbeat_interval_s: Mapped[int | None] = mapped_column(Integer)
    meter_interval_s: Mapped[int | None] = mapped_column(Integer)
    location_id: Mapped[str] = mapped_column(ID, ForeignKey("locations.id"))
    # Set on the chargers of an OCPI CPO bundle (they connect to the built-in CSMS).
    ocpi_cpo_id: Mapped[int | None] = mapped_column(Integer, index=True)
    ocpi_location_id: Mapped[str | None] = mapped_column(ID)
    # What the user asked for; the fleet converges on it (and resumes it on restart).
    desired_state: Mapped[str] = mapped_column(String(16), default="running")
    provisioning_status: Mapped[str] = mapped_column(String(16), default="PENDING")
    provisioning_error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    workflow_run_id: Mapped[str] = mapped_column(ID)
    provisioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Job(Base):
    """A per-location bulk operation (bulk create)."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(128), index=True)
    location_id: Mapped[str] = mapped_column(ID)
    job_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    workflow_run_id: Mapped[str] = mapped_column(ID)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    provisioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Command(Base):
    """One command sent to one charger, with its final outcome."""

    __tablename__ = "commands"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(128), index=True)
    charger_id: Mapped[str] = mapped_column(ID, index=True)
    event_type: Mapped[str] = mapped_column(String(48))
    ocpp_version: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FrameLog(Base):
    """Every OCPP frame a charger sent or received, written in batches.

    Keyed by charger and a per-charger sequence number (1, 2, ... in the order the
    frames were recorded, assigned by the writer): one index serves the inserts, the
    API's reads (a charger's frames, newest first) and retention, which deletes the
    lowest sequence numbers of a charger as one key range (migration 0005).
    """

    __tablename__ = "frame_logs"

    charger_id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    org_id: Mapped[str] = mapped_column(String(128))
    direction: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    # A CSMS mistake seen by the charger (schema violation, CALLERROR, timeout).
    finding: Mapped[str | None] = mapped_column(String(255))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)


class FrameLogStats(Base):
    """Frames pruned by retention, per charger: dropped frames are counted, never silent."""

    __tablename__ = "frame_log_stats"

    charger_id: Mapped[str] = mapped_column(ID, primary_key=True)
    pruned: Mapped[int] = mapped_column(Integer, default=0)


class StationState(Base):
    """A station's durable state (configuration overrides, local list, cache, profiles,
    transactions with their offline queue, meter registers) as one JSON document."""

    __tablename__ = "station_states"

    charger_id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(128), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The OCPI tables register with the same metadata (alembic and tests import this module).
from voltlab.storage.ocpi import (  # noqa: E402, F401
    OcpiAuthorization,
    OcpiBundle,
    OcpiCdr,
    OcpiCommand,
    OcpiExchange,
    OcpiLocation,
    OcpiPeer,
    OcpiSession,
    OcpiToken,
)
