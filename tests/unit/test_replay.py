"""The replay preamble: bounded, keeps the first and the latest turns, says what it left out."""

from __future__ import annotations

from codex_mcp.codex.replay import replay_prompt


def test_no_history_sends_the_prompt_as_it_is() -> None:
    assert replay_prompt([], "hello") == ("hello", 0)


def test_short_history_is_carried_whole_before_the_new_prompt() -> None:
    text, omitted = replay_prompt([("first question", "first answer"), ("second", None)], "new one")
    assert omitted == 0
    assert text.index("first question") < text.index("first answer") < text.index("second") < text.index("new one")
    assert "(no reply was recorded)" in text
    assert text.endswith("New message:\nnew one")
    assert "left out" not in text


def test_long_history_keeps_first_and_latest_turns_within_budget() -> None:
    history = [(f"question {i:03d} " + "x" * 900, f"answer {i:03d}") for i in range(100)]
    text, omitted = replay_prompt(history, "the new prompt", budget=10_000)
    assert 0 < omitted < 100
    assert len(text) < 10_000 + 1_000  # the budget plus the fixed framing
    assert "question 000" in text  # the start of the conversation
    assert "question 099" in text
    assert "answer 099" in text
    assert f"{omitted} earlier turn(s) left out" in text
    kept = [i for i in range(100) if f"question {i:03d}" in text]
    assert kept == [0, *range(100 - len(kept) + 1, 100)], "the kept turns are the first and a recent run"
    assert text.endswith("the new prompt")


def test_one_huge_message_is_clipped_not_dropped() -> None:
    text, omitted = replay_prompt([("start " + "y" * 50_000 + " end", "ok")], "next")
    assert omitted == 0
    assert "start" in text
    assert "end" in text
    assert "characters left out" in text
    assert len(text) < 10_000
