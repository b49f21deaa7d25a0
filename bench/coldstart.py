"""3. Cold start of the deployed zip, as Lambda runs it: the zip ``make package`` builds,
unpacked, run by the runtime's CPython (3.12) with boto3 beside it (the runtime provides it;
here copied from this environment and compiled by that CPython, the same for every variant).

A fresh interpreter's ``import app`` and first redemption, against ``import boto3, chalice``
plus creating a DynamoDB and an S3 client.  The goal row is CPU time (``time.process_time``
in the child, from just before the first import to the end); wall time beside it.  The zip
without its bytecode runs in the same rounds: what a cold start cost before it shipped any.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    Goal,
    LinkFactory,
    Section,
    block_ratio,
    blocks_of,
    child_env,
    environment,
    lambda_event,
    median,
    ms,
    ratio,
)
from chalicelib.domain.answers import ANSWER_LABEL
from chalicelib.domain.signing import derive_key
from chalicelib.storage.secrets import key_from
from tools import ROOT
from tools import package as packaging
from tools.samples import SMALL_SAMPLE
from tools.stack import SECRET_PARAMETER, Stack, api_key_digest

BLOCKS = 3
ROUNDS = 21  # after one warm-up round; cut into BLOCKS blocks (noisy: 7 a block)
TIMEOUT = 60
GOAL = 1.10
WHEELS = ROOT / "build" / "wheels"

# Each child prints its CPU time from just before its first import, and in all.
MEASURED = """\
print("BENCH_CPU", time.process_time() - started, time.process_time())
"""
APP = (
    """\
import json, os, time
started = time.process_time()
import app
class Context:
    aws_request_id = "cold-start"
answer = app.app(json.loads(os.environ["BENCH_EVENT"]), Context())
assert answer["statusCode"] == 302, answer
"""
    + MEASURED
)
REFERENCE_WORK = """\
import boto3, chalice
boto3.client("dynamodb")
boto3.client("s3")
"""
REFERENCE = "import time\nstarted = time.process_time()\n" + REFERENCE_WORK + MEASURED
IMPORT_ONLY = "import time\nstarted = time.process_time()\nimport app\n" + MEASURED
CODE = "482913"  # the recipient check's answer in the checked variants


@dataclass
class Variant:
    name: str
    code: str
    needs_link: bool
    # A link with a recipient check: its key from SSM (one GetParameter in the child), or
    # derived from the API key digests (no call).
    check: str | None = None
    bytecode: bool = True  # the zip as built; False: the zip without its .pyc


VARIANTS = [
    Variant("zip: import app + first redirect redemption", APP, True),
    Variant("import boto3, chalice + 2 clients (reference)", REFERENCE, False),
    Variant("zip without .pyc: import app + first redirect", APP, True, bytecode=False),
    Variant("zip: import app only", IMPORT_ONLY, False),
    Variant("zip: import app + first checked redemption, secret from SSM", APP, True, "ssm"),
    Variant("zip: import app + first checked redemption, key derived", APP, True, "derived"),
]
APP_NAME, REFERENCE_NAME, SOURCES_NAME = (variant.name for variant in VARIANTS[:3])


@dataclass
class Runtime:
    """The runtime's interpreter and the unpacked zip it runs, with and without bytecode."""

    python: str
    version: str
    with_bytecode: Path
    sources_only: Path
    provided: Path  # boto3 and its dependencies, compiled by ``python``
    compiled: int  # .pyc files in the zip

    def path(self, bytecode: bool) -> Path:
        return self.with_bytecode if bytecode else self.sources_only


def deploy(scratch: Path) -> Runtime:
    """Build the dev stage's zip as ``make package`` does (offline from build/wheels when
    they exist) and unpack it twice, once without its bytecode."""
    python = packaging.runtime_python() or sys.executable
    offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELS)}
    with environment(offline if any(WHEELS.glob("*.whl")) else {}):
        packaging.package("dev", scratch / "package")
    archive = scratch / "package" / "deployment.zip"
    with_bytecode, sources_only = scratch / "task", scratch / "task-sources"
    with zipfile.ZipFile(archive) as built:
        built.extractall(with_bytecode)
        built.extractall(sources_only)
        compiled = sum(name.endswith(".pyc") for name in built.namelist())
    for cache in list(sources_only.rglob("__pycache__")):
        shutil.rmtree(cache)
    provided = packaging.provide_runtime_packages(scratch / "runtime")
    packaging.compile_tree(python, provided)
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    ).stdout.strip()
    return Runtime(python, version, with_bytecode, sources_only, provided, compiled)


def runtime_env(stack: Stack, runtime: Runtime, bytecode: bool, **extra: str) -> dict[str, str]:
    env = child_env(stack, **extra)
    env["PYTHONPATH"] = f"{runtime.path(bytecode)}{os.pathsep}{runtime.provided}"
    return env


@dataclass
class Run:
    wall: float  # the whole process, interpreter start-up included
    cpu: float  # from just before the first import to the end
    cpu_total: float  # the whole process


def run_once(stack: Stack, runtime: Runtime, variant: Variant, token: str | None) -> Run:
    extra: dict[str, str] = {}
    if token:
        form = {"token": token, "answer": CODE} if variant.check else None
        extra["BENCH_EVENT"] = json.dumps(lambda_event(token, form=form))
    if variant.check == "derived":
        extra["ONETIME_SECRET_PARAMETER"] = ""
    env = runtime_env(stack, runtime, variant.bytecode, **extra)
    started = time.perf_counter()
    # -B: Lambda's code directory is read-only, so a run never leaves bytecode for the next.
    done = subprocess.run(
        [runtime.python, "-B", "-c", variant.code],
        cwd=runtime.path(variant.bytecode),
        env=env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    elapsed = time.perf_counter() - started
    found = re.search(rb"BENCH_CPU (\S+) (\S+)", done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"cold-start child failed: {done.stderr.decode()[-2000:]}")
    return Run(elapsed, float(found.group(1)), float(found.group(2)))


def import_times(stack: Stack, runtime: Runtime, code: str = "import app") -> list[tuple[str, int]]:
    """``python -X importtime -c CODE`` in the unpacked zip: every import, with its
    cumulative time (us)."""
    done = subprocess.run(
        [runtime.python, "-B", "-X", "importtime", "-c", code],
        cwd=runtime.with_bytecode,
        env=runtime_env(stack, runtime, True),
        capture_output=True,
        timeout=TIMEOUT,
        check=True,
    )
    found: list[tuple[str, int]] = []
    for line in done.stderr.decode().splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| ?(\s*)(\S+)", line)
        if match:
            found.append((match.group(4), int(match.group(2))))
    return found


def top(found: list[tuple[str, int]], count: int = 5) -> str:
    ordered = sorted(found, key=lambda entry: entry[1], reverse=True)[:count]
    return ", ".join(f"`{name}` {micros / 1000:.0f} ms" for name, micros in ordered)


def measure(stack: Stack) -> Section:
    with tempfile.TemporaryDirectory(prefix="onetime-coldstart-") as scratch:
        return measure_in(stack, deploy(Path(scratch)))


def measure_in(stack: Stack, runtime: Runtime) -> Section:
    links = LinkFactory(stack)
    rounds = ROUNDS + 1  # round 0 warms the page cache
    tokens = {
        variant.name: links.mint_many(SMALL_SAMPLE, rounds)
        for variant in VARIANTS
        if variant.needs_link and not variant.check
    }
    # Checked links, their answers' digests keyed as each child will key them.
    value = stack.client("ssm").get_parameter(Name=SECRET_PARAMETER, WithDecryption=True)
    keys: dict[str, Callable[[], bytes]] = {
        "ssm": lambda: key_from(value["Parameter"]["Value"]),
        "derived": lambda: derive_key(ANSWER_LABEL, (api_key_digest(stack.api_key),)),
    }
    checked = {
        check: [links.mint(SMALL_SAMPLE, answer=(CODE, key)) for _ in range(rounds)]
        for check, key in keys.items()
    }
    runs: dict[str, list[Run]] = {variant.name: [] for variant in VARIANTS}
    for round_ in range(rounds):
        shift = round_ % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            token = None
            if variant.needs_link:
                minted = checked[variant.check] if variant.check else tokens[variant.name]
                token = minted[round_]
            run = run_once(stack, runtime, variant, token)
            if round_:
                runs[variant.name].append(run)

    def blocks(name: str, measure: str) -> list[float]:
        values = [getattr(run, measure) for run in runs[name]]
        return [median(block) for block in blocks_of(values, BLOCKS)]

    def against_reference(name: str, measure: str) -> float:
        return block_ratio(blocks(name, measure), blocks(REFERENCE_NAME, measure))

    section = Section(
        f"3. Cold start of the deployed zip (fresh `python{runtime.version} -B -c`, "
        "the zip unpacked)",
        [
            "variant",
            "n",
            "CPU median",
            "CPU / reference",
            "whole-process CPU",
            "wall median",
            "wall / reference",
        ],
    )
    for name, found in runs.items():
        section.rows.append(
            [
                name,
                str(len(found)),
                ms(median([run.cpu for run in found])),
                f"{against_reference(name, 'cpu'):.2f}",
                ms(median([run.cpu_total for run in found])),
                ms(median([run.wall for run in found])),
                f"{against_reference(name, 'wall'):.2f}",
            ]
        )
    is_runtime = f"python{runtime.version}".startswith(packaging.LAMBDA_RUNTIME)
    which = (
        f"under the runtime's CPython {runtime.version}, {runtime.compiled} .pyc in the zip"
        if is_runtime
        else f"NOT the runtime's Python (none found): {runtime.version}, sources only"
    )
    cpu_spread = sorted(
        ratio(top_, bottom)
        for top_, bottom in zip(blocks(APP_NAME, "cpu"), blocks(REFERENCE_NAME, "cpu"), strict=True)
    )
    section.goals += [
        Goal(
            "cold start, deployed zip: import app + first redirect CPU / reference CPU",
            against_reference(APP_NAME, "cpu"),
            GOAL,
            note=f"median of {BLOCKS} interleaved blocks "
            f"({cpu_spread[0]:.2f}-{cpu_spread[-1]:.2f}); {which}; "
            f"wall {against_reference(APP_NAME, 'wall'):.2f}x",
            key="cold_start_cpu_ratio",
        ),
        Goal(
            "cold start, deployed zip: wall / reference wall",
            against_reference(APP_NAME, "wall"),
            None,
            note="the whole process, interpreter start-up included",
            key="cold_start_wall_ratio",
        ),
        Goal(
            "cold start, the zip without its .pyc: CPU / reference CPU",
            against_reference(SOURCES_NAME, "cpu"),
            None,
            note="what every cold start paid before the zip shipped bytecode",
            key="cold_start_cpu_ratio_without_bytecode",
        ),
    ]
    section.notes.append(
        f"The zip `tools/package.py` builds for the dev stage, unpacked and run with `-B` "
        f"({which}; Lambda cannot write `__pycache__` into it); boto3 and its dependencies, "
        "which the runtime provides, copied from this environment and compiled by the same "
        "interpreter, for every variant alike. The redemption calls the Lambda handler "
        "`app.app(event, context)` with a REST API event (one `UpdateItem` on dynalite, one "
        "presign): the clients are created on that first request. CPU: `time.process_time()` "
        "in the child from just before its first import to the end (whole-process CPU "
        "beside it, interpreter start-up included). "
        f"{ROUNDS} runs of each variant interleaved (rotating order) after a warm-up round, "
        f"cut into {BLOCKS} blocks; ratios per block, then their median."
    )
    ssm = median([run.cpu for run in runs[VARIANTS[4].name]])
    derived = median([run.cpu for run in runs[VARIANTS[5].name]])
    section.notes.append(
        "Recipient checks (chalicelib/domain/answers.py): the first checked redemption in a "
        "container reads the secret from SSM Parameter Store, one `GetParameter` (moto here): "
        f"{ms(ssm)} of CPU against {ms(derived)} with the key derived from the API key "
        f"digests, {ms(ssm - derived)} more, side by side. Containers that never see a checked "
        "link never read it."
    )
    plain = import_times(stack, runtime)
    boto3_imported = any(name == "boto3" for name, _ in plain)
    section.notes.append(
        "`python -X importtime -c 'import app'` in the unpacked zip, top 5 by cumulative time: "
        + top(plain)
        + (
            ". boto3 itself is not imported by `import app`; the first request imports it."
            if not boto3_imported
            else ". boto3 is imported by `import app`."
        )
    )
    # What the app adds on top of the reference: import it after the reference's work.
    after = import_times(stack, runtime, REFERENCE_WORK + "import app\n")
    names = [name for name, _ in after]
    start = names.index("app") if "app" in names else len(names)
    # importtime lists a module after the modules it imported: the app's own are before it.
    own = [entry for entry in after[:start] if entry[0].startswith("chalicelib")]
    section.notes.append(
        "`import app` after the reference's imports and clients still takes "
        f"{dict(after).get('app', 0) / 1000:.0f} ms (the app's own modules; top: "
        + top(own)
        + "): what the app adds to a cold start before its first request."
    )
    return section
