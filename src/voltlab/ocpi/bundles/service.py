"""OCPI bundles: create from a template, read, report, destroy (also on TTL expiry)."""

from __future__ import annotations

import asyncio
import logging
import shlex
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from voltlab.errors import NotFound
from voltlab.ids import new_id, utcnow
from voltlab.ocpi import urls
from voltlab.ocpi.bundles import provision
from voltlab.ocpi.bundles.schemas import (
    BundleAccepted,
    BundleCreate,
    BundleOut,
    BundleStatusOut,
    Party,
    Progress,
    ProvisioningError,
    RoamHelper,
    TemplateList,
    TemplateSummary,
    TokenANew,
    Topology,
)
from voltlab.ocpi.parties import new_token
from voltlab.ocpi.templates import (
    BundlePlan,
    bundle_templates,
    mangle_party_id,
    plan_bundle,
)
from voltlab.services import Services
from voltlab.simulator.spec import connectors_for
from voltlab.storage.models import Charger
from voltlab.storage.ocpi import OcpiBundle, OcpiLocation, OcpiToken

log = logging.getLogger(__name__)

DEFAULT_BEHAVIOUR: dict[str, Any] = {
    # eMSP side
    "answer_delay_ms": 0,
    "forced_answers": {},
    "error": None,
    "silent": False,
    # CPO side
    "realtime_timeout_ms": 5_000,
    "fallback_policy": "whitelist",
}


def templates() -> TemplateList:
    items = [TemplateSummary(**t.to_summary()) for t in bundle_templates()]
    return TemplateList(data=items, total=len(items))


def _party(bundle: OcpiBundle) -> Party:
    return Party(
        country_code=bundle.country_code,
        party_id=bundle.party_id,
        role="CPO" if bundle.role == "CPO" else "EMSP",
    )


def _paths(bundle_id: int) -> dict[str, str]:
    root = f"/ocpi/cpos/{bundle_id}"
    return {"status_url": f"{root}/status", "destroy_url": root, "report_url": f"{root}/report"}


def roam_helper(bundle: OcpiBundle, token_a: str) -> RoamHelper:
    versions = urls.versions_url(bundle.base_url, bundle.id)
    curl = shlex.join(["curl", "-sS", "-H", f"Authorization: Token {token_a}", versions])
    return RoamHelper(credentials_payload={"token": token_a, "url": versions}, curl_snippet=curl)


async def _taken_party_ids(services: Services, org_id: str, country_code: str) -> set[str]:
    async with services.sessions() as session:
        rows = await session.scalars(
            select(OcpiBundle.party_id).where(
                OcpiBundle.org_id == org_id, OcpiBundle.country_code == country_code
            )
        )
        return set(rows.all())


def _plan(body: BundleCreate, party_id: str) -> BundlePlan:
    # The templates' errors are field errors already (422 naming the field).
    return plan_bundle(
        body.template,
        role=body.role,
        country_code=body.country_code,
        party_id=party_id,
        name_prefix=body.name_prefix,
        seed=body.seed,
        overrides=body.overrides,
    )


# Creations in one process are serialised so two calls cannot take the same party id.
_create_lock = asyncio.Lock()


async def create(
    services: Services, org_id: str, body: BundleCreate, base_url: str
) -> BundleAccepted:
    async with _create_lock:
        taken = await _taken_party_ids(services, org_id, body.country_code)
        party_id = mangle_party_id(body.party_id, taken)  # PartyIdExhausted: 409
        plan = _plan(body, party_id)
        now = utcnow()
        ttl = body.ttl_seconds
        token_a = new_token()
        bundle = OcpiBundle(
            org_id=org_id,
            role="CPO" if body.role == "cpo" else "EMSP",
            country_code=body.country_code,
            party_id=party_id,
            party_id_mangled_from=body.party_id if party_id != body.party_id else None,
            business_name=plan.business_name,
            name_prefix=body.name_prefix,
            template=plan.template,
            template_version=plan.template_version,
            seed=body.seed,
            overrides=body.overrides,
            status="PENDING",
            progress=None,
            error=None,
            workflow_run_id=new_id(),
            token_a=token_a,
            base_url=base_url.rstrip("/"),
            tariffs=list(plan.tariffs),
            behaviour=dict(DEFAULT_BEHAVIOUR),
            expires_at=now + timedelta(seconds=ttl) if ttl is not None else None,
            created_at=now,
            updated_at=now,
        )
        async with services.sessions.begin() as session:
            session.add(bundle)
            await session.flush()
            bundle_id = bundle.id
    services.tasks.spawn(
        provision.provision(services, bundle_id, plan), name=f"ocpi-bundle-{bundle_id}"
    )
    return BundleAccepted(
        cpo_id=str(bundle_id),
        party=_party(bundle),
        party_id_mangled_from=bundle.party_id_mangled_from,
        name_prefix=bundle.name_prefix,
        template=bundle.template,
        template_version=bundle.template_version,
        token_a=token_a,
        ocpi_peer_url=urls.versions_url(bundle.base_url, bundle_id),
        roam_helper=roam_helper(bundle, token_a),
        workflow_run_id=bundle.workflow_run_id,
        status="PENDING",
        expires_at=bundle.expires_at,
        **{k: v for k, v in _paths(bundle_id).items() if k != "report_url"},
    )


def parse_id(cpo_id: str) -> int | None:
    return int(cpo_id) if cpo_id.isascii() and cpo_id.isdigit() and len(cpo_id) < 10 else None


async def get(services: Services, org_id: str, cpo_id: str) -> OcpiBundle:
    bundle_id = parse_id(cpo_id)
    if bundle_id is not None:
        async with services.sessions() as session:
            bundle = await session.get(OcpiBundle, bundle_id)
        if bundle is not None and bundle.org_id == org_id:
            return bundle
    raise NotFound(f"OCPI bundle {cpo_id} not found")


async def topology(services: Services, bundle: OcpiBundle) -> Topology:
    async with services.sessions() as session:
        locations = await session.scalar(
            select(func.count())
            .select_from(OcpiLocation)
            .where(OcpiLocation.bundle_id == bundle.id)
        )
        tokens = await session.scalar(
            select(func.count()).select_from(OcpiToken).where(OcpiToken.bundle_id == bundle.id)
        )
        chargers = (
            await session.execute(
                select(Charger.ocpp_version, Charger.brand_slug, Charger.model_slug).where(
                    Charger.ocpi_cpo_id == bundle.id
                )
            )
        ).all()
    from voltlab import catalog

    connectors = 0
    for version, brand, model_slug in chargers:
        model = catalog.model(brand, model_slug)
        if model is not None:
            wire = "1.6" if version == "OCPP1.6" else "2.0.1"
            connectors += len(connectors_for(wire, model.connector_count))
    return Topology(
        locations=locations or 0,
        chargers=len(chargers),
        evses=connectors,  # one EVSE per connector (OCPI for OCPP 1.x)
        connectors=connectors,
        tokens=tokens or 0,
    )


async def to_out(services: Services, bundle: OcpiBundle) -> BundleOut:
    return BundleOut(
        cpo_id=str(bundle.id),
        party=_party(bundle),
        party_id_mangled_from=bundle.party_id_mangled_from,
        name_prefix=bundle.name_prefix,
        template=bundle.template,
        template_version=bundle.template_version,
        ocpi_peer_url=urls.versions_url(bundle.base_url, bundle.id),
        # Token A is handed out once (on create, or by POST .../token-a); the helper
        # carries it, so reads leave both out.
        roam_helper=None,
        topology=await topology(services, bundle),
        status=bundle.status,  # type: ignore[arg-type]
        expires_at=bundle.expires_at,
        created_at=bundle.created_at,
        updated_at=bundle.updated_at,
        **_paths(bundle.id),
    )


async def list_page(
    services: Services, org_id: str, page: int, limit: int
) -> tuple[list[OcpiBundle], int]:
    async with services.sessions() as session:
        total = await session.scalar(
            select(func.count()).select_from(OcpiBundle).where(OcpiBundle.org_id == org_id)
        )
        rows = await session.scalars(
            select(OcpiBundle)
            .where(OcpiBundle.org_id == org_id)
            .order_by(OcpiBundle.id.desc())
            .offset((page - 1) * limit)
            .limit(limit)
        )
        return list(rows.all()), total or 0


def status_out(bundle: OcpiBundle) -> BundleStatusOut:
    return BundleStatusOut(
        cpo_id=str(bundle.id),
        status=bundle.status,  # type: ignore[arg-type]
        workflow_run_id=bundle.workflow_run_id,
        error=ProvisioningError(**bundle.error) if bundle.error else None,
        progress=Progress(**bundle.progress) if bundle.progress else None,
        provisioned_at=bundle.provisioned_at,
        created_at=bundle.created_at,
        updated_at=bundle.updated_at,
        status_url=_paths(bundle.id)["status_url"],
    )


async def new_token_a(services: Services, org_id: str, cpo_id: str) -> TokenANew:
    """A fresh Token A (the previous one, used or not, stops working)."""
    bundle = await get(services, org_id, cpo_id)
    token_a = new_token()
    async with services.sessions.begin() as session:
        row = await session.get(OcpiBundle, bundle.id)
        assert row is not None
        row.token_a = token_a
        row.updated_at = utcnow()
    return TokenANew(
        cpo_id=cpo_id,
        token_a=token_a,
        credentials_payload=roam_helper(bundle, token_a).credentials_payload,
    )


async def delete(services: Services, org_id: str, cpo_id: str) -> None:
    """Idempotent: an id already gone (or another tenant's) is not an error."""
    try:
        bundle = await get(services, org_id, cpo_id)
    except NotFound:
        return
    await provision.destroy(services, bundle)


async def sweep_expired(services: Services) -> int:
    """Destroy every bundle past its ``expires_at``; how many."""
    async with services.sessions() as session:
        expired = list(
            (
                await session.scalars(
                    select(OcpiBundle).where(
                        OcpiBundle.expires_at.is_not(None), OcpiBundle.expires_at <= utcnow()
                    )
                )
            ).all()
        )
    for bundle in expired:
        log.info("OCPI bundle %s expired; destroying it", bundle.id)
        await provision.destroy(services, bundle)
    return len(expired)


async def run_sweeper(services: Services) -> None:
    interval = services.settings.ocpi_sweep_interval_s
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep_expired(services)
        except Exception:  # keep sweeping; the next round retries
            log.exception("sweeping expired OCPI bundles failed")
