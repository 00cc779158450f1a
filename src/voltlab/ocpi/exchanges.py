"""``ExchangeLog``: every OCPI exchange of every bundle, written in batches.

OCPI traffic is light next to OCPP frames, but a handshake or a token pull is a burst of
calls; recording them must never slow the exchange itself, so ``record`` only queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voltlab.ocpi.transport import Exchange
from voltlab.storage.ocpi import OcpiBundle, OcpiExchange

log = logging.getLogger(__name__)


class ExchangeLog:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        flush_interval_s: float = 0.25,
        queue_size: int = 20_000,
    ) -> None:
        self._sessions = sessions
        self._interval = flush_interval_s
        self._queue_size = queue_size
        self._pending: list[tuple[int, Exchange]] = []
        self._orgs: dict[int, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.dropped = 0  # counted, never silent: the queue was full

    def record(self, bundle_id: int, exchange: Exchange) -> None:
        if len(self._pending) >= self._queue_size:
            self.dropped += 1
            return
        self._pending.append((bundle_id, exchange))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ocpi-exchange-log")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:  # the next round retries what is still pending
                log.exception("writing OCPI exchanges failed")

    async def flush(self) -> None:
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            async with self._sessions.begin() as session:
                missing = {bundle_id for bundle_id, _ in batch} - self._orgs.keys()
                if missing:
                    found = await session.execute(
                        select(OcpiBundle.id, OcpiBundle.org_id).where(OcpiBundle.id.in_(missing))
                    )
                    self._orgs.update({row.id: row.org_id for row in found})
                rows = [
                    _row(bundle_id, self._orgs[bundle_id], exchange)
                    for bundle_id, exchange in batch
                    if bundle_id in self._orgs  # a bundle destroyed meanwhile
                ]
                if rows:
                    await session.execute(insert(OcpiExchange), rows)

    def forget(self, bundle_id: int) -> None:
        self._orgs.pop(bundle_id, None)
        self._pending = [item for item in self._pending if item[0] != bundle_id]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush()


def _row(bundle_id: int, org_id: str, exchange: Exchange) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "bundle_id": bundle_id,
        "direction": exchange.direction,
        "method": exchange.method,
        "url": exchange.url,
        "http_status": exchange.http_status,
        "status_code": exchange.status_code,
        "request_id": (exchange.request_id or "")[:64] or None,
        "correlation_id": (exchange.correlation_id or "")[:64] or None,
        "request_body": exchange.request_body,
        "response_body": exchange.response_body,
        "duration_ms": exchange.duration_ms,
        "error": exchange.error,
        "created_at": exchange.created_at,
    }
