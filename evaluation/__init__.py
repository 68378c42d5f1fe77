"""Evaluation tooling, never deployed: synthetic data with exact ground truth and the scoring against it.

Used by bench/ and tests/. It imports the function packages it measures (`geometry`, `vision`); they never
import it, so no function's code root or container image carries it (tests/unit/test_package_boundaries.py).
"""
