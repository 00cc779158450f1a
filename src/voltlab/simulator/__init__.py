"""The simulated charge point. Knows nothing of HTTP or of the database."""

from voltlab.simulator.spec import ConnectorRef, StationSpec
from voltlab.simulator.state import ConnectorState, RuntimeSnapshot
from voltlab.simulator.station import FrameSink, Station

__all__ = [
    "ConnectorRef",
    "ConnectorState",
    "FrameSink",
    "RuntimeSnapshot",
    "Station",
    "StationSpec",
]
