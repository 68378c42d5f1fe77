"""The analysis as a worker process runs it (shared.workers): input files in, the report and its
preview out.

Kept apart from `geometry.service` so a worker imports only what the analysis needs (numpy, OpenCV,
the readers), and the request path imports numpy and OpenCV only with its first analysis.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geometry.analysis import RoofAnalysis

logger = logging.getLogger(__name__)

# What the worker's forkserver imports once, so each worker starts with them (shared.workers.preload).
MODULES = ("geometry.work", "geometry.analysis", "geometry.preview", "geometry.readers")


@dataclass(frozen=True)
class InputFiles:
    """An input written to files: a path travels to the worker cheaply, 50 MB of bytes would not."""

    file: Path
    mask: Path | None
    resolution: float | None


@dataclass(frozen=True)
class Analysed:
    report: dict[str, Any]
    preview: bytes | None  # None when it could not be rendered


def preview_png(analysis: RoofAnalysis) -> bytes | None:
    """The preview PNG, or None: a preview that fails is logged and never fails the job."""
    try:
        from geometry import preview  # OpenCV drawing

        return preview.render_preview(analysis)
    except Exception:
        logger.warning("geometry preview failed; the job is stored without one", exc_info=True)
        return None


def analyze_files(files: InputFiles, max_cells: int) -> Analysed:
    """The contract report and its preview; `max_cells` bounds the grid analysed (blocking, CPU-heavy:
    run it in a worker). Out of memory is a MemoryError, whichever library ran out."""
    import cv2

    from geometry.analysis import analyze_file

    try:
        analysis = analyze_file(files.file, resolution=files.resolution, mask=files.mask, max_cells=max_cells)
    except cv2.error as exc:  # OpenCV reports a failed allocation as its own error
        if getattr(exc, "code", None) == cv2.Error.StsNoMem:
            raise MemoryError(str(exc)) from exc
        raise
    return Analysed(analysis.report.to_json(), preview_png(analysis))
