"""Issue 24, item 2: presigned URLs name the bucket's regional virtual-hosted endpoint
(``BUCKET.s3.<region>.amazonaws.com``), never the global ``BUCKET.s3.amazonaws.com`` that a
new bucket answers with redirects and newer regions do not serve; an endpoint set in the
environment (the local stand-ins) still wins, in the path style moto answers.

Each case runs in a fresh interpreter, so the environment it is given is the only one
boto3 sees, and so it can run under another botocore: the pinned one (.venv) and the older
one in .venv-scan (1.35), standing in for the Lambda runtime's.  AWS no longer publishes
which botocore a runtime ships (it varies by region: the Lambda guide says to print
``botocore.__version__`` from a function), and no wheel of such a version is in
build/wheels; the runtime's is older than the pin, as 1.35 is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.helpers import ROOT

BUCKET = "onetime-prod-files-example"

# Presigns with the app's own client and object store, and prints what they made.
_PRESIGN = """
import json
import botocore
from chalicelib.domain.link import StoredObject
from chalicelib.storage.clients import s3_client
from chalicelib.storage.objectstore import S3ObjectStore

store = S3ObjectStore(s3_client(), BUCKET)
obj = StoredObject(
    key="files/a.pdf", size=3, content_type="application/pdf", etag="e", version_id="v1"
)
url = store.presign(obj, 'attachment; filename="a.pdf"', 60)
upload = store.presign_upload("uploads/x.bin", "application/octet-stream", 3, 60)
print(json.dumps({"botocore": botocore.__version__, "get": url, "post": upload["url"]}))
""".replace("BUCKET", repr(BUCKET))

INTERPRETERS = {
    "pinned": Path(sys.executable),
    "older (.venv-scan)": ROOT / ".venv-scan" / "bin" / "python",
}


def presigned(python: Path, region: str, endpoint: str | None = None) -> dict[str, str]:
    env: dict[str, Any] = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "BOTO"))  # only what this case sets
    }
    env.update(
        AWS_DEFAULT_REGION=region,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        PYTHONPATH=str(ROOT),
    )
    if endpoint is not None:
        env["AWS_ENDPOINT_URL_S3"] = endpoint
    result = subprocess.run(
        [str(python), "-c", _PRESIGN],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, str] = json.loads(result.stdout)
    return found


@pytest.fixture(params=sorted(INTERPRETERS))
def python(request: pytest.FixtureRequest) -> Path:
    path = INTERPRETERS[request.param]
    if not path.exists():
        pytest.fail(f"{path} is missing: run 'make .venv-scan/.installed'")
    return path


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-4"])
def test_presigned_get_and_post_name_the_regional_endpoint(python: Path, region: str) -> None:
    urls = presigned(python, region)
    regional = f"{BUCKET}.s3.{region}.amazonaws.com"
    get, post = urlsplit(urls["get"]), urlsplit(urls["post"])
    assert (get.scheme, get.hostname) == ("https", regional), urls
    assert (post.scheme, post.hostname) == ("https", regional), urls
    # Virtual-hosted: the bucket is in the name, not in the path.
    assert get.path == "/files/a.pdf"
    assert post.path in ("", "/")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in get.query
    assert f"%2F{region}%2Fs3%2Faws4_request" in get.query  # signed for the region


def test_an_endpoint_in_the_environment_still_wins(python: Path) -> None:
    urls = presigned(python, "eu-west-1", endpoint="http://127.0.0.1:4566")
    # Path style, as moto answers it.
    assert urls["get"].startswith(f"http://127.0.0.1:4566/{BUCKET}/files/a.pdf?"), urls
    assert urls["post"].rstrip("/") == f"http://127.0.0.1:4566/{BUCKET}", urls
