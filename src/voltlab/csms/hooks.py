"""``CsmsHooks``: how the owner of a realm (an OCPI CPO bundle, a test) follows its stations.

Subclass ``CsmsHooks`` and override what you need; the defaults accept every tag and
ignore every event, which is how the built-in CSMS behaves without hooks::

    class MyHooks(CsmsHooks):
        async def authorize(self, station, request):
            if request.id_token == "BLOCKED":
                return TagDecision("Blocked")
            return TagDecision("Accepted", personal_message="Welcome")

        async def transaction_ended(self, station, tx):
            self.pending.spawn(push_cdr(station, tx), name="cdr")  # I/O: own task set

    hub.set_hooks("bundle-1", MyHooks())

Every hook runs inline in the station's receive loop, before the CSMS answers the
message that caused it, so hooks see events in order. Consequences:

- ``authorize`` may take seconds (ask an eMSP): the station waits for that answer anyway.
  It is bounded by the hub's ``authorize_timeout_s``; a timeout or an exception answers
  ``Invalid``.
- every other hook must be quick. A hook that does I/O hands it to a task set it owns.
- no hook may await ``hub.call`` for the same station: its answer is read by the very
  loop the hook is blocking, so the call would wait until it times out. Spawn a task.

An exception in any hook is logged and never ends the OCPP session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from voltlab.csms.authorization import ACCEPTED, INVALID, TagDecision, TagRequest

if TYPE_CHECKING:
    from voltlab.csms.state import CsmsStation, CsmsTransaction

log = logging.getLogger(__name__)


class CsmsHooks:
    """Default hooks: accept every tag, ignore every event."""

    async def authorize(self, station: CsmsStation, request: TagRequest) -> TagDecision:
        return ACCEPTED

    async def booted(self, station: CsmsStation) -> None:
        """After a BootNotification (``station.boot`` holds its payload)."""

    async def connection_changed(self, station: CsmsStation, connected: bool) -> None:
        """The station's WebSocket opened (before its first message) or closed."""

    async def status_changed(
        self, station: CsmsStation, evse_id: int, connector_id: int, status: str
    ) -> None:
        """A connector's status differs from the last one reported (or is the first)."""

    async def transaction_started(self, station: CsmsStation, tx: CsmsTransaction) -> None:
        """The CSMS learnt of a transaction (``tx.authorization`` says if its tag passed)."""

    async def transaction_updated(self, station: CsmsStation, tx: CsmsTransaction) -> None:
        """Meter values or a late idToken for a running transaction."""

    async def transaction_ended(self, station: CsmsStation, tx: CsmsTransaction) -> None:
        """The transaction stopped (``tx.stopped_at``, ``tx.stop_reason``, final meter)."""


DEFAULT_HOOKS = CsmsHooks()


class HookRunner:
    """Calls the current hooks of one realm on behalf of a session, containing failures.

    ``resolve`` is asked on every call, so ``hub.set_hooks`` takes effect on live sessions.
    """

    def __init__(
        self,
        resolve: Callable[[], CsmsHooks] = lambda: DEFAULT_HOOKS,
        *,
        authorize_timeout_s: float = 25.0,
    ) -> None:
        self._resolve = resolve
        self.authorize_timeout_s = authorize_timeout_s

    async def authorize(self, station: CsmsStation, request: TagRequest) -> TagDecision:
        try:
            async with asyncio.timeout(self.authorize_timeout_s):
                decision = await self._resolve().authorize(station, request)
        except TimeoutError:
            log.warning(
                "authorize hook for %s/%s took over %.1f s; answering Invalid",
                station.realm,
                station.identity,
                self.authorize_timeout_s,
            )
            return INVALID
        except Exception:
            log.exception("authorize hook failed for %s/%s", station.realm, station.identity)
            return INVALID
        if not isinstance(decision, TagDecision):
            log.error("authorize hook returned %r, not a TagDecision", decision)
            return INVALID
        return decision

    async def booted(self, station: CsmsStation) -> None:
        await self._notify("booted", station)

    async def connection_changed(self, station: CsmsStation, connected: bool) -> None:
        await self._notify("connection_changed", station, connected)

    async def status_changed(
        self, station: CsmsStation, evse_id: int, connector_id: int, status: str
    ) -> None:
        await self._notify("status_changed", station, evse_id, connector_id, status)

    async def transaction_started(self, station: CsmsStation, tx: CsmsTransaction) -> None:
        await self._notify("transaction_started", station, tx)

    async def transaction_updated(self, station: CsmsStation, tx: CsmsTransaction) -> None:
        await self._notify("transaction_updated", station, tx)

    async def transaction_ended(self, station: CsmsStation, tx: CsmsTransaction) -> None:
        await self._notify("transaction_ended", station, tx)

    async def _notify(self, name: str, station: CsmsStation, *args: object) -> None:
        try:
            await getattr(self._resolve(), name)(station, *args)
        except Exception:
            log.exception("%s hook failed for %s/%s", name, station.realm, station.identity)
