"""A station's durable state: what survives a restart of voltlab, and how it comes back.

The station builds a JSON-ready dict of its state and hands a ``StateSink`` a way to
build it; the sink (``StationStateStore``) batches the writes. This module knows that
dict's layout in both directions, and nothing of the database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from voltlab.ids import isoformat
from voltlab.simulator.model.authorization import AuthorizationCache, LocalAuthList
from voltlab.simulator.model.smart_charging import ProfileStore
from voltlab.simulator.model.transactions import QueuedMessage, Transaction, TransactionQueue
from voltlab.simulator.ops.base import StationBase


class StateSink(Protocol):
    """Where a station's durable state goes; ``mark`` must not block (writes are batched)."""

    def mark(
        self,
        charger_id: str,
        org_id: str,
        snapshot: Callable[[], dict[str, Any]],
        *,
        lazy: bool = False,
    ) -> None:
        """``lazy``: the change may be written a few seconds later (a crash may lose it)."""

    async def persisted(self, charger_id: str) -> None:
        """Return once the latest marked state is durable."""


class PersistenceOps(StationBase):
    __slots__ = ()

    # The cold parts of ``durable()``, kept until one of them changes (``changed()``).
    _cold: dict[str, Any] | None

    def durable(self) -> dict[str, Any]:
        """Everything that must survive a restart of voltlab, JSON-ready.

        The cold parts (configuration, local list, cache, profiles, ...) are rebuilt only
        after they changed; a meter sample re-serializes just the hot ones.
        """
        if self._cold is None:
            self._cold = {
                "config": self.config.overrides,
                "local_list": self.local_list.to_dict(),
                "cache": self.cache.to_dict(),
                "profiles": self.profiles.to_dict(),
                "history": self.history,
                "reservations": {
                    str(rid): {"expiry": isoformat(at), "id_tag": self.reservation_tags.get(rid)}
                    for rid, at in self.reservation_expiry.items()
                },
                "decisions": self.decisions,
            }
        return {
            **self._cold,
            "connectors": [c.to_dict() for c in self.connectors],
            "meters": [m.to_dict() for m in self.meters],
            "transactions": [t.to_dict() for t in self.transactions.values()],
            "queue": self.queue.to_list(),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.config.overrides.update(state.get("config", {}))
        if "local_list" in state:
            self.local_list = LocalAuthList.from_dict(state["local_list"])
        if "cache" in state:
            self.cache = AuthorizationCache.from_dict(state["cache"])
        if "profiles" in state:
            self.profiles = ProfileStore.from_dict(state["profiles"])
        for connector, data in zip(self.connectors, state.get("connectors", []), strict=False):
            connector.restore(data)
        for meter, data in zip(self.meters, state.get("meters", []), strict=False):
            meter.restore(data)
        for data in state.get("transactions", []):
            tx = Transaction.from_dict(data)
            self.transactions[tx.key] = tx
        self.history = list(state.get("history", []))
        self.queue = TransactionQueue(
            [QueuedMessage.from_dict(item) for item in state.get("queue", [])]
        )
        for rid, data in state.get("reservations", {}).items():
            self.reservation_expiry[int(rid)] = datetime.fromisoformat(
                data["expiry"].replace("Z", "+00:00")
            )
            self.reservation_tags[int(rid)] = data.get("id_tag") or ""
        self.decisions = list(state.get("decisions", []))
        # A transaction whose connector lost track of it (older state) is ended locally.
        for connector in self.connectors:
            if connector.transaction_key and connector.transaction_key not in self.transactions:
                connector.transaction_key = None

    def changed(self, *, hot: bool = False, lazy: bool = False) -> None:
        """Durable state changed; ``hot`` = only connectors, meters, transactions, queue;
        ``lazy`` = a change a crash may lose (see ``StationStateStore.mark``)."""
        if not hot:
            self._cold = None
        if self._store is not None:
            self._store.mark(self.spec.charger_id, self.spec.org_id, self.durable, lazy=lazy)
