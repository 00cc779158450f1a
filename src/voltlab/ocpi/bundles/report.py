"""A one-page markdown report of a bundle: party, peer URL, locations, chargers, EVSEs,
tokens and connected peers, with every id a tester needs to copy."""

from __future__ import annotations

from sqlalchemy import select

from voltlab.ids import isoformat
from voltlab.ocpi import urls
from voltlab.services import Services
from voltlab.storage.ocpi import OcpiBundle, OcpiLocation, OcpiPeer, OcpiToken
from voltlab.storage.repositories import chargers_of_bundle


def _table(headers: list[str], rows: list[list[object]]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    cell = lambda value: "" if value is None else str(value).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


async def markdown(services: Services, bundle: OcpiBundle) -> str:
    from voltlab.ocpi.cpo.projection import evses_of

    async with services.sessions() as session:
        locations = list(
            (
                await session.scalars(
                    select(OcpiLocation)
                    .where(OcpiLocation.bundle_id == bundle.id)
                    .order_by(OcpiLocation.created_at, OcpiLocation.id)
                )
            ).all()
        )
        chargers = await chargers_of_bundle(session, bundle.id)
        tokens = list(
            (
                await session.scalars(
                    select(OcpiToken).where(OcpiToken.bundle_id == bundle.id).order_by(OcpiToken.id)
                )
            ).all()
        )
        peers = list(
            (await session.scalars(select(OcpiPeer).where(OcpiPeer.bundle_id == bundle.id))).all()
        )
    role = "CPO" if bundle.role == "CPO" else "eMSP"
    lines = [
        f"# OCPI {role} bundle {bundle.id}: {bundle.business_name}",
        "",
        f"- Party: `{bundle.country_code}*{bundle.party_id}` ({bundle.role})"
        + (
            f", mangled from `{bundle.party_id_mangled_from}`"
            if bundle.party_id_mangled_from
            else ""
        ),
        f"- Template: `{bundle.template}` v{bundle.template_version}"
        + (f", seed {bundle.seed}" if bundle.seed is not None else ""),
        f"- Status: {bundle.status}",
        f"- OCPI versions URL: {urls.versions_url(bundle.base_url, bundle.id)}",
        f"- Expires: {isoformat(bundle.expires_at) or 'never'}",
        "",
    ]
    if bundle.role == "CPO":
        lines += ["## Locations", ""]
        lines += _table(
            ["OCPI id", "name", "city", "country", "chargers"],
            [
                [
                    f"`{loc.id}`",
                    loc.data.get("name"),
                    loc.data.get("city"),
                    loc.data.get("country"),
                    sum(1 for c in chargers if c.ocpi_location_id == loc.id),
                ]
                for loc in locations
            ],
        )
        lines += ["## Chargers", ""]
        lines += _table(
            ["identity", "charger id", "OCPP", "model", "location"],
            [
                [
                    f"`{c.identity}`",
                    c.id,
                    c.ocpp_version,
                    f"{c.brand_slug}/{c.model_slug}",
                    c.ocpi_location_id,
                ]
                for c in chargers
            ],
        )
        lines += ["## EVSEs", ""]
        evse_rows: list[list[object]] = []
        data_of = {loc.id: loc.data for loc in locations}
        for charger in chargers:
            location_data = data_of.get(charger.ocpi_location_id or "") or {}
            for evse in evses_of(services, bundle, charger, location_data):
                evse_rows.append(
                    [f"`{evse['uid']}`", evse.get("evse_id"), charger.identity, evse["status"]]
                )
        lines += _table(["evse_uid", "evse_id", "charger", "status"], evse_rows)
    lines += ["## Tokens", ""]
    lines += _table(
        ["uid", "type", "owner", "whitelist", "valid", "purpose"],
        [
            [f"`{t.uid}`", t.type, f"{t.country_code}*{t.party_id}", t.whitelist, t.valid, t.label]
            for t in tokens
        ],
    )
    lines += ["## Connected peers", ""]
    lines += _table(
        ["party", "role", "status", "versions URL", "initiated by"],
        [
            [f"{p.country_code}*{p.party_id}", p.role, p.status, p.versions_url, p.initiated_by]
            for p in peers
        ],
    )
    return "\n".join(lines).rstrip() + "\n"
