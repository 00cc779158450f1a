"""The bulk-create job of a CPO bundle's OCPI locations: ``create_job`` plans the request
and starts the job, which provisions location after location (skipping one whose charger
identities exist) and records its results; ``job_status`` reads it back."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from voltlab.domain.chargers.runtime import provisioning_error
from voltlab.errors import NotFound
from voltlab.ids import new_id, utcnow
from voltlab.ocpi.bundles import provision
from voltlab.ocpi.bundles.location_plans import plan
from voltlab.ocpi.bundles.location_schemas import LocationJobAccepted, LocationJobStatus
from voltlab.ocpi.templates import PlannedLocation
from voltlab.services import Services
from voltlab.storage.models import Job
from voltlab.storage.ocpi import OcpiBundle
from voltlab.storage.repositories import ChargerRepository

log = logging.getLogger(__name__)

JOB_TYPE = "ocpi_locations_bulk_create"


def job_scope(bundle: OcpiBundle) -> str:
    """Jobs are keyed by a location id; a bundle's jobs use this one."""
    return f"ocpi:{bundle.id}"


async def create_job(
    services: Services, bundle: OcpiBundle, items: Sequence[Any]
) -> LocationJobAccepted:
    locations = plan(bundle, items)
    job_id = new_id()
    async with services.sessions.begin() as session:
        session.add(
            Job(
                id=job_id,
                org_id=bundle.org_id,
                location_id=job_scope(bundle),
                job_type=JOB_TYPE,
                status="PENDING",
                workflow_run_id=job_id,
                created_at=utcnow(),
            )
        )
    services.tasks.spawn(
        _run_job(services, bundle, job_id, locations), name=f"ocpi-locations-{job_id}"
    )
    return LocationJobAccepted(
        job_id=job_id,
        status="PENDING",
        workflow_run_id=job_id,
        status_url=f"/ocpi/cpos/{bundle.id}/locations/jobs/{job_id}",
    )


async def _set_job(services: Services, job_id: str, **values: Any) -> None:
    async with services.sessions.begin() as session:
        job = await session.get(Job, job_id)
        if job is not None:
            for key, value in values.items():
                setattr(job, key, value)


async def _run_job(
    services: Services, bundle: OcpiBundle, job_id: str, locations: list[PlannedLocation]
) -> None:
    created: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    made: list[dict[str, Any]] = []  # charger rows inserted by this job
    try:
        await _set_job(services, job_id, status="PROVISIONING")
        for index, planned in enumerate(locations):
            identities = [c.identity for c in planned.chargers]
            async with services.sessions() as session:
                taken = await ChargerRepository(session, bundle.org_id).existing_identities(
                    identities
                )
            if taken:
                failed.append(
                    {
                        "index": index,
                        "name": planned.name,
                        "error": f"identities already exist: {', '.join(sorted(taken))}",
                    }
                )
                continue
            rows = await provision.insert_locations(services, bundle, [planned])
            made += rows
            if not await provision.touch(services, bundle):  # destroyed meanwhile
                await provision.abandon(services, bundle, made)
                return
            errors = await provision.start_chargers(services, rows)
            if not await provision.touch(services, bundle):
                await provision.abandon(services, bundle, made)
                return
            created.append(
                {
                    "location_id": planned.ocpi_id,
                    "name": planned.name,
                    "chargers": [{"charger_id": r["id"], "identity": r["identity"]} for r in rows],
                    "errors": errors,
                }
            )
        status = "FAILED" if failed and not created else "READY"
        error = (
            provisioning_error(
                "no_location_created", failed[0]["error"], "create_locations", retryable=False
            )
            if status == "FAILED"
            else None
        )
        await _set_job(
            services,
            job_id,
            status=status,
            error=error,
            results={"created": created, "failed": failed},
            provisioned_at=utcnow(),
        )
    except Exception as exc:  # recorded on the job, never lost in the task
        log.exception("OCPI location job %s failed", job_id)
        if not await provision.touch(services, bundle):  # destroyed meanwhile
            await provision.abandon(services, bundle, made)
            return
        await _set_job(
            services,
            job_id,
            status="FAILED",
            error=provisioning_error(
                "internal_error", f"{type(exc).__name__}: {exc}", "create_locations", retryable=True
            ),
            results={"created": created, "failed": failed},
        )


async def job_status(services: Services, bundle: OcpiBundle, job_id: str) -> LocationJobStatus:
    async with services.sessions() as session:
        job = await session.get(Job, job_id)
    if job is None or job.location_id != job_scope(bundle) or job.org_id != bundle.org_id:
        raise NotFound(f"job {job_id} not found")
    return LocationJobStatus(
        job_id=job.id,
        job_type=job.job_type,
        status=job.status,
        workflow_run_id=job.workflow_run_id,
        error=job.error,
        results=job.results,
        provisioned_at=job.provisioned_at,
    )
