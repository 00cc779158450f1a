"""The domain error tree. No HTTP here: each edge (REST, OCPI, OCPP) renders these itself.

VoltlabError
├── NotFound          unknown id, or an id of another tenant (never say which)
├── Conflict          clashes with current state (duplicate identity, stopped runtime)
├── InvalidRequest    well-formed but refused (stale list version, missing connector)
├── CapacityExceeded  the fleet cannot take more chargers
└── UpstreamFailed    a peer voltlab called (an OCPI party) refused or did not answer
"""

from __future__ import annotations


class VoltlabError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(VoltlabError):
    pass


class Conflict(VoltlabError):
    pass


class InvalidRequest(VoltlabError):
    pass


class CapacityExceeded(VoltlabError):
    pass


class UpstreamFailed(VoltlabError):
    pass
