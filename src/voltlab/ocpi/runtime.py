"""``OcpiRuntime``: what OCPI needs while voltlab runs: one HTTP client pool for calls
to peers, the exchange log, and the clients each bundle calls its peers with."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from voltlab.ocpi.client import OcpiClient
from voltlab.ocpi.cpo.state import CpoState
from voltlab.ocpi.exchanges import ExchangeLog


@dataclass(slots=True)
class OcpiRuntime:
    http: httpx.AsyncClient
    exchanges: ExchangeLog
    timeout_s: float
    cpo: CpoState = field(default_factory=CpoState)

    @classmethod
    def create(cls, exchanges: ExchangeLog, *, timeout_s: float) -> OcpiRuntime:
        return cls(
            http=OcpiClient.new_http_client(timeout_s), exchanges=exchanges, timeout_s=timeout_s
        )

    def client(self, bundle_id: int, token: str | None) -> OcpiClient:
        """A client whose every exchange lands in ``bundle_id``'s OCPI log."""
        return OcpiClient(
            self.http,
            token=token,
            on_exchange=lambda exchange: self.exchanges.record(bundle_id, exchange),
            timeout_s=self.timeout_s,
        )

    async def close(self) -> None:
        await self.http.aclose()
        await self.exchanges.close()
