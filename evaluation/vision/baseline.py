"""The local stage as it was before issue 14 ("damage counts a claim can rest on"), run beside
today's so the bench can print both on the same photos.

It is not kept as a copy in the tree: the `vision` package of `BASELINE_COMMIT` is taken from git
history into a temporary folder and run in a subprocess with that folder first on its path (so
`vision` is the old one, `evaluation` and `shared` today's). The photos go over in an .npy file; the
reported detections (type and box per photo) and every candidate come back as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vision.detections import Box, DamageType

BASELINE_COMMIT = "66b1957"  # main when issue 14 was taken up
REPO = Path(__file__).resolve().parents[2]

_RUNNER = """
import json, sys
import numpy as np
from vision.candidates import candidates_as_detections, find_candidates
out = []
for path in sys.argv[1:]:
    try:
        found = find_candidates(np.load(path))
    except Exception as exc:  # the old stage crashed on some photos (an exp overflow): scored as nothing found
        out.append({"reported": [], "all": [], "error": repr(exc)})
        continue
    out.append({
        "reported": [[d.type, list(d.box)] for d in candidates_as_detections(found)],
        "all": [[c.kind, list(c.box)] for c in found],
    })
print(json.dumps(out))
"""

Found = list[tuple[DamageType, Box]]


class BaselineUnavailable(RuntimeError):
    """No git history to take the old stage from (a source tarball, a shallow clone)."""


def baseline_stage(photos: Sequence[npt.NDArray[np.uint8]]) -> list[tuple[Found, Found]]:
    """(reported detections, all candidates) of the pre-issue-14 local stage for each photo."""
    with tempfile.TemporaryDirectory(prefix="dominus-baseline-") as tmp:
        folder = Path(tmp)
        archive = subprocess.run(  # noqa: S603 - fixed commands of ours, git and tar from PATH
            ["git", "-C", str(REPO), "archive", BASELINE_COMMIT, "functions/vision/vision"],  # noqa: S607
            capture_output=True,
            check=False,
        )
        if archive.returncode != 0:
            raise BaselineUnavailable(archive.stderr.decode(errors="replace").strip())
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)  # noqa: S603, S607
        paths = []
        for index, pixels in enumerate(photos):
            path = folder / f"photo-{index}.npy"
            np.save(path, pixels)
            paths.append(str(path))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder / "functions" / "vision"), str(REPO)])}
        done = subprocess.run(  # noqa: S603 - this Python on our own script
            [sys.executable, "-c", _RUNNER, *paths], capture_output=True, check=True, env=env, text=True
        )
    results = json.loads(done.stdout)
    return [(_found(r["reported"]), _found(r["all"])) for r in results]


def _found(items: list[list[object]]) -> Found:
    out: Found = []
    for kind, box in items:
        assert isinstance(box, list)
        out.append((kind, tuple(int(v) for v in box)))  # type: ignore[arg-type]
    return out
