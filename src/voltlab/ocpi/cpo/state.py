"""What a CPO bundle keeps in memory between OCPP messages (per process).

- ``recent``: Authorize decisions, so the StartTransaction that follows within 60 s reuses
  the decision and its authorization_reference (one decision per start, ocpi.md).
- ``remote_starts``: START_SESSION commands sent to a charger; the tag it then presents is
  the command's token, accepted without asking anyone (auth method COMMAND).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from voltlab.ocpi.cpo.decision import RecentDecisions
from voltlab.ocpi.cpo.grants import Grant

REMOTE_START_WINDOW_S = 300.0  # a driver has this long to plug in after a remote start


@dataclass(slots=True)
class CpoState:
    recent: RecentDecisions[Grant] = field(default_factory=lambda: RecentDecisions(60.0, 4096))
    # (charger_id, casefolded uid) -> the grant of a START_SESSION command
    remote_starts: dict[tuple[str, str], Grant] = field(default_factory=dict)

    def expect_remote_start(self, charger_id: str, grant: Grant) -> None:
        self._prune()
        self.remote_starts[(charger_id, grant.token["uid"].casefold())] = grant

    def remote_start(self, charger_id: str, uid: str, *, consume: bool) -> Grant | None:
        self._prune()
        key = (charger_id, uid.casefold())
        return self.remote_starts.pop(key, None) if consume else self.remote_starts.get(key)

    def _prune(self) -> None:
        now = time.monotonic()
        for key in [k for k, g in self.remote_starts.items() if now - g.at > REMOTE_START_WINDOW_S]:
            del self.remote_starts[key]
