"""Presenting an id tag (at the reader or by a remote start), and the local list and
cache behind the decision."""

from __future__ import annotations

from typing import Any

from voltlab.ids import isoformat
from voltlab.simulator.model.authorization import (
    AskCsms,
    Decision,
    IdTagInfo,
    after_csms,
    conflicts_with_local_list,
    decide_local,
    offline_fallback,
)
from voltlab.simulator.model.connector import Connector
from voltlab.simulator.model.smart_charging import ChargingProfile
from voltlab.simulator.ops.base import StationBase
from voltlab.simulator.rpc import CsmsFinding

MAX_DECISIONS = 100


class AuthorizingOps(StationBase):
    __slots__ = ()

    async def authorize(
        self, id_tag: str, *, ask_csms: bool = True, token_type: str | None = None
    ) -> Decision:
        """The charger's decision for ``id_tag``: local list, cache, CSMS, offline rules.

        ``ask_csms=False`` is for paths that must not send Authorize (a remote start
        with AuthorizeRemoteTxRequests off is accepted as the CSMS's own decision).
        """
        config = self.settings.auth
        now = self.now()
        if not config.enabled:
            decision = Decision("Accepted", "auth_disabled", None, "AuthCtrlr.Enabled is false")
            return self._log_decision(id_tag, decision)
        local = decide_local(
            id_tag,
            online=self.online,
            config=config,
            local_list=self.local_list,
            cache=self.cache,
            now=now,
        )
        if isinstance(local, Decision):
            return self._log_decision(id_tag, local)
        if not ask_csms:
            decision = Decision("Accepted", "csms", None, "remote start, not re-authorized")
            return self._log_decision(id_tag, decision)
        decision = await self._ask_csms(id_tag, local, token_type)
        return self._log_decision(id_tag, decision)

    async def _ask_csms(self, id_tag: str, ask: AskCsms, token_type: str | None = None) -> Decision:
        adapter = self.adapter
        if adapter is None or not self.online:
            return self._offline(ask, id_tag)
        try:
            info = await adapter.authorize(id_tag, token_type)
        except (CsmsFinding, ConnectionError, OSError) as exc:
            return self._offline(ask, id_tag, why=f"CSMS unreachable: {exc}")
        except Exception as exc:  # the socket went away mid-call
            if type(exc).__name__.startswith("ConnectionClosed"):
                return self._offline(ask, id_tag, why="the connection closed")
            raise
        return self.learn(id_tag, info)

    def _offline(self, ask: AskCsms, id_tag: str, *, why: str | None = None) -> Decision:
        """The CSMS cannot answer: decide by the offline rules."""
        fallback = offline_fallback(
            ask,
            id_tag,
            config=self.settings.auth,
            local_list=self.local_list,
            cache=self.cache,
            now=self.now(),
        )
        if why is None:
            return fallback
        return Decision(
            fallback.status, fallback.source, fallback.info, f"{fallback.reason} ({why})"
        )

    def learn(self, id_tag: str, info: IdTagInfo) -> Decision:
        """An IdTagInfo from the CSMS (Authorize, Start/Stop answers): cache it, report a
        conflict with the local list (1.6 LocalListConflict)."""
        decision = after_csms(
            id_tag,
            info,
            config=self.settings.auth,
            local_list=self.local_list,
            cache=self.cache,
            now=self.now(),
        )
        if conflicts_with_local_list(id_tag, info, self.local_list):
            self.report_local_list_conflict()
        self.changed()
        return decision

    def adapter_id_info(self, info: dict[str, Any]) -> IdTagInfo:
        return self._version.adapter_module.parse_id_tag_info(info)

    def report_local_list_conflict(self) -> None:
        adapter = self.adapter
        if adapter is not None and self.spec.ocpp_version == "1.6":
            payload = adapter.local_list_conflict_status()
            self.spawn(self.send_safely("StatusNotification", payload), "local-list-conflict")

    def _log_decision(self, id_tag: str, decision: Decision) -> Decision:
        self.decisions.append(
            {
                "id_tag": id_tag,
                "status": decision.status,
                "source": decision.source,
                "reason": decision.reason,
                "at": isoformat(self.now()),
            }
        )
        del self.decisions[:-MAX_DECISIONS]
        return decision

    async def present_tag(self, id_tag: str, connector: Connector | None = None) -> dict[str, Any]:
        """A tag at the reader: stop the tx it (or its group) started, else authorize and
        start once the cable is in (or remember it until the cable comes)."""
        target = connector or self.connector()
        tx = self.transaction_on(target)
        decision: Decision | None = None
        if tx is not None and tx.id_tag is not None:
            # The starting tag stops without Authorize; another tag must be authorized and
            # share the transaction's group (parentIdTag / groupIdToken, case-insensitive).
            same = tx.id_tag.upper() == id_tag.upper()
            if not same:
                decision = await self.authorize(id_tag)
                group = decision.info.parent_id_tag if decision.info else None
                same = (
                    decision.accepted
                    and group is not None
                    and tx.parent_id_tag is not None
                    and group.upper() == tx.parent_id_tag.upper()
                )
            if same:
                await self.stop_transaction(tx, "Local", id_tag=id_tag)
                return {"decision": "stop", "transaction_id": tx.public_id}
        if decision is None:
            decision = await self.authorize(id_tag)
        result: dict[str, Any] = {
            "status": decision.status,
            "source": decision.source,
            "reason": decision.reason,
        }
        waiting = self.transaction_on(target)
        if decision.accepted and waiting is not None and waiting.id_tag is None:
            # the cable started it (2.0.1 TxStartPoint EVConnected): the tag authorizes it
            parent = decision.info.parent_id_tag if decision.info else None
            self.authorize_transaction(
                waiting, id_tag, status=decision.status, parent_id_tag=parent
            )
            result["transaction_id"] = waiting.public_id
            return result
        if not decision.accepted or target.transaction_key is not None:
            return result
        parent = decision.info.parent_id_tag if decision.info else None
        if target.plugged or self._starts_on("Authorized"):
            tx = await self.start_transaction(
                target, id_tag, id_tag_status=decision.status, parent_id_tag=parent
            )
            result["transaction_id"] = tx.public_id
        else:
            self.await_cable(target, id_tag)
        return result

    async def remote_start(
        self,
        connector: Connector,
        id_tag: str,
        *,
        remote_start_id: int | None = None,
        profile: ChargingProfile | None = None,
        id_token_type: str | None = None,
    ) -> None:
        decision = await self.authorize(
            id_tag, ask_csms=self.settings.authorize_remote_start, token_type=id_token_type
        )
        if not decision.accepted:
            return
        if connector.plugged or self._starts_on("Authorized"):
            await self.start_transaction(
                connector,
                id_tag,
                trigger="RemoteStart",
                remote_start_id=remote_start_id,
                id_token_type=id_token_type,
            )
            if profile is not None:
                self._install_remote_profile(connector, profile)
            return
        self.await_cable(
            connector,
            id_tag,
            remote_start_id=remote_start_id,
            profile=profile,
            id_token_type=id_token_type,
        )

    # -- list and cache (the REST command and the CSMS's message share these) ---------
    def send_local_list(
        self, version: int, update_type: str, entries: list[tuple[str, IdTagInfo | None]]
    ) -> str:
        if not self.settings.auth.local_list_enabled:
            return "NotSupported" if self.spec.ocpp_version == "1.6" else "Failed"
        status = self.local_list.send_local_list(version, update_type, entries)
        self.changed()
        return status

    def clear_local_list(self) -> int:
        removed = self.local_list.clear()
        self.changed()
        return removed

    def clear_cache(self) -> tuple[str, int]:
        if not self.settings.auth.cache_enabled:
            return "Rejected", 0
        removed = self.cache.clear()
        self.changed()
        return "Accepted", removed
