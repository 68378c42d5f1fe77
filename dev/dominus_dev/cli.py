"""`dominus`: the bundle's command line: `dominus serve`, `dominus smoke`, `dominus geometry`, `dominus vision`,
`dominus report`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from shared.errors import DominusError

if TYPE_CHECKING:
    from shared.engine import Engine


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from dominus_dev.local import LocalRuntime
    from dominus_dev.server import create_dev_app
    from dominus_dev.serving import GRACEFUL_SHUTDOWN_S, answer_cut_off_requests
    from shared.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    with LocalRuntime(load_settings()) as runtime:
        app = create_dev_app(runtime)
        print(f"Dominus is serving on http://{args.host}:{args.port}  (API reference: /docs)", flush=True)
        uvicorn.run(
            answer_cut_off_requests(app),
            host=args.host,
            port=args.port,
            log_level="info",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
    return 0


def smoke(args: argparse.Namespace) -> int:
    from dominus_dev.smoke import smoke as run_smoke

    return run_smoke(args.url, token=args.token, org=args.org)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="dominus", description="Dominus, the AI back end of the roofing CRM.")
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve every function locally on embedded defaults")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    run.set_defaults(handler=serve)
    check = commands.add_parser(
        "smoke",
        help="check a deployment (or the dev server): health, analyze twice, a stream, a vision upload",
        description="Exits 1 when any check fails. docs/DEPLOY.md says how to get a URL and a token.",
    )
    check.add_argument("url", help="the API's base URL: the stack's ApiUrl output, or http://127.0.0.1:8000")
    check.add_argument(
        "--token",
        default=os.environ.get("DOMINUS_SMOKE_TOKEN"),
        help="the CRM's JWT, sent as a Bearer token (deployed); default $DOMINUS_SMOKE_TOKEN",
    )
    check.add_argument("--org", help="the org, sent as X-Org-Id when there is no token (the dev server)")
    check.set_defaults(handler=smoke)
    add_geometry(commands)
    add_vision(commands)
    add_report(commands)
    add_packet(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except DominusError as exc:  # bad input or configuration: say what to fix, no traceback
        print(f"dominus {args.command}: {exc.message}", file=sys.stderr)
        return 2
    return code


def add_geometry(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        from geometry.cli import add_parser
    except ImportError:  # the geometry extra (numpy, OpenCV) is not installed
        return
    add_parser(commands)


def add_vision(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        from vision.cli import add_parser
    except ImportError:  # the vision extra (numpy, OpenCV, Pillow) is not installed
        return
    add_parser(commands, model_engine)


def add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from reports.cli import add_parser

    add_parser(commands)


def add_packet(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        from packets.cli import add_parser
    except ImportError:  # the packets extra (Typst, python-docx, Pillow) is not installed
        return
    add_parser(commands)


@contextmanager
def model_engine(offline: bool) -> Iterator[Engine | None]:
    """The engine on the local runtime's embedded defaults when a model is configured (and wanted),
    else None: vision's local stage then answers alone, and says so."""
    from dominus_dev.local import LocalRuntime
    from shared.settings import load_settings

    settings = load_settings()
    if offline or not settings.has_model_credentials:
        yield None
        return
    with LocalRuntime(settings) as runtime:
        yield runtime.engine


if __name__ == "__main__":
    sys.exit(main())
