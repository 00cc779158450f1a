"""Transactions and the ordered queue of transaction messages (OCPP 1.6 §3.7, 2.0.1 E04).

Transaction messages are queued while offline and sent in order; the queue is part of
the station's durable state, so nothing is lost across a restart of voltlab.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_counter = itertools.count(1)


@dataclass(slots=True)
class Transaction:
    key: str  # local id: the 2.0.1 transactionId, or our own handle on 1.6
    evse_id: int
    connector_id: int
    id_tag: str | None
    started_at: datetime
    meter_start_wh: float
    csms_id: int | None = None  # 1.6: transactionId the CSMS gave in StartTransaction.conf
    seq_no: int = 0  # 2.0.1 seqNo of the next TransactionEvent
    remote_start_id: int | None = None
    reservation_id: int | None = None
    authorized: bool = True
    id_tag_status: str | None = None
    parent_id_tag: str | None = None
    stop_at: datetime | None = None  # start-session duration
    stop_at_wh: float | None = None  # start-session target energy (absolute register)
    last_sample_at: datetime | None = None
    ended: bool = False
    stop_reason: str | None = None
    charging_state: str | None = None  # last chargingState reported (2.0.1)
    # 2.0.1 IdTokenType of id_tag as the CSMS gave it (RequestStartTransaction); None: a
    # token read at the charger, ISO14443.
    id_token_type: str | None = None

    @property
    def public_id(self) -> str:
        """The id a user sees: the CSMS's on 1.6 (``-1`` until answered), ours on 2.0.1."""
        return str(self.csms_id) if self.csms_id is not None else self.key

    def next_seq(self) -> int:
        seq = self.seq_no
        self.seq_no += 1
        return seq

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]
        for name in ("started_at", "stop_at", "last_sample_at"):
            value = data[name]
            data[name] = value.isoformat() if value is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transaction:
        values = dict(data)
        for name in ("started_at", "stop_at", "last_sample_at"):
            if values.get(name):
                values[name] = datetime.fromisoformat(values[name])
        return cls(**{k: v for k, v in values.items() if k in cls.__slots__})  # type: ignore[attr-defined]


@dataclass(slots=True)
class QueuedMessage:
    action: str
    payload: dict[str, Any]
    tx_key: str | None = None
    attempts: int = 0
    id: int = field(default_factory=lambda: next(_counter))

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "payload": self.payload,
            "tx_key": self.tx_key,
            "attempts": self.attempts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueuedMessage:
        return cls(data["action"], data["payload"], data.get("tx_key"), data.get("attempts", 0))


class TransactionQueue:
    """FIFO of transaction messages; the sender takes the head only when it is delivered."""

    __slots__ = ("_items",)

    def __init__(self, items: list[QueuedMessage] | None = None) -> None:
        # A list, not a deque: the queue is short and usually empty, and an empty deque
        # costs ~760 bytes in each of a fleet's 10,000 stations.
        self._items: list[QueuedMessage] = list(items or [])

    def push(self, message: QueuedMessage) -> None:
        self._items.append(message)

    def head(self) -> QueuedMessage | None:
        return self._items[0] if self._items else None

    def pop(self) -> QueuedMessage:
        return self._items.pop(0)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._items)

    def to_list(self) -> list[dict[str, Any]]:
        return [item.to_dict() for item in self._items]
