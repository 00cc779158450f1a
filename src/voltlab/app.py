"""``create_app(settings)``: the FastAPI app and the lifespan that owns every service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import update

from voltlab import __version__
from voltlab.api import (
    catalog,
    charger_state,
    chargers,
    health,
    location_chargers,
    locations,
    ocpi_bundles,
    ocpi_commands,
    ocpi_locations,
    ocpi_sessions,
    ocpi_tokens,
)
from voltlab.api import commands as commands_api
from voltlab.api import errors as api_errors
from voltlab.api.middleware import RequestIdMiddleware
from voltlab.auth import load_verifier
from voltlab.commands.records import CommandRecorder
from voltlab.csms import CsmsHub
from voltlab.csms.asgi import websocket_endpoint
from voltlab.domain.chargers.runtime import start_runtimes
from voltlab.fleet import LocalFleet
from voltlab.gc_policy import gc_policy
from voltlab.ids import utcnow
from voltlab.loop_lag import LoopLag, switch_interval
from voltlab.ocpi import transport as ocpi_transport
from voltlab.ocpi.bundles.service import run_sweeper
from voltlab.ocpi.cpo import hooks as cpo_hooks
from voltlab.ocpi.exchanges import ExchangeLog
from voltlab.ocpi.runtime import OcpiRuntime
from voltlab.ocpi.server import cdrs as ocpi_cdrs_server
from voltlab.ocpi.server import commands as ocpi_commands_server
from voltlab.ocpi.server import locations as ocpi_locations_server
from voltlab.ocpi.server import sessions as ocpi_sessions_server
from voltlab.ocpi.server import tokens as ocpi_tokens_server
from voltlab.ocpi.server import versions as ocpi_versions
from voltlab.ocpi.server.recording import OcpiRecordingMiddleware
from voltlab.services import Services
from voltlab.settings import Settings
from voltlab.simulator.backoff import Backoff
from voltlab.simulator.station import StationOptions
from voltlab.storage.engine import create_engine, create_writer_engine, migrate, session_factory
from voltlab.storage.framelog import FrameLogWriter
from voltlab.storage.models import Charger
from voltlab.storage.repositories import (
    bundle_charger_credentials,
    chargers_to_resume,
    cpo_bundle_ids,
)
from voltlab.storage.station_state import StationStateStore
from voltlab.tasks import TaskSet

log = logging.getLogger(__name__)


async def resume_fleet(services: Services) -> int:
    """Start every charger whose desired state is running (after a restart)."""
    async with services.sessions() as session:
        rows = await chargers_to_resume(session)
    errors = await start_runtimes(services, rows)
    started = [row.id for row in rows if row.id not in errors]
    async with services.sessions.begin() as session:
        for start in range(0, len(started), 500):
            await session.execute(
                update(Charger)
                .where(Charger.id.in_(started[start : start + 500]))
                .where(Charger.provisioning_status != "READY")
                .values(provisioning_status="READY", provisioned_at=utcnow())
            )
    return len(started)


async def open_bundle_realms(services: Services) -> None:
    """The built-in CSMS knows each CPO bundle charger's password before it reconnects."""
    async with services.sessions() as session:
        for bundle_id, identity, password in await bundle_charger_credentials(session):
            services.csms.set_password(str(bundle_id), identity, password or "")
        for bundle_id in await cpo_bundle_ids(session):
            cpo_hooks.attach(services, bundle_id)


@asynccontextmanager
async def build_services(settings: Settings) -> AsyncIterator[Services]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url(), echo=settings.database_echo)
    await migrate(engine)
    sessions = session_factory(engine)
    # The batch writers share one engine of their own (one connection on SQLite): they
    # queue for it in order instead of polling for SQLite's write lock, and never take
    # a connection the API's requests are waiting for.
    writer_engine = create_writer_engine(engine)
    writer = session_factory(writer_engine)
    framelog = FrameLogWriter(
        sessions,
        flush_interval_s=settings.framelog_flush_interval_s,
        batch_size=settings.framelog_batch_size,
        queue_size=settings.framelog_queue_size,
        retention=settings.framelog_retention,
        writer=writer,
        sweep_orphans=True,
    )
    framelog.start()
    states = StationStateStore(sessions, writer=writer)
    states.start()
    commands = CommandRecorder(sessions, writer=writer)
    commands.start()
    options = StationOptions(
        open_timeout_s=settings.connect_timeout_s,
        response_timeout_s=settings.ocpp_response_timeout_s,
        backoff=Backoff(initial_s=settings.reconnect_initial_s, maximum_s=settings.reconnect_max_s),
    )
    fleet = LocalFleet(
        framelog,
        options,
        max_chargers=settings.max_chargers,
        states=states,
        ramp_per_s=settings.connection_ramp_per_s or None,
        max_connecting=settings.max_connecting,
    )
    exchanges = ExchangeLog(sessions)
    exchanges.start()
    ocpi = OcpiRuntime.create(exchanges, timeout_s=settings.ocpi_http_timeout_s)
    services = Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        verifier=load_verifier(settings),
        fleet=fleet,
        framelog=framelog,
        tasks=TaskSet(),
        commands=commands,
        states=states,
        csms=CsmsHub(heartbeat_interval_s=settings.default_heartbeat_interval_s),
        ocpi=ocpi,
        loop_lag=LoopLag(),
    )
    services.loop_lag.start()
    sweeper: asyncio.Task[None] | None = None
    try:
        await open_bundle_realms(services)
        resumed = await resume_fleet(services)
        if resumed:
            log.info("resumed %d charger runtime(s)", resumed)
        sweeper = services.tasks.spawn(run_sweeper(services), name="ocpi-bundle-sweeper")
        yield services
    finally:
        services.loop_lag.stop()
        if sweeper is not None:
            sweeper.cancel()
        await services.tasks.drain()
        await fleet.close()
        await services.csms.close()
        await ocpi.close()
        await commands.close()
        await states.close()
        await framelog.close()
        if writer_engine is not engine:
            await writer_engine.dispose()
        await engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # gc_policy: CPython's full collections stalled the loop for ~1 s at 10,000
        # stations (see voltlab.gc_policy); switch_interval: SQLite's thread waited up
        # to 5 ms for the GIL on every statement (see voltlab.loop_lag).
        with switch_interval():
            async with build_services(settings) as services, gc_policy():
                app.state.services = services
                yield

    app = FastAPI(
        title="voltlab",
        version=__version__,
        description="Simulated OCPP charge points and OCPI partners for testing EV-charging "
        "backends. Authenticate with `Authorization: Bearer <jwt>` "
        "(`voltlab token create --org ORG`).",
        lifespan=lifespan,
    )
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(OcpiRecordingMiddleware)
    api_errors.install(app)
    ocpi_transport.install(app)
    for router in (
        health.router,
        catalog.router,
        locations.router,
        chargers.router,
        location_chargers.router,
        commands_api.router,
        charger_state.router,
        ocpi_bundles.router,
        ocpi_locations.router,
        ocpi_tokens.router,
        ocpi_sessions.router,
        ocpi_commands.router,
        # OCPI protocol routes (Token auth) after the management API, whose fixed paths
        # (``/ocpi/cpos/...``, ``/ocpi/templates/...``) must win.
        ocpi_versions.router,
        ocpi_locations_server.router,
        ocpi_tokens_server.router,
        ocpi_sessions_server.router,
        ocpi_cdrs_server.router,
        ocpi_commands_server.router,
    ):
        app.include_router(router)
    app.add_api_websocket_route(
        "/csms/{realm}/{identity}",
        websocket_endpoint(lambda websocket: websocket.app.state.services.csms),
    )
    return app
