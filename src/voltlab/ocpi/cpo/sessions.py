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

This module owns the lifecycle: the three hooks, finding the session of a transaction (or
opening it late, after a restart) and the grant behind its token. The parts it calls:
``session_site`` (the charger's bundle, location, EVSE and tariff), ``session_changes``
(opening and advancing the stored Session, and its CDR), ``session_periods`` (charging
periods and their price), ``session_cdrs`` (the CDR and its CdrToken and CdrLocation),
``session_time`` (OCPI DateTimes) and ``session_push`` (PUT, PATCH and POST to the eMSP).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from voltlab.ocpi.cpo.decision import token_type_to_ocpi
from voltlab.ocpi.cpo.grants import Grant
from voltlab.ocpi.cpo.session_changes import PERIOD_S, advance, open_session
from voltlab.ocpi.cpo.session_periods import SESSION_ONLY_DIMENSIONS
from voltlab.ocpi.cpo.session_push import push_cdr, push_session
from voltlab.ocpi.cpo.session_site import Site, load_site, tariff_for
from voltlab.ocpi.cpo.session_time import ocpi_datetime, whole_second
from voltlab.ocpi.cpo.tokens import lookup
from voltlab.storage.ocpi import OcpiAuthorization, OcpiSession

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

# An Authorize logged this long before the start still decided it (ocpi.md: one decision
# per start within 60 s; some slack for the 2.0.1 plug-in-first case).
RECOVER_WINDOW_S = 120

AUTH_METHOD_OF_PATH = {
    "cache": "WHITELIST",
    "fallback": "WHITELIST",
    "realtime": "AUTH_REQUEST",
    "command": "COMMAND",
}


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
        site = await load_site(services, bundle_id, charger_id)
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
        data = await open_session(services, site, tx, grant)
        if data is not None and data["status"] == "ACTIVE":
            await push_session(services, site.bundle, data, None)
    except Exception:
        # Called from a background task: a bug here must not stop the charger's next calls.
        log.exception("OCPI session start failed (bundle %s, charger %s)", bundle_id, charger_id)


async def updated(services: Services, bundle_id: int, charger_id: str, tx: CsmsTransaction) -> None:
    """New meter values: kwh, closed charging periods and the cost so far, PATCHed."""
    try:
        site = await load_site(services, bundle_id, charger_id)
        if site is None:
            return
        row = await _current(services, site, tx)
        if row is None or row.status != "ACTIVE":
            return
        change = await advance(services, site, row.id, tx, final=False)
        if change is not None:
            await push_session(services, site.bundle, change.data, change.patch)
    except Exception:
        log.exception("OCPI session update failed (bundle %s, charger %s)", bundle_id, charger_id)


async def ended(services: Services, bundle_id: int, charger_id: str, tx: CsmsTransaction) -> None:
    """The transaction stopped: the Session COMPLETED (PATCH), then its CDR (POST)."""
    try:
        site = await load_site(services, bundle_id, charger_id)
        if site is None:
            return
        row = await _current(services, site, tx)
        if row is None or row.status != "ACTIVE":
            return  # COMPLETED already (never ended twice) or INVALID (nothing to bill)
        change = await advance(services, site, row.id, tx, final=True)
        if change is None:
            return
        await push_session(services, site.bundle, change.data, change.patch)
        if change.cdr is not None:
            await push_cdr(services, site.bundle, change.cdr)
    except Exception:
        log.exception("OCPI session end failed (bundle %s, charger %s)", bundle_id, charger_id)


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
    start = ocpi_datetime(whole_second(tx.started_at))
    for row in rows:
        if row.data.get("start_date_time") == start:
            return row
    return None


async def _current(services: Services, site: Site, tx: CsmsTransaction) -> OcpiSession | None:
    """The session of ``tx``, created now when voltlab missed the start (a restart)."""
    async with services.sessions() as db:
        row = _match(await _rows(db, site.bundle.id, site.charger.id, tx), tx)
    if row is not None:
        return row
    if not tx.id_tag:
        return None  # no token yet (2.0.1 plug-in first): nobody to bill, no session
    grant = await _recover_grant(services, site, tx)
    data = await open_session(services, site, tx, grant)
    if data is None:
        return None
    if data["status"] == "ACTIVE":
        await push_session(services, site.bundle, data, None)
    async with services.sessions() as db:
        return _match(await _rows(db, site.bundle.id, site.charger.id, tx), tx)


# --------------------------------------------------------------------------- the token


async def _recover_grant(services: Services, site: Site, tx: CsmsTransaction) -> Grant | None:
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
