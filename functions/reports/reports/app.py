"""The reports function as deployed (ReportsFunction, a zip function on the shared layer): `handler` is
its Lambda entry point."""

from reports.function import SPEC
from shared.deployment import deploy

deployment = deploy(SPEC)
app = deployment.app
handler = deployment.handler
