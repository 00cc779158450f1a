"""``CpoHooks``: a CPO bundle's view of its chargers at the built-in CSMS.

Every tag a charger presents (Authorize, StartTransaction, TransactionEvent with an
idToken) is decided here: a pending START_SESSION command, a recent Authorize decision
(one decision per start), or a fresh decision (``authorize.decide``). Transactions become
OCPI Sessions and CDRs (``sessions``), in order per charger and off the OCPP receive loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from voltlab import catalog
from voltlab.csms import CsmsHooks
from voltlab.csms.authorization import ACCEPTED, TagDecision, TagRequest
from voltlab.ocpi.cpo import sessions
from voltlab.ocpi.cpo.authorize import Where, decide, log
from voltlab.ocpi.cpo.decision import (
    ocpp_status,
    personal_message,
    token_type_to_ocpi,
)
from voltlab.ocpi.cpo.grants import Grant
from voltlab.ocpi.templates import evse_uid_for
from voltlab.storage.models import Charger
from voltlab.storage.ocpi import OcpiBundle

if TYPE_CHECKING:
    from voltlab.csms.state import CsmsStation, CsmsTransaction
    from voltlab.services import Services

log_ = logging.getLogger(__name__)

REFUSED = TagDecision("Invalid")


def realm(bundle_id: int) -> str:
    return str(bundle_id)


class CpoHooks(CsmsHooks):
    def __init__(self, services: Services, bundle_id: int) -> None:
        self.services = services
        self.bundle_id = bundle_id
        self._chargers: dict[str, Charger] = {}
        # The grant of each StartTransaction, until transaction_started picks it up.
        self._start_grants: dict[tuple[str, str], Grant] = {}
        # The last queued session task per charger: the next one waits for it.
        self._chain: dict[str, asyncio.Task[Any]] = {}

    async def _bundle(self) -> OcpiBundle | None:
        # Read per decision: behaviour (timeout, fallback policy) changes take effect at once.
        async with self.services.sessions() as session:
            return await session.get(OcpiBundle, self.bundle_id)

    async def _charger(self, identity: str) -> Charger | None:
        row = self._chargers.get(identity)
        if row is None:
            from sqlalchemy import select

            async with self.services.sessions() as session:
                row = (
                    await session.scalars(
                        select(Charger).where(
                            Charger.ocpi_cpo_id == self.bundle_id, Charger.identity == identity
                        )
                    )
                ).first()
            if row is not None:
                self._chargers[identity] = row
        return row

    @staticmethod
    def _evse_uid(charger: Charger, request: TagRequest) -> str | None:
        n = request.evse_id or request.connector_id
        model = catalog.model(charger.brand_slug, charger.model_slug)
        if not n or model is None or n > model.connector_count:
            return None
        return evse_uid_for(charger.identity, n, model.connector_count)

    @staticmethod
    def _render(grant: Grant, version: str) -> TagDecision:
        decision = grant.decision
        if decision is None:  # a START_SESSION command: accepted without asking
            return ACCEPTED
        message = personal_message(decision, version)  # type: ignore[arg-type]
        return TagDecision(
            ocpp_status(decision, version),  # type: ignore[arg-type]
            group_id=decision.group_id,
            personal_message=message["content"] if message else None,
            language=message.get("language") if message else None,
        )

    async def authorize(self, station: CsmsStation, request: TagRequest) -> TagDecision:
        if request.context == "stop_transaction":
            return ACCEPTED  # stopping is never refused
        bundle = await self._bundle()
        charger = await self._charger(station.identity)
        if bundle is None or charger is None:
            return REFUSED
        version = station.ocpp_version
        uid = request.id_token
        starting = request.context == "start_transaction"
        where = Where(charger.id, charger.ocpi_location_id, self._evse_uid(charger, request))
        cpo = self.services.ocpi.cpo
        now = time.monotonic()
        grant = cpo.remote_start(charger.id, uid, consume=starting)
        if grant is not None:
            if starting:
                await log(
                    self.services,
                    bundle,
                    grant,
                    where=where,
                    trigger="command",
                    ocpp_status="Accepted",
                    latency_ms=0.0,
                )
        elif starting:
            # peek, not take: a StartTransaction the charger sends again (its answer was
            # slow) must carry the same decision and reference, not a second one.
            grant = cpo.recent.peek(charger.id, uid, now)
        if grant is None:
            try:
                ocpi_type = token_type_to_ocpi(request.token_type) if request.token_type else None
            except ValueError:
                ocpi_type = "OTHER"
            grant = await decide(
                self.services,
                bundle,
                uid=uid,
                ocpi_type=ocpi_type,
                where=where,
                trigger=request.context,
                ocpp_status_of=lambda decision: ocpp_status(decision, version),  # type: ignore[arg-type]
            )
            if not starting:
                cpo.recent.remember(charger.id, uid, grant, now)
        if starting:
            self._start_grants[(station.identity, uid.casefold())] = grant
        return self._render(grant, version)

    # -- transactions -> sessions and CDRs ------------------------------------------------

    def _then(self, identity: str, work: Callable[[Charger], Awaitable[None]]) -> None:
        """Run ``work`` after the charger's previous session work, in the background."""
        previous = self._chain.get(identity)

        async def run() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            charger = await self._charger(identity)
            if charger is not None:
                await work(charger)

        self._chain[identity] = self.services.tasks.spawn(run(), name=f"ocpi-session-{identity}")

    async def transaction_started(self, station: CsmsStation, tx: CsmsTransaction) -> None:
        grant = self._start_grants.pop((station.identity, (tx.id_tag or "").casefold()), None)
        snapshot = dataclasses.replace(tx)
        self._then(
            station.identity,
            lambda charger: sessions.started(
                self.services, self.bundle_id, charger.id, snapshot, grant
            ),
        )

    async def transaction_updated(self, station: CsmsStation, tx: CsmsTransaction) -> None:
        snapshot = dataclasses.replace(tx)
        self._then(
            station.identity,
            lambda charger: sessions.updated(self.services, self.bundle_id, charger.id, snapshot),
        )

    async def transaction_ended(self, station: CsmsStation, tx: CsmsTransaction) -> None:
        if tx.id_tag:
            # This start is over: the next start of the tag is a new start and decides
            # anew (one decision per start). Only a resent StartTransaction, while the
            # transaction runs, reuses the Authorize's decision (the peek above).
            charger = await self._charger(station.identity)
            if charger is not None:
                self.services.ocpi.cpo.recent.take(charger.id, tx.id_tag, time.monotonic())
            # A 2.0.1 start whose tag came in a later TransactionEvent left its grant here
            # (transaction_started had already run): drop it with the transaction.
            self._start_grants.pop((station.identity, tx.id_tag.casefold()), None)
        snapshot = dataclasses.replace(tx)
        self._then(
            station.identity,
            lambda charger: sessions.ended(self.services, self.bundle_id, charger.id, snapshot),
        )


def attach(services: Services, bundle_id: int) -> None:
    """Make the built-in CSMS decide and report through this CPO bundle."""
    services.csms.set_hooks(realm(bundle_id), CpoHooks(services, bundle_id))
