"""Issue 25: the role may list and abort multipart uploads only where it may upload, under
the upload and file request prefixes, never across the bucket."""

from __future__ import annotations

import json

import pytest

from tests.helpers import ROOT

MULTIPART = {"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_multipart_rights_are_granted_only_under_the_upload_prefixes(stage: str) -> None:
    policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    granting = [
        s
        for s in policy["Statement"]
        if MULTIPART & set([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    (statement,) = granting
    assert set(statement["Action"]) == MULTIPART and statement["Effect"] == "Allow"
    assert "Condition" not in statement
    (uploads,) = [s for s in policy["Statement"] if s.get("Sid") == "UploadFiles"]
    assert sorted(statement["Resource"]) == sorted(uploads["Resource"])
    for resource in statement["Resource"]:
        assert resource.endswith(("/uploads/*", "/requests/*")), resource
