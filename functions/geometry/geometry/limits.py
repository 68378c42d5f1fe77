"""What one analysis may cost, synchronous or as a job, and the admission that refuses, before any work
starts, an input that would cost more.

Sized to where the route is deployed (template.yaml): GeometryFunction has 2048 MB (1.16 vCPU) and
29 s, and API Gateway gives up on a REST integration at 29 s. The work (reading, segmenting,
measuring, the preview) runs in a worker process (shared.workers) under `SYNC_BUDGET`; the 5 s left
around it pay for the upload's parsing and hashing, the job's lookups and storage, and a cold start
of the workers' forkserver (2-3 s, once per instance).

The admission estimate comes from the input's size alone (a raster's cells from its header, a point
cloud's points from its header or its lines), at costs measured in CPU seconds, which is what a
dedicated core turns into wall-clock time (`python -m bench geometry`, "bounded"; the 2-core machine
it ran on was shared, and gave the work about half a core):
- time: tiles of houses side by side, the densest content per cell, cost 18 µs of CPU per cell (a
  600 x 600 tile of 9 houses took 6.5 s), a single house 4 µs, a flat site under 1 µs, 1M cells of
  noise more than 13 µs. The estimate takes 24 µs, a third over the dense tiles, so 1M cells fit the
  24 s budget with room for a slower core. What still outruns it (a dense input near the limit on a
  busy machine) is stopped at the budget, with the same 413.
- memory: 250-400 bytes per cell at the worker's peak (a 1M-cell analysis grew its worker by 250-350
  MB), far inside its 1280 MB at the cell limit; the cap is there for what the estimate cannot see
  (a point cloud's raster, say).
A point cloud's cost is its raster's (checked again once it is rasterised) plus reading the points:
2 µs each as x y z text, 0.15 µs as LAS; reading may take a quarter of the budget, 3M points of text
(a 50 MB upload holds about 2.5M).

A job (an upload's S3 event, `geometry.service.run_upload`) runs on GeometryJobsFunction: the same
image with 10240 MB (6 vCPUs; the analysis uses about one) and Lambda's longest timeout, 900 s, and
no client waiting. `JOB_BUDGET` is 600 s and 8 GB: at the costs above a 4000 x 4000 DSM (16M cells,
the most the readers take: `geometry.points.MAX_CELLS`) is estimated at 384 s and 4-6.4 GB, with a
third to spare. The 300 s left around the work pay for downloading and hashing up to 500 MB (about
10 s), the forkserver's cold start, storing the report, and a slower core; the 2 GB left beside the
worker hold the job's own process (~300 MB, the upload streamed to disk, never held) and the
forkserver. Past the readers' own bounds (16M cells, 5M points) nothing is admitted, whatever the
budget would buy.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.workers import MB, Budget

API_GATEWAY_S = 29  # REST integrations answer within this, whatever the function's timeout
FUNCTION_MEMORY_MB = 2048  # GeometryFunction's MemorySize (tests/infra checks the template says so)
JOB_FUNCTION_MEMORY_MB = 10240  # GeometryJobsFunction's MemorySize, Lambda's largest (checked as above)
JOB_FUNCTION_TIMEOUT_S = 900  # its Timeout, Lambda's longest
MAX_JOB_UPLOAD_BYTES = 500 * MB  # an upload's presigned POST allows at most this (and a job reads no more)
# What the readers take at most (geometry.points.MAX_CELLS and MAX_POINTS: a unit test holds them equal),
# as plain numbers so the request path never imports numpy to read them.
READER_MAX_CELLS = 16_000_000
READER_MAX_POINTS = 5_000_000

SYNC_BUDGET = Budget(
    seconds=24.0,
    # Beside the request process (~300 MB with a 50 MB upload in hand) and the forkserver (~40 MB
    # resident, its pages shared with the worker), within the function's 2048 MB.
    memory_bytes=1280 * MB,
    what="The roof analysis",
    advice=(
        f"a synchronous analysis answers within API Gateway's {API_GATEWAY_S} s, so crop the input to the "
        "building or resample it to a coarser pixel (10 cm is plenty for a roof) and send it again"
    ),
)
JOB_BUDGET = Budget(
    seconds=600.0,
    # Beside the job's process and the forkserver, within the job function's 10240 MB.
    memory_bytes=8192 * MB,
    what="The roof analysis",
    advice=(
        f"a job analyses at most {READER_MAX_CELLS:,} cells (a 4000 x 4000 DSM) within its budget, so crop the "
        "input to the buildings you need or resample it to a coarser pixel (10 cm is plenty for a roof) and "
        "upload it again"
    ),
)
SECONDS_PER_CELL = 24e-6  # measured, with a margin: see the module's docstring
BYTES_PER_CELL = 400  # measured: see the module's docstring
SECONDS_PER_POINT = 2e-6  # measured: x y z text, the slower reader


@dataclass(frozen=True)
class InputSize:
    """What the input's header (or its lines) says it holds, before it is read."""

    shape: tuple[int, int] | None = None  # a raster's rows and columns
    points: int | None = None  # a point cloud's points (for text, its lines: an upper bound)

    @property
    def cells(self) -> int | None:
        return None if self.shape is None else self.shape[0] * self.shape[1]


@dataclass(frozen=True)
class Limits:
    """A budget and the measured costs that say what fits in it."""

    budget: Budget = SYNC_BUDGET
    seconds_per_cell: float = SECONDS_PER_CELL
    bytes_per_cell: int = BYTES_PER_CELL
    seconds_per_point: float = SECONDS_PER_POINT
    reader_cells: int = READER_MAX_CELLS
    reader_points: int = READER_MAX_POINTS

    @property
    def budget_cells(self) -> int:
        """The most cells whose estimated time and memory fit the budget."""
        by_time = self.budget.seconds / self.seconds_per_cell
        by_memory = self.budget.memory_bytes / self.bytes_per_cell
        return int(min(by_time, by_memory))

    @property
    def max_cells(self) -> int:
        """The most cells admitted: what the budget buys, and never more than the readers take."""
        return min(self.budget_cells, self.reader_cells)

    @property
    def max_points(self) -> int:
        """The most points that can be read in a quarter of the budget (the rest is for their raster),
        and never more than the readers take."""
        return min(int(self.budget.seconds / 4 / self.seconds_per_point), self.reader_points)

    def estimate_s(self, size: InputSize) -> float:
        return (size.cells or 0) * self.seconds_per_cell + (size.points or 0) * self.seconds_per_point


SYNC_LIMITS = Limits()
JOB_LIMITS = Limits(budget=JOB_BUDGET)


def admit(name: str, size: InputSize, limits: Limits = SYNC_LIMITS) -> None:
    """Refuse (413, naming the limit and what to do) an input whose size alone says it would not fit
    the budget; an input whose size is unknown here is admitted (its reader judges it)."""
    cells, budget = size.cells, limits.budget
    if size.shape is not None and cells is not None and cells > limits.max_cells:
        rows, cols = size.shape
        within = (
            f"that fit the {budget.seconds:g} s budget"
            if limits.max_cells == limits.budget_cells
            else "an analysis reads at most"
        )
        raise budget.refuse(
            f"{name} is {rows:,} x {cols:,} = {cells:,} cells, about {limits.estimate_s(size):.0f} s of analysis: "
            f"over the {limits.max_cells:,} cells {within}"
        )
    if size.points is not None and size.points > limits.max_points:
        within = (
            f"that fit the {budget.seconds:g} s budget"
            if limits.max_points < limits.reader_points
            else "an analysis reads at most"
        )
        points = f"{name} holds up to {size.points:,} points"
        raise budget.refuse(f"{points}: over the {limits.max_points:,} points {within}")
