"""A bundle's OCPI exchange log, as the management API pages it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from voltlab.services import Services
from voltlab.storage.ocpi import OcpiBundle, OcpiExchange


async def page(
    services: Services, bundle: OcpiBundle, *, direction: str | None, limit: int, offset: int
) -> dict[str, Any]:
    await services.ocpi.exchanges.flush()  # what was just exchanged is visible at once
    conditions = [OcpiExchange.bundle_id == bundle.id]
    if direction is not None:
        conditions.append(OcpiExchange.direction == direction)
    async with services.sessions() as session:
        total = await session.scalar(
            select(func.count()).select_from(OcpiExchange).where(*conditions)
        )
        rows = await session.scalars(
            select(OcpiExchange)
            .where(*conditions)
            .order_by(OcpiExchange.id.desc())
            .offset(offset)
            .limit(limit)
        )
        data = [
            {
                "direction": row.direction,
                "method": row.method,
                "url": row.url,
                "http_status": row.http_status,
                "status_code": row.status_code,
                "request_id": row.request_id,
                "correlation_id": row.correlation_id,
                "request_body": row.request_body,
                "response_body": row.response_body,
                "duration_ms": row.duration_ms,
                "error": row.error,
                "created_at": row.created_at,
            }
            for row in rows
        ]
    return {"data": data, "total": total or 0, "limit": limit, "offset": offset}
