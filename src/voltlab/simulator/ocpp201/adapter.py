"""OCPP 2.0.1 binding of the station: payload shapes and CSMS-initiated handlers.

Handlers answer at once; follow-up work runs in tasks the station owns (``ocpp`` runs
handlers inside its receive loop, where a CALL would deadlock).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v201 import ChargePoint
from ocpp.v201 import call_result as result

from voltlab.ids import isoformat, utcnow
from voltlab.simulator.model.authorization import IdTagInfo
from voltlab.simulator.model.connector import Connector
from voltlab.simulator.model.smart_charging import profile_from_201, well_formed
from voltlab.simulator.ocpp201.device_model import resolve
from voltlab.simulator.ocpp201.messages import id_token as wire_id_token
from voltlab.simulator.rpc import RpcMixin

if TYPE_CHECKING:
    from voltlab.simulator.link import FrameTap
    from voltlab.simulator.station import Station

TRIGGERABLE = (
    "BootNotification",
    "LogStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
    "TransactionEvent",
)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def parse_id_tag_info(info: dict[str, Any]) -> IdTagInfo:
    """``idTokenInfo`` (camelCase from the wire or snake_case from ``ocpp`` handlers)."""
    group = info.get("groupIdToken") or info.get("group_id_token") or {}
    message = info.get("personalMessage") or info.get("personal_message") or {}
    return IdTagInfo(
        status=info["status"],
        expiry_date=_time(info.get("cacheExpiryDateTime") or info.get("cache_expiry_date_time")),
        parent_id_tag=group.get("idToken") or group.get("id_token"),
        personal_message=message.get("content"),
    )


class Ocpp201Adapter(RpcMixin, ChargePoint):
    def __init__(self, station: Station, tap: FrameTap, response_timeout: float) -> None:
        # Not ``ChargePoint.__init__``: it builds a route map and a queue per connection.
        self._setup(station, tap, response_timeout)

    # -- what the station sends ------------------------------------------------------
    def boot_payload(self) -> dict[str, Any]:
        spec = self.station.spec
        return {
            "reason": self.station.boot_reason,
            "chargingStation": {
                "model": spec.model_name,
                "vendorName": spec.vendor_name,
                "serialNumber": spec.serial_number,
                "firmwareVersion": spec.firmware_version,
            },
        }

    def status_payloads(self) -> list[dict[str, Any]]:
        return [self.status_payload(c) for c in self.station.connectors]

    def status_payload(self, connector: Connector) -> dict[str, Any]:
        return {
            "timestamp": isoformat(utcnow()),
            "connectorStatus": connector.status_201,
            "evseId": connector.evse_id,
            "connectorId": connector.connector_id,
        }

    async def authorize(self, id_tag: str, token_type: str | None = None) -> IdTagInfo:
        answer = await self.send_call("Authorize", {"idToken": wire_id_token(id_tag, token_type)})
        return parse_id_tag_info(answer["idTokenInfo"])

    def _evse(self, evse_id: int | None) -> Connector | None:
        return next((c for c in self.station.connectors if c.evse_id == evse_id), None)

    # -- remote transactions -----------------------------------------------------------
    @on("RequestStartTransaction")
    def on_request_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> result.RequestStartTransaction:
        station = self.station
        if station.boot_status != "Accepted":
            return result.RequestStartTransaction(status="Rejected")
        token = id_token["id_token"]
        if evse_id is not None:
            connector = self._evse(evse_id)
        else:
            connector = next((c for c in station.connectors if self._can_start(c, token)), None)
        # F01.FR.21-24: Rejected when unavailable, faulted, occupied or reserved for another.
        if connector is None or not self._can_start(connector, token):
            return result.RequestStartTransaction(status="Rejected")
        profile = None
        if charging_profile is not None:
            profile = profile_from_201(snake_to_camel_case(charging_profile))
            # A TxProfile the charger could not install: refused now, not dropped later.
            if profile.purpose != "TxProfile" or not well_formed(profile):
                return result.RequestStartTransaction(status="Rejected")
        station.spawn(
            station.remote_start(
                connector,
                token,
                remote_start_id=remote_start_id,
                profile=profile,
                id_token_type=id_token["type"],
            ),
            "remote-start",
        )
        return result.RequestStartTransaction(status="Accepted")

    def _can_start(self, connector: Connector, id_token: str) -> bool:
        return (
            connector.available_for_transaction
            and not connector.tag_presented
            and not self.station.reserved_for_other(connector, id_token)
        )

    @on("RequestStopTransaction")
    def on_request_stop(self, transaction_id: str, **_: Any) -> result.RequestStopTransaction:
        tx = self.station.find_transaction(transaction_id)
        if tx is None:
            return result.RequestStopTransaction(status="Rejected")
        self.station.spawn(self.station.stop_transaction(tx, "Remote"), "remote-stop")
        return result.RequestStopTransaction(status="Accepted")

    @on("Reset")
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> result.Reset:
        if evse_id is not None:
            # Resetting one EVSE is not supported: the station answers Rejected (B11/B12).
            return result.Reset(status="Rejected")
        busy = any(not t.ended for t in self.station.transactions.values())
        if type == "OnIdle" and busy:
            self.station.reset_when_idle = True
            self.station.wake_ticker()  # the ticker resets once the last transaction ends
            return result.Reset(status="Scheduled")
        self.station.spawn(self.station.reset("Immediate"), "reset")
        return result.Reset(status="Accepted")

    @on("UnlockConnector")
    async def on_unlock(self, evse_id: int, connector_id: int, **_: Any) -> result.UnlockConnector:
        connector = next(
            (
                c
                for c in self.station.connectors
                if c.evse_id == evse_id and c.connector_id == connector_id
            ),
            None,
        )
        if connector is None:
            return result.UnlockConnector(status="UnknownConnector")
        tx = self.station.transaction_on(connector)
        if tx is not None and tx.authorized:
            return result.UnlockConnector(status="OngoingAuthorizedTransaction")
        return result.UnlockConnector(status=await self.station.unlock(connector))

    # -- device model -------------------------------------------------------------------
    @on("SetVariables")
    def on_set_variables(
        self, set_variable_data: list[dict[str, Any]], **_: Any
    ) -> result.SetVariables:
        results = []
        for item in set_variable_data:
            component, variable = item["component"], item["variable"]
            name = f"{component['name']}.{variable['name']}"
            attribute = item.get("attribute_type", "Actual")
            if attribute != "Actual":
                status = "NotSupportedAttributeType"
            elif resolve(self.station.config, name) is None:
                known = any(
                    n.startswith(component["name"] + ".") for n in self.station.config.names()
                )
                status = "UnknownVariable" if known else "UnknownComponent"
            else:
                status, _reason = self.station.set_configuration(name, item["attribute_value"])
                status = {"NotSupported": "UnknownVariable"}.get(status, status)
            results.append(
                {
                    "attributeType": attribute,
                    "attributeStatus": status,
                    "component": snake_to_camel_case(component),
                    "variable": snake_to_camel_case(variable),
                }
            )
        return result.SetVariables(set_variable_result=results)

    @on("GetVariables")
    def on_get_variables(
        self, get_variable_data: list[dict[str, Any]], **_: Any
    ) -> result.GetVariables:
        results = []
        for item in get_variable_data:
            component, variable = item["component"], item["variable"]
            name = f"{component['name']}.{variable['name']}"
            attribute = item.get("attribute_type", "Actual")
            entry: dict[str, Any] = {
                "attributeType": attribute,
                "component": snake_to_camel_case(component),
                "variable": snake_to_camel_case(variable),
            }
            config = self.station.config
            if attribute != "Actual":
                entry["attributeStatus"] = "NotSupportedAttributeType"
            elif name not in config:
                known = any(n.startswith(component["name"] + ".") for n in config.names())
                entry["attributeStatus"] = "UnknownVariable" if known else "UnknownComponent"
            elif name == "SecurityCtrlr.BasicAuthPassword":
                entry["attributeStatus"] = "Rejected"  # write-only
            else:
                entry["attributeStatus"] = "Accepted"
                entry["attributeValue"] = config.get(name)
            results.append(entry)
        return result.GetVariables(get_variable_result=results)

    @on("ChangeAvailability")
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> result.ChangeAvailability:
        if evse is None or evse.get("id", 0) == 0:
            targets = list(self.station.connectors)
        else:
            connector = self._evse(evse["id"])
            if connector is None:
                return result.ChangeAvailability(status="Rejected")
            targets = [connector]
        status = self.station.change_availability(targets, operational_status == "Operative")
        return result.ChangeAvailability(status=status)

    @on("TriggerMessage")
    def on_trigger(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> result.TriggerMessage:
        if requested_message not in TRIGGERABLE:
            return result.TriggerMessage(status="NotImplemented")
        evse_id = (evse or {}).get("id")
        if evse_id is not None and self._evse(evse_id) is None:
            return result.TriggerMessage(status="Rejected")
        if requested_message == "BootNotification" and self.station.boot_status == "Accepted":
            return result.TriggerMessage(status="Rejected")  # F06.FR.17
        if requested_message == "StatusNotification" and (
            evse_id is None or (evse or {}).get("connector_id") is None
        ):
            return result.TriggerMessage(status="Rejected")  # F06.FR.12: names a connector
        if requested_message == "TransactionEvent" and not any(
            self.station.transaction_on(c) is not None
            for c in self.station.connectors
            if evse_id is None or c.evse_id == evse_id
        ):
            return result.TriggerMessage(status="Rejected")  # no transaction to report
        self.station.spawn(self.station.triggered(requested_message, evse_id), "trigger")
        return result.TriggerMessage(status="Accepted")

    # -- local list and cache ----------------------------------------------------------
    @on("SendLocalList")
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> result.SendLocalList:
        entries = [
            (
                item["id_token"]["id_token"],
                parse_id_tag_info(item["id_token_info"]) if item.get("id_token_info") else None,
            )
            for item in local_authorization_list or []
        ]
        if len(entries) > self.station.config.get_int("LocalAuthListCtrlr.ItemsPerMessage"):
            return result.SendLocalList(status="Failed")
        status = self.station.send_local_list(version_number, update_type, entries)
        return result.SendLocalList(status=status)

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **_: Any) -> result.GetLocalListVersion:
        return result.GetLocalListVersion(version_number=self.station.local_list.version)

    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> result.ClearCache:
        status, _ = self.station.clear_cache()
        return result.ClearCache(status=status)

    # -- smart charging ---------------------------------------------------------------
    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> result.SetChargingProfile:
        try:
            profile = profile_from_201(snake_to_camel_case(charging_profile))
        except (KeyError, ValueError):
            return result.SetChargingProfile(status="Rejected")
        if evse_id > len(self.station.connectors):
            return result.SetChargingProfile(status="Rejected")
        return result.SetChargingProfile(status=self.station.set_charging_profile(evse_id, profile))

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> result.ClearChargingProfile:
        criteria = charging_profile_criteria or {}
        removed = self.station.profiles.clear(
            profile_id=charging_profile_id,
            connector_id=criteria.get("evse_id"),
            purpose=criteria.get("charging_profile_purpose"),
            stack_level=criteria.get("stack_level"),
        )
        self.station.changed()
        self.station.wake_ticker()  # the limit may have gone with them
        return result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> result.GetCompositeSchedule:
        if evse_id > len(self.station.connectors):
            return result.GetCompositeSchedule(status="Rejected")
        schedule = self.station.composite_schedule(
            evse_id, duration, "A" if charging_rate_unit == "A" else "W"
        )
        return result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evseId": evse_id,
                "duration": duration,
                "scheduleStart": schedule["scheduleStart"],
                "chargingRateUnit": schedule["chargingRateUnit"],
                "chargingSchedulePeriod": schedule["chargingSchedulePeriod"],
            },
        )

    # -- reservations -----------------------------------------------------------------
    @on("ReserveNow")
    def on_reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> result.ReserveNow:
        connector = None
        if evse_id is not None and evse_id > 0:
            connector = self._evse(evse_id)
            if connector is None:
                return result.ReserveNow(status="Rejected")
        expiry = _time(expiry_date_time) or utcnow()
        status = self.station.reserve(connector, id, expiry, id_token["id_token"])
        return result.ReserveNow(status=status)

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> result.CancelReservation:
        return result.CancelReservation(status=self.station.cancel_reservation(reservation_id))

    # -- data transfer, firmware, logs ------------------------------------------------
    @on("DataTransfer")
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None, **_: Any
    ) -> result.DataTransfer:
        status, reply = self.station.data_transfer(vendor_id, message_id, data)
        return result.DataTransfer(status=status, data=reply)

    @on("GetLog")
    def on_get_log(
        self, log: dict[str, Any], log_type: str, request_id: int, **_: Any
    ) -> result.GetLog:
        async def notify(status: str) -> None:
            await self.station.send_safely(
                "LogStatusNotification", {"status": status, "requestId": request_id}
            )

        self.station.spawn(self.station.run_diagnostics(["Uploading", "Uploaded"], notify), "log")
        return result.GetLog(
            status="Accepted", filename=f"{log_type}-{self.station.spec.identity}.log"
        )

    @on("UpdateFirmware")
    def on_update_firmware(
        self, request_id: int, firmware: dict[str, Any], **_: Any
    ) -> result.UpdateFirmware:
        async def notify(status: str) -> None:
            await self.station.send_safely(
                "FirmwareStatusNotification", {"status": status, "requestId": request_id}
            )

        self.station.spawn(
            self.station.run_firmware_update(
                ["Downloading", "Downloaded", "Installing", "Installed"],
                notify,
                retrieve_at=_time(firmware.get("retrieve_date_time")),
            ),
            "firmware",
        )
        return result.UpdateFirmware(status="Accepted")

    def local_list_conflict_status(self) -> None:
        return None  # 2.0.1 has no LocalListConflict status notification
