"""Chargers: create (202 + provisioning), read, partial update, delete, runtime control."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from voltlab import catalog
from voltlab.domain.chargers.runtime import provision, runtime_out, start_runtime
from voltlab.domain.chargers.schemas import (
    ChargerAccepted,
    ChargerCreate,
    ChargerOut,
    ChargerStatus,
    ChargerUpdate,
    LogEntry,
    LogPage,
    QueuedCommand,
)
from voltlab.domain.errors import FieldInvalid
from voltlab.domain.locations.schemas import LocationCreate
from voltlab.domain.locations.service import new_location
from voltlab.errors import Conflict, NotFound
from voltlab.ids import new_id, utcnow
from voltlab.ocpi.templates import evse_uid_for
from voltlab.services import Services
from voltlab.storage.framelog import query_frames
from voltlab.storage.models import Charger, Command, FrameLogStats
from voltlab.storage.repositories import ChargerRepository, CommandRepository, LocationRepository

# Fields the station reads when it starts: a change restarts the runtime.
RECONNECT_FIELDS = (
    "ws_url",
    "ocpp_version",
    "password",
    "ca_cert",
    "client_cert",
    "client_key",
    "heartbeat_interval_s",
    "meter_interval_s",
)


def check_catalog(
    brand_slug: str,
    model_slug: str,
    connector_type: str,
    ocpp_version: str,
    *,
    prefix: tuple[str | int, ...] = (),
) -> catalog.Model:
    """The model, or a :class:`FieldInvalid` naming the field that does not fit it."""
    if catalog.brand(brand_slug) is None:
        raise FieldInvalid((*prefix, "brand_slug"), f"unknown brand_slug {brand_slug!r}")
    model = catalog.model(brand_slug, model_slug)
    if model is None:
        raise FieldInvalid(
            (*prefix, "model_slug"), f"brand {brand_slug!r} has no model {model_slug!r}"
        )
    if connector_type not in model.connector_types:
        raise FieldInvalid(
            (*prefix, "connector_type"),
            f"model {model_slug!r} has no connector type {connector_type!r} "
            f"(it has {', '.join(model.connector_types)})",
        )
    if ocpp_version not in model.ocpp_versions:
        raise FieldInvalid(
            (*prefix, "ocpp_version"),
            f"model {model_slug!r} does not speak {ocpp_version} "
            f"(it speaks {', '.join(model.ocpp_versions)})",
        )
    return model


def to_out(row: Charger, services: Services) -> ChargerOut:
    model = catalog.model(row.brand_slug, row.model_slug)
    settings = services.settings
    return ChargerOut(
        id=row.id,
        identity=row.identity,
        name=row.name,
        charge_point_name=row.charge_point_name,
        vendor_name=model.vendor_name if model else row.brand_slug,
        model=model.model_name if model else row.model_slug,
        brand_slug=row.brand_slug,
        model_slug=row.model_slug,
        image_url=model.image_url if model else None,
        ocpp_version=row.ocpp_version,
        number_of_connectors=model.connector_count if model else 0,
        max_charging_power=round(model.max_power_w / 1000) if model else 0,
        connector_type=row.connector_type,
        location_id=row.location_id,
        ocpi_cpo_id=str(row.ocpi_cpo_id) if row.ocpi_cpo_id is not None else None,
        ocpi_location_id=row.ocpi_location_id,
        evse_uids=[
            evse_uid_for(row.identity, n, model.connector_count)
            for n in range(1, model.connector_count + 1)
        ]
        if row.ocpi_cpo_id is not None and model
        else None,
        ws_url=row.ws_url,
        has_password=row.password is not None,
        security_profile=security_profile(row),
        has_ca_cert=row.ca_cert is not None,
        has_client_cert=row.client_cert is not None,
        heartbeat_interval_s=row.heartbeat_interval_s or settings.default_heartbeat_interval_s,
        meter_interval_s=row.meter_interval_s or settings.default_meter_interval_s,
        status=row.provisioning_status,  # type: ignore[arg-type]
        created_at=row.created_at,
        updated_at=row.updated_at,
        runtime=runtime_out(services.fleet.runtime(row.id), row),
    )


def status_out(row: Charger) -> ChargerStatus:
    return ChargerStatus.model_validate(
        {
            "charger_id": row.id,
            "status": row.provisioning_status,
            "workflow_run_id": row.workflow_run_id,
            "error": row.provisioning_error,
            "provisioned_at": row.provisioned_at,
        }
    )


async def _resolve_location(
    locations: LocationRepository, location_id: str | None, location_name: str | None
) -> str:
    if location_id is not None:
        if await locations.get(location_id) is None:
            raise FieldInvalid(("location_id",), f"location {location_id!r} not found")
        return location_id
    assert location_name is not None
    row = new_location(locations, LocationCreate(name=location_name))
    # Insert it now: without an ORM relationship the unit of work may otherwise
    # UPDATE the charger to point at it before the location row exists.
    await locations.session.flush()
    return row.id


async def create(services: Services, org_id: str, body: ChargerCreate) -> ChargerAccepted:
    check_catalog(body.brand_slug, body.model_slug, body.connector_type, body.ocpp_version)
    now = utcnow()
    async with services.sessions.begin() as session:
        chargers = ChargerRepository(session, org_id)
        if await chargers.by_identity(body.identity) is not None:
            raise Conflict(f"a charger with identity {body.identity!r} already exists")
        location_id = await _resolve_location(
            LocationRepository(session, org_id), body.location_id, body.location_name
        )
        await session.flush()
        row = Charger(
            id=new_id(),
            identity=body.identity,
            name=body.name or body.charge_point_name or body.identity,
            charge_point_name=body.charge_point_name,
            brand_slug=body.brand_slug,
            model_slug=body.model_slug,
            connector_type=body.connector_type,
            ocpp_version=body.ocpp_version,
            ws_url=body.ws_url,
            password=body.password,
            ca_cert=body.ca_cert,
            client_cert=body.client_cert,
            client_key=body.client_key,
            heartbeat_interval_s=body.heartbeat_interval_s,
            meter_interval_s=body.meter_interval_s,
            location_id=location_id,
            desired_state="running",
            provisioning_status="PENDING",
            workflow_run_id=new_id(),
            created_at=now,
            updated_at=now,
        )
        chargers.add(row)
        try:
            await session.flush()
        except IntegrityError as exc:  # a concurrent create with the same identity
            raise Conflict(f"a charger with identity {body.identity!r} already exists") from exc
    services.tasks.spawn(provision(services, org_id, row.id), name=f"provision-{row.id}")
    return ChargerAccepted(
        charger_id=row.id,
        identity=row.identity,
        status="PENDING",
        status_url=f"/ocpp/chargers/{row.id}/status",
        workflow_run_id=row.workflow_run_id,
    )


async def get(services: Services, org_id: str, charger_id: str) -> Charger:
    async with services.sessions() as session:
        row = await ChargerRepository(session, org_id).get(charger_id)
    if row is None:
        raise NotFound(f"charger {charger_id} not found")
    return row


async def list_page(
    services: Services,
    org_id: str,
    *,
    page: int,
    limit: int,
    location_id: str | None = None,
    charger_ids: Sequence[str] | None = None,
    ocpi_cpo_id: int | None = None,
) -> tuple[list[Charger], int]:
    conditions = []
    if ocpi_cpo_id is not None:
        conditions.append(Charger.ocpi_cpo_id == ocpi_cpo_id)
    if location_id is not None:
        conditions.append(Charger.location_id == location_id)
    if charger_ids:
        conditions.append(Charger.id.in_(list(charger_ids)))
    async with services.sessions() as session:
        rows, total = await ChargerRepository(session, org_id).page(page, limit, *conditions)
    return list(rows), total


async def apply_update(locations: LocationRepository, row: Charger, body: ChargerUpdate) -> bool:
    """Apply a partial update to ``row``; returns whether the runtime must reconnect."""
    changes = body.model_dump(exclude_unset=True, exclude={"location_name", "charger_id"})
    connector_type = changes.get("connector_type") or row.connector_type
    version = changes.get("ocpp_version") or row.ocpp_version
    if "connector_type" in changes or "ocpp_version" in changes:
        check_catalog(row.brand_slug, row.model_slug, connector_type, version)
    if body.location_id is not None or body.location_name is not None:
        row.location_id = await _resolve_location(locations, body.location_id, body.location_name)
    changes.pop("location_id", None)
    reconnect = False
    for field, value in changes.items():
        if value is None and field in ("connector_type", "ocpp_version", "ws_url"):
            continue  # required columns: an explicit null leaves them as they are
        if field in RECONNECT_FIELDS and (getattr(row, field) != value):
            reconnect = True
        setattr(row, field, value)
    if (row.ca_cert or row.client_cert) and not row.ws_url.startswith("wss://"):
        raise FieldInvalid(
            ("ws_url",), "the charger has TLS material (ca_cert/client_cert): ws_url must be wss://"
        )
    row.updated_at = utcnow()
    return reconnect


def security_profile(row: Charger) -> int:
    """OCPP security profile the charger runs: 3 client cert, 2 TLS, 1 Basic auth, 0 none."""
    if row.ws_url.startswith("wss://"):
        return 3 if row.client_cert else 2
    return 1 if row.password else 0


async def update(services: Services, org_id: str, charger_id: str, body: ChargerUpdate) -> Charger:
    async with services.sessions.begin() as session:
        chargers = ChargerRepository(session, org_id)
        row = await chargers.get(charger_id)
        if row is None:
            raise NotFound(f"charger {charger_id} not found")
        reconnect = await apply_update(LocationRepository(session, org_id), row, body)
    if reconnect and row.desired_state == "running":
        await start_runtime(services, row)
    return row


async def delete(services: Services, org_id: str, charger_id: str) -> None:
    async with services.sessions.begin() as session:
        chargers = ChargerRepository(session, org_id)
        row = await chargers.get(charger_id)
        if row is None:
            raise NotFound(f"charger {charger_id} not found")
        await session.delete(row)
    await services.fleet.forget([charger_id])


async def lifecycle(services: Services, org_id: str, charger_id: str, action: str) -> QueuedCommand:
    """``start_charger`` | ``stop_charger`` | ``reset_charger``: idempotent runtime control."""
    now = utcnow()
    async with services.sessions.begin() as session:
        row = await ChargerRepository(session, org_id).get(charger_id)
        if row is None:
            raise NotFound(f"charger {charger_id} not found")
        row.desired_state = "stopped" if action == "stop_charger" else "running"
        row.updated_at = now
    error = None
    if action == "stop_charger":
        await services.fleet.stop(charger_id)
    else:
        # start is idempotent: a running station is left as it is; reset restarts it.
        running = services.fleet.runtime(charger_id).state == "running"
        if action == "reset_charger" or not running:
            problem = await start_runtime(services, row)
            error = problem["message"] if problem else None
    status = "failed" if error else "succeeded"
    version = "ocpp1.6" if row.ocpp_version == "OCPP1.6" else "ocpp2.0.1"
    command = Command(
        id=new_id(),
        charger_id=charger_id,
        event_type=action,
        ocpp_version=version,
        payload={},
        status=status,
        result={"runtime": services.fleet.runtime(charger_id).state},
        error=error,
        created_at=now,
        finished_at=utcnow(),
    )
    async with services.sessions.begin() as session:
        CommandRepository(session, org_id).add(command)
    return QueuedCommand(
        id=command.id, event_type=action, ocpp_version=version, payload={}, status=status
    )


async def logs(
    services: Services,
    org_id: str,
    charger_id: str,
    *,
    start: datetime | None,
    end: datetime | None,
    event: str | None,
    limit: int,
    offset: int,
) -> LogPage:
    await get(services, org_id, charger_id)
    async with services.sessions() as session:
        rows, total = await query_frames(
            session,
            org_id=org_id,
            charger_id=charger_id,
            start=start,
            end=end,
            action=event,
            limit=limit,
            offset=offset,
        )
        stats = await session.get(FrameLogStats, charger_id)
    return LogPage(
        data=[
            LogEntry(
                direction=r.direction,  # type: ignore[arg-type]
                action=r.action,
                message=r.message,
                timestamp=r.ts,
                finding=r.finding,
            )
            for r in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
        pruned=stats.pruned if stats else 0,
    )
