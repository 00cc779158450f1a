"""A tag decision rendered for each OCPP version."""

from __future__ import annotations

from datetime import UTC, datetime

from voltlab.csms.authorization import TagDecision, id_tag_info, id_token_info


def test_a_2_0_1_only_or_unknown_status_is_invalid_on_1_6_never_accepted() -> None:
    assert id_tag_info(TagDecision("NotAtThisTime")) == {"status": "Invalid"}
    assert id_tag_info(TagDecision("ConcurrentTx")) == {"status": "ConcurrentTx"}
    assert id_token_info(TagDecision("ALLOWED")) == {"status": "Invalid"}


def test_the_1_6_parent_id_tag_fits_its_20_characters_and_messages_are_2_0_1_only() -> None:
    decision = TagDecision(
        "Accepted",
        group_id="G" * 30,
        personal_message="hi",
        expiry=datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC),
    )
    assert id_tag_info(decision) == {
        "status": "Accepted",
        "parent_id_tag": "G" * 20,
        "expiry_date": "2030-05-06T07:08:09Z",
    }
    assert id_token_info(decision)["personal_message"] == {"format": "UTF8", "content": "hi"}
