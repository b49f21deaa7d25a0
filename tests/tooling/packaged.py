"""Templates packaged for real (``tools.package``, as ``make package`` runs it) and checked
by cfn-lint and checkov, built once per session for every packaging test module
(tests/tooling/conftest.py's ``packaged`` fixture): each build spends seconds in
subprocesses (chalice, pip, cfn-lint, checkov)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT
from tools import package as packaging

WHEELS = ROOT / "build" / "wheels"

DATA_ONLY = "prod (data only)"
# The default front (HTTP API) for both stages, and the REST API for prod.
REST = "prod (rest)"
BUILDS = (*packaging.STAGES, REST, DATA_ONLY)


@dataclass
class Built:
    stage: str
    front: str
    template: dict[str, Any]
    report: packaging.Report
    directory: Path

    def resource(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.template["Resources"][name]
        return found

    def properties(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.resource(name)["Properties"]
        return found

    def parameter_default(self, name: str) -> str:
        return str(self.template["Parameters"][name]["Default"])


@contextmanager
def offline_wheels() -> Iterator[None]:
    """Packaging pip-installs the Lambda's dependencies (chalice, then tools/package.py):
    here only from the wheels `make wheels` put in build/wheels before pytest started."""
    if not any(WHEELS.glob("*.whl")):
        pytest.fail(f"{WHEELS} holds no wheels: run `make wheels` (make test does) first")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIP_NO_INDEX", "1")
        patch.setenv("PIP_FIND_LINKS", str(WHEELS))
        yield


def build_all(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    # Made here, not in the threads: the first mktemp of a session makes the base directory.
    directories = {name: tmp_path_factory.mktemp("package") for name in BUILDS}

    def built(name: str, template: Path, front: str) -> Built:
        stage = "prod" if name in (REST, DATA_ONLY) else name
        report = packaging.Report(template, packaging.lint(template), None)
        return Built(stage, front, json.loads(template.read_text()), report, directories[name])

    def build(name: str) -> Built:
        out = directories[name]
        if name == DATA_ONLY:
            return built(name, packaging.package_data("prod", out), packaging.DEFAULT_FRONT)
        front = "rest" if name == REST else packaging.DEFAULT_FRONT
        return built(name, packaging.package(name.split()[0], out, front), front)

    def on_http(rest: Built) -> Built:
        # prod on the HTTP front is prod on REST with its front changed (what package()
        # does after chalice's own step): the same zip, copied rather than built again.
        out = directories["prod"]
        shutil.copytree(rest.directory, out, dirs_exist_ok=True)
        packaging.use_http_front(out / "sam.json")
        return built("prod", out / "sam.json", packaging.DEFAULT_FRONT)

    with offline_wheels(), ThreadPoolExecutor(max_workers=len(BUILDS)) as pool:
        made = {name: pool.submit(build, name) for name in BUILDS if name != "prod"}
        found = {name: future.result() for name, future in made.items()}
    found["prod"] = on_http(found[REST])
    # checkov once for every template: its start-up is most of a run.
    scans = packaging.scan_all([each.report.template for each in found.values()])
    return {
        name: dataclasses.replace(
            found[name],
            report=dataclasses.replace(found[name].report, scan=scans[found[name].report.template]),
        )
        for name in BUILDS
    }


# Run by .venv-scan's Python (aws-sam-translator, pinned in requirements-scan.txt): the
# transform CloudFormation applies on deploy, offline.  The function code stays a local
# zip until deploy time, so an S3 location stands in for it; the roles are chalice's own,
# so no managed policy needs looking up (an empty map, and no AWS call).  Prints the
# generated API Gateway resources (both kinds), the API's definition left out.
_TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform

class NoManagedPolicies:
    def load(self):
        return {}

template = json.load(open(sys.argv[1]))
for resource in template["Resources"].values():
    if "CodeUri" in resource.get("Properties", {}):
        resource["Properties"]["CodeUri"] = "s3://deployment-artifacts/deployment.zip"
output = transform(template, {}, NoManagedPolicies())
api = {}
for name, resource in output["Resources"].items():
    if resource["Type"].startswith(("AWS::ApiGateway::", "AWS::ApiGatewayV2::")):
        resource.get("Properties", {}).pop("Body", None)
        api[name] = resource
json.dump(api, sys.stdout)
"""


def translated_api(template: Path) -> dict[str, dict[str, Any]]:
    """The API Gateway resources SAM generates from the template, by logical id."""
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    result = subprocess.run(
        [packaging.scanner("python"), "-c", _TRANSLATE, str(template)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, (
        f"the SAM translation failed (run 'make .venv-scan/.installed'):\n{result.stderr}"
    )
    found: dict[str, dict[str, Any]] = json.loads(result.stdout)
    return found
