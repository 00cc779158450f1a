"""``Grant``: a decided tag, as a session and a CDR need it later."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from voltlab.ocpi.cpo.decision import Decision


@dataclass(frozen=True, slots=True)
class Grant:
    """A decided tag, as sessions and CDRs need it."""

    path: str  # cache | realtime | fallback | command
    accepted: bool
    auth_method: str  # WHITELIST | AUTH_REQUEST | COMMAND
    token: dict[str, Any]  # the OCPI Token (cached, answered, or the uid alone)
    emsp: tuple[str, str] | None  # (country_code, party_id) of the token's eMSP
    authorization_reference: str | None
    decision: Decision | None = None  # None for a remote start by command
    at: float = field(default_factory=time.monotonic)
