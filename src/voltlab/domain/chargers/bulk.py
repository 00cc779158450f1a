"""Per-location bulk operations: create (as a job), update and delete many chargers."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, update

from voltlab.domain.chargers.runtime import provisioning_error, start_runtimes
from voltlab.domain.chargers.schemas import (
    BulkDeleteResult,
    BulkUpdate,
    BulkUpdateResult,
    ChargerGroupIn,
    JobAccepted,
    JobStatus,
)
from voltlab.domain.chargers.service import apply_update, check_catalog, to_out
from voltlab.domain.errors import FieldInvalid
from voltlab.errors import NotFound, VoltlabError
from voltlab.ids import new_id, utcnow
from voltlab.services import Services
from voltlab.storage.models import Charger, Job
from voltlab.storage.repositories import ChargerRepository, JobRepository, LocationRepository

log = logging.getLogger(__name__)

MAX_CHARGERS_PER_JOB = 10_000
# Rows built and inserted per statement. A job of 10,000 runs on the event loop the API
# and the stations share: every slice ends with a turn of the loop, so no request waits
# behind the whole job.
CHUNK = 500


def _wanted(group: ChargerGroupIn) -> int:
    """How many chargers the group creates."""
    if group.chargers_number is not None:
        return group.chargers_number
    return len(group.charger_ids or [])


def _identities(group: ChargerGroupIn, planned: set[str]) -> list[tuple[str, str]]:
    """(identity, suffix) pairs: explicit suffixes first, random hex pads to the count,
    a longer list is truncated to the count (ocpplab's ``ChargerGroup``).

    ``planned`` holds the identities of the call so far: a random suffix never repeats
    one of them (explicit duplicates are kept, and fail in the job as duplicates).
    """
    prefix = group.template.identity_prefix or ""
    wanted = _wanted(group)
    suffixes = list(group.charger_ids or [])[:wanted]
    planned.update(f"{prefix}{suffix}" for suffix in suffixes)
    while len(suffixes) < wanted:
        suffix = secrets.token_hex(3)
        if f"{prefix}{suffix}" not in planned:
            planned.add(f"{prefix}{suffix}")
            suffixes.append(suffix)
    return [(f"{prefix}{suffix}", suffix) for suffix in suffixes]


async def _location(services: Services, org_id: str, location_id: str) -> None:
    async with services.sessions() as session:
        if await LocationRepository(session, org_id).get(location_id) is None:
            raise NotFound(f"location {location_id} not found")


async def create_job(
    services: Services, org_id: str, location_id: str, groups: Sequence[ChargerGroupIn]
) -> JobAccepted:
    await _location(services, org_id, location_id)
    if not groups:
        raise FieldInvalid((), "give at least one charger group")
    # Counted before any identity is generated: a huge request must not stall the loop.
    wanted = sum(_wanted(group) for group in groups)
    if wanted > MAX_CHARGERS_PER_JOB:
        raise FieldInvalid(
            (), f"at most {MAX_CHARGERS_PER_JOB} chargers per call (this one asks for {wanted})"
        )
    planned: list[tuple[ChargerGroupIn, str, str]] = []
    identities: set[str] = set()
    for index, group in enumerate(groups):
        t = group.template
        check_catalog(
            t.brand_slug,
            t.model_slug,
            t.connector_type,
            t.ocpp_version,
            prefix=(index, "template"),
        )
        for identity, suffix in _identities(group, identities):
            if len(identity) > 48:
                raise FieldInvalid(
                    (index, "template", "identity_prefix"),
                    f"identity {identity!r} is longer than 48 characters",
                )
            planned.append((group, identity, suffix))
    now = utcnow()
    job = Job(
        id=new_id(),
        location_id=location_id,
        job_type="bulk_create_chargers",
        status="PENDING",
        workflow_run_id=new_id(),
        results={"created": [], "failed": []},
        created_at=now,
    )
    async with services.sessions.begin() as session:
        JobRepository(session, org_id).add(job)
    services.tasks.spawn(
        _run_job(services, org_id, location_id, job.id, planned), name=f"job-{job.id}"
    )
    return JobAccepted(
        job_id=job.id,
        status="PENDING",
        workflow_run_id=job.workflow_run_id,
        status_url=f"/ocpp/locations/{location_id}/chargers/jobs/{job.id}",
    )


async def _run_job(
    services: Services,
    org_id: str,
    location_id: str,
    job_id: str,
    planned: list[tuple[ChargerGroupIn, str, str]],
) -> None:
    try:
        await _create_chargers(services, org_id, location_id, job_id, planned)
    except Exception as exc:
        # A job must end: a client polls its status until READY or FAILED.
        log.exception("bulk create job %s failed", job_id)
        async with services.sessions.begin() as session:
            job = await session.get(Job, job_id)
            if job is not None and job.status not in ("READY", "FAILED"):
                job.status = "FAILED"
                job.error = provisioning_error(
                    "job_crashed",
                    f"{type(exc).__name__}: {exc}",
                    "create_chargers",
                    retryable=True,
                )
                job.provisioned_at = utcnow()


async def _create_chargers(
    services: Services,
    org_id: str,
    location_id: str,
    job_id: str,
    planned: list[tuple[ChargerGroupIn, str, str]],
) -> None:
    async with services.sessions.begin() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        job.status = "PROVISIONING"
    created: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    now = utcnow()
    async with services.sessions.begin() as session:
        taken = await ChargerRepository(session, org_id).existing_identities(
            [identity for _, identity, _ in planned]
        )
        for position, (group, identity, suffix) in enumerate(planned):
            if position and position % CHUNK == 0:
                await asyncio.sleep(0)
            if identity in taken:
                failed.append({"identity": identity, "error": "identity already exists"})
                continue
            taken.add(identity)
            t = group.template
            name = f"{t.template_name} {suffix}" if t.template_name else identity
            rows.append(
                {
                    "id": new_id(),
                    "org_id": org_id,
                    "identity": identity,
                    "name": name,
                    "charge_point_name": name,
                    "brand_slug": t.brand_slug,
                    "model_slug": t.model_slug,
                    "connector_type": t.connector_type,
                    "ocpp_version": t.ocpp_version,
                    "ws_url": t.ws_url,
                    "password": t.password,
                    "ca_cert": t.ca_cert,
                    "heartbeat_interval_s": t.heartbeat_interval_s,
                    "meter_interval_s": t.meter_interval_s,
                    "location_id": location_id,
                    "desired_state": "running",
                    "provisioning_status": "PROVISIONING",
                    "workflow_run_id": job_id,
                    # Distinct times keep lists (ordered by created_at) in the order asked.
                    "created_at": now + timedelta(microseconds=position),
                    "updated_at": now,
                }
            )
        for start in range(0, len(rows), CHUNK):
            await session.execute(insert(Charger), rows[start : start + CHUNK])
    ready: list[str] = []
    # The inserted values are enough to start the stations; ORM objects for 10,000 rows
    # would cost ~0.3 s of loop time and are never written.
    started = [SimpleNamespace(client_cert=None, client_key=None, **values) for values in rows]
    errors = await start_runtimes(services, started)  # type: ignore[arg-type]
    for values in rows:
        error = errors.get(values["id"])
        if error:
            failed.append({"identity": values["identity"], "error": error["message"]})
        else:
            ready.append(values["id"])
            created.append({"charger_id": values["id"], "identity": values["identity"]})
    ready_ids = set(ready)
    failed_ids = [v["id"] for v in rows if v["id"] not in ready_ids]
    finished = utcnow()
    async with services.sessions.begin() as session:
        for start in range(0, len(ready), 500):
            await session.execute(
                update(Charger)
                .where(Charger.id.in_(ready[start : start + 500]))
                .values(provisioning_status="READY", provisioned_at=finished)
            )
        for start in range(0, len(failed_ids), 500):
            await session.execute(
                update(Charger)
                .where(Charger.id.in_(failed_ids[start : start + 500]))
                .values(provisioning_status="FAILED", desired_state="stopped")
            )
        job = await session.get(Job, job_id)
        assert job is not None
        job.results = {"created": created, "failed": failed}
        job.status = "FAILED" if failed and not created else "READY"
        if job.status == "FAILED":
            job.error = provisioning_error(
                "no_charger_created",
                f"none of the {len(failed)} chargers could be created",
                "create_chargers",
                retryable=False,
            )
        job.provisioned_at = finished


async def job_status(services: Services, org_id: str, location_id: str, job_id: str) -> JobStatus:
    async with services.sessions() as session:
        job = await JobRepository(session, org_id).get(job_id)
    if job is None or job.location_id != location_id:
        raise NotFound(f"job {job_id} not found")
    return JobStatus.model_validate(
        {
            "job_id": job.id,
            "job_type": job.job_type,
            "status": job.status,
            "workflow_run_id": job.workflow_run_id,
            "error": job.error,
            "results": job.results or {"created": [], "failed": []},
            "provisioned_at": job.provisioned_at,
        }
    )


async def bulk_update(
    services: Services, org_id: str, location_id: str, body: BulkUpdate
) -> BulkUpdateResult:
    await _location(services, org_id, location_id)
    updated: list[Charger] = []
    failed: list[dict[str, str]] = []
    restart: list[Charger] = []
    async with services.sessions.begin() as session:
        chargers = ChargerRepository(session, org_id)
        locations = LocationRepository(session, org_id)
        by_id = {r.id: r for r in await chargers.many([i.charger_id for i in body.chargers])}
        for item in body.chargers:
            row = by_id.get(item.charger_id)
            if row is None or row.location_id != location_id:
                failed.append({"charger_id": item.charger_id, "error": "not in this location"})
                continue
            try:
                async with session.begin_nested():
                    reconnect = await apply_update(locations, row, item)
            except VoltlabError as exc:
                failed.append({"charger_id": item.charger_id, "error": exc.detail})
                continue
            updated.append(row)
            if reconnect and row.desired_state == "running":
                restart.append(row)
    await start_runtimes(services, restart)
    # ocpplab's UpdateLocationChargersResponse: `updated` holds the chargers, not ids.
    return BulkUpdateResult(
        updated_count=len(updated),
        failed_count=len(failed),
        updated=[to_out(row, services) for row in updated],
        failed=failed,
    )


async def bulk_delete(
    services: Services, org_id: str, location_id: str, charger_ids: Sequence[str] | None
) -> BulkDeleteResult:
    """Delete the given chargers of the location, or all of them when none are given."""
    await _location(services, org_id, location_id)
    failed: list[dict[str, str]] = []
    async with services.sessions.begin() as session:
        chargers = ChargerRepository(session, org_id)
        in_location = {r.id: r for r in await chargers.in_location(location_id)}
        if charger_ids is None:
            targets = list(in_location)
        else:
            targets = []
            for charger_id in dict.fromkeys(charger_ids):
                if charger_id in in_location:
                    targets.append(charger_id)
                else:
                    failed.append({"charger_id": charger_id, "error": "not in this location"})
        await chargers.delete_ids(targets)
    await services.fleet.forget(targets)
    return BulkDeleteResult(
        deleted_count=len(targets), failed_count=len(failed), deleted=targets, failed=failed
    )
