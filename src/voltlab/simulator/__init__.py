"""The simulated charge point. Knows nothing of HTTP or of the database."""

from voltlab.simulator.persistence import StateSink
from voltlab.simulator.spec import ConnectorRef, StationSpec
from voltlab.simulator.state import RuntimeSnapshot
from voltlab.simulator.station import FrameSink, Station, StationOptions

__all__ = [
    "ConnectorRef",
    "FrameSink",
    "RuntimeSnapshot",
    "StateSink",
    "Station",
    "StationOptions",
    "StationSpec",
]
