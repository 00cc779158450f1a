"""CDRs module (OCPI 2.2.1 ch. 10): one path, two roles.

- CPO bundle, SENDER: ``GET {cdrs}`` lists the CDRs of the calling eMSP's tokens
  (paginated, ``date_from``/``date_to`` on ``last_updated``, oldest first).
- eMSP bundle, RECEIVER: ``POST {cdrs}`` stores a CDR and answers its URL in ``Location``;
  ``GET {cdrs}/{cdr_id}`` is that URL (10.2.2.1 leaves its shape to the eMSP).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from voltlab.ocpi import urls
from voltlab.ocpi.models import CDR, dump
from voltlab.ocpi.parties import peer_parties
from voltlab.ocpi.server.context import (
    Caller,
    CallerDep,
    reply,
    require_role,
    sender_list,
)
from voltlab.ocpi.transport import (
    ClientError,
    InvalidParameters,
    NotFound,
    read_json,
)
from voltlab.storage.ocpi import OcpiCdr

router = APIRouter(prefix="/ocpi/{cpo_id}/2.2.1/cdrs", tags=["OCPI protocol"])


def cdr_url(caller: Caller, cdr_id: str) -> str:
    """Where the eMSP bundle keeps a CDR (the POST's ``Location``)."""
    base = urls.module_url(caller.bundle.base_url, caller.bundle.id, "cdrs")
    return f"{base}/{quote(cdr_id, safe='')}"


# --------------------------------------------------------------------------- SENDER (CPO)


@router.get("")
@router.get("/", include_in_schema=False)  # the specification's examples end with "/"
async def list_cdrs(request: Request, caller: CallerDep) -> Response:
    return await sender_list(request, caller, OcpiCdr, "cdrs")


# --------------------------------------------------------------------------- RECEIVER (eMSP)


@router.post("")
@router.post("/", include_in_schema=False)
async def post_cdr(request: Request, caller: CallerDep) -> Response:
    peer = caller.registered
    require_role(caller, "EMSP", "the cdrs RECEIVER interface")
    body = await read_json(request, CDR)
    party = (body.country_code, body.party_id)
    if party not in peer_parties(peer):
        # CDRs are Client Owned Objects (4.1.5): a client posts its own, not another's.
        raise InvalidParameters(f"the CDR's owner {party[0]}*{party[1]} is not this client")
    data = dump(body)
    stored = await _find(caller, party, body.id)
    if stored is None:
        try:
            async with caller.services.sessions.begin() as db:
                db.add(
                    OcpiCdr(
                        org_id=caller.bundle.org_id,
                        bundle_id=caller.bundle.id,
                        country_code=party[0],
                        party_id=party[1],
                        cdr_id=body.id,
                        authorization_reference=body.authorization_reference,
                        data=data,
                        last_updated=body.last_updated,
                    )
                )
        except IntegrityError:  # the same CDR posted twice at once: the other one won
            stored = await _find(caller, party, body.id)
            if stored is None:
                raise
        else:
            # 5: 201 for a new object; 10.2.2.2: Location is required in the answer.
            return reply(request, http_status=201, headers={"Location": cdr_url(caller, body.id)})
    if stored.data != data:
        # 10.1: a CDR cannot be changed or replaced once sent; a Credit CDR corrects it.
        raise ClientError(
            f"CDR {body.id!r} exists with other content: CDRs are immutable, "
            "send a Credit CDR (credit=true, credit_reference_id) and a new CDR"
        )
    # The same CDR again (a retry after a lost answer): accepted, nothing changes.
    return reply(request, headers={"Location": cdr_url(caller, body.id)})


@router.get("/{cdr_id}")
async def get_cdr(request: Request, caller: CallerDep, cdr_id: str) -> Response:
    peer = caller.registered
    require_role(caller, "EMSP", "the cdrs RECEIVER interface")
    async with caller.services.sessions() as db:
        rows = list(
            (
                await db.scalars(
                    select(OcpiCdr)
                    .where(OcpiCdr.bundle_id == caller.bundle.id, OcpiCdr.cdr_id == cdr_id)
                    .order_by(OcpiCdr.id)
                )
            ).all()
        )
    # Only the CDRs the caller posted: another CPO's CDR with the same id is not its own.
    parties = peer_parties(peer)
    row = next((r for r in rows if (r.country_code, r.party_id) in parties), None)
    if row is None:
        raise NotFound(f"unknown CDR {cdr_id!r}")
    return reply(request, row.data)


async def _find(caller: Caller, party: tuple[str, str], cdr_id: str) -> OcpiCdr | None:
    async with caller.services.sessions() as db:
        return (
            await db.scalars(
                select(OcpiCdr).where(
                    OcpiCdr.bundle_id == caller.bundle.id,
                    OcpiCdr.country_code == party[0],
                    OcpiCdr.party_id == party[1],
                    OcpiCdr.cdr_id == cdr_id,
                )
            )
        ).first()
