"""Runs many stations. ``FleetBackend`` is the boundary the rest of voltlab talks to."""

from voltlab.fleet.backend import FleetBackend
from voltlab.fleet.local import LocalFleet

__all__ = ["FleetBackend", "LocalFleet"]
