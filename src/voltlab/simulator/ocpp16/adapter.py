"""OCPP 1.6J binding of the station: payload shapes and CSMS-initiated handlers.

Handlers answer at once; follow-up work (a transaction after RemoteStart, status
notifications after a trigger) runs in tasks the station owns, because ``ocpp`` runs
handlers inside its receive loop and a CALL from there would deadlock.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v16 import ChargePoint
from ocpp.v16 import call_result as result

from voltlab.errors import VoltlabError
from voltlab.ids import isoformat, utcnow
from voltlab.simulator.model.authorization import IdTagInfo
from voltlab.simulator.model.connector import Connector
from voltlab.simulator.model.smart_charging import profile_from_16, well_formed
from voltlab.simulator.rpc import RpcMixin

if TYPE_CHECKING:
    from voltlab.simulator.link import FrameTap
    from voltlab.simulator.station import Station

TRIGGERABLE = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def parse_id_tag_info(info: dict[str, Any]) -> IdTagInfo:
    """``idTagInfo`` (camelCase from the wire or snake_case from ``ocpp`` handlers)."""
    return IdTagInfo(
        status=info["status"],
        expiry_date=_time(info.get("expiryDate") or info.get("expiry_date")),
        parent_id_tag=info.get("parentIdTag") or info.get("parent_id_tag"),
    )


class Ocpp16Adapter(RpcMixin, ChargePoint):
    def __init__(self, station: Station, tap: FrameTap, response_timeout: float) -> None:
        # Not ``ChargePoint.__init__``: it builds a route map and a queue per connection.
        self._setup(station, tap, response_timeout)

    # -- what the charger sends -------------------------------------------------------
    def boot_payload(self) -> dict[str, Any]:
        spec = self.station.spec
        return {
            "chargePointVendor": spec.vendor_name,
            "chargePointModel": spec.model_name,
            "chargePointSerialNumber": spec.serial_number,
            "firmwareVersion": spec.firmware_version,
        }

    def status_payloads(self) -> list[dict[str, Any]]:
        connectors = self.station.connectors
        main = "Available"
        if connectors and all(c.status == "Unavailable" for c in connectors):
            main = "Unavailable"
        payloads = [{"connectorId": 0, "errorCode": "NoError", "status": main, "timestamp": _now()}]
        return payloads + [self.status_payload(c) for c in connectors]

    def status_payload(self, connector: Connector) -> dict[str, Any]:
        return {
            "connectorId": connector.connector_id,
            "errorCode": connector.error_code,
            "status": connector.status,
            "timestamp": _now(),
        }

    async def authorize(self, id_tag: str, token_type: str | None = None) -> IdTagInfo:
        # 1.6 has no token types: an IdTag is a string.
        answer = await self.send_call("Authorize", {"idTag": id_tag})
        return parse_id_tag_info(answer["idTagInfo"])

    def _connector(self, connector_id: int) -> Connector | None:
        return next((c for c in self.station.connectors if c.connector_id == connector_id), None)

    # -- remote transactions ------------------------------------------------------------
    @on("RemoteStartTransaction")
    def on_remote_start(
        self, id_tag: str, connector_id: int | None = None, charging_profile: Any = None
    ) -> result.RemoteStartTransaction:
        station = self.station
        if station.boot_status != "Accepted":  # §4.2: no remote start while Pending
            return result.RemoteStartTransaction(status="Rejected")
        if connector_id is not None:
            connector = self._connector(connector_id)
        else:
            connector = next((c for c in station.connectors if self._can_start(c, id_tag)), None)
        if connector is None or not self._can_start(connector, id_tag):
            return result.RemoteStartTransaction(status="Rejected")
        if charging_profile is not None:
            profile = charging_profile  # TxProfile, installed once the transaction runs
            charging_profile = profile_from_16(snake_to_camel_case(profile))
            # A TxProfile the charger could not install: refused now, not dropped later.
            if charging_profile.purpose != "TxProfile" or not well_formed(charging_profile):
                return result.RemoteStartTransaction(status="Rejected")
        station.spawn(
            station.remote_start(connector, id_tag, profile=charging_profile), "remote-start"
        )
        return result.RemoteStartTransaction(status="Accepted")

    def _can_start(self, connector: Connector, id_tag: str) -> bool:
        """Operative, not faulted, not busy (a transaction, or a tag awaiting its cable),
        and not reserved for another id tag."""
        return (
            connector.available_for_transaction
            and not connector.tag_presented
            and not self.station.reserved_for_other(connector, id_tag)
        )

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int) -> result.RemoteStopTransaction:
        tx = self.station.find_transaction(transaction_id)
        if tx is None or self.station.boot_status != "Accepted":
            return result.RemoteStopTransaction(status="Rejected")
        self.station.spawn(self.station.stop_transaction(tx, "Remote"), "remote-stop")
        return result.RemoteStopTransaction(status="Accepted")

    @on("Reset")
    def on_reset(self, type: str) -> result.Reset:
        self.station.spawn(self.station.reset(type), "reset")
        return result.Reset(status="Accepted")

    @on("UnlockConnector")
    async def on_unlock(self, connector_id: int) -> result.UnlockConnector:
        connector = self._connector(connector_id)
        if connector is None:
            return result.UnlockConnector(status="NotSupported")
        return result.UnlockConnector(status=await self.station.unlock(connector))

    # -- configuration -----------------------------------------------------------------
    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str) -> result.ChangeConfiguration:
        status, _ = self.station.set_configuration(key, value)
        return result.ChangeConfiguration(status=status)

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None) -> result.GetConfiguration:
        known, unknown = self.station.get_configuration(key)
        return result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str) -> result.ChangeAvailability:
        if connector_id == 0:
            targets = list(self.station.connectors)
        else:
            connector = self._connector(connector_id)
            if connector is None:
                return result.ChangeAvailability(status="Rejected")
            targets = [connector]
        status = self.station.change_availability(targets, type == "Operative")
        if connector_id == 0 and status == "Accepted":
            # Connector 0 is the Charge Point itself: its status changes too.
            payload = {
                "connectorId": 0,
                "errorCode": "NoError",
                "status": "Available" if type == "Operative" else "Unavailable",
                "timestamp": _now(),
            }
            self.station.spawn(
                self.station.send_safely("StatusNotification", payload), "status-connector-0"
            )
        return result.ChangeAvailability(status=status)

    @on("TriggerMessage")
    def on_trigger(
        self, requested_message: str, connector_id: int | None = None
    ) -> result.TriggerMessage:
        if requested_message not in TRIGGERABLE:
            return result.TriggerMessage(status="NotImplemented")
        if connector_id is not None and self._connector(connector_id) is None:
            return result.TriggerMessage(status="Rejected")
        if requested_message == "BootNotification" and self.station.boot_status == "Accepted":
            return result.TriggerMessage(status="Rejected")  # errata §3.35
        self.station.spawn(self.station.triggered(requested_message, connector_id), "trigger")
        return result.TriggerMessage(status="Accepted")

    # -- local list and cache ----------------------------------------------------------
    @on("SendLocalList")
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
    ) -> result.SendLocalList:
        entries = [
            (
                item["id_tag"],
                parse_id_tag_info(item["id_tag_info"]) if item.get("id_tag_info") else None,
            )
            for item in local_authorization_list or []
        ]
        if len(entries) > self.station.config.get_int("SendLocalListMaxLength"):
            return result.SendLocalList(status="Failed")
        status = self.station.send_local_list(list_version, update_type, entries)
        return result.SendLocalList(status=status)

    @on("GetLocalListVersion")
    def on_get_local_list_version(self) -> result.GetLocalListVersion:
        if not self.station.settings.auth.local_list_enabled:
            return result.GetLocalListVersion(list_version=-1)
        return result.GetLocalListVersion(list_version=self.station.local_list.version)

    @on("ClearCache")
    def on_clear_cache(self) -> result.ClearCache:
        status, _ = self.station.clear_cache()
        return result.ClearCache(status=status)

    # -- smart charging ---------------------------------------------------------------
    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any]
    ) -> result.SetChargingProfile:
        try:
            profile = profile_from_16(snake_to_camel_case(cs_charging_profiles))
        except (KeyError, ValueError):
            return result.SetChargingProfile(status="Rejected")
        if connector_id > len(self.station.connectors):
            return result.SetChargingProfile(status="Rejected")
        return result.SetChargingProfile(
            status=self.station.set_charging_profile(connector_id, profile)
        )

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
    ) -> result.ClearChargingProfile:
        removed = self.station.profiles.clear(
            profile_id=id,
            connector_id=connector_id,
            purpose=charging_profile_purpose,
            stack_level=stack_level,
        )
        self.station.changed()
        self.station.wake_ticker()  # the limit may have gone with them
        return result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None
    ) -> result.GetCompositeSchedule:
        if connector_id > len(self.station.connectors):
            return result.GetCompositeSchedule(status="Rejected")
        schedule = self.station.composite_schedule(
            connector_id, duration, "A" if charging_rate_unit == "A" else "W"
        )
        return result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=schedule["scheduleStart"],
            charging_schedule={
                "duration": duration,
                "chargingRateUnit": schedule["chargingRateUnit"],
                "chargingSchedulePeriod": schedule["chargingSchedulePeriod"],
            },
        )

    # -- reservations -----------------------------------------------------------------
    @on("ReserveNow")
    def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
    ) -> result.ReserveNow:
        connector = None if connector_id == 0 else self._connector(connector_id)
        if connector_id != 0 and connector is None:
            return result.ReserveNow(status="Rejected")
        expiry = _time(expiry_date) or utcnow()
        return result.ReserveNow(
            status=self.station.reserve(connector, reservation_id, expiry, id_tag)
        )

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int) -> result.CancelReservation:
        return result.CancelReservation(status=self.station.cancel_reservation(reservation_id))

    # -- data transfer, firmware, diagnostics ------------------------------------------
    @on("DataTransfer")
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> result.DataTransfer:
        status, reply = self.station.data_transfer(vendor_id, message_id, data)
        return result.DataTransfer(status=status, data=reply)

    @on("GetDiagnostics")
    def on_get_diagnostics(self, location: str, **_: Any) -> result.GetDiagnostics:
        file_name = f"diagnostics-{self.station.spec.identity}.log"
        self.station.spawn(
            self.station.run_diagnostics(["Uploading", "Uploaded"], self._diagnostics_status),
            "diagnostics",
        )
        return result.GetDiagnostics(file_name=file_name)

    async def _diagnostics_status(self, status: str) -> None:
        await self.station.send_safely("DiagnosticsStatusNotification", {"status": status})

    @on("UpdateFirmware")
    def on_update_firmware(
        self, location: str, retrieve_date: str, **_: Any
    ) -> result.UpdateFirmware:
        self.station.spawn(
            self.station.run_firmware_update(
                ["Downloading", "Downloaded", "Installing", "Installed"],
                self._firmware_status,
                retrieve_at=_time(retrieve_date),
            ),
            "firmware",
        )
        return result.UpdateFirmware()

    async def _firmware_status(self, status: str) -> None:
        await self.station.send_safely("FirmwareStatusNotification", {"status": status})

    def local_list_conflict_status(self) -> dict[str, Any]:
        return {
            "connectorId": 0,
            "errorCode": "LocalListConflict",
            "status": "Available",
            "timestamp": _now(),
        }


def _now() -> str:
    return isoformat(utcnow()) or ""


__all__ = ["Ocpp16Adapter", "VoltlabError", "parse_id_tag_info"]
