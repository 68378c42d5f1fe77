"""Cold start: what a fresh process pays to serve a cache hit, against what `import openai` alone costs.

(a) the hit path: `bench/cold_probe.py` in a fresh process imports shared.runtime + shared.settings,
    builds the engine with the Redis store, serves one hit (the entry put there by one miss in an
    earlier process), flushes its perf record, and asserts that openai was never imported;
(b) `import openai` alone; (c) for information `import fastapi`, `import mangum`, `import boto3`.

Each figure is the median of 5 fresh processes. Import time comes from `python -X importtime` (every
import after interpreter start-up, i.e. the sum of the top-level cumulative times); wall time is the
process's, minus an empty interpreter's (`python -c pass`) for the single imports.
Target: the hit path's imports well under `import openai` alone, taken as at most half of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cold_probe import ANSWERED
from bench.common import Services, fmt, median, nonce, note, print_table, services, verdict

RUNS = 3
PROBE = Path(__file__).with_name("cold_probe.py")
PACKAGES = ("openai", "fastapi", "mangum", "boto3")
TARGET_RATIO = 0.5  # "well under": at most half of `import openai`
TOP = 5
PHASES = ("imports_ms", "build_ms", "call_ms", "flush_ms", "total_ms")


@dataclass(frozen=True)
class Import:
    name: str
    depth: int
    self_ms: float
    cumulative_ms: float

    @property
    def package(self) -> str:
        return self.name.split(".")[0]


def python(args: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, str, str]:
    """Run `python -P ARGS` (no script directory on sys.path); (wall seconds, stdout, stderr)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-P", *args], env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"python {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return wall, done.stdout, done.stderr


def parse_importtime(stderr: str) -> list[Import]:
    """`-X importtime` lines: 'import time: self [us] | cumulative | <indent>package'."""
    imports = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        imports.append(Import(name.strip(), depth, int(own) / 1000, int(cumulative) / 1000))
    return imports


def top_level(imports: list[Import], startup: set[str]) -> list[Import]:
    """The imports this code triggered itself (depth 0), without the interpreter's own start-up ones."""
    return [i for i in imports if i.depth == 0 and i.name not in startup]


def probe_env(svc: Services) -> dict[str, str]:
    settings = {name.upper(): str(value) for name, value in svc.settings_kwargs("redis").items()}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPSTASH_", "DOMINUS_", "OPENAI_"))}
    return env | svc.env | settings


@dataclass(frozen=True)
class ProbeRun:
    served_ms: float  # process start to the report line: the hit served and its record flushed
    exited_ms: float  # process start to exit (interpreter teardown too, which no request waits for)
    report: dict[str, Any]
    stderr: str


def probe(env: dict[str, str], org: str, expected: str, *, importtime: bool = False) -> ProbeRun:
    args = ["-X", "importtime"] if importtime else []
    with tempfile.TemporaryFile("w+") as stderr:  # a file: -X importtime writes more than a pipe holds
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-P", *args, str(PROBE), org, expected],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        served = time.perf_counter()
        proc.stdout.close()
        returncode = proc.wait(60)
        exited = time.perf_counter()
        stderr.seek(0)
        errors = stderr.read()
    if returncode != 0 or not line:
        raise RuntimeError(f"cold probe ({expected}) failed ({returncode}):\n{line}\n{errors[-2000:]}")
    report = json.loads(line)
    return ProbeRun((served - started) * 1000, (exited - started) * 1000, report, errors)


@dataclass
class HitPath:
    phases: dict[str, float]
    import_ms: float
    top_imports: list[tuple[str, float]]  # top-level imports by cumulative time
    top_packages: list[tuple[str, float]]  # packages by the self time of all their modules
    boto3_before_flush: bool  # whether serving the hit itself needed boto3


def largest(samples: dict[str, list[float]]) -> list[tuple[str, float]]:
    """The `TOP` names with the largest median."""
    return sorted(((name, median(ms)) for name, ms in samples.items()), key=lambda item: -item[1])[:TOP]


def hit_path(svc: Services, startup: set[str]) -> HitPath:
    env = probe_env(svc)
    org = f"cold-{nonce()}"
    probe(env, org, "miss")  # an earlier process fills the cache
    phases: dict[str, list[float]] = defaultdict(list)
    runs = [probe(env, org, "hit") for _ in range(RUNS)]
    for hit in runs:
        phases["served_ms"].append(hit.served_ms)
        phases["exited_ms"].append(hit.exited_ms)
        for phase in PHASES:
            phases[phase].append(hit.report[phase])
    totals: list[float] = []
    by_import: dict[str, list[float]] = defaultdict(list)
    by_package: dict[str, list[float]] = defaultdict(list)
    for _ in range(RUNS):
        # Only what was imported before the answer: the flush's imports (boto3) come after it.
        stderr = probe(env, org, "hit", importtime=True).stderr
        imports = parse_importtime(stderr.split(ANSWERED, 1)[0])
        mine = top_level(imports, startup)
        totals.append(sum(i.cumulative_ms for i in mine))
        for i in mine:
            by_import[i.name].append(i.cumulative_ms)
        own: dict[str, float] = defaultdict(float)
        for i in imports:
            if i.name not in startup:
                own[i.package] += i.self_ms
        for name, ms in own.items():
            by_package[name].append(ms)
    phase_medians = {p: median(v) for p, v in phases.items()}
    boto3_early = any(run.report["boto3_before_flush"] for run in runs)
    return HitPath(phase_medians, median(totals), largest(by_import), largest(by_package), boto3_early)


@dataclass
class Package:
    name: str
    wall_ms: float  # `python -c "import X"` minus `python -c pass`
    import_ms: float  # -X importtime, all imports after start-up


def package(name: str, empty_wall_ms: float, startup: set[str]) -> Package:
    walls = [python(["-c", f"import {name}"])[0] * 1000 for _ in range(RUNS)]
    totals = []
    for _ in range(RUNS):
        _, _, stderr = python(["-X", "importtime", "-c", f"import {name}"])
        totals.append(sum(i.cumulative_ms for i in top_level(parse_importtime(stderr), startup)))
    return Package(name, median(walls) - empty_wall_ms, median(totals))


def report_phases(hit: HitPath, empty_wall_ms: float) -> None:
    p = hit.phases
    print_table(
        f"coldstart (a): a fresh process serving one cache hit over Redis (median of {RUNS}, ms)",
        ["phase", "ms"],
        [
            ["process start to hit served and its record flushed", fmt(p["served_ms"], 0)],
            ["  an empty interpreter, for scale (python -c pass)", fmt(empty_wall_ms, 0)],
            ["  in the script, first line to flushed", fmt(p["total_ms"], 0)],
            ["    imports: shared.runtime, shared.settings (pydantic)", fmt(p["imports_ms"], 0)],
            ["    build_engine(): imports redis, builds the collaborators", fmt(p["build_ms"], 0)],
            ["    first hit: org settings and answer from Redis (connect + GETs)", fmt(p["call_ms"], 1)],
            ["    perf flush: imports boto3, DynamoDB BatchWriteItem", fmt(p["flush_ms"], 1)],
            ["openai imported", "no"],
            ["boto3 imported before the answer", "no" if not hit.boto3_before_flush else "yes"],
            ["(then interpreter teardown: process start to exit)", fmt(p["exited_ms"], 0)],
        ],
    )


def report_imports(hit: HitPath, packages: list[Package], empty_wall_ms: float) -> None:
    openai = next(pkg for pkg in packages if pkg.name == "openai")
    ratio = hit.import_ms / openai.import_ms
    target, passed = f"<= {TARGET_RATIO:g} x openai", verdict(ratio <= TARGET_RATIO)
    rows: list[list[object]] = [["hit path (a)", fmt(hit.import_ms, 0), "-", f"{ratio:.2f}", target, passed]]
    for pkg in packages:
        label = f"import {pkg.name}" + ("" if pkg.name == "openai" else " (info)")
        share = f"{pkg.import_ms / openai.import_ms:.2f}"
        rows.append([label, fmt(pkg.import_ms, 0), fmt(pkg.wall_ms, 0), share, "", ""])
    print_table(
        f"coldstart (b, c): import cost in a fresh process (median of {RUNS}, ms)",
        ["imports", "-X importtime", "wall - empty", "x openai", "target", ""],
        rows,
    )
    served, openai_process = hit.phases["served_ms"], openai.wall_ms + empty_wall_ms
    note(f"whole cold hit (process start to served): {served:.0f} ms = {served / openai_process:.2f} x a process that")
    note(f"only imports openai ({openai_process:.0f} ms)")
    note(f"hit path's imports (-X importtime, median ms): top {TOP} top-level imports by cumulative time;")
    note(f"top {TOP} packages by the self time of all their modules:")
    for (name, ms), (package_name, package_ms) in zip(hit.top_imports, hit.top_packages, strict=False):
        note(f"  {name:<24} {ms:7.1f}      {package_name:<24} {package_ms:7.1f}")


def run() -> None:
    empty_wall_ms = median([python(["-c", "pass"])[0] * 1000 for _ in range(RUNS)])
    _, _, stderr = python(["-X", "importtime", "-c", "pass"])
    startup = {i.name for i in parse_importtime(stderr)}  # what every interpreter imports before any code
    with services() as svc:
        hit = hit_path(svc, startup)
    packages = [package(name, empty_wall_ms, startup) for name in PACKAGES]
    report_phases(hit, empty_wall_ms)
    report_imports(hit, packages, empty_wall_ms)


if __name__ == "__main__":
    run()
