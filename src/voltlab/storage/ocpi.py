"""OCPI tables: bundles (simulated parties), their peers, locations, tokens, the
authorization log, sessions, CDRs, commands and the log of every OCPI exchange.

Every row carries ``org_id`` and its bundle; repositories filter on both.
OCPI objects as exchanged on the wire live in ``data`` (JSON), with the columns a query
needs (ids, status, ``last_updated``) beside them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voltlab.storage.base import Base, BigIntPK, JSONType, UTCDateTime

ID = String(36)
ORG = String(128)


class OcpiBundle(Base):
    """One simulated OCPI party (a CPO or an eMSP) hosted by voltlab."""

    __tablename__ = "ocpi_bundles"
    __table_args__ = (
        Index("ix_ocpi_bundles_org_party", "org_id", "country_code", "party_id"),
        # A deleted bundle's id is never given again: peers may still hold its URLs.
        {"sqlite_autoincrement": True},
    )

    # Integer so the public id is the decimal string the documented API shows.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ORG, index=True)
    role: Mapped[str] = mapped_column(String(8))  # CPO | EMSP
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    party_id_mangled_from: Mapped[str | None] = mapped_column(String(3))
    business_name: Mapped[str] = mapped_column(String(100))
    name_prefix: Mapped[str] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    overrides: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16))  # PENDING|PROVISIONING|READY|FAILED
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    workflow_run_id: Mapped[str] = mapped_column(ID)
    # Token A: valid for versions and the credentials POST until a peer registers with it.
    token_a: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The public base URL peers reach this bundle at (fixed when it was created).
    base_url: Mapped[str] = mapped_column(Text)
    # Template tariffs (OCPI Tariff objects) that price this CPO's CDRs.
    tariffs: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    behaviour: Mapped[dict[str, Any]] = mapped_column(JSONType)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    provisioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OcpiPeer(Base):
    """A party registered with a bundle through the credentials module."""

    __tablename__ = "ocpi_peers"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ORG, index=True)
    bundle_id: Mapped[int] = mapped_column(Integer, index=True)
    # What the peer sends us (Authorization: Token ...) and what we send the peer.
    token_ours: Mapped[str] = mapped_column(String(64), unique=True)
    token_theirs: Mapped[str | None] = mapped_column(String(255))
    versions_url: Mapped[str] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(String(8))
    endpoints: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    country_code: Mapped[str | None] = mapped_column(String(2))
    party_id: Mapped[str | None] = mapped_column(String(3))
    role: Mapped[str | None] = mapped_column(String(8))
    roles: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16))  # PENDING | CONNECTED
    initiated_by: Mapped[str] = mapped_column(String(8))  # us | them
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OcpiLocation(Base):
    """A CPO bundle's OCPI Location; its EVSEs come from the chargers linked to it."""

    __tablename__ = "ocpi_locations"

    # OCPI ids are the owner's: unique per bundle (a seed replays the same ids).
    bundle_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ORG, index=True)
    ocpp_location_id: Mapped[str] = mapped_column(ID)
    publish: Mapped[bool] = mapped_column(Boolean, default=True)
    # name, address, city, postal_code, country (alpha-3), coordinates, time_zone, ...
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OcpiToken(Base):
    """An eMSP bundle's own token, or a token in a CPO bundle's cache (per eMSP party)."""

    __tablename__ = "ocpi_tokens"
    __table_args__ = (
        UniqueConstraint(
            "bundle_id", "country_code", "party_id", "uid", "type", name="uq_ocpi_tokens_key"
        ),
        Index("ix_ocpi_tokens_bundle_uid", "bundle_id", "uid"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ORG, index=True)
    bundle_id: Mapped[int] = mapped_column(Integer)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    uid: Mapped[str] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(16))
    valid: Mapped[bool] = mapped_column(Boolean)
    whitelist: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime)


class OcpiAuthorization(Base):
    """One token decision of a CPO bundle (the authorization log)."""

    __tablename__ = "ocpi_authorizations"
    __table_args__ = (Index("ix_ocpi_authorizations_bundle_created", "bundle_id", "created_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ORG, index=True)
    bundle_id: Mapped[int] = mapped_column(Integer)
    token_uid: Mapped[str] = mapped_column(String(36))
    token_type: Mapped[str | None] = mapped_column(String(16))
    emsp_country_code: Mapped[str | None] = mapped_column(String(2))
    emsp_party_id: Mapped[str | None] = mapped_column(String(3))
    charger_id: Mapped[str | None] = mapped_column(ID)
    location_id: Mapped[str | None] = mapped_column(ID)
    evse_uid: Mapped[str | None] = mapped_column(String(36))
    trigger: Mapped[str] = mapped_column(String(24))  # authorize|start_transaction|command
    path: Mapped[str] = mapped_column(String(16))  # cache | realtime | fallback
    ocpi_allowed: Mapped[str | None] = mapped_column(String(16))
    ocpp_status: Mapped[str] = mapped_column(String(32))
    latency_ms: Mapped[float] = mapped_column(Float)
    authorization_reference: Mapped[str | None] = mapped_column(String(36))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OcpiSession(Base):
    """An OCPI Session: sent by a CPO bundle, or received by an eMSP bundle."""

    __tablename__ = "ocpi_sessions"
    __table_args__ = (
        UniqueConstraint(
            "bundle_id", "country_code", "party_id", "session_id", name="uq_ocpi_sessions_key"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ORG, index=True)
    bundle_id: Mapped[int] = mapped_column(Integer, index=True)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    session_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16))
    authorization_reference: Mapped[str | None] = mapped_column(String(36))
    # The OCPP transaction behind a CPO's session (for STOP_SESSION and meter updates).
    charger_id: Mapped[str | None] = mapped_column(ID, index=True)
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime)


class OcpiCdr(Base):
    """An OCPI CDR: created by a CPO bundle, or received by an eMSP bundle."""

    __tablename__ = "ocpi_cdrs"
    __table_args__ = (
        UniqueConstraint(
            "bundle_id", "country_code", "party_id", "cdr_id", name="uq_ocpi_cdrs_key"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ORG, index=True)
    bundle_id: Mapped[int] = mapped_column(Integer, index=True)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    cdr_id: Mapped[str] = mapped_column(String(39))
    authorization_reference: Mapped[str | None] = mapped_column(String(36))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime)


class OcpiCommand(Base):
    """An OCPI command: sent by an eMSP bundle or received by a CPO bundle, with its result."""

    __tablename__ = "ocpi_commands"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ORG, index=True)
    bundle_id: Mapped[int] = mapped_column(Integer, index=True)
    direction: Mapped[str] = mapped_column(String(8))  # sent | received
    command: Mapped[str] = mapped_column(String(24))
    request: Mapped[dict[str, Any]] = mapped_column(JSONType)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OcpiExchange(Base):
    """Every OCPI HTTP exchange a bundle served or made (the per-bundle OCPI log)."""

    __tablename__ = "ocpi_exchanges"
    __table_args__ = (Index("ix_ocpi_exchanges_bundle_created", "bundle_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ORG)
    bundle_id: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(4))  # in | out
    method: Mapped[str] = mapped_column(String(8))
    url: Mapped[str] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    request_body: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
