"""Authorization of an id tag: Local Authorization List, cache, CSMS and offline rules.

One version-neutral decision serves OCPP 1.6 (idTag / IdTagInfo) and 2.0.1 (idToken /
IdTokenInfo); the per-version adapters translate ids and statuses at the edge. Nothing
here does I/O or reads the clock: the caller passes ``now`` (tz-aware UTC) and says
whether the station is ``online``.

A caller authorizes a tag like this (``stores`` = config, local_list, cache keywords)::

    stores = {"config": cfg, "local_list": lal, "cache": cache}
    outcome = decide_local(tag, online=linked, now=now, **stores)
    if isinstance(outcome, AskCsms):
        try:
            answer = await adapter.authorize(tag)  # -> IdTagInfo
        except (TimeoutError, ConnectionError):
            decision = offline_fallback(outcome, tag, now=now, **stores)
        else:
            decision = after_csms(tag, answer, now=now, **stores)
            if conflicts_with_local_list(tag, answer, lal, now=now):
                ...  # StatusNotification connector 0, LocalListConflict
    else:
        decision = outcome
    if decision.accepted: ...

Id tags compare case-insensitively (the 1.6 IdToken type is a case-insensitive string): entries
are keyed by the upper-cased tag and keep the original text for read-outs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from voltlab.ids import isoformat

AuthStatus = str
"""Version-neutral status: Accepted, Blocked, Expired, Invalid, ConcurrentTx, NoCredit,
NotAllowedTypeEVSE, NotAtThisLocation, NotAtThisTime, Unknown."""

ACCEPTED = "Accepted"
UPDATE_TYPES = ("Full", "Differential")

_SOURCE_TEXT = {"local_list": "the local list", "cache": "the authorization cache"}


def _key(id_tag: str) -> str:
    return id_tag.upper()


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(slots=True)
class IdTagInfo:
    """1.6 IdTagInfo / 2.0.1 IdTokenInfo, reduced to what authorization needs."""

    status: AuthStatus
    expiry_date: datetime | None = None  # 1.6 expiryDate / 2.0.1 cacheExpiryDateTime
    parent_id_tag: str | None = None  # 1.6 parentIdTag / 2.0.1 groupIdToken
    personal_message: str | None = None  # 2.0.1 only

    def effective_status(self, now: datetime) -> AuthStatus:
        """``"Expired"`` for an Accepted entry whose expiry date has passed, else ``status``."""
        if self.status == ACCEPTED and self.expiry_date is not None and self.expiry_date <= now:
            return "Expired"
        return self.status

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "expiry_date": isoformat(self.expiry_date),
            "parent_id_tag": self.parent_id_tag,
            "personal_message": self.personal_message,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IdTagInfo:
        return cls(
            status=data["status"],
            expiry_date=_parse_time(data.get("expiry_date")),
            parent_id_tag=data.get("parent_id_tag"),
            personal_message=data.get("personal_message"),
        )


class LocalAuthList:
    """The Local Authorization List; changed only through :meth:`send_local_list` and
    :meth:`clear` (CSMS SendLocalList and the REST command share this one way in)."""

    __slots__ = ("_entries", "_version", "max_length")

    def __init__(
        self,
        max_length: int = 1000,
        version: int = 0,
        entries: dict[str, IdTagInfo] | None = None,
    ) -> None:
        self.max_length = max_length
        self._version = version
        # key -> (original id_tag text, info)
        self._entries: dict[str, tuple[str, IdTagInfo]] = {
            _key(tag): (tag, replace(info)) for tag, info in (entries or {}).items()
        }

    @property
    def version(self) -> int:
        """listVersion / versionNumber; 0 = no list (GetLocalListVersion)."""
        return self._version

    def get(self, id_tag: str) -> IdTagInfo | None:
        found = self._entries.get(_key(id_tag))
        return found[1] if found else None

    def entries(self) -> list[tuple[str, IdTagInfo]]:
        return [self._entries[key] for key in sorted(self._entries)]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, id_tag: object) -> bool:
        return isinstance(id_tag, str) and _key(id_tag) in self._entries

    def send_local_list(
        self,
        version: int,
        update_type: str,
        entries: list[tuple[str, IdTagInfo | None]],
    ) -> str:
        """Apply a SendLocalList; returns ``"Accepted"``, ``"Failed"`` or ``"VersionMismatch"``.

        On anything but Accepted the list and its version are left untouched.
        """
        if update_type not in UPDATE_TYPES or version < 1:
            # 1.6 errata §3.52 / 2.0.1 D01: the version after an update is never 0 or -1.
            return "Failed"
        if update_type == "Full":
            # A Full replaces everything, so there is no stale base to protect against and
            # any version >= 1 is accepted, lower ones included. A Full is also how a CSMS
            # recovers (1.6 §5.15: after Failed/VersionMismatch it SHOULD send a Full), e.g.
            # after its own counter was reset; refusing it would leave no way back.
            updated = {_key(tag): (tag, replace(info)) for tag, info in entries if info is not None}
        else:
            if version <= self._version:
                return "VersionMismatch"
            updated = dict(self._entries)
            for tag, info in entries:
                if info is None:
                    updated.pop(_key(tag), None)
                else:
                    updated[_key(tag)] = (tag, replace(info))
        if len(updated) > self.max_length:
            return "Failed"
        self._entries = updated
        self._version = version
        return "Accepted"

    def clear(self) -> int:
        """Drop every entry and reset the version to 0 (= no list); returns how many went."""
        removed = len(self._entries)
        self._entries = {}
        self._version = 0
        return removed

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self._version,
            "max_length": self.max_length,
            "entries": [{"id_tag": tag, **info.to_dict()} for tag, info in self.entries()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocalAuthList:
        return cls(
            max_length=data.get("max_length", 1000),
            version=data.get("version", 0),
            entries={row["id_tag"]: IdTagInfo.from_dict(row) for row in data.get("entries", [])},
        )


@dataclass(slots=True)
class _CacheEntry:
    id_tag: str
    info: IdTagInfo
    last_used: datetime


class AuthorizationCache:
    """The Authorization Cache, fed from every CSMS IdTagInfo except for local-list tags.

    Keeps non-Accepted entries too (1.6 §3.5.1). An entry whose ``expiry_date`` has passed
    turns Expired; with ``lifetime_s`` (2.0.1 AuthCacheCtrlr.LifeTime) an entry unused for
    that long is dropped.
    """

    __slots__ = ("_entries", "lifetime_s", "max_entries")

    def __init__(self, max_entries: int = 1000, lifetime_s: int | None = None) -> None:
        self.max_entries = max_entries
        self.lifetime_s = lifetime_s
        self._entries: dict[str, _CacheEntry] = {}

    def _outlived(self, entry: _CacheEntry, now: datetime) -> bool:
        return self.lifetime_s is not None and now - entry.last_used >= timedelta(
            seconds=self.lifetime_s
        )

    def get(self, id_tag: str, now: datetime) -> IdTagInfo | None:
        """The cached info (status Expired once its expiry date passed), or None; a hit
        counts as a use."""
        _require_aware(now)
        key = _key(id_tag)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._outlived(entry, now):
            del self._entries[key]
            return None
        status = entry.info.effective_status(now)
        if status != entry.info.status:
            # 1.6 §3.5.1: an entry whose validity has ended is changed to Expired in the cache.
            entry.info = replace(entry.info, status=status)
        entry.last_used = now
        return entry.info

    def put(self, id_tag: str, info: IdTagInfo, now: datetime) -> None:
        _require_aware(now)
        key = _key(id_tag)
        if key not in self._entries:
            if self.max_entries <= 0:
                return
            while len(self._entries) >= self.max_entries:
                self._evict_one(now)
        self._entries[key] = _CacheEntry(id_tag=id_tag, info=replace(info), last_used=now)

    def _evict_one(self, now: datetime) -> None:
        # Invalid entries (non-Accepted, expired, outlived) go first, then the least
        # recently used (1.6 §3.5.1; 2.0.1 C10).
        def rank(entry: _CacheEntry) -> tuple[bool, datetime]:
            valid = entry.info.effective_status(now) == ACCEPTED and not self._outlived(entry, now)
            return (valid, entry.last_used)

        victim = min(self._entries.items(), key=lambda item: rank(item[1]))
        del self._entries[victim[0]]

    def clear(self) -> int:
        removed = len(self._entries)
        self._entries = {}
        return removed

    def entries(self) -> list[dict[str, Any]]:
        """Read-out for the REST API, sorted by tag."""
        return [
            {
                "id_tag": entry.id_tag,
                "status": entry.info.status,
                "expiry_date": isoformat(entry.info.expiry_date),
                "parent_id_tag": entry.info.parent_id_tag,
                "last_used": isoformat(entry.last_used),
            }
            for _, entry in sorted(self._entries.items())
        ]

    def __len__(self) -> int:
        return len(self._entries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_entries": self.max_entries,
            "lifetime_s": self.lifetime_s,
            "entries": [
                {
                    "id_tag": entry.id_tag,
                    "info": entry.info.to_dict(),
                    "last_used": isoformat(entry.last_used),
                }
                for _, entry in sorted(self._entries.items())
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuthorizationCache:
        cache = cls(max_entries=data.get("max_entries", 1000), lifetime_s=data.get("lifetime_s"))
        for row in data.get("entries", []):
            last_used = _parse_time(row["last_used"])
            assert last_used is not None
            cache._entries[_key(row["id_tag"])] = _CacheEntry(
                id_tag=row["id_tag"], info=IdTagInfo.from_dict(row["info"]), last_used=last_used
            )
        return cache


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """The configuration keys (1.6) / device-model variables (2.0.1) that steer a decision."""

    enabled: bool = True  # 2.0.1 AuthCtrlr.Enabled
    cache_enabled: bool = True  # AuthorizationCacheEnabled / AuthCacheCtrlr.Enabled
    local_list_enabled: bool = True  # LocalAuthListEnabled / LocalAuthListCtrlr.Enabled
    local_pre_authorize: bool = False  # LocalPreAuthorize
    local_authorize_offline: bool = True  # LocalAuthorizeOffline
    allow_offline_tx_for_unknown_id: bool = False  # AllowOfflineTxForUnknownId / OfflineTx...
    disable_post_authorize: bool = False  # 2.0.1 DisablePostAuthorize
    disable_remote_authorization: bool = False  # 2.0.1 DisableRemoteAuthorization


@dataclass(frozen=True, slots=True)
class Decision:
    status: AuthStatus
    source: str  # "local_list" | "cache" | "csms" | "offline_rule" | "auth_disabled"
    info: IdTagInfo | None
    reason: str

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED


@dataclass(frozen=True, slots=True)
class AskCsms:
    """Send Authorize to the CSMS; ``local`` is what the list or cache said, if anything."""

    reason: str
    local: Decision | None


def _lookup(
    id_tag: str,
    *,
    config: AuthConfig,
    local_list: LocalAuthList,
    cache: AuthorizationCache,
    now: datetime,
) -> Decision | None:
    """What the local list (which beats the cache) or else the cache says, or None."""
    found: tuple[str, IdTagInfo] | None = None
    if config.local_list_enabled and (info := local_list.get(id_tag)) is not None:
        found = ("local_list", info)
    elif config.cache_enabled and (info := cache.get(id_tag, now)) is not None:
        found = ("cache", info)
    if found is None:
        return None
    source, info = found
    status = info.effective_status(now)
    if status == ACCEPTED:
        reason = f"accepted from {_SOURCE_TEXT[source]}"
    elif status != info.status:
        reason = f"expired in {_SOURCE_TEXT[source]} (expiry date passed)"
    else:
        reason = f"{status} in {_SOURCE_TEXT[source]}"
    return Decision(status=status, source=source, info=info, reason=reason)


def _with(decision: Decision, why: str) -> Decision:
    return replace(decision, reason=f"{decision.reason} ({why})")


def decide_local(
    id_tag: str,
    *,
    online: bool,
    config: AuthConfig,
    local_list: LocalAuthList,
    cache: AuthorizationCache,
    now: datetime,
) -> Decision | AskCsms:
    """Decide from the local list, cache and offline rules, or say the CSMS must be asked.

    Follows the decision table of OCPP 1.6 §3.5 / 2.0.1 C (protocols.md §2-3).
    """
    _require_aware(now)
    if not config.enabled:
        return Decision(ACCEPTED, "auth_disabled", None, "authorization is disabled (Enabled)")
    local = _lookup(id_tag, config=config, local_list=local_list, cache=cache, now=now)

    if not online:
        if local is None:
            if config.allow_offline_tx_for_unknown_id:
                return Decision(
                    ACCEPTED,
                    "offline_rule",
                    None,
                    "unknown tag accepted offline (AllowOfflineTxForUnknownId)",
                )
            return Decision("Invalid", "offline_rule", None, "unknown tag rejected while offline")
        if not local.accepted:
            # 1.6 §3.5.4: a locally non-Accepted or time-expired tag MUST be rejected offline.
            return _with(local, "offline")
        if config.local_authorize_offline:
            return _with(local, "LocalAuthorizeOffline")
        return Decision(
            "Invalid",
            "offline_rule",
            local.info,
            f"{local.reason} but LocalAuthorizeOffline is off, so rejected while offline",
        )

    if config.disable_remote_authorization:
        if local is None:
            return Decision(
                "Invalid",
                "offline_rule",
                None,
                "unknown tag rejected: remote authorization is disabled",
            )
        return _with(local, "DisableRemoteAuthorization")
    if local is None:
        return AskCsms("unknown locally", None)
    if local.accepted:
        if config.local_pre_authorize:
            return _with(local, "LocalPreAuthorize")
        return AskCsms("LocalPreAuthorize is off", local)
    # 2.0.1 C14: a non-Accepted local hit is checked with the CSMS unless
    # DisablePostAuthorize; 1.6 leaves it open (SHOULD ask), voltlab asks the same way.
    if config.disable_post_authorize:
        return _with(local, "DisablePostAuthorize")
    return AskCsms(f"{local.reason}; asking the CSMS (post-authorize)", local)


def after_csms(
    id_tag: str,
    answer: IdTagInfo,
    *,
    config: AuthConfig,
    local_list: LocalAuthList,
    cache: AuthorizationCache,
    now: datetime,
    store: bool = True,
) -> Decision:
    """The CSMS answered: cache the answer (unless the tag is on the local list, or
    ``store`` is False, e.g. 2.0.1 Central tokens, C05) and decide by it."""
    _require_aware(now)
    # Local-list tags are never cached (1.6 §3.5.3), whether or not the list is enabled.
    if store and config.cache_enabled and local_list.get(id_tag) is None:
        cache.put(id_tag, answer, now)
    status = answer.effective_status(now)
    reason = "accepted by the CSMS" if status == ACCEPTED else f"{status} from the CSMS"
    return Decision(status=status, source="csms", info=answer, reason=reason)


def offline_fallback(
    ask: AskCsms,
    id_tag: str,
    *,
    config: AuthConfig,
    local_list: LocalAuthList,
    cache: AuthorizationCache,
    now: datetime,
) -> Decision:
    """The CSMS was asked but did not answer: decide as :func:`decide_local` offline would.

    The lookup is redone rather than taken from ``ask.local``: the offline rules
    (LocalAuthorizeOffline, AllowOfflineTxForUnknownId) apply, and the list or cache may
    have changed while the request was pending.
    """
    decision = decide_local(
        id_tag, online=False, config=config, local_list=local_list, cache=cache, now=now
    )
    assert isinstance(decision, Decision)  # offline never asks the CSMS
    return replace(decision, reason=f"{decision.reason}; the CSMS did not answer")


def conflicts_with_local_list(
    id_tag: str,
    answer: IdTagInfo,
    local_list: LocalAuthList,
    *,
    now: datetime | None = None,
) -> bool:
    """True when the CSMS's status differs from the tag's local-list entry (the caller then
    reports LocalListConflict). With ``now``, expiry is taken into account on both sides."""
    entry = local_list.get(id_tag)
    if entry is None:
        return False
    if now is None:
        return entry.status != answer.status
    return entry.effective_status(now) != answer.effective_status(now)
