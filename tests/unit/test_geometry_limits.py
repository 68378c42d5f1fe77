"""The synchronous analysis's admission: an input whose size says it would not fit its budget is
refused with a 413 that names its size, the limit and what to do; what fits, or what cannot be sized
from a header, is admitted."""

from __future__ import annotations

import pytest

from geometry.limits import API_GATEWAY_S, FUNCTION_MEMORY_MB, SYNC_BUDGET, SYNC_LIMITS, InputSize, Limits, admit
from shared.errors import PayloadTooLarge
from shared.workers import MB, Budget


def test_a_16m_cell_raster_is_refused_naming_its_size_the_limit_and_what_to_do() -> None:
    with pytest.raises(PayloadTooLarge) as refused:
        admit("site.npy", InputSize(shape=(4000, 4000)))
    assert refused.value.status == 413
    assert refused.value.code == "work_budget_exceeded"
    assert refused.value.message == (
        "site.npy is 4,000 x 4,000 = 16,000,000 cells, about 384 s of analysis: over the 1,000,000 cells that fit "
        "the 24 s budget; a synchronous analysis answers within API Gateway's 29 s, so crop the input to the "
        "building or resample it to a coarser pixel (10 cm is plenty for a roof) and send it again."
    )


def test_the_cell_limit_is_what_the_budget_buys_at_the_measured_cost_per_cell() -> None:
    assert SYNC_LIMITS.max_cells == round(SYNC_BUDGET.seconds / SYNC_LIMITS.seconds_per_cell) == 1_000_000
    admit("house.npy", InputSize(shape=(1000, 1000)))
    admit("house.npy", InputSize(shape=(400, 370)))
    with pytest.raises(PayloadTooLarge, match="1,000 x 1,001 = 1,001,000 cells"):
        admit("house.npy", InputSize(shape=(1000, 1001)))


def test_memory_limits_the_cells_when_it_is_the_smaller_budget() -> None:
    tight = Limits(budget=Budget(seconds=24, memory_bytes=40 * MB), bytes_per_cell=400)
    assert tight.max_cells == 40 * MB // 400
    with pytest.raises(PayloadTooLarge, match=f"over the {tight.max_cells:,} cells"):
        admit("house.npy", InputSize(shape=(400, 400)), tight)


def test_a_point_cloud_is_refused_by_its_points() -> None:
    limits = Limits(seconds_per_point=1e-3)  # a quarter of 24 s for reading: 6,000 points
    assert limits.max_points == 6_000
    admit("scan.xyz", InputSize(points=6_000), limits)
    with pytest.raises(PayloadTooLarge, match=r"scan\.xyz holds up to 6,001 points: over the 6,000 points"):
        admit("scan.xyz", InputSize(points=6_001), limits)
    # At the measured cost, a 50 MB text upload (about 2.5M points) is admitted
    admit("scan.xyz", InputSize(points=2_500_000))


def test_an_input_whose_size_is_unknown_is_admitted_for_its_reader_to_judge() -> None:
    admit("mystery.bin", InputSize())


def test_the_synchronous_budget_fits_the_deployed_function() -> None:
    # Time for the request around the work (upload, hashing, storage, a forkserver's cold start)
    assert SYNC_BUDGET.seconds + 5 <= API_GATEWAY_S
    # The worker beside the request process (~300 MB) and the forkserver (~100 MB)
    assert SYNC_BUDGET.memory_bytes + 400 * MB <= FUNCTION_MEMORY_MB * MB
