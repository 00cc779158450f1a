"""OCPP 2.0.1 device model variables (appendices §3) the simulated station supports.

Keys are ``Component.Variable`` (the instance-less, EVSE-less form this simulator
models); ``resolve`` also takes a bare variable name when it is unique.
"""

from __future__ import annotations

from voltlab.simulator.configuration import (
    BOOL,
    INT,
    MEASURAND_LIST,
    ONE_OF,
    SECONDS,
    ConfigStore,
    Entry,
)
from voltlab.simulator.model.authorization import AuthConfig
from voltlab.simulator.settings_view import StationSettings

TX_POINTS = ONE_OF(
    "ParkingBayOccupancy",
    "EVConnected",
    "Authorized",
    "DataSigned",
    "PowerPathClosed",
    "EnergyTransfer",
)


def _basic_auth_password(value: str) -> str:
    if not 16 <= len(value) <= 40:
        raise ValueError("must be 16-40 characters (A00.FR.205)")
    return value


def defaults(connectors: int, heartbeat_s: int, meter_s: int) -> dict[str, Entry]:
    return {
        "AuthCtrlr.Enabled": Entry("true", check=BOOL),
        "AuthCtrlr.AuthorizeRemoteStart": Entry("true", check=BOOL),
        "AuthCtrlr.LocalAuthorizeOffline": Entry("true", check=BOOL),
        "AuthCtrlr.LocalPreAuthorize": Entry("false", check=BOOL),
        "AuthCtrlr.OfflineTxForUnknownIdEnabled": Entry("false", check=BOOL),
        "AuthCtrlr.DisableRemoteAuthorization": Entry("false", check=BOOL),
        "AuthCtrlr.MasterPassGroupId": Entry(""),
        "AuthCacheCtrlr.Enabled": Entry("true", check=BOOL),
        "AuthCacheCtrlr.LifeTime": Entry("86400", check=INT),
        "AuthCacheCtrlr.Policy": Entry("LRU", readonly=True),
        "AuthCacheCtrlr.Storage": Entry("1000", readonly=True, check=INT),
        "AuthCacheCtrlr.DisablePostAuthorize": Entry("false", check=BOOL),
        "LocalAuthListCtrlr.Enabled": Entry("true", check=BOOL),
        "LocalAuthListCtrlr.Entries": Entry("1000", readonly=True, check=INT),
        "LocalAuthListCtrlr.ItemsPerMessage": Entry("1000", readonly=True, check=INT),
        "LocalAuthListCtrlr.BytesPerMessage": Entry("65536", readonly=True, check=INT),
        "LocalAuthListCtrlr.SupportsExpiryDateTime": Entry("true", readonly=True, check=BOOL),
        "LocalAuthListCtrlr.DisablePostAuthorize": Entry("false", check=BOOL),
        "TxCtrlr.TxStartPoint": Entry("PowerPathClosed", check=TX_POINTS),
        "TxCtrlr.TxStopPoint": Entry("EVConnected,Authorized", check=TX_POINTS),
        "TxCtrlr.EVConnectionTimeOut": Entry("90", check=SECONDS),
        "TxCtrlr.StopTxOnEVSideDisconnect": Entry("true", check=BOOL),
        "TxCtrlr.StopTxOnInvalidId": Entry("true", check=BOOL),
        "TxCtrlr.MaxEnergyOnInvalidId": Entry("0", check=INT),
        "SampledDataCtrlr.TxStartedMeasurands": Entry(
            "Energy.Active.Import.Register", check=MEASURAND_LIST
        ),
        "SampledDataCtrlr.TxUpdatedMeasurands": Entry(
            "Energy.Active.Import.Register,Power.Active.Import,SoC", check=MEASURAND_LIST
        ),
        "SampledDataCtrlr.TxUpdatedInterval": Entry(str(meter_s), check=SECONDS),
        "SampledDataCtrlr.TxEndedMeasurands": Entry(
            "Energy.Active.Import.Register", check=MEASURAND_LIST
        ),
        "SampledDataCtrlr.TxEndedInterval": Entry("0", check=SECONDS),
        "AlignedDataCtrlr.Interval": Entry("0", check=SECONDS),
        "OCPPCommCtrlr.HeartbeatInterval": Entry(str(heartbeat_s), check=SECONDS),
        "OCPPCommCtrlr.MessageTimeout": Entry("30", check=SECONDS),
        "OCPPCommCtrlr.MessageAttempts": Entry("3", check=INT),
        "OCPPCommCtrlr.MessageAttemptInterval": Entry("10", check=SECONDS),
        "OCPPCommCtrlr.QueueAllMessages": Entry("false", check=BOOL),
        "OCPPCommCtrlr.ResetRetries": Entry("1", check=INT),
        "OCPPCommCtrlr.UnlockOnEVSideDisconnect": Entry("true", check=BOOL),
        "OCPPCommCtrlr.WebSocketPingInterval": Entry("60", check=SECONDS),
        "OCPPCommCtrlr.NetworkProfileConnectionAttempts": Entry("3", check=INT),
        "SecurityCtrlr.BasicAuthPassword": Entry("", check=_basic_auth_password),
        "SecurityCtrlr.SecurityProfile": Entry("1", readonly=True, check=INT),
        "SecurityCtrlr.Identity": Entry("", readonly=True),
        "ReservationCtrlr.Enabled": Entry("true", check=BOOL),
        "SmartChargingCtrlr.Enabled": Entry("true", check=BOOL),
        "SmartChargingCtrlr.ProfileStackLevel": Entry("10", readonly=True, check=INT),
        "SmartChargingCtrlr.RateUnit": Entry("A,W", readonly=True),
        "SmartChargingCtrlr.PeriodsPerSchedule": Entry("24", readonly=True, check=INT),
        "SmartChargingCtrlr.Entries": Entry("10", readonly=True, check=INT),
        "DeviceDataCtrlr.ItemsPerMessage": Entry("100", readonly=True, check=INT),
        "ChargingStation.AvailabilityState": Entry("Available", readonly=True),
        "EVSE.Count": Entry(str(connectors), readonly=True, check=INT),
    }


def resolve(config: ConfigStore, key: str) -> str | None:
    """``AuthCtrlr.Enabled`` as is; a bare ``HeartbeatInterval`` if only one component has it."""
    if key in config:
        return key
    matches = [name for name in config.names() if name.split(".", 1)[1] == key]
    return matches[0] if len(matches) == 1 else None


def settings(config: ConfigStore) -> StationSettings:
    max_energy = config.get_int("TxCtrlr.MaxEnergyOnInvalidId")
    lifetime = config.get_int("AuthCacheCtrlr.LifeTime")
    return StationSettings(
        auth=AuthConfig(
            enabled=config.get_bool("AuthCtrlr.Enabled"),
            cache_enabled=config.get_bool("AuthCacheCtrlr.Enabled"),
            local_list_enabled=config.get_bool("LocalAuthListCtrlr.Enabled"),
            local_pre_authorize=config.get_bool("AuthCtrlr.LocalPreAuthorize"),
            local_authorize_offline=config.get_bool("AuthCtrlr.LocalAuthorizeOffline"),
            allow_offline_tx_for_unknown_id=config.get_bool(
                "AuthCtrlr.OfflineTxForUnknownIdEnabled"
            ),
            disable_post_authorize=config.get_bool("AuthCacheCtrlr.DisablePostAuthorize")
            or config.get_bool("LocalAuthListCtrlr.DisablePostAuthorize"),
            disable_remote_authorization=config.get_bool("AuthCtrlr.DisableRemoteAuthorization"),
        ),
        heartbeat_interval_s=config.get_int("OCPPCommCtrlr.HeartbeatInterval"),
        meter_interval_s=config.get_int("SampledDataCtrlr.TxUpdatedInterval"),
        measurands=tuple(config.get("SampledDataCtrlr.TxUpdatedMeasurands").split(",")),
        ping_interval_s=config.get_int("OCPPCommCtrlr.WebSocketPingInterval"),
        connection_timeout_s=config.get_int("TxCtrlr.EVConnectionTimeOut"),
        authorize_remote_start=config.get_bool("AuthCtrlr.AuthorizeRemoteStart"),
        stop_on_invalid_id=config.get_bool("TxCtrlr.StopTxOnInvalidId"),
        max_energy_on_invalid_id_wh=max_energy or None,
        stop_on_ev_side_disconnect=config.get_bool("TxCtrlr.StopTxOnEVSideDisconnect"),
        unlock_on_ev_side_disconnect=config.get_bool("OCPPCommCtrlr.UnlockOnEVSideDisconnect"),
        message_attempts=config.get_int("OCPPCommCtrlr.MessageAttempts"),
        message_retry_interval_s=config.get_int("OCPPCommCtrlr.MessageAttemptInterval"),
        local_list_max_length=config.get_int("LocalAuthListCtrlr.Entries"),
        cache_max_entries=config.get_int("AuthCacheCtrlr.Storage"),
        cache_lifetime_s=lifetime or None,
    )
