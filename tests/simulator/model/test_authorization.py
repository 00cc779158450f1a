"""Authorization: local list, cache, CSMS and offline rules (OCPP 1.6 §3.5, 2.0.1 C/D)."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta

import pytest

from voltlab.simulator.model.authorization import (
    AskCsms,
    AuthConfig,
    AuthorizationCache,
    Decision,
    IdTagInfo,
    LocalAuthList,
    after_csms,
    conflicts_with_local_list,
    decide_local,
    offline_fallback,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PAST = NOW - timedelta(days=1)
FUTURE = NOW + timedelta(days=30)
TAG = "04A2B3C4D5"


def make_stores(
    where: str, status: str, *, time_expired: bool = False
) -> tuple[LocalAuthList, AuthorizationCache]:
    """A local list and cache where TAG sits in ``where`` ("list", "cache", "unknown")."""
    local_list, cache = LocalAuthList(), AuthorizationCache()
    info = IdTagInfo(status, expiry_date=PAST if time_expired else FUTURE)
    if where == "list":
        assert local_list.send_local_list(1, "Full", [(TAG, info)]) == "Accepted"
    elif where == "cache":
        cache.put(TAG, info, NOW - timedelta(minutes=5))
    return local_list, cache


def decide(
    local_list: LocalAuthList,
    cache: AuthorizationCache,
    *,
    online: bool,
    config: AuthConfig | None = None,
    id_tag: str = TAG,
) -> Decision | AskCsms:
    return decide_local(
        id_tag,
        online=online,
        config=config or AuthConfig(),
        local_list=local_list,
        cache=cache,
        now=NOW,
    )


ASK = "ask"
PRE = {"local_pre_authorize": True}
NO_POST = {"disable_post_authorize": True}
NO_REMOTE = {"disable_remote_authorization": True}
UNKNOWN_OK = {"allow_offline_tx_for_unknown_id": True}
NO_OFFLINE = {"local_authorize_offline": False}

# (online, where, stored status, time-expired, config flags, expected (status, source) or ASK)
DECISION_TABLE = [
    # Online, default config: without LocalPreAuthorize every tag goes to the CSMS.
    pytest.param(True, "list", "Accepted", False, {}, ASK, id="online-list-accepted-no-pre"),
    pytest.param(True, "cache", "Accepted", False, {}, ASK, id="online-cache-accepted-no-pre"),
    pytest.param(True, "unknown", None, False, {}, ASK, id="online-unknown"),
    pytest.param(True, "list", "Blocked", False, {}, ASK, id="online-list-blocked-post-auth"),
    pytest.param(True, "list", "Expired", False, {}, ASK, id="online-list-expired-post-auth"),
    pytest.param(True, "cache", "Invalid", False, {}, ASK, id="online-cache-invalid-post-auth"),
    pytest.param(True, "list", "Accepted", True, {}, ASK, id="online-list-time-expired"),
    # Online, LocalPreAuthorize: an Accepted, unexpired local hit starts at once.
    pytest.param(
        True, "list", "Accepted", False, PRE, ("Accepted", "local_list"), id="online-pre-list"
    ),
    pytest.param(
        True, "cache", "Accepted", False, PRE, ("Accepted", "cache"), id="online-pre-cache"
    ),
    pytest.param(True, "list", "Accepted", True, PRE, ASK, id="online-pre-list-time-expired"),
    pytest.param(True, "cache", "Accepted", True, PRE, ASK, id="online-pre-cache-time-expired"),
    pytest.param(True, "unknown", None, False, PRE, ASK, id="online-pre-unknown"),
    pytest.param(True, "list", "Blocked", False, PRE, ASK, id="online-pre-list-blocked"),
    pytest.param(True, "cache", "Blocked", False, PRE, ASK, id="online-pre-cache-blocked"),
    # Online, DisablePostAuthorize: a non-Accepted local hit is final.
    pytest.param(
        True,
        "list",
        "Blocked",
        False,
        NO_POST,
        ("Blocked", "local_list"),
        id="no-post-list-blocked",
    ),
    pytest.param(
        True,
        "list",
        "Invalid",
        False,
        NO_POST,
        ("Invalid", "local_list"),
        id="no-post-list-invalid",
    ),
    pytest.param(
        True, "cache", "Expired", False, NO_POST, ("Expired", "cache"), id="no-post-cache-expired"
    ),
    pytest.param(
        True, "cache", "Accepted", True, NO_POST, ("Expired", "cache"), id="no-post-time-expired"
    ),
    pytest.param(True, "list", "Accepted", False, NO_POST, ASK, id="no-post-accepted-still-asks"),
    pytest.param(True, "unknown", None, False, NO_POST, ASK, id="no-post-unknown-asks"),
    # Online, DisableRemoteAuthorization: never ask; unknown is Invalid.
    pytest.param(
        True, "list", "Accepted", False, NO_REMOTE, ("Accepted", "local_list"), id="no-remote-list"
    ),
    pytest.param(
        True,
        "cache",
        "Blocked",
        False,
        NO_REMOTE,
        ("Blocked", "cache"),
        id="no-remote-cache-blocked",
    ),
    pytest.param(
        True, "list", "Accepted", True, NO_REMOTE, ("Expired", "local_list"), id="no-remote-expired"
    ),
    pytest.param(
        True, "unknown", None, False, NO_REMOTE, ("Invalid", "offline_rule"), id="no-remote-unknown"
    ),
    # Online, list or cache switched off: the entry is not consulted.
    pytest.param(
        True,
        "list",
        "Accepted",
        False,
        {**PRE, "local_list_enabled": False},
        ASK,
        id="online-list-disabled",
    ),
    pytest.param(
        True,
        "cache",
        "Accepted",
        False,
        {**PRE, "cache_enabled": False},
        ASK,
        id="online-cache-disabled",
    ),
    # Offline, default config (LocalAuthorizeOffline on, unknown ids refused).
    pytest.param(False, "list", "Accepted", False, {}, ("Accepted", "local_list"), id="off-list"),
    pytest.param(False, "cache", "Accepted", False, {}, ("Accepted", "cache"), id="off-cache"),
    pytest.param(
        False, "list", "Blocked", False, {}, ("Blocked", "local_list"), id="off-list-blocked"
    ),
    pytest.param(
        False, "list", "Expired", False, {}, ("Expired", "local_list"), id="off-list-expired"
    ),
    pytest.param(
        False, "list", "Invalid", False, {}, ("Invalid", "local_list"), id="off-list-invalid"
    ),
    pytest.param(
        False, "cache", "Blocked", False, {}, ("Blocked", "cache"), id="off-cache-blocked"
    ),
    pytest.param(
        False, "cache", "Expired", False, {}, ("Expired", "cache"), id="off-cache-expired"
    ),
    pytest.param(
        False, "cache", "Invalid", False, {}, ("Invalid", "cache"), id="off-cache-invalid"
    ),
    pytest.param(
        False, "list", "Accepted", True, {}, ("Expired", "local_list"), id="off-list-time-expired"
    ),
    pytest.param(
        False, "cache", "Accepted", True, {}, ("Expired", "cache"), id="off-cache-time-expired"
    ),
    pytest.param(
        False, "unknown", None, False, {}, ("Invalid", "offline_rule"), id="off-unknown-refused"
    ),
    # Offline, AllowOfflineTxForUnknownId: only unknown tags benefit.
    pytest.param(
        False,
        "unknown",
        None,
        False,
        UNKNOWN_OK,
        ("Accepted", "offline_rule"),
        id="off-unknown-allowed",
    ),
    pytest.param(
        False,
        "list",
        "Blocked",
        False,
        UNKNOWN_OK,
        ("Blocked", "local_list"),
        id="off-unknown-allowed-blocked-still-refused",
    ),
    pytest.param(
        False,
        "cache",
        "Accepted",
        True,
        UNKNOWN_OK,
        ("Expired", "cache"),
        id="off-unknown-allowed-expired-still-refused",
    ),
    # Offline, LocalAuthorizeOffline off: local Accepted entries do not start a tx.
    pytest.param(
        False,
        "list",
        "Accepted",
        False,
        NO_OFFLINE,
        ("Invalid", "offline_rule"),
        id="off-no-local-offline-list",
    ),
    pytest.param(
        False,
        "cache",
        "Accepted",
        False,
        NO_OFFLINE,
        ("Invalid", "offline_rule"),
        id="off-no-local-offline-cache",
    ),
    pytest.param(
        False,
        "list",
        "Blocked",
        False,
        NO_OFFLINE,
        ("Blocked", "local_list"),
        id="off-no-local-offline-blocked",
    ),
    # Offline, list or cache switched off: the tag counts as unknown.
    pytest.param(
        False,
        "list",
        "Accepted",
        False,
        {"local_list_enabled": False},
        ("Invalid", "offline_rule"),
        id="off-list-disabled",
    ),
    pytest.param(
        False,
        "list",
        "Blocked",
        False,
        {"local_list_enabled": False, **UNKNOWN_OK},
        ("Accepted", "offline_rule"),
        id="off-list-disabled-unknown-allowed",
    ),
    pytest.param(
        False,
        "cache",
        "Accepted",
        False,
        {"cache_enabled": False},
        ("Invalid", "offline_rule"),
        id="off-cache-disabled",
    ),
    # AuthCtrlr.Enabled false: everything is Accepted.
    pytest.param(
        True,
        "list",
        "Blocked",
        False,
        {"enabled": False},
        ("Accepted", "auth_disabled"),
        id="auth-disabled-online",
    ),
    pytest.param(
        False,
        "unknown",
        None,
        False,
        {"enabled": False},
        ("Accepted", "auth_disabled"),
        id="auth-disabled-offline",
    ),
]


@pytest.mark.parametrize(
    ("online", "where", "stored", "time_expired", "flags", "expected"), DECISION_TABLE
)
def test_decide_local_follows_the_decision_table(
    online: bool,
    where: str,
    stored: str | None,
    time_expired: bool,
    flags: dict[str, bool],
    expected: str | tuple[str, str],
) -> None:
    local_list, cache = make_stores(where, stored or "Accepted", time_expired=time_expired)
    outcome = decide(local_list, cache, online=online, config=AuthConfig(**flags))
    if expected == ASK:
        assert isinstance(outcome, AskCsms)
        assert outcome.reason
        if where == "unknown" or not AuthConfig(**flags).local_list_enabled:
            assert outcome.local is None
    else:
        assert isinstance(outcome, Decision)
        assert (outcome.status, outcome.source) == expected
        assert outcome.accepted == (expected[0] == "Accepted")
        assert outcome.reason


def test_ask_csms_carries_what_the_local_list_said() -> None:
    local_list, cache = make_stores("list", "Blocked")
    outcome = decide(local_list, cache, online=True)
    assert isinstance(outcome, AskCsms)
    assert outcome.local is not None
    assert (outcome.local.status, outcome.local.source) == ("Blocked", "local_list")


def test_pre_authorized_decision_names_local_pre_authorize_in_its_reason() -> None:
    local_list, cache = make_stores("list", "Accepted")
    outcome = decide(local_list, cache, online=True, config=AuthConfig(local_pre_authorize=True))
    assert isinstance(outcome, Decision)
    assert outcome.reason == "accepted from the local list (LocalPreAuthorize)"


def test_local_list_beats_the_cache_offline() -> None:
    local_list, cache = make_stores("list", "Blocked")
    cache.put(TAG, IdTagInfo("Accepted"), NOW)
    outcome = decide(local_list, cache, online=False)
    assert isinstance(outcome, Decision)
    assert (outcome.status, outcome.source) == ("Blocked", "local_list")


def test_local_list_beats_the_cache_online_with_pre_authorize() -> None:
    local_list, cache = make_stores("list", "Accepted")
    cache.put(TAG, IdTagInfo("Blocked"), NOW)
    outcome = decide(local_list, cache, online=True, config=AuthConfig(local_pre_authorize=True))
    assert isinstance(outcome, Decision)
    assert (outcome.status, outcome.source) == ("Accepted", "local_list")


def test_cache_is_used_when_the_local_list_is_disabled() -> None:
    local_list, cache = make_stores("list", "Accepted")
    cache.put(TAG, IdTagInfo("Blocked"), NOW)
    outcome = decide(local_list, cache, online=False, config=AuthConfig(local_list_enabled=False))
    assert isinstance(outcome, Decision)
    assert (outcome.status, outcome.source) == ("Blocked", "cache")


def test_after_csms_caches_the_answer_and_decides_by_it() -> None:
    local_list, cache = LocalAuthList(), AuthorizationCache()
    answer = IdTagInfo("Accepted", expiry_date=FUTURE, parent_id_tag="FLEET-1")
    decision = after_csms(
        TAG, answer, config=AuthConfig(), local_list=local_list, cache=cache, now=NOW
    )
    assert (decision.status, decision.source, decision.info) == ("Accepted", "csms", answer)
    assert cache.get(TAG, NOW) == answer


def test_after_csms_keeps_non_accepted_answers_in_the_cache() -> None:
    local_list, cache = LocalAuthList(), AuthorizationCache()
    decision = after_csms(
        TAG, IdTagInfo("Blocked"), config=AuthConfig(), local_list=local_list, cache=cache, now=NOW
    )
    assert not decision.accepted
    cached = cache.get(TAG, NOW)
    assert cached is not None and cached.status == "Blocked"


def test_after_csms_reports_an_accepted_answer_with_a_past_expiry_as_expired() -> None:
    decision = after_csms(
        TAG,
        IdTagInfo("Accepted", expiry_date=PAST),
        config=AuthConfig(),
        local_list=LocalAuthList(),
        cache=AuthorizationCache(),
        now=NOW,
    )
    assert decision.status == "Expired"
    assert not decision.accepted


@pytest.mark.parametrize("list_enabled", [True, False])
def test_local_list_tags_are_never_cached(list_enabled: bool) -> None:
    local_list, cache = make_stores("list", "Accepted")
    after_csms(
        TAG.lower(),
        IdTagInfo("Blocked"),
        config=AuthConfig(local_list_enabled=list_enabled),
        local_list=local_list,
        cache=cache,
        now=NOW,
    )
    assert len(cache) == 0


def test_after_csms_does_not_cache_when_the_cache_is_disabled() -> None:
    cache = AuthorizationCache()
    after_csms(
        TAG,
        IdTagInfo("Accepted"),
        config=AuthConfig(cache_enabled=False),
        local_list=LocalAuthList(),
        cache=cache,
        now=NOW,
    )
    assert len(cache) == 0


def test_after_csms_does_not_cache_when_told_not_to_store() -> None:
    cache = AuthorizationCache()
    after_csms(
        TAG,
        IdTagInfo("Accepted"),
        config=AuthConfig(),
        local_list=LocalAuthList(),
        cache=cache,
        now=NOW,
        store=False,
    )
    assert len(cache) == 0


def test_offline_fallback_decides_as_offline_decide_local_would() -> None:
    local_list, cache = make_stores("cache", "Accepted")
    ask = decide(local_list, cache, online=True)
    assert isinstance(ask, AskCsms)
    decision = offline_fallback(
        ask, TAG, config=AuthConfig(), local_list=local_list, cache=cache, now=NOW
    )
    assert (decision.status, decision.source) == ("Accepted", "cache")
    assert "CSMS did not answer" in decision.reason


@pytest.mark.parametrize(("allow_unknown", "expected"), [(False, "Invalid"), (True, "Accepted")])
def test_offline_fallback_applies_the_unknown_id_rule(allow_unknown: bool, expected: str) -> None:
    local_list, cache = LocalAuthList(), AuthorizationCache()
    config = AuthConfig(allow_offline_tx_for_unknown_id=allow_unknown)
    ask = decide(local_list, cache, online=True, config=config)
    assert isinstance(ask, AskCsms)
    decision = offline_fallback(
        ask, TAG, config=config, local_list=local_list, cache=cache, now=NOW
    )
    assert (decision.status, decision.source) == (expected, "offline_rule")


def test_offline_fallback_rejects_a_locally_blocked_tag() -> None:
    local_list, cache = make_stores("list", "Blocked")
    ask = decide(local_list, cache, online=True)
    assert isinstance(ask, AskCsms)
    decision = offline_fallback(
        ask,
        TAG,
        config=AuthConfig(allow_offline_tx_for_unknown_id=True),
        local_list=local_list,
        cache=cache,
        now=NOW,
    )
    assert (decision.status, decision.source) == ("Blocked", "local_list")


@pytest.mark.parametrize(
    ("local_status", "answer_status", "conflict"),
    [("Accepted", "Blocked", True), ("Blocked", "Accepted", True), ("Accepted", "Accepted", False)],
)
def test_conflicts_with_local_list_compares_statuses(
    local_status: str, answer_status: str, conflict: bool
) -> None:
    local_list, _ = make_stores("list", local_status)
    assert conflicts_with_local_list(TAG.lower(), IdTagInfo(answer_status), local_list) is conflict


def test_a_tag_not_on_the_local_list_never_conflicts() -> None:
    assert not conflicts_with_local_list(TAG, IdTagInfo("Blocked"), LocalAuthList())


def test_conflict_check_with_now_treats_a_time_expired_entry_as_expired() -> None:
    local_list, _ = make_stores("list", "Accepted", time_expired=True)
    assert conflicts_with_local_list(TAG, IdTagInfo("Expired"), local_list)
    assert not conflicts_with_local_list(TAG, IdTagInfo("Expired"), local_list, now=NOW)


# --- IdTagInfo ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expiry", "expected"),
    [
        ("Accepted", None, "Accepted"),
        ("Accepted", FUTURE, "Accepted"),
        ("Accepted", NOW, "Expired"),
        ("Accepted", PAST, "Expired"),
        ("Blocked", PAST, "Blocked"),
        ("Invalid", FUTURE, "Invalid"),
    ],
)
def test_effective_status_expires_accepted_entries_at_their_expiry_date(
    status: str, expiry: datetime | None, expected: str
) -> None:
    assert IdTagInfo(status, expiry_date=expiry).effective_status(NOW) == expected


def test_id_tag_info_round_trips_through_json() -> None:
    info = IdTagInfo(
        "Accepted",
        expiry_date=datetime(2025, 6, 1, 8, 30, tzinfo=UTC),
        parent_id_tag="FLEET-1",
        personal_message="Welcome",
    )
    data = json.loads(json.dumps(info.to_dict()))
    assert data["expiry_date"] == "2025-06-01T08:30:00Z"
    assert IdTagInfo.from_dict(data) == info


def test_decision_is_frozen() -> None:
    decision = Decision("Accepted", "csms", None, "accepted by the CSMS")
    with pytest.raises(FrozenInstanceError):
        decision.status = "Blocked"  # type: ignore[misc]


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide_local(
            TAG,
            online=False,
            config=AuthConfig(),
            local_list=LocalAuthList(),
            cache=AuthorizationCache(),
            now=datetime(2025, 1, 1),
        )


# --- Case-insensitivity and parent tags -------------------------------------------------------


def test_local_list_matches_tags_case_insensitively_and_keeps_the_original_text() -> None:
    local_list = LocalAuthList()
    local_list.send_local_list(1, "Full", [("abc-def", IdTagInfo("Accepted"))])
    assert local_list.get("ABC-DEF") is not None
    assert "Abc-Def" in local_list
    assert [tag for tag, _ in local_list.entries()] == ["abc-def"]


def test_cache_matches_tags_case_insensitively() -> None:
    cache = AuthorizationCache()
    cache.put("abc-def", IdTagInfo("Accepted"), NOW)
    assert cache.get("ABC-DEF", NOW) is not None
    assert cache.entries()[0]["id_tag"] == "abc-def"


def test_decide_local_matches_a_differently_cased_tag() -> None:
    local_list, cache = make_stores("list", "Accepted")
    outcome = decide(local_list, cache, online=False, id_tag=TAG.lower())
    assert isinstance(outcome, Decision)
    assert (outcome.status, outcome.source) == ("Accepted", "local_list")


def test_parent_tags_are_preserved_from_the_local_list() -> None:
    local_list = LocalAuthList()
    local_list.send_local_list(1, "Full", [(TAG, IdTagInfo("Accepted", parent_id_tag="FLEET-1"))])
    outcome = decide(local_list, AuthorizationCache(), online=False)
    assert isinstance(outcome, Decision)
    assert outcome.info is not None and outcome.info.parent_id_tag == "FLEET-1"


def test_parent_tags_are_preserved_through_the_cache() -> None:
    cache = AuthorizationCache()
    after_csms(
        TAG,
        IdTagInfo("Accepted", parent_id_tag="FLEET-1"),
        config=AuthConfig(),
        local_list=LocalAuthList(),
        cache=cache,
        now=NOW,
    )
    outcome = decide(LocalAuthList(), cache, online=False)
    assert isinstance(outcome, Decision)
    assert outcome.source == "cache"
    assert outcome.info is not None and outcome.info.parent_id_tag == "FLEET-1"
    assert cache.entries()[0]["parent_id_tag"] == "FLEET-1"


# --- LocalAuthList.send_local_list ----------------------------------------------------------


def test_full_update_replaces_the_whole_list() -> None:
    local_list = LocalAuthList()
    local_list.send_local_list(
        1, "Full", [("A", IdTagInfo("Accepted")), ("B", IdTagInfo("Accepted"))]
    )
    assert local_list.send_local_list(2, "Full", [("C", IdTagInfo("Blocked"))]) == "Accepted"
    assert [tag for tag, _ in local_list.entries()] == ["C"]
    assert local_list.version == 2


def test_full_update_with_an_empty_list_clears_it() -> None:
    local_list = LocalAuthList()
    local_list.send_local_list(1, "Full", [("A", IdTagInfo("Accepted"))])
    assert local_list.send_local_list(2, "Full", []) == "Accepted"
    assert len(local_list) == 0
    assert local_list.version == 2


def test_full_update_ignores_entries_without_info() -> None:
    local_list = LocalAuthList()
    status = local_list.send_local_list(1, "Full", [("A", IdTagInfo("Accepted")), ("B", None)])
    assert status == "Accepted"
    assert [tag for tag, _ in local_list.entries()] == ["A"]


def test_full_update_is_accepted_with_a_lower_version() -> None:
    local_list = LocalAuthList()
    local_list.send_local_list(7, "Full", [("A", IdTagInfo("Accepted"))])
    assert local_list.send_local_list(3, "Full", [("B", IdTagInfo("Accepted"))]) == "Accepted"
    assert local_list.version == 3
    assert local_list.get("B") is not None and local_list.get("A") is None


def test_differential_update_upserts_and_deletes() -> None:
    local_list = LocalAuthList()
    local_list.send_local_list(
        1, "Full", [("A", IdTagInfo("Accepted")), ("B", IdTagInfo("Accepted"))]
    )
    status = local_list.send_local_list(
        2, "Differential", [("a", IdTagInfo("Blocked")), ("b", None), ("C", IdTagInfo("Accepted"))]
    )
    assert status == "Accepted"
    assert local_list.version == 2
    assert [(tag, info.status) for tag, info in local_list.entries()] == [
        ("a", "Blocked"),
        ("C", "Accepted"),
    ]


def test_differential_delete_of_an_unknown_tag_is_harmless() -> None:
    local_list = LocalAuthList()
    local_list.send_local_list(1, "Full", [("A", IdTagInfo("Accepted"))])
    assert local_list.send_local_list(2, "Differential", [("Z", None)]) == "Accepted"
    assert len(local_list) == 1


@pytest.mark.parametrize("version", [1, 5])
def test_differential_update_with_a_version_not_above_current_is_a_version_mismatch(
    version: int,
) -> None:
    local_list = LocalAuthList()
    local_list.send_local_list(5, "Full", [("A", IdTagInfo("Accepted"))])
    status = local_list.send_local_list(version, "Differential", [("A", None)])
    assert status == "VersionMismatch"
    assert local_list.version == 5
    assert local_list.get("A") is not None


@pytest.mark.parametrize("update_type", ["Full", "Differential"])
@pytest.mark.parametrize("version", [0, -1])
def test_a_version_below_one_fails(update_type: str, version: int) -> None:
    local_list = LocalAuthList()
    assert local_list.send_local_list(version, update_type, [("A", IdTagInfo("Accepted"))]) == (
        "Failed"
    )
    assert (len(local_list), local_list.version) == (0, 0)


def test_an_unknown_update_type_fails() -> None:
    assert LocalAuthList().send_local_list(1, "Partial", []) == "Failed"


def test_full_update_beyond_max_length_fails_and_changes_nothing() -> None:
    local_list = LocalAuthList(max_length=2)
    local_list.send_local_list(1, "Full", [("A", IdTagInfo("Accepted"))])
    entries = [(tag, IdTagInfo("Accepted")) for tag in ("X", "Y", "Z")]
    assert local_list.send_local_list(2, "Full", entries) == "Failed"
    assert [tag for tag, _ in local_list.entries()] == ["A"]
    assert local_list.version == 1


def test_differential_update_beyond_max_length_fails_and_changes_nothing() -> None:
    local_list = LocalAuthList(max_length=2)
    local_list.send_local_list(
        1, "Full", [("A", IdTagInfo("Accepted")), ("B", IdTagInfo("Accepted"))]
    )
    assert local_list.send_local_list(2, "Differential", [("C", IdTagInfo("Accepted"))]) == "Failed"
    assert [tag for tag, _ in local_list.entries()] == ["A", "B"]
    assert local_list.version == 1


def test_differential_update_that_deletes_as_much_as_it_adds_fits() -> None:
    local_list = LocalAuthList(max_length=2)
    local_list.send_local_list(
        1, "Full", [("A", IdTagInfo("Accepted")), ("B", IdTagInfo("Accepted"))]
    )
    status = local_list.send_local_list(
        2, "Differential", [("A", None), ("C", IdTagInfo("Accepted"))]
    )
    assert status == "Accepted"
    assert [tag for tag, _ in local_list.entries()] == ["B", "C"]


def test_clear_empties_the_list_resets_the_version_and_returns_the_count() -> None:
    local_list = LocalAuthList()
    local_list.send_local_list(
        4, "Full", [("A", IdTagInfo("Accepted")), ("B", IdTagInfo("Blocked"))]
    )
    assert local_list.clear() == 2
    assert (len(local_list), local_list.version) == (0, 0)
    assert local_list.clear() == 0


def test_local_list_stores_a_copy_of_the_info() -> None:
    info = IdTagInfo("Accepted")
    local_list = LocalAuthList()
    local_list.send_local_list(1, "Full", [("A", info)])
    info.status = "Blocked"
    stored = local_list.get("A")
    assert stored is not None and stored.status == "Accepted"


def test_local_list_round_trips_through_json() -> None:
    local_list = LocalAuthList(max_length=50)
    local_list.send_local_list(
        3,
        "Full",
        [
            ("tag-b", IdTagInfo("Blocked")),
            ("Tag-A", IdTagInfo("Accepted", expiry_date=FUTURE, parent_id_tag="G")),
        ],
    )
    data = json.loads(json.dumps(local_list.to_dict()))
    restored = LocalAuthList.from_dict(data)
    assert (restored.version, restored.max_length) == (3, 50)
    assert restored.entries() == local_list.entries()
    assert restored.to_dict() == data


# --- AuthorizationCache -------------------------------------------------------------------


def test_cache_turns_an_entry_past_its_expiry_date_into_expired() -> None:
    cache = AuthorizationCache()
    cache.put(TAG, IdTagInfo("Accepted", expiry_date=NOW + timedelta(minutes=1)), NOW)
    hit = cache.get(TAG, NOW + timedelta(minutes=2))
    assert hit is not None and hit.status == "Expired"
    assert cache.entries()[0]["status"] == "Expired"


def test_cache_drops_an_entry_unused_for_its_lifetime() -> None:
    cache = AuthorizationCache(lifetime_s=60)
    cache.put(TAG, IdTagInfo("Accepted"), NOW)
    assert cache.get(TAG, NOW + timedelta(seconds=59)) is not None
    # The lifetime counts from the last use, not from when the entry was stored.
    assert cache.get(TAG, NOW + timedelta(seconds=118)) is not None
    assert cache.get(TAG, NOW + timedelta(seconds=178)) is None
    assert len(cache) == 0


def test_cache_without_lifetime_keeps_entries_indefinitely() -> None:
    cache = AuthorizationCache()
    cache.put(TAG, IdTagInfo("Accepted"), NOW)
    assert cache.get(TAG, NOW + timedelta(days=3650)) is not None


def test_offline_decision_treats_a_lifetime_expired_cache_entry_as_unknown() -> None:
    cache = AuthorizationCache(lifetime_s=60)
    cache.put(TAG, IdTagInfo("Accepted"), NOW - timedelta(seconds=61))
    outcome = decide(LocalAuthList(), cache, online=False)
    assert isinstance(outcome, Decision)
    assert (outcome.status, outcome.source) == ("Invalid", "offline_rule")


def test_cache_evicts_invalid_entries_before_valid_ones() -> None:
    cache = AuthorizationCache(max_entries=3)
    cache.put("OLD-VALID", IdTagInfo("Accepted"), NOW)
    cache.put("BLOCKED", IdTagInfo("Blocked"), NOW + timedelta(seconds=1))
    cache.put("NEW-VALID", IdTagInfo("Accepted"), NOW + timedelta(seconds=2))
    cache.put("D", IdTagInfo("Accepted"), NOW + timedelta(seconds=3))
    assert [row["id_tag"] for row in cache.entries()] == ["D", "NEW-VALID", "OLD-VALID"]


def test_cache_evicts_time_expired_entries_before_valid_ones() -> None:
    cache = AuthorizationCache(max_entries=2)
    cache.put("OLD-VALID", IdTagInfo("Accepted"), NOW)
    cache.put("EXPIRING", IdTagInfo("Accepted", expiry_date=NOW + timedelta(seconds=5)), NOW)
    cache.put("C", IdTagInfo("Accepted"), NOW + timedelta(seconds=10))
    assert [row["id_tag"] for row in cache.entries()] == ["C", "OLD-VALID"]


def test_cache_evicts_the_least_recently_used_when_all_are_valid() -> None:
    cache = AuthorizationCache(max_entries=2)
    cache.put("A", IdTagInfo("Accepted"), NOW)
    cache.put("B", IdTagInfo("Accepted"), NOW + timedelta(seconds=1))
    cache.get("A", NOW + timedelta(seconds=2))  # A is now the more recently used
    cache.put("C", IdTagInfo("Accepted"), NOW + timedelta(seconds=3))
    assert [row["id_tag"] for row in cache.entries()] == ["A", "C"]


def test_cache_evicts_the_least_recently_used_invalid_entry_first() -> None:
    cache = AuthorizationCache(max_entries=3)
    cache.put("BLOCKED-1", IdTagInfo("Blocked"), NOW)
    cache.put("BLOCKED-2", IdTagInfo("Blocked"), NOW + timedelta(seconds=1))
    cache.put("VALID", IdTagInfo("Accepted"), NOW + timedelta(seconds=2))
    cache.get("BLOCKED-1", NOW + timedelta(seconds=3))
    cache.put("D", IdTagInfo("Accepted"), NOW + timedelta(seconds=4))
    assert [row["id_tag"] for row in cache.entries()] == ["BLOCKED-1", "D", "VALID"]


def test_updating_a_cached_tag_when_full_evicts_nothing() -> None:
    cache = AuthorizationCache(max_entries=2)
    cache.put("A", IdTagInfo("Accepted"), NOW)
    cache.put("B", IdTagInfo("Accepted"), NOW)
    cache.put("a", IdTagInfo("Blocked"), NOW + timedelta(seconds=1))
    assert [(row["id_tag"], row["status"]) for row in cache.entries()] == [
        ("a", "Blocked"),
        ("B", "Accepted"),
    ]


def test_cache_with_no_room_stores_nothing() -> None:
    cache = AuthorizationCache(max_entries=0)
    cache.put(TAG, IdTagInfo("Accepted"), NOW)
    assert len(cache) == 0


def test_cache_clear_returns_how_many_entries_were_removed() -> None:
    cache = AuthorizationCache()
    cache.put("A", IdTagInfo("Accepted"), NOW)
    cache.put("B", IdTagInfo("Blocked"), NOW)
    assert cache.clear() == 2
    assert len(cache) == 0


def test_cache_entries_read_out_is_json_ready() -> None:
    cache = AuthorizationCache()
    cache.put("A", IdTagInfo("Accepted", expiry_date=FUTURE, parent_id_tag="G"), NOW)
    assert cache.entries() == [
        {
            "id_tag": "A",
            "status": "Accepted",
            "expiry_date": "2025-03-31T12:00:00Z",
            "parent_id_tag": "G",
            "last_used": "2025-03-01T12:00:00Z",
        }
    ]


def test_cache_round_trips_through_json() -> None:
    cache = AuthorizationCache(max_entries=10, lifetime_s=3600)
    cache.put("a", IdTagInfo("Accepted", expiry_date=FUTURE, parent_id_tag="G"), NOW)
    cache.put("B", IdTagInfo("Blocked"), NOW + timedelta(seconds=5))
    data = json.loads(json.dumps(cache.to_dict()))
    restored = AuthorizationCache.from_dict(data)
    assert (restored.max_entries, restored.lifetime_s) == (10, 3600)
    assert restored.entries() == cache.entries()
    assert restored.to_dict() == data
    hit = restored.get("A", NOW + timedelta(seconds=10))
    assert hit is not None and hit.parent_id_tag == "G"
