"""Package one stage as a SAM/CloudFormation template and check it: ``make package STAGE=prod``.

1. Build the merge template for the stage: ``infra/resources.yaml`` with each
   parameter's default taken from the stage's ``.chalice/config.json``, and the names
   the IAM policy file hard-codes (table, bucket, stage) pinned to those values.
2. ``chalice package --stage S --merge-template ... build/S`` writes ``sam.json`` and
   ``deployment.zip``.  Chalice builds for the Python that runs it, so every function's
   runtime is then set to ``LAMBDA_RUNTIME`` and the zip's third-party packages are
   reinstalled from wheels built for that runtime; a compiled extension for any other
   Python left in the zip fails the command.  Then every module in the zip is compiled to
   bytecode by that runtime's CPython (``ship_bytecode``), which Lambda cannot write
   itself; without one on this machine the zip ships sources only, and the command says so.
3. ``cfn-lint`` and ``checkov`` (from ``.venv-scan``) check ``sam.json``; any error,
   warning or failed check fails the command.

``--data-only`` writes ``build/S/data.json`` instead: the table, the bucket and its
policy alone, for deploying the data first and the function with ``chalice deploy``
(docs/DEPLOY.md, way 1).  It is checked the same way.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalice.package import YAMLTemplateSerializer

from tools import ROOT

CONFIG = ROOT / ".chalice" / "config.json"
MERGE_TEMPLATE = ROOT / "infra" / "resources.yaml"
SCAN_BIN = ROOT / ".venv-scan" / "bin"
STAGES = ("dev", "prod")
REQUIREMENTS = ROOT / "requirements.txt"
# The Lambda runtime every function runs on, whatever Python runs `make package`:
# python3.12 is supported by Lambda well beyond the next year (python3.11 is deprecated
# around mid-2027).  The zip's dependencies are built for it (rebuild_dependencies).
LAMBDA_RUNTIME = "python3.12"
# CPython's tag for that runtime, as compiled extensions and .pyc files carry it.
RUNTIME_TAG = "cpython-" + LAMBDA_RUNTIME.removeprefix("python").replace(".", "")
# The platform of Lambda's x86_64 runtimes (the template sets no Architectures: x86_64).
LAMBDA_PLATFORM = "manylinux2014_x86_64"
# Chalice writes its entries with this fixed time, so the same sources give the same zip.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

# Template parameter <- the stage's environment variable in .chalice/config.json.
PARAMETER_FROM_ENV = {
    "TableName": "ONETIME_TABLE",
    "BucketName": "ONETIME_BUCKET",
    "RetentionDays": "ONETIME_RETENTION_DAYS",
    "MailFrom": "ONETIME_MAIL_FROM",
    "PublicUrl": "ONETIME_PUBLIC_URL",
    "CorsOrigins": "ONETIME_CORS_ORIGINS",
    "JwtIssuer": "ONETIME_JWT_ISSUER",
    "JwtAudience": "ONETIME_JWT_AUDIENCE",
    "WebhookUrls": "ONETIME_WEBHOOK_URLS",
    "WebhookSecretParameter": "ONETIME_WEBHOOK_SECRET_PARAMETER",
    "NotifyVisits": "ONETIME_NOTIFY_VISITS",
    "NotifyClientDetails": "ONETIME_NOTIFY_CLIENT_DETAILS",
}
# Named by the IAM policy file: a different value at deploy time could only fail.
PINNED_PARAMETERS = ("Stage", "TableName", "BucketName", "MailFrom")
# Uploads go here: the policy file's s3:PutObject and the lifecycle rule name it.
UPLOAD_PREFIX = "uploads/"
# File requests' uploads go here: the policy file's s3:PutObject and s3:PutObjectTagging
# and two lifecycle rules name it.
REQUEST_PREFIX = "requests/"
# app.py's stand-in for the stream ARN, which the merge template replaces.
STREAM_STAND_IN = "stream/set-by-the-template"
# The API in front of the function: an HTTP API (the default: cheaper, and it keeps every
# property the service relies on) or chalice's REST API (WAF, usage plans, gateway
# responses in the API's error shape).  docs/DEPLOY.md, "Choosing the front door".
FRONTS = ("http", "rest")
DEFAULT_FRONT = "http"
HTTP_FRONT_TEMPLATE = ROOT / "infra" / "front-http.yaml"
# What chalice makes for the REST API, which the HTTP front replaces.
REST_RESOURCES = ("RestAPI", "APIHandlerInvokePermission")
REST_OUTPUTS = ("RestAPIId", "EndpointURL")
# API Gateway's integration timeout, as the REST API has it (the function's is 28 s).
INTEGRATION_TIMEOUT_MS = 29_000
# The resources `--data-only` extracts (way 1: data first, then `chalice deploy`).
DATA_RESOURCES = ("LinksTable", "FilesBucket", "FilesBucketPolicy")


class PackageError(Exception):
    """Packaging or a check failed; the message says what and where."""


@dataclass
class ScanResult:
    passed: int
    failed: list[str]
    skipped: list[tuple[str, str]]  # (check id, the reason given in the template)


@dataclass
class Report:
    template: Path
    lint: list[str] = field(default_factory=list)
    scan: ScanResult | None = None

    @property
    def ok(self) -> bool:
        return not self.lint and self.scan is not None and not self.scan.failed


def stage_config(stage: str) -> dict[str, Any]:
    if stage not in STAGES:
        raise PackageError(f"unknown stage {stage!r}: use one of {', '.join(STAGES)}")
    config: dict[str, Any] = json.loads(CONFIG.read_text())
    found: dict[str, Any] = config["stages"][stage]
    return found


def policy_document(stage: str) -> dict[str, Any]:
    name = stage_config(stage)["iam_policy_file"]
    document: dict[str, Any] = json.loads((CONFIG.parent / name).read_text())
    return document


def merge_template(stage: str) -> dict[str, Any]:
    """infra/resources.yaml, with the stage's values as parameter defaults."""
    # Chalice's own loader: the short forms (!Ref, !Sub, ...) read exactly as chalice reads them.
    template = YAMLTemplateSerializer().load_template(
        MERGE_TEMPLATE.read_text(), str(MERGE_TEMPLATE)
    )
    environment: Mapping[str, str] = stage_config(stage).get("environment_variables", {})
    parameters = template["Parameters"]
    parameters["Stage"]["Default"] = stage
    parameters["ApiKeyHashParameter"]["Default"] = f"/onetime/{stage}/api-key-sha256"
    for parameter, variable in PARAMETER_FROM_ENV.items():
        if variable in environment:
            parameters[parameter]["Default"] = environment[variable]
    for parameter in PINNED_PARAMETERS:
        value = parameters[parameter].get("Default")
        if value is None:
            raise PackageError(f"{CONFIG}: stage {stage!r} gives no value for {parameter}")
        parameters[parameter]["AllowedValues"] = [value]
        parameters[parameter].pop("AllowedPattern", None)
        parameters[parameter]["ConstraintDescription"] = (
            f"must be {value!r}: .chalice/policy-{stage}.json names it. To change it, edit "
            f".chalice/config.json and the policy file, then package again."
        )
    check_policy_names(stage, parameters)
    check_upload_prefix(stage, environment)
    return template


def secret_parameter(stage: str) -> str:
    """The SSM parameter keying recipient checks: fixed per stage, so the policy can name it."""
    return f"/onetime/{stage}/secret"


def check_policy_names(stage: str, parameters: Mapping[str, Any]) -> None:
    """The policy file must name the very table, bucket and function the template declares."""
    resources = {
        resource
        for statement in policy_document(stage)["Statement"]
        for resource in _as_list(statement.get("Resource"))
    }
    table = f"arn:aws:dynamodb:*:*:table/{parameters['TableName']['Default']}"
    objects = f"arn:aws:s3:::{parameters['BucketName']['Default']}/"
    log_group = f"arn:aws:logs:*:*:log-group:/aws/lambda/onetime-{stage}"
    # The template sets ONETIME_SECRET_PARAMETER to this name (infra/resources.yaml).
    secret = f"arn:aws:ssm:*:*:parameter{secret_parameter(stage)}"
    expected = {table, objects + "*", log_group + ":*", secret}
    ours = [table, f"{table}/index/", objects, log_group, secret]
    sender = str(parameters["MailFrom"].get("Default", ""))
    if "@" in sender:
        # SES authorises a send against whichever identity is verified: the sender's domain,
        # or the address alone (DEPLOY.md allows either), so the policy names both.
        identities = {
            f"arn:aws:ses:*:*:identity/{sender.split('@', 1)[1]}",
            f"arn:aws:ses:*:*:identity/{sender}",
        }
        expected |= identities
        ours += sorted(identities)
    problems = [f"it does not name {arn}" for arn in sorted(expected - resources)]
    problems += [
        f"it names {arn}, which is none of the stage's table, bucket, log group, secret or sender"
        for arn in sorted(resources)
        if not any(arn == prefix or arn.startswith(prefix) for prefix in ours)
    ]
    if problems:
        raise PackageError(
            f".chalice/policy-{stage}.json and .chalice/config.json (stage {stage!r}) "
            f"disagree: {'; '.join(problems)}"
        )


def check_upload_prefix(stage: str, environment: Mapping[str, str]) -> None:
    """The policy file and the bucket's lifecycle rules name ``uploads/`` and ``requests/``
    at the bucket's root."""
    expected = {"ONETIME_UPLOAD_PREFIX": UPLOAD_PREFIX, "ONETIME_REQUEST_PREFIX": REQUEST_PREFIX}
    wrong = [name for name, prefix in expected.items() if environment.get(name, prefix) != prefix]
    if environment.get("ONETIME_KEY_PREFIX", ""):
        wrong.append("ONETIME_KEY_PREFIX")
    if wrong:
        raise PackageError(
            f".chalice/config.json, stage {stage!r}: {', '.join(wrong)} differ from what the "
            f"template and the policy file expect: "
            f"{', '.join(f'{name}={prefix!r}' for name, prefix in expected.items())} and no "
            f"ONETIME_KEY_PREFIX; change infra/resources.yaml and the policy file together "
            f"with them"
        )


def data_template(stage: str) -> dict[str, Any]:
    """The table, the bucket and its policy alone, with the parameters they use."""
    full = merge_template(stage)
    resources = {name: copy.deepcopy(full["Resources"][name]) for name in DATA_RESOURCES}
    names = set(_conditions(resources))
    while more := set(_conditions([full["Conditions"][name] for name in names])) - names:
        names |= more  # a condition may be made of others
    conditions = {name: copy.deepcopy(full["Conditions"][name]) for name in names}
    # A condition's parameters (the bucket's CORS rule tests PublicUrl) are used too.
    used = set(_references(resources)) | set(_references(conditions))
    return {
        "AWSTemplateFormatVersion": full["AWSTemplateFormatVersion"],
        "Description": f"onetime {stage}: the links table and the files bucket",
        "Parameters": {name: value for name, value in full["Parameters"].items() if name in used},
        **({"Conditions": conditions} if conditions else {}),
        "Resources": resources,
        "Outputs": {name: full["Outputs"][name] for name in ("TableName", "BucketName")},
    }


def package(stage: str, out_dir: Path, front: str = DEFAULT_FRONT) -> Path:
    """Run ``chalice package`` for the stage into out_dir, with the front door asked for;
    return the template's path."""
    if front not in FRONTS:
        raise PackageError(f"unknown front {front!r}: use one of {', '.join(FRONTS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    merge_file = out_dir / "merge-template.json"
    # JSON, not YAML: with a .yaml merge template chalice writes sam.yaml instead of sam.json.
    merge_file.write_text(json.dumps(merge_template(stage), indent=2) + "\n")
    env = dict(os.environ)
    # chalice package needs a region even though it talks to no AWS service.
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env["ONETIME_NOTIFY_HANDLER"] = "1"  # the template has the stream: package its handler
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "chalice"),
            "package",
            "--stage",
            stage,
            "--merge-template",
            str(merge_file),
            str(out_dir),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    template = out_dir / "sam.json"
    if result.returncode != 0 or not template.exists():
        raise PackageError(
            f"chalice package --stage {stage} failed ({result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )
    pin_runtime(template)
    if front == "http":
        use_http_front(template)
    rebuild_dependencies(out_dir / "deployment.zip")
    ship_bytecode(out_dir / "deployment.zip")
    if STREAM_STAND_IN in template.read_text():
        # app.py's on_dynamodb_record names a stand-in; the merge template must have put
        # the table's own stream in its place (Notify's event in infra/resources.yaml).
        raise PackageError(
            f"{template}: the notifications function still reads the stand-in stream "
            f"{STREAM_STAND_IN!r}; infra/resources.yaml must set its Events' Stream"
        )
    return template


def pin_runtime(template: Path) -> None:
    """Every function runs on LAMBDA_RUNTIME, not on the Python that ran chalice."""
    document = json.loads(template.read_text())
    functions = [
        resource["Properties"]
        for resource in document["Resources"].values()
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function")
    ]
    if not functions:
        raise PackageError(f"{template}: no function to set the runtime of")
    for properties in functions:
        properties["Runtime"] = LAMBDA_RUNTIME
    template.write_text(json.dumps(document, indent=2) + "\n")


def use_http_front(template: Path) -> None:
    """Put infra/front-http.yaml's HTTP API where chalice's REST API was, with its routes."""
    document = json.loads(template.read_text())
    front = YAMLTemplateSerializer().load_template(
        HTTP_FRONT_TEMPLATE.read_text(), str(HTTP_FRONT_TEMPLATE)
    )
    resources = document["Resources"]
    rest = resources["RestAPI"]["Properties"]["DefinitionBody"]
    for name in REST_RESOURCES:
        del resources[name]
    for name in REST_OUTPUTS:
        document["Outputs"].pop(name, None)
    resources.update(front["Resources"])
    document["Outputs"].update(front["Outputs"])
    resources["HttpApi"]["Properties"]["DefinitionBody"] = http_definition(rest)
    template.write_text(json.dumps(document, indent=2) + "\n")


def http_definition(rest: Mapping[str, Any]) -> dict[str, Any]:
    """The HTTP API's OpenAPI 3 definition: chalice's REST routes, each a Lambda proxy
    integration with payload format 1.0 (the REST event shape the app reads), and nothing
    that could make the API quote a request (no CORS, no authorizer, no mapping)."""
    paths: dict[str, dict[str, Any]] = {}
    for path, methods in rest["paths"].items():
        for method, operation in methods.items():
            integration = operation["x-amazon-apigateway-integration"]
            if integration["type"] != "aws_proxy":
                raise PackageError(f"{method.upper()} {path}: not a Lambda proxy route")
            route: dict[str, Any] = {
                "responses": {"default": {"description": "the function's answer"}},
                "x-amazon-apigateway-integration": {
                    "type": "aws_proxy",
                    "httpMethod": "POST",
                    "uri": integration["uri"],
                    "payloadFormatVersion": "1.0",
                    "timeoutInMillis": INTEGRATION_TIMEOUT_MS,
                },
            }
            parameters = [
                {"name": p["name"], "in": "path", "required": True, "schema": {"type": "string"}}
                for p in operation.get("parameters", [])
                if p.get("in") == "path"
            ]
            if parameters:
                route["parameters"] = parameters
            paths.setdefault(path, {})[method] = route
    return {"openapi": "3.0.1", "info": dict(rest["info"]), "paths": paths}


def rebuild_dependencies(archive: Path) -> None:
    """Replace the zip's third-party packages with wheels built for LAMBDA_RUNTIME.

    Chalice puts the dependencies at the zip's root, next to app.py, chalicelib/ and its
    own chalice/ runtime; each one's files are those its dist-info's RECORD lists.  Every
    other entry is the app's and is kept as it is.
    """
    with zipfile.ZipFile(archive) as original:
        entries = {info.filename: (info, original.read(info)) for info in original.infolist()}
    installed = {
        line.split(",")[0]
        for name, (_, data) in entries.items()
        if re.fullmatch(r"[^/]+\.dist-info/RECORD", name)
        for line in data.decode().splitlines()
        if line.strip()
    }
    installed |= {name for name in entries if name.split("/")[0].endswith(".dist-info")}
    # The app's own files, without the bytecode chalice copies from the working tree's
    # __pycache__ (compiled by the Python running the tests, which the runtime would ignore;
    # ship_bytecode adds the runtime's own).
    kept = {
        name: entry
        for name, entry in entries.items()
        if name not in installed and "__pycache__/" not in name and not name.endswith(".pyc")
    }
    with tempfile.TemporaryDirectory(prefix="onetime-deps-") as scratch:
        target = Path(scratch)
        version = LAMBDA_RUNTIME.removeprefix("python")
        run_step(
            f"pip could not install {REQUIREMENTS.name} for {LAMBDA_RUNTIME} ({LAMBDA_PLATFORM})",
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                # .pyc compiled by this Python would be ignored by another one: none.
                "--no-compile",
                "--target",
                str(target),
                "--platform",
                LAMBDA_PLATFORM,
                "--implementation",
                "cp",
                "--python-version",
                version,
                "--only-binary=:all:",
                "-r",
                str(REQUIREMENTS),
            ],
        )
        added = {
            path.relative_to(target).as_posix(): path
            for path in sorted(target.rglob("*"))
            if path.is_file()
            # Console scripts (cffi's, pip writes them to bin/): the function runs none.
            and path.relative_to(target).parts[0] != "bin"
            and "__pycache__" not in path.parts
        }
        clash = sorted(set(added) & set(kept))
        if clash:
            raise PackageError(
                f"{archive}: the dependencies built for {LAMBDA_RUNTIME} would overwrite "
                f"the app's own files: {', '.join(clash[:10])}"
            )
        rebuilt = archive.with_suffix(".rebuilding")
        with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as out:
            for name in sorted(kept):
                info, data = kept[name]
                out.writestr(info, data)
            for name, path in added.items():
                info = zipfile.ZipInfo(name, ZIP_TIME)
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                out.writestr(info, path.read_bytes())
    rebuilt.replace(archive)
    check_runtime_files(archive)


def check_runtime_files(archive: Path) -> None:
    """Refuse a zip holding a compiled extension (or .pyc) for a Python other than the
    runtime's: the runtime could not import it."""
    with zipfile.ZipFile(archive) as built:
        foreign = [
            name
            for name in built.namelist()
            if (tag := re.search(r"cpython-\d+", name.rsplit("/", 1)[-1])) is not None
            and tag.group() != RUNTIME_TAG
        ]
    if foreign:
        raise PackageError(
            f"{archive} holds files built for another Python than {LAMBDA_RUNTIME}: "
            f"{', '.join(sorted(foreign)[:10])}"
        )


# Bytecode for the runtime.  Lambda's code directory is read-only, so a zip without .pyc
# makes every cold start compile every module it imports (`import app` under 3.12: 236 ms
# of CPU from sources, 139 ms from bytecode).  Only the runtime's own CPython writes bytecode the
# runtime accepts (the magic number changes with each minor version).
RUNTIME_PYTHON_VARIABLE = "ONETIME_RUNTIME_PYTHON"
# Where Lambda unpacks the zip: the bytecode names its sources there, for tracebacks.
LAMBDA_TASK_ROOT = "/var/task"
_VERSION_PROBE = "import sys; print(sys.implementation.name, *sys.version_info[:2], sys.executable)"


def runtime_python() -> str | None:
    """A CPython of LAMBDA_RUNTIME's version: the one ONETIME_RUNTIME_PYTHON names (set
    empty, none), else ``python3.12`` on PATH, else one under pyenv; None if there is none."""
    named = os.environ.get(RUNTIME_PYTHON_VARIABLE)
    if named is not None:
        if not named:
            return None
        found = _runtime_version(named)
        if found is None:
            raise PackageError(
                f"{RUNTIME_PYTHON_VARIABLE}={named!r} is not a CPython "
                f"{LAMBDA_RUNTIME.removeprefix('python')}"
            )
        return found
    for candidate in _runtime_candidates():
        found = _runtime_version(candidate)
        if found is not None:
            return found
    return None


def _runtime_candidates() -> Iterator[str]:
    name = LAMBDA_RUNTIME  # "python3.12", the interpreter's own name too
    on_path = shutil.which(name)
    if on_path:
        yield on_path
    roots = [Path.home() / ".pyenv"]
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            answer = subprocess.run(
                [pyenv, "root"], capture_output=True, text=True, timeout=30, check=False
            )
            if answer.returncode == 0 and answer.stdout.strip():
                roots.insert(0, Path(answer.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    version = name.removeprefix("python")
    for root in dict.fromkeys(roots):
        # The newest patch release first (3.12.10 after 3.12.9).
        found = (root / "versions").glob(f"{version}*/bin/{name}")
        yield from sorted(map(str, found), key=_patch_level, reverse=True)


def _patch_level(path: str) -> tuple[int, ...]:
    release = Path(path).parents[1].name
    return tuple(int(part) if part.isdigit() else -1 for part in release.split("."))


def _runtime_version(python: str) -> str | None:
    """The interpreter's real path (a pyenv shim resolved) if it is the runtime's CPython."""
    try:
        answer = subprocess.run(
            [python, "-c", _VERSION_PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    parts = answer.stdout.split(maxsplit=3)
    if answer.returncode != 0 or len(parts) != 4:
        return None
    implementation, major, minor, executable = parts
    if implementation != "cpython" or f"python{major}.{minor}" != LAMBDA_RUNTIME:
        return None
    return executable.strip()


def ship_bytecode(archive: Path, python: str | None = None) -> int:
    """Add ``__pycache__/*.cpython-312.pyc`` for every module in the zip, compiled by the
    runtime's CPython with unchecked hashes (the runtime loads them without reading the
    source's time or hash: the zip's files never change); return how many.  Without such
    an interpreter, say so in one line and leave the zip as it is."""
    python = python or runtime_python()
    if python is None:
        print(
            f"package: no CPython {LAMBDA_RUNTIME.removeprefix('python')} found (PATH, pyenv, "
            f"{RUNTIME_PYTHON_VARIABLE}): the zip ships without bytecode, so every cold start "
            "compiles what it imports",
            file=sys.stderr,
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="onetime-pyc-") as scratch:
        tree = Path(scratch)
        with zipfile.ZipFile(archive) as built:
            sources = [name for name in built.namelist() if name.endswith(".py")]
            for name in sources:
                built.extract(name, tree)
        compile_tree(python, tree, LAMBDA_TASK_ROOT)
        compiled = sorted(path.relative_to(tree).as_posix() for path in tree.rglob("*.pyc"))
        with zipfile.ZipFile(archive, "a", zipfile.ZIP_DEFLATED) as built:
            for name in compiled:
                info = zipfile.ZipInfo(name, ZIP_TIME)
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                built.writestr(info, (tree / name).read_bytes())
    check_runtime_files(archive)
    return len(compiled)


def compile_tree(python: str, tree: Path, shown_as: str | None = None) -> None:
    """Compile every module under tree with ``python``, unchecked hashes; with ``shown_as``,
    the bytecode names its sources under that directory instead of tree."""
    where = ["-s", str(tree), "-p", shown_as] if shown_as else []
    mode = ["--invalidation-mode", "unchecked-hash"]
    run_step(
        f"{python} could not compile the modules in {tree}",
        [python, "-m", "compileall", "-q", *mode, *where, str(tree)],
    )


def run_step(failed: str, command: list[str]) -> None:
    """Run one step of the build; ``PackageError`` saying ``failed``, with the exit code and
    the tail of what the step wrote, if it fails."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackageError(
            f"{failed} (exit {result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )


# What the Lambda Python runtime provides beside the zip (so requirements.txt leaves it
# out): boto3 and what it imports.  Copied from this environment, for running the unzipped
# package under the runtime's CPython (the bytecode test, the cold-start bench).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


def provide_runtime_packages(target: Path, *, link: bool = False) -> Path:
    """The RUNTIME_PROVIDED packages of this environment in target (symbolic links with
    ``link``, which a runtime must then run with -B; else copies without bytecode)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise PackageError(f"{name} is not installed here: the runtime provides it")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        destination = target / source.name
        if link:
            destination.symlink_to(source, target_is_directory=source.is_dir())
        elif source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination)
    return target


def package_data(stage: str, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    template = out_dir / "data.json"
    template.write_text(json.dumps(data_template(stage), indent=2) + "\n")
    return template


def scanner(name: str) -> str:
    path = SCAN_BIN / name
    if not path.exists():
        raise PackageError(f"{path} is missing: run 'make {SCAN_BIN.parent.name}/.installed'")
    return str(path)


def lint(template: Path) -> list[str]:
    """cfn-lint's errors and warnings (informational notes too); empty when clean."""
    result = subprocess.run(
        [scanner("cfn-lint"), "--format", "parseable", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 and not problems:
        problems = [f"cfn-lint exited {result.returncode}: {result.stderr.strip()}"]
    return problems


def scan(template: Path) -> ScanResult:
    """checkov's CloudFormation checks; every skip must carry a reason."""
    return scan_all([template])[template]


def scan_all(templates: Sequence[Path]) -> dict[Path, ScanResult]:
    """``scan`` of several templates in one checkov run: most of a run is checkov starting
    (about 8 s of CPU here, against well under a second per template checked)."""
    env = dict(os.environ)
    # Offline and quiet: no guideline download, no version check, no upload.
    env.update({"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"})
    files = [argument for template in templates for argument in ("--file", str(template))]
    result = subprocess.run(
        [
            scanner("checkov"),
            *files,
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--skip-download",
            "--compact",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    try:
        report = json.loads(result.stdout)
    except ValueError as exc:
        raise PackageError(
            f"checkov gave no JSON report (exit {result.returncode}):\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        ) from exc
    if isinstance(report, list):  # one report per framework
        report = next(r for r in report if r.get("check_type") == "cloudformation")
    if "results" not in report:  # nothing checked at all
        raise PackageError(f"checkov checked nothing in {', '.join(map(str, templates))}: {report}")
    results = report["results"]

    def of(kind: str, template: Path) -> list[dict[str, Any]]:
        where = str(template.resolve())
        return [c for c in results.get(kind, []) if c.get("file_abs_path") == where]

    found: dict[Path, ScanResult] = {}
    for template in templates:
        passed = of("passed_checks", template)
        failed = [
            f"{check['check_id']} {check['resource']}: {check['check_name']}"
            for check in of("failed_checks", template)
        ]
        skipped = [
            (check["check_id"], str(check.get("check_result", {}).get("suppress_comment", "")))
            for check in of("skipped_checks", template)
        ]
        if not (passed or failed or skipped):
            raise PackageError(f"checkov checked nothing in {template}")
        failed += [f"{check_id}: skipped without a reason" for check_id, why in skipped if not why]
        found[template] = ScanResult(len(passed), failed, skipped)
    return found


def check(template: Path) -> Report:
    return Report(template, lint(template), scan(template))


def describe(report: Report) -> str:
    lines = [f"{report.template}:"]
    if report.lint:
        lines.append(f"  cfn-lint: {len(report.lint)} problem(s)")
        lines += [f"    {problem}" for problem in report.lint]
    else:
        lines.append("  cfn-lint: no errors, no warnings")
    found = report.scan
    if found is not None:
        lines.append(
            f"  checkov: {found.passed} passed, {len(found.failed)} failed, "
            f"{len(found.skipped)} skipped: {', '.join(sorted({c for c, _ in found.skipped}))} "
            f"(reasons in infra/resources.yaml)"
        )
        lines += [f"    FAILED {failure}" for failure in found.failed]
    return "\n".join(lines)


# The repository's example names: fine to build and check a template with, never to ship.
PLACEHOLDERS = ("-example", "example.com", "example.org", "example.net")


def check_placeholders(stage: str) -> None:
    """Refuse the example bucket and sender for prod: a stack deployed with them would point at
    a bucket someone else may own and send mail no one can verify."""
    if stage != "prod":
        return
    env = stage_config(stage)["environment_variables"]
    found = [
        f"{name}={env[name]!r}"
        for name in ("ONETIME_BUCKET", "ONETIME_MAIL_FROM")
        if any(mark in str(env.get(name, "")) for mark in PLACEHOLDERS)
    ]
    if found:
        raise PackageError(
            f"the prod stage still has the repository's example names ({', '.join(found)}): "
            "set your bucket and sender in .chalice/config.json (docs/DEPLOY.md), or pass "
            "--allow-placeholders to build a template only to check it"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.package", description=__doc__)
    parser.add_argument("--stage", required=True, choices=STAGES)
    parser.add_argument("--out", type=Path, help="output directory (default: build/<stage>)")
    parser.add_argument(
        "--front",
        choices=FRONTS,
        default=DEFAULT_FRONT,
        help=f"the API in front of the function (default: {DEFAULT_FRONT}; docs/DEPLOY.md)",
    )
    parser.add_argument(
        "--data-only", action="store_true", help="only the table and bucket, as data.json"
    )
    parser.add_argument(
        "--allow-placeholders",
        action="store_true",
        help="build prod with the example names anyway (to check the template, not to deploy)",
    )
    args = parser.parse_args(argv)
    out_dir: Path = args.out or ROOT / "build" / args.stage
    try:
        if not args.allow_placeholders:
            check_placeholders(args.stage)
        if args.data_only:
            template = package_data(args.stage, out_dir)
        else:
            template = package(args.stage, out_dir, args.front)
        report = check(template)
    except PackageError as error:
        print(f"package: {error}", file=sys.stderr)
        return 1
    print(describe(report))
    if not report.ok:
        print(f"package: {template} did not pass its checks (above)", file=sys.stderr)
        return 1
    print(f"package: {template} is ready; docs/DEPLOY.md says how to deploy it")
    return 0


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _references(node: Any) -> Iterator[str]:
    """Every name a Ref, GetAtt or Sub in node refers to."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                yield value[0] if isinstance(value, list) else str(value).split(".")[0]
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                yield from (name.split(".")[0] for name in re.findall(r"\$\{([^!}]+)\}", text))
                if isinstance(value, list):
                    yield from _references(value[1])
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _conditions(node: Any) -> Iterator[str]:
    """Every condition name in node: an Fn::If's first item, or a Condition's value."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::If" and isinstance(value, list) and value:
                yield str(value[0])
                yield from _conditions(value[1:])
            elif key == "Condition" and isinstance(value, str):
                yield value
            else:
                yield from _conditions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _conditions(item)


if __name__ == "__main__":
    sys.exit(main())
