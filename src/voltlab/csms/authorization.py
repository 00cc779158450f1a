"""Tag decisions: one version-neutral request and answer, rendered per OCPP version.

A hook answers every tag a station presents with a ``TagDecision``; the sessions turn it
into 1.6 ``idTagInfo`` or 2.0.1 ``idTokenInfo`` with ``id_tag_info`` / ``id_token_info``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from voltlab.ids import isoformat

log = logging.getLogger(__name__)

TagContext = Literal["authorize", "start_transaction", "stop_transaction"]

# AuthorizationStatus (1.6) and AuthorizationStatusEnumType (2.0.1), verbatim.
STATUSES_16 = frozenset({"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"})
STATUSES_201 = frozenset(
    {
        "Accepted",
        "Blocked",
        "ConcurrentTx",
        "Expired",
        "Invalid",
        "NoCredit",
        "NotAllowedTypeEVSE",
        "NotAtThisLocation",
        "NotAtThisTime",
        "Unknown",
    }
)
PERSONAL_MESSAGE_MAX = 512  # MessageContentType.content maxLength
GROUP_ID_MAX_16 = 20  # IdToken (parentIdTag) is CiString20Type


@dataclass(frozen=True, slots=True)
class TagRequest:
    """A tag a station presented, as the hooks see it.

    ``token_type`` is the 2.0.1 ``idToken.type`` (``ISO14443``, ``eMAID``, ...); 1.6 has
    no token type, so it is ``None`` there. ``context`` says which message carried the
    tag: ``authorize`` (Authorize), ``start_transaction`` (1.6 StartTransaction, 2.0.1
    TransactionEvent Started/Updated with an idToken) or ``stop_transaction`` (2.0.1
    TransactionEvent Ended with an idToken).
    """

    id_token: str
    token_type: str | None
    evse_id: int | None
    connector_id: int | None
    context: TagContext
    transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class TagDecision:
    """The answer to a ``TagRequest``.

    ``status`` uses the OCPP spelling of the station's version. A 2.0.1-only status sent
    to a 1.6 station, or any unknown status, is answered as ``Invalid`` (never Accepted).
    ``group_id`` becomes 1.6 ``parentIdTag`` / 2.0.1 ``groupIdToken``; ``personal_message``
    is shown by 2.0.1 stations only; ``expiry`` becomes ``expiryDate`` /
    ``cacheExpiryDateTime``.
    """

    status: str
    group_id: str | None = None
    personal_message: str | None = None
    expiry: datetime | None = None
    language: str | None = None  # of the personal message (MessageContentType.language)

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


ACCEPTED = TagDecision("Accepted")
INVALID = TagDecision("Invalid")


def _status(decision: TagDecision, allowed: frozenset[str], version: str) -> str:
    if decision.status in allowed:
        return decision.status
    # A hook mixing up versions must not break the session (the schema would refuse the
    # answer and the station would get a CALLERROR) nor let the tag through.
    log.warning("tag status %r is not OCPP %s; answering Invalid", decision.status, version)
    return "Invalid"


def id_tag_info(decision: TagDecision) -> dict[str, Any]:
    """1.6 ``IdTagInfo`` in the snake_case the ``ocpp`` result classes take."""
    info: dict[str, Any] = {"status": _status(decision, STATUSES_16, "1.6")}
    if decision.expiry is not None:
        info["expiry_date"] = isoformat(decision.expiry)
    if decision.group_id:
        info["parent_id_tag"] = decision.group_id[:GROUP_ID_MAX_16]
    return info


def id_token_info(decision: TagDecision) -> dict[str, Any]:
    """2.0.1 ``IdTokenInfoType`` in the snake_case the ``ocpp`` result classes take."""
    info: dict[str, Any] = {"status": _status(decision, STATUSES_201, "2.0.1")}
    if decision.expiry is not None:
        info["cache_expiry_date_time"] = isoformat(decision.expiry)
    if decision.group_id:
        info["group_id_token"] = {"id_token": decision.group_id, "type": "Central"}
    if decision.personal_message:
        info["personal_message"] = {
            "format": "UTF8",
            "content": decision.personal_message[:PERSONAL_MESSAGE_MAX],
        }
        if decision.language:
            info["personal_message"]["language"] = decision.language[:8]
    return info
