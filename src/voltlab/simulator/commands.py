"""The station's command vocabulary: one entry per REST command, no HTTP in sight.

``await execute(station, name, event)`` returns the command's result (a JSON-ready
dict) or raises a domain error (``InvalidRequest`` -> 400, ``Conflict`` -> 409).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from voltlab.errors import Conflict, InvalidRequest
from voltlab.ids import isoformat
from voltlab.simulator.model.authorization import IdTagInfo

if TYPE_CHECKING:
    from voltlab.simulator.station import Station

Handler = Callable[["Station", dict[str, Any]], Awaitable[dict[str, Any]]]


def _connector(station: Station, event: dict[str, Any]):
    return station.connector(event.get("evse_id"), event.get("connector_id"))


async def _configuration(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, str] = {}
    reasons: list[str] = []
    for key, value in event["configuration"].items():
        status, reason = station.set_configuration(key, _wire_value(value), force=True)
        results[key] = status
        if reason:
            reasons.append(reason)
    configured = [k for k, s in results.items() if s in ("Accepted", "RebootRequired")]
    status = (
        "Accepted" if len(configured) == len(results) else ("Partial" if configured else "Rejected")
    )
    msg = "configuration applied" if not reasons else "; ".join(reasons)
    return {"status": status, "configured": configured, "msg": msg, "results": results}


def _wire_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


async def _cache_reset(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    status, removed = station.clear_cache()
    if status != "Accepted":
        raise Conflict("the authorization cache is disabled (AuthorizationCacheEnabled=false)")
    return {"msg": "Authorization cache cleared", "cleared_entries": removed}


async def _local_auth_list(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    version = int(event["list_version"])
    update_type = event.get("update_type", "Full")
    if version <= station.local_list.version:
        raise InvalidRequest(
            f"list_version {version} must be greater than the charger's current version "
            f"{station.local_list.version}"
        )
    entries = []
    for entry in event.get("entries", []):
        if entry.get("delete"):
            entries.append((entry["id_tag"], None))
            continue
        entries.append(
            (
                entry["id_tag"],
                IdTagInfo(
                    status=entry.get("status", "Accepted"),
                    expiry_date=_utc(entry.get("expiry_date")),
                    parent_id_tag=entry.get("parent_id_tag"),
                ),
            )
        )
    status = station.send_local_list(version, update_type, entries)
    if status != "Accepted":
        if not station.settings.auth.local_list_enabled:
            raise InvalidRequest(
                "the local list is disabled (LocalAuthListEnabled / LocalAuthListCtrlr.Enabled)"
            )
        raise InvalidRequest(
            f"the charger answered {status}: "
            + {
                "Failed": f"the list would exceed {station.local_list.max_length} entries",
                "NotSupported": "the local list is disabled (LocalAuthListEnabled=false)",
                "VersionMismatch": "list_version is not newer than the charger's",
            }.get(status, "refused")
        )
    return {"status": "Accepted", "list_version": version, "entries_received": len(entries)}


def _utc(value: datetime | str | None) -> datetime | None:
    """An expiry as given (datetime or ISO text); one without a time zone is read as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _clear_local_auth_list(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "msg": "Local authorization list cleared",
        "entries_deleted": station.clear_local_list(),
    }


async def _inject_fault(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    connector = _connector(station, event)
    station.inject_fault(connector, event["fault_type"])
    return {
        "msg": f"{event['fault_type']} injected",
        "fault_type": event["fault_type"],
        "evse_id": connector.evse_id,
        "connector_id": connector.connector_id,
        "status": connector.status,
        "error_code": connector.error_code,
    }


async def _clear_fault(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    connector = _connector(station, event)
    cleared = station.clear_fault(connector)
    return {
        "msg": "fault cleared" if cleared["fault_type"] else "no fault was active",
        "fault_type": cleared["fault_type"],
        "evse_id": connector.evse_id,
        "connector_id": connector.connector_id,
        "status": connector.status,
    }


async def _proxy_message(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    return await station.proxy(event["action"], event["payload"])


async def _plug(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    return await station.plug(_connector(station, event))


async def _unplug(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    return await station.unplug(_connector(station, event))


async def _unlock(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    connector = _connector(station, event)
    return {"status": await station.unlock(connector), "connector_id": connector.connector_id}


async def _start_transaction(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    tx = await station.start_transaction(_connector(station, event), event["id_tag"])
    await station.confirmed(tx)
    return {
        "transaction_id": tx.public_id,
        "transaction_key": tx.key,
        "id_tag_status": tx.id_tag_status,
    }


async def _stop_transaction(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    tx = station.find_transaction(event.get("transaction_id"))
    if tx is None:
        raise InvalidRequest(
            "no running transaction"
            + (f" with id {event['transaction_id']}" if event.get("transaction_id") else "")
        )
    await station.stop_transaction(tx, event.get("reason", "Local"))
    return {
        "transaction_id": tx.public_id,
        "meter_stop_wh": round(
            station.meter_of(station.connector(tx.evse_id, tx.connector_id)).energy_wh, 1
        ),
    }


async def _start_session(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    connector = station.connector(event.get("evse_id"), event.get("connector_id"))
    if connector.transaction_key is not None:
        raise Conflict(f"connector {connector.connector_id} already has a transaction")
    if connector.plugged and connector.finishing:
        await station.unplug(connector)  # a new session needs the cable re-inserted
    await station.plug(connector)
    presented = await station.present_tag(event["id_tag"], connector)
    tx = station.transaction_on(connector)
    result: dict[str, Any] = {
        "authorization": {k: presented.get(k) for k in ("status", "source", "reason")},
        "transaction_id": tx.public_id if tx else None,
    }
    if tx is None:
        result["msg"] = f"not started: the id tag was {presented.get('status')}"
        return result
    await station.confirmed(tx)
    result["transaction_id"] = tx.public_id
    duration = event.get("duration_seconds")
    if duration:
        tx.stop_at = tx.started_at + timedelta(seconds=float(duration))
        result["stops_at"] = isoformat(tx.stop_at)
    energy = event.get("target_energy_kwh")
    if energy:
        tx.stop_at_wh = tx.meter_start_wh + float(energy) * 1000
        result["stops_at_energy_wh"] = tx.stop_at_wh
    station.changed()
    station.wake_ticker()  # plans the stop
    return result


async def _stop_session(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    connector = station.connector(event.get("evse_id"), event.get("connector_id"))
    tx = station.transaction_on(connector)
    if tx is not None:
        await station.stop_transaction(tx, "Local", id_tag=tx.id_tag)
    await station.unplug(connector)
    return {"transaction_id": tx.public_id if tx else None, "status": connector.status}


async def _authorize(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    decision = await station.authorize(event["id_tag"])
    return {
        "id_tag": event["id_tag"],
        "status": decision.status,
        "source": decision.source,
        "reason": decision.reason,
        "expiry_date": isoformat(decision.info.expiry_date) if decision.info else None,
        "parent_id_tag": decision.info.parent_id_tag if decision.info else None,
    }


async def _ev_requests(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    return station.ev_requests_energy(_connector(station, event))


async def _ev_stops(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    return station.ev_stops_energy(_connector(station, event))


async def _power_update(station: Station, event: dict[str, Any]) -> dict[str, Any]:
    return station.power_update(_connector(station, event), float(event["power_w"]))


HANDLERS: dict[str, Handler] = {
    "proxy_message": _proxy_message,
    "configuration": _configuration,
    "cache_reset": _cache_reset,
    "local_auth_list": _local_auth_list,
    "clear_local_auth_list": _clear_local_auth_list,
    "inject_fault": _inject_fault,
    "clear_fault": _clear_fault,
    "plug_connector": _plug,
    "unplug_connector": _unplug,
    "unlock_connector": _unlock,
    "start_transaction": _start_transaction,
    "stop_transaction": _stop_transaction,
    "start_session": _start_session,
    "stop_session": _stop_session,
    "authorize_id_tag": _authorize,
    "ev_requests_energy": _ev_requests,
    "ev_stops_energy": _ev_stops,
    "power_update": _power_update,
}


async def execute(station: Station, name: str, event: dict[str, Any]) -> dict[str, Any]:
    handler = HANDLERS.get(name)
    if handler is None:
        raise InvalidRequest(f"unknown command {name!r}")
    return await handler(station, event)
