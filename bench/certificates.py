"""Benchmark: certificate PDFs per second, against WeasyPrint printing a one-line page.

    .venv/bin/python bench/certificates.py [--count 200] [--bulk 1000] [--processes 1]

Prints the median milliseconds per PDF and certificates per second for
  - baseline: a one-line HTML page, same FontConfiguration, same process (the floor),
  - certificate: a real certificate (Latin names), with its steps (HTML + QR, layout, PDF),
  - other scripts: Arabic, Devanagari, Chinese and Japanese names,
and the ratio certificate / baseline; then a bulk run that builds a ZIP of `--bulk` PDFs in
memory. This is a benchmark, not a test: the machine is noisy, compare figures from one run.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import statistics
import sys
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from weasyprint import HTML

from certificates import render
from certificates.codes import new_public_code
from certificates.qr import VerifyQr, qr_matrix
from certificates.render import Branding, CertificateDocument, render_certificate_pdf
from certificates.text_layer import exact_text_layer

LATIN_NAMES = [
    "José Müller-Łukasiewicz",
    "Amelia Thornton",
    "François Lefèvre",
    "Siobhán O'Connell",
    "Bartholomew Okonkwo-Smith",
    "Zoë Kristiansen",
]
OTHER_SCRIPTS = {
    "Arabic": "نور الهدى عبد الله",
    "Devanagari": "प्रिया शर्मा",
    "Chinese": "王小明",
    "Japanese": "山田太郎",
}
BRANDING = Branding(
    organisation_name="Acme Corporation",
    primary_colour="#1f3a5f",
    accent_colour="#b8860b",
    signatory_name="Dana Whitfield",
    signatory_title="Chief People Officer",
)


def certificate(index: int, name: str | None = None) -> CertificateDocument:
    code = new_public_code()
    completed = date(2026, 1, 1) + timedelta(days=index % 365)
    return CertificateDocument(
        holder_name=name or LATIN_NAMES[index % len(LATIN_NAMES)],
        course_title="Social Media Policy — Annual Refresher",
        policy_version="v3 · 2026-11-02",
        completed_on=completed,
        expires_on=completed + timedelta(days=365),
        score=70 + index % 31,
        code=code,
        verify_url=f"https://training.example.com/verify/{code}",
        locale="en",
        issuer_name="Acme Corporation",
    )


def timed(action: Callable[[], object], count: int) -> list[float]:
    """Milliseconds per call, after one warm-up call."""
    action()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def baseline_pdf() -> bytes:
    printer = render._printer()
    return HTML(string="<p>Certificate</p>", url_fetcher=printer.url_fetcher).write_pdf(
        font_config=printer.font_config
    )


def certificate_steps(count: int) -> dict[str, float]:
    """Median ms of each step of one certificate: template + QR code, layout, PDF writing."""
    printer = render._printer()
    cert = certificate(0)
    html = render.certificate_html(cert, BRANDING)

    def layout() -> object:
        return HTML(string=html, url_fetcher=printer.url_fetcher).render(
            stylesheets=[printer.stylesheet(BRANDING)], font_config=printer.font_config
        )

    def write() -> bytes:
        # As render_certificate_pdf writes it: exact text layer, QR code drawn after layout.
        with exact_text_layer():
            return document.write_pdf(finisher=VerifyQr(matrix))  # type: ignore[attr-defined]

    document = layout()
    matrix = qr_matrix(cert.verify_url)
    return {
        # Uncached: each certificate has its own verification URL.
        "QR code (segno)": statistics.median(timed(lambda: qr_matrix.__wrapped__(cert.verify_url), count)),
        "HTML (template)": statistics.median(timed(lambda: render.certificate_html(cert, BRANDING), count)),
        "layout (WeasyPrint)": statistics.median(timed(layout, count)),
        "PDF writing (fonts, QR paths)": statistics.median(timed(write, count)),
    }


def render_range(start: int, stop: int) -> list[tuple[str, bytes]]:
    return [(f"{i:05d}.pdf", render_certificate_pdf(certificate(i), BRANDING)) for i in range(start, stop)]


def bulk_zip(count: int, processes: int) -> tuple[float, int]:
    """Seconds to build a ZIP of `count` certificate PDFs in memory, and the ZIP's size."""
    start = time.perf_counter()
    buffer = io.BytesIO()
    # PDFs are already compressed: storing them is as small and much faster than deflating.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        if processes == 1:
            for name, pdf in render_range(0, count):
                archive.writestr(name, pdf)
        else:
            chunk = -(-count // (processes * 4))
            ranges = [(i, min(i + chunk, count)) for i in range(0, count, chunk)]
            # spawn: a forked child would inherit the parent's Pango font map mid-use.
            with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
                for files in pool.map(render_range, *zip(*ranges, strict=True)):
                    for name, pdf in files:
                        archive.writestr(name, pdf)
    return time.perf_counter() - start, buffer.getbuffer().nbytes


def line(label: str, median_ms: float) -> str:
    return f"  {label:<34} {median_ms:7.1f} ms   {1000 / median_ms:7.1f} /s"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=200, help="certificates to time one by one")
    parser.add_argument("--bulk", type=int, default=1000, help="certificates in the bulk ZIP")
    parser.add_argument("--processes", type=int, default=1, help="worker processes for the bulk ZIP")
    args = parser.parse_args()

    baseline = statistics.median(timed(baseline_pdf, args.count))
    index = iter(range(10**9))
    single = timed(lambda: render_certificate_pdf(certificate(next(index)), BRANDING), args.count)
    median = statistics.median(single)
    size = len(render_certificate_pdf(certificate(0), BRANDING))

    print(f"Certificates, {args.count} each, median (one process, one thread):")
    print(line("baseline: one-line page", baseline))
    print(line("certificate (Latin name)", median))
    print(f"  {'ratio certificate / baseline':<34} {median / baseline:7.2f}x")
    print(f"  {'p90 certificate':<34} {statistics.quantiles(single, n=10)[-1]:7.1f} ms")
    print(f"  {'PDF size':<34} {size / 1024:7.1f} KiB")
    print("Steps of one certificate (median):")
    for label, ms in certificate_steps(max(20, args.count // 4)).items():
        print(f"  {label:<34} {ms:7.1f} ms")
    print("Names in other scripts (median):")
    for script, name in OTHER_SCRIPTS.items():
        ms = statistics.median(
            timed(
                lambda name=name: render_certificate_pdf(certificate(1, name), BRANDING),
                max(10, args.count // 10),
            )
        )
        print(line(script, ms))

    seconds, zip_bytes = bulk_zip(args.bulk, args.processes)
    print(f"Bulk: ZIP of {args.bulk} PDFs in memory, {args.processes} process(es):")
    print(f"  {seconds:.1f} s, {args.bulk / seconds:.1f} certificates/s, {zip_bytes / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
