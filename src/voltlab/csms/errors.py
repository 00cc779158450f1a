"""Errors of the built-in CSMS (no HTTP: the REST and OCPI edges render them)."""

from __future__ import annotations

from voltlab.errors import Conflict, NotFound


class StationOffline(Conflict):
    """No live OCPP session for ``(realm, identity)``, or it closed before answering."""

    def __init__(self, realm: str, identity: str, detail: str | None = None) -> None:
        where = f"{realm}/{identity}" if realm else identity
        super().__init__(detail or f"station {where} is not connected to the CSMS")
        self.realm = realm
        self.identity = identity


class UnknownRealm(NotFound):
    def __init__(self, realm: str) -> None:
        super().__init__(f"no CSMS realm {realm!r}")
        self.realm = realm
