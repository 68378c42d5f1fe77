"""A clock the test moves by hand, for code that takes `clock: Callable[[], float]` (monotonic seconds)."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds that stand still until `advance` moves them."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
