"""Bounded work's budget says, in its 413, which limit the work outgrew and what to send instead."""

from __future__ import annotations

from shared.workers import MB, Budget, WorkStats


def test_a_budget_names_the_limit_the_work_outgrew() -> None:
    budget = Budget(seconds=24, memory_bytes=1280 * MB, what="The roof analysis", advice="crop it")
    over_time, over_memory = budget.over("time"), budget.over("memory")
    assert (over_time.status, over_time.code) == (413, "work_budget_exceeded")
    assert over_time.message == "The roof analysis needed more than its 24 s and was stopped; crop it."
    assert over_memory.message == "The roof analysis needed more than its 1280 MB of memory and was stopped; crop it."
    assert budget.refuse("site.npy is too big").message == "site.npy is too big; crop it."


def test_what_a_worker_grew_by_is_never_negative() -> None:
    assert WorkStats(1.0, peak_rss_bytes=300 * MB, start_rss_bytes=40 * MB, outcome="ok").grew_bytes == 260 * MB
    assert WorkStats(1.0, peak_rss_bytes=0, start_rss_bytes=40 * MB, outcome="time").grew_bytes == 0
