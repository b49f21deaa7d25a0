"""Sample files for ``make serve``, the tests and the bench: one under the stream limit,
one over it."""

from __future__ import annotations

import io
import os
import zipfile

from tools.stack import Stack

SMALL_SAMPLE = "samples/Résumé café 2026.pdf"
LARGE_SAMPLE = "samples/dataset-5MiB.zip"


def sample_pdf() -> bytes:
    text = "Hello from onetime. This PDF came through a single-use link."
    stream = f"BT /F1 18 Tf 40 780 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")  # BytesIO(initial) would start writing over it, at position 0
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def sample_zip(size: int = 5 * 1024 * 1024) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("random.bin", os.urandom(size))
    return out.getvalue()


def upload_samples(stack: Stack, prefix: str = "") -> dict[str, bytes]:
    """The two samples, under ``prefix`` (ONETIME_KEY_PREFIX: only keys under it can be
    linked); their bodies by full key."""
    s3 = stack.client("s3")
    samples = {SMALL_SAMPLE: sample_pdf(), LARGE_SAMPLE: sample_zip()}
    types = {SMALL_SAMPLE: "application/pdf", LARGE_SAMPLE: "application/zip"}
    for key, body in samples.items():
        s3.put_object(Bucket=stack.bucket, Key=prefix + key, Body=body, ContentType=types[key])
    return {prefix + key: body for key, body in samples.items()}
