"""Functions for worker processes to run in tests (shared.workers): importable, so a worker can
unpickle them by name."""

from __future__ import annotations

import os
import time

import numpy as np

from shared.errors import InvalidInput


def add(a: int, b: int) -> int:
    return a + b


def refuse(message: str) -> None:
    raise InvalidInput(message, code="bad_roof")


def allocate(megabytes: int) -> float:
    """Touch `megabytes` of memory."""
    block = np.ones(megabytes * 1024 * 1024 // 8)
    return float(block.sum())


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def exit_abruptly(code: int) -> None:
    os._exit(code)


def fail() -> None:
    raise ValueError("an internal mistake")


def opencv_version() -> str:
    import cv2  # imported here, in the worker, as a work's libraries are

    return str(cv2.__version__)
