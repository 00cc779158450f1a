"""A bundle's sessions, CDRs and authorization log: ``/ocpi/cpos/{cpo_id}/sessions``,
``/cdrs`` and ``/authorizations`` (bearer auth, tenant-scoped).

A CPO bundle lists what it sent (each item with ``pushed``: did its last push reach the
token's eMSP; ``null`` when it was never pushed, e.g. an unknown token), an eMSP bundle
what it received. Newest first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, or_, select

from voltlab.api.deps import LimitQ, PageQ, ServicesDep, TextQ
from voltlab.auth.dependencies import TenantId
from voltlab.domain.pagination import Page
from voltlab.ocpi.bundles import service
from voltlab.ocpi.models import SessionStatus
from voltlab.services import Services
from voltlab.storage.ocpi import OcpiAuthorization, OcpiBundle, OcpiCdr, OcpiExchange, OcpiSession

router = APIRouter(prefix="/ocpi/cpos/{cpo_id}", tags=["OCPI bundle sessions"])

ReferenceQ = Annotated[str | None, Query(min_length=1, max_length=36), TextQ]


@router.get("/sessions")
async def list_sessions(
    cpo_id: str,
    services: ServicesDep,
    org: TenantId,
    page: PageQ = 1,
    limit: LimitQ = 50,
    status: SessionStatus | None = None,
    authorization_reference: ReferenceQ = None,
) -> Page[dict[str, Any]]:
    bundle = await service.get(services, org, cpo_id)
    conditions: list[ColumnElement[bool]] = [OcpiSession.bundle_id == bundle.id]
    if status is not None:
        conditions.append(OcpiSession.status == status.value)
    if authorization_reference is not None:
        conditions.append(OcpiSession.authorization_reference == authorization_reference)
    async with services.sessions() as db:
        total = await db.scalar(select(func.count()).select_from(OcpiSession).where(*conditions))
        rows = list(
            (
                await db.scalars(
                    select(OcpiSession)
                    .where(*conditions)
                    .order_by(OcpiSession.id.desc())
                    .offset((page - 1) * limit)
                    .limit(limit)
                )
            ).all()
        )
    items = [dict(row.data) for row in rows]
    if bundle.role == "CPO":
        pushed = await _pushed_sessions(services, bundle, rows)
        for item, row in zip(items, rows, strict=True):
            item["pushed"] = pushed.get(row.session_id)
    return Page(data=items, total=total or 0, page=page, limit=limit)


@router.get("/cdrs")
async def list_cdrs(
    cpo_id: str,
    services: ServicesDep,
    org: TenantId,
    page: PageQ = 1,
    limit: LimitQ = 50,
    authorization_reference: ReferenceQ = None,
) -> Page[dict[str, Any]]:
    bundle = await service.get(services, org, cpo_id)
    conditions: list[ColumnElement[bool]] = [OcpiCdr.bundle_id == bundle.id]
    if authorization_reference is not None:
        conditions.append(OcpiCdr.authorization_reference == authorization_reference)
    async with services.sessions() as db:
        total = await db.scalar(select(func.count()).select_from(OcpiCdr).where(*conditions))
        rows = list(
            (
                await db.scalars(
                    select(OcpiCdr)
                    .where(*conditions)
                    .order_by(OcpiCdr.id.desc())
                    .offset((page - 1) * limit)
                    .limit(limit)
                )
            ).all()
        )
    items = [dict(row.data) for row in rows]
    if bundle.role == "CPO":
        pushed = await _pushed_cdrs(services, bundle, rows)
        for item, row in zip(items, rows, strict=True):
            item["pushed"] = pushed.get(row.cdr_id)
    return Page(data=items, total=total or 0, page=page, limit=limit)


class EmspParty(BaseModel):
    country_code: str
    party_id: str


class AuthorizationOut(BaseModel):
    """One token decision of a CPO bundle (ocpi.md, "Authorization log")."""

    id: str
    token_uid: str
    token_type: str | None
    emsp: EmspParty | None
    charger_id: str | None
    location_id: str | None
    evse_uid: str | None
    trigger: str
    path: str
    ocpi_allowed: str | None
    ocpp_status: str
    latency_ms: float
    authorization_reference: str | None
    error: str | None
    created_at: datetime


@router.get("/authorizations")
async def list_authorizations(
    cpo_id: str,
    services: ServicesDep,
    org: TenantId,
    page: PageQ = 1,
    limit: LimitQ = 50,
    token_uid: Annotated[str | None, Query(min_length=1, max_length=36), TextQ] = None,
) -> Page[AuthorizationOut]:
    bundle = await service.get(services, org, cpo_id)
    conditions: list[ColumnElement[bool]] = [OcpiAuthorization.bundle_id == bundle.id]
    if token_uid is not None:
        # OCPI uids are CiString and OCPP idTags case-insensitive: match either way.
        conditions.append(func.lower(OcpiAuthorization.token_uid) == token_uid.lower())
    async with services.sessions() as db:
        total = await db.scalar(
            select(func.count()).select_from(OcpiAuthorization).where(*conditions)
        )
        rows = (
            await db.scalars(
                select(OcpiAuthorization)
                .where(*conditions)
                .order_by(OcpiAuthorization.created_at.desc(), OcpiAuthorization.id.desc())
                .offset((page - 1) * limit)
                .limit(limit)
            )
        ).all()
    return Page(
        data=[_authorization(row) for row in rows], total=total or 0, page=page, limit=limit
    )


def _authorization(row: OcpiAuthorization) -> AuthorizationOut:
    emsp = (
        EmspParty(country_code=row.emsp_country_code, party_id=row.emsp_party_id)
        if row.emsp_country_code and row.emsp_party_id
        else None
    )
    return AuthorizationOut(
        id=row.id,
        token_uid=row.token_uid,
        token_type=row.token_type,
        emsp=emsp,
        charger_id=row.charger_id,
        location_id=row.location_id,
        evse_uid=row.evse_uid,
        trigger=row.trigger,
        path=row.path,
        ocpi_allowed=row.ocpi_allowed,
        ocpp_status=row.ocpp_status,
        latency_ms=row.latency_ms,
        authorization_reference=row.authorization_reference,
        error=row.error,
        created_at=row.created_at,
    )


# --------------------------------------------------------------------------- pushed?
# Whether the last push of an object reached the eMSP is read from the bundle's exchange
# log (written in the background, so it may lag a push by a fraction of a second): the
# sessions and CDRs tables hold the OCPI objects only.


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _last_outcomes(
    services: Services,
    bundle: OcpiBundle,
    methods: tuple[str, ...],
    matches: dict[str, ColumnElement[bool]],
    key_of: Any,
) -> dict[str, bool]:
    if not matches:
        return {}
    async with services.sessions() as db:
        rows = (
            await db.execute(
                select(OcpiExchange.url, OcpiExchange.request_body, OcpiExchange.error)
                .where(
                    OcpiExchange.bundle_id == bundle.id,
                    OcpiExchange.direction == "out",
                    OcpiExchange.method.in_(methods),
                    or_(*matches.values()),
                )
                .order_by(OcpiExchange.id)
            )
        ).all()
    outcome: dict[str, bool] = {}
    for row in rows:  # oldest first: the last exchange of an object wins
        key = key_of(row, matches.keys())
        if key is not None:
            outcome[key] = row.error is None
    return outcome


async def _pushed_sessions(
    services: Services, bundle: OcpiBundle, rows: list[OcpiSession]
) -> dict[str, bool]:
    # A session is pushed to {sessions}/{cc}/{pid}/{session_id} (PUT, then PATCHes).
    suffixes = {
        row.session_id: f"/{row.country_code}/{row.party_id}/{row.session_id}" for row in rows
    }
    matches = {
        sid: OcpiExchange.url.like(f"%{_like(suffix)}", escape="\\")
        for sid, suffix in suffixes.items()
    }

    def key_of(row: Any, keys: Any) -> str | None:
        return next((sid for sid in keys if row.url.endswith(suffixes[sid])), None)

    return await _last_outcomes(services, bundle, ("PUT", "PATCH"), matches, key_of)


async def _pushed_cdrs(
    services: Services, bundle: OcpiBundle, rows: list[OcpiCdr]
) -> dict[str, bool]:
    # A CDR is POSTed to the eMSP's cdrs URL, the same for all: find it by its id in the
    # body (dump_json writes compact JSON, and the id comes first, far inside the cut).
    needles = {row.cdr_id: f'"id":"{row.cdr_id}"' for row in rows}
    matches = {
        cid: OcpiExchange.request_body.like(f"%{_like(needle)}%", escape="\\")
        for cid, needle in needles.items()
    }

    def key_of(row: Any, keys: Any) -> str | None:
        body = row.request_body or ""
        return next((cid for cid in keys if needles[cid] in body), None)

    return await _last_outcomes(services, bundle, ("POST",), matches, key_of)
