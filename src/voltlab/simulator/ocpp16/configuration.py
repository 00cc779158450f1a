"""OCPP 1.6 configuration keys (§9) the simulated charge point supports."""

from __future__ import annotations

from voltlab.simulator.configuration import (
    BOOL,
    INT,
    MEASURAND_LIST,
    SECONDS,
    ConfigStore,
    Entry,
)
from voltlab.simulator.model.authorization import AuthConfig
from voltlab.simulator.settings_view import StationSettings


def _authorization_key(value: str) -> str:
    # Security whitepaper: 16-20 bytes, written as hex (32-40 characters).
    if not 32 <= len(value) <= 40 or any(ch not in "0123456789abcdefABCDEF" for ch in value):
        raise ValueError("must be 16-20 bytes written as 32-40 hex characters")
    return value


FEATURE_PROFILES = (
    "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"
)


def defaults(connectors: int, heartbeat_s: int, meter_s: int) -> dict[str, Entry]:
    return {
        "AllowOfflineTxForUnknownId": Entry("false", check=BOOL),
        "AuthorizationCacheEnabled": Entry("true", check=BOOL),
        "AuthorizeRemoteTxRequests": Entry("true", check=BOOL),
        "ClockAlignedDataInterval": Entry("0", check=SECONDS),
        "ConnectionTimeOut": Entry("90", check=SECONDS),
        "ConnectorPhaseRotation": Entry("NotApplicable"),
        "GetConfigurationMaxKeys": Entry("100", readonly=True, check=INT),
        "HeartbeatInterval": Entry(str(heartbeat_s), check=SECONDS),
        "LocalAuthListEnabled": Entry("true", check=BOOL),
        "LocalAuthListMaxLength": Entry("1000", readonly=True, check=INT),
        "LocalAuthorizeOffline": Entry("true", check=BOOL),
        "LocalPreAuthorize": Entry("false", check=BOOL),
        "MaxEnergyOnInvalidId": Entry("0", check=INT),
        "MeterValueSampleInterval": Entry(str(meter_s), check=SECONDS),
        "MeterValuesAlignedData": Entry("Energy.Active.Import.Register", check=MEASURAND_LIST),
        "MeterValuesSampledData": Entry(
            "Energy.Active.Import.Register,Power.Active.Import,SoC", check=MEASURAND_LIST
        ),
        "NumberOfConnectors": Entry(str(connectors), readonly=True, check=INT),
        "ResetRetries": Entry("1", check=INT),
        "SendLocalListMaxLength": Entry("1000", readonly=True, check=INT),
        "StopTransactionOnEVSideDisconnect": Entry("true", check=BOOL),
        "StopTransactionOnInvalidId": Entry("true", check=BOOL),
        "StopTxnAlignedData": Entry("Energy.Active.Import.Register", check=MEASURAND_LIST),
        "StopTxnSampledData": Entry("Energy.Active.Import.Register", check=MEASURAND_LIST),
        "SupportedFeatureProfiles": Entry(FEATURE_PROFILES, readonly=True),
        "TransactionMessageAttempts": Entry("3", check=INT),
        "TransactionMessageRetryInterval": Entry("10", check=SECONDS),
        "UnlockConnectorOnEVSideDisconnect": Entry("true", check=BOOL),
        "WebSocketPingInterval": Entry("60", check=SECONDS),
        "ReserveConnectorZeroSupported": Entry("false", readonly=True, check=BOOL),
        "ChargeProfileMaxStackLevel": Entry("10", readonly=True, check=INT),
        "ChargingScheduleAllowedChargingRateUnit": Entry("Current,Power", readonly=True),
        "ChargingScheduleMaxPeriods": Entry("24", readonly=True, check=INT),
        "MaxChargingProfilesInstalled": Entry("10", readonly=True, check=INT),
        "SupportedFileTransferProtocols": Entry("FTP,HTTP,HTTPS", readonly=True),
        "AuthorizationKey": Entry("", check=_authorization_key),
    }


def settings(config: ConfigStore) -> StationSettings:
    max_energy = config.get_int("MaxEnergyOnInvalidId")
    return StationSettings(
        auth=AuthConfig(
            enabled=True,
            cache_enabled=config.get_bool("AuthorizationCacheEnabled"),
            local_list_enabled=config.get_bool("LocalAuthListEnabled"),
            local_pre_authorize=config.get_bool("LocalPreAuthorize"),
            local_authorize_offline=config.get_bool("LocalAuthorizeOffline"),
            allow_offline_tx_for_unknown_id=config.get_bool("AllowOfflineTxForUnknownId"),
        ),
        heartbeat_interval_s=config.get_int("HeartbeatInterval"),
        meter_interval_s=config.get_int("MeterValueSampleInterval"),
        measurands=tuple(config.get("MeterValuesSampledData").split(",")),
        ping_interval_s=config.get_int("WebSocketPingInterval"),
        connection_timeout_s=config.get_int("ConnectionTimeOut"),
        authorize_remote_start=config.get_bool("AuthorizeRemoteTxRequests"),
        stop_on_invalid_id=config.get_bool("StopTransactionOnInvalidId"),
        max_energy_on_invalid_id_wh=max_energy or None,
        stop_on_ev_side_disconnect=config.get_bool("StopTransactionOnEVSideDisconnect"),
        unlock_on_ev_side_disconnect=config.get_bool("UnlockConnectorOnEVSideDisconnect"),
        message_attempts=config.get_int("TransactionMessageAttempts"),
        message_retry_interval_s=config.get_int("TransactionMessageRetryInterval"),
        local_list_max_length=config.get_int("LocalAuthListMaxLength"),
        cache_max_entries=1000,
        cache_lifetime_s=None,
    )
