"""Every function the bundle deploys, as its spec, in the order of the API reference.

The dev server and the tests loop over this list; template.yaml deploys each (tests/infra checks it
against this list). Adding a function: its package with a `SPEC`, its `app.py`, a line here, and its
resources in the template.
"""

from __future__ import annotations

from analyze.function import SPEC as ANALYZE
from geometry.function import SPEC as GEOMETRY
from metrics.function import SPEC as METRICS
from packets.function import SPEC as PACKETS
from reports.function import SPEC as REPORTS
from shared.deployment import FunctionSpec
from smart_actions.function import SPEC as SMART_ACTIONS
from video.function import SPEC as VIDEO
from vision.function import SPEC as VISION

SPECS: list[FunctionSpec] = [ANALYZE, VIDEO, SMART_ACTIONS, VISION, GEOMETRY, REPORTS, PACKETS, METRICS]
