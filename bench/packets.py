"""The claim packet's cost: packets of 10, 40 and 150 photos as a phone takes them (4000 x 3000
JPEGs with EXIF and GPS, a few MB each) for a two-structure roof's report, rendered as the packet
job renders them (`packets.bundle.make_packet`: the photos' copies, the PDF, the DOCX, the cover
letter, photos.zip, the manifest). Each size runs in a child process of its own, so its peak RSS is
its own. The originals are spooled to disk and photos.zip is written there, as the job does; the
peak is the process's, making the claim included (shown as "<=" when making it was the peak)."""

from __future__ import annotations

import multiprocessing
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import fmt, print_table

SIZES = (10, 40, 150)
PHONE_PX = (4000, 3000)


def _one(count: int, out: Any) -> None:
    from evaluation.packets.claim import ACME, claim, write_report
    from packets.build import PacketOptions
    from packets.bundle import PacketRequest, make_packet
    from packets.photos import Original

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        made_claim = claim(count, size=PHONE_PX)
        report = write_report(made_claim, ACME, root / "report")
        artifacts = {p.name: p.read_bytes() for p in (root / "report").iterdir()}
        (root / "photos").mkdir()
        originals = {}
        for pid, data in made_claim.files.items():  # spooled to disk, as the job fetches them
            (root / "photos" / pid).write_bytes(data)
            originals[pid] = Original(pid, path=root / "photos" / pid)
        uploaded = sum(len(d) for d in made_claim.files.values())
        del made_claim
        request = PacketRequest(
            report, artifacts, originals, ["Dear Claims Reviewer,"], PacketOptions(org="Bench"), workdir=root
        )
        before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        made = make_packet(request)
        took = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        sizes = {name: len(data) for name, data in made.files.items()}
        sizes |= {name: path.stat().st_size for name, path in made.spooled.items()}
    out.send((took, peak_mb, before_mb, made.pages, sizes, uploaded))


def run() -> None:
    rows = []
    context = multiprocessing.get_context("fork")
    for count in SIZES:
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_one, args=(count, send))
        child.start()
        took, peak_mb, before_mb, pages, sizes, uploaded = receive.recv()
        child.join()
        rows.append(
            (
                str(count),
                fmt(took, 2),
                fmt(took / count * 1000, 0),
                fmt(peak_mb, 0) if peak_mb > before_mb else f"<= {before_mb:.0f}",
                str(pages),
                fmt(sizes["packet.pdf"] / 1e6, 1),
                fmt(sizes["packet.docx"] / 1e6, 1),
                fmt(sizes["photos.zip"] / 1e6, 1),
                fmt(uploaded / 1e6, 1),
            )
        )
    print_table(
        "Claim packet: a two-structure roof, photos 4000 x 3000 as uploaded",
        (
            "photos",
            "render s",
            "per photo ms",
            "peak RSS MB",
            "pages",
            "PDF MB",
            "DOCX MB",
            "photos.zip MB",
            "uploads MB",
        ),
        rows,
    )
