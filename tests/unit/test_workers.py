"""Bounded work's budget says, in its 413, which limit the work outgrew and what to send instead."""

from __future__ import annotations

import json
import types
from importlib.machinery import ModuleSpec
from json.decoder import JSONDecoder

from shared.workers import MB, Budget, Usage, main_imports


def test_a_budget_names_the_limit_the_work_outgrew() -> None:
    budget = Budget(seconds=24, memory_bytes=1280 * MB, what="The roof analysis", advice="crop it")
    over_time, over_memory = budget.over("time"), budget.over("memory")
    assert (over_time.status, over_time.code) == (413, "work_budget_exceeded")
    assert over_time.message == "The roof analysis needed more than its 24 s and was stopped; crop it."
    assert over_memory.message == "The roof analysis needed more than its 1280 MB of memory and was stopped; crop it."
    assert budget.refuse("site.npy is too big").message == "site.npy is too big; crop it."


def test_what_a_worker_grew_by_is_known_only_from_its_own_figures() -> None:
    assert Usage(peak_rss_bytes=300 * MB, start_rss_bytes=40 * MB).grew_bytes == 260 * MB
    assert Usage(peak_rss_bytes=300 * MB).grew_bytes == 0  # a killed worker: its start is unknown


def test_what_the_main_module_imported_is_preloaded_for_its_re_run_in_each_worker() -> None:
    # Given a script main as a console script or Lambda's bootstrap makes one
    script = types.ModuleType("__main__")
    made_up = types.ModuleType("made_up")  # not importable by its name: never preloaded
    script.__dict__.update(json=json, console_main=JSONDecoder, Budget=Budget, answer=42, made_up=made_up)
    # Then what it imported is preloaded: modules (with what was loaded under them), and the modules of
    # the functions and classes it holds
    names = main_imports(script)
    assert {"json", "json.decoder", "shared.workers"} <= set(names)
    assert "__main__" not in names and "made_up" not in names
    # And a main run by name (`python -m x`) is itself preloaded, unless it is a package's __main__
    by_name = types.ModuleType("__main__")
    by_name.__spec__ = ModuleSpec("shared.workers", None)
    assert main_imports(by_name) == ["shared.workers"]
    by_name.__spec__ = ModuleSpec("bench.__main__", None)
    assert main_imports(by_name) == []
