"""The long-lived parts of a running voltlab, built by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from voltlab.auth import TokenVerifier
from voltlab.commands.records import CommandRecorder
from voltlab.csms import CsmsHub
from voltlab.fleet import FleetBackend
from voltlab.loop_lag import LoopLag
from voltlab.ocpi.runtime import OcpiRuntime
from voltlab.settings import Settings
from voltlab.storage.framelog import FrameLogWriter
from voltlab.storage.station_state import StationStateStore
from voltlab.tasks import TaskSet


@dataclass(slots=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    verifier: TokenVerifier
    fleet: FleetBackend
    framelog: FrameLogWriter
    tasks: TaskSet
    commands: CommandRecorder
    states: StationStateStore
    # The built-in CSMS that OCPI CPO bundles' chargers connect to (same port as the API).
    csms: CsmsHub
    ocpi: OcpiRuntime
    # How late the shared event loop runs (shown by /health).
    loop_lag: LoopLag
