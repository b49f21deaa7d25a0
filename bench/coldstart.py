"""3. Cold start: a fresh interpreter's ``import app`` and first redemption,
against ``import boto3, chalice`` plus creating a DynamoDB and an S3 client."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.common import (
    Goal,
    LinkFactory,
    Section,
    child_env,
    lambda_event,
    median,
    ms,
    ratio,
)
from chalicelib.domain.answers import ANSWER_LABEL
from chalicelib.domain.signing import derive_key
from chalicelib.storage.secrets import key_from
from tools import ROOT
from tools.samples import SMALL_SAMPLE
from tools.stack import SECRET_PARAMETER, Stack, api_key_digest

REPEATS = 14
TIMEOUT = 60
GOAL = 1.15

APP = """\
import json, os
import app
class Context:
    aws_request_id = "cold-start"
answer = app.app(json.loads(os.environ["BENCH_EVENT"]), Context())
assert answer["statusCode"] == 302, answer
"""
REFERENCE = """\
import boto3, chalice
boto3.client("dynamodb")
boto3.client("s3")
"""
IMPORT_ONLY = "import app\n"
CODE = "482913"  # the recipient check's answer in the checked variants


@dataclass
class Variant:
    name: str
    code: str
    needs_link: bool
    # A link with a recipient check: its key from SSM (one GetParameter in the child), or
    # derived from the API key digests (no call).
    check: str | None = None


VARIANTS = [
    Variant("import app + first redirect redemption", APP, True),
    Variant("import boto3, chalice + 2 clients (reference)", REFERENCE, False),
    Variant("import app only", IMPORT_ONLY, False),
    Variant("import app + first checked redemption, secret from SSM", APP, True, "ssm"),
    Variant("import app + first checked redemption, key derived", APP, True, "derived"),
]
APP_NAME = VARIANTS[0].name


def run_once(stack: Stack, code: str, token: str | None, check: str | None = None) -> float:
    extra: dict[str, str] = {}
    if token:
        form = {"token": token, "answer": CODE} if check else None
        extra["BENCH_EVENT"] = json.dumps(lambda_event(token, form=form))
    if check == "derived":
        extra["ONETIME_SECRET_PARAMETER"] = ""
    env = child_env(stack, **extra)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child failed: {done.stderr.decode()[-2000:]}")
    return elapsed


def import_times(stack: Stack, code: str = "import app") -> list[tuple[str, int]]:
    """``python -X importtime -c CODE``: every import, with its cumulative time (us)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        env=child_env(stack),
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
    links = LinkFactory(stack)
    tokens = links.mint_many(SMALL_SAMPLE, REPEATS + 1)
    # Checked links, their answers' digests keyed as each child will key them.
    value = stack.client("ssm").get_parameter(Name=SECRET_PARAMETER, WithDecryption=True)
    keys: dict[str, Callable[[], bytes]] = {
        "ssm": lambda: key_from(value["Parameter"]["Value"]),
        "derived": lambda: derive_key(ANSWER_LABEL, (api_key_digest(stack.api_key),)),
    }
    checked = {
        check: [links.mint(SMALL_SAMPLE, answer=(CODE, key)) for _ in range(REPEATS + 1)]
        for check, key in keys.items()
    }
    samples: dict[str, list[float]] = {variant.name: [] for variant in VARIANTS}
    for round_ in range(REPEATS + 1):  # round 0 warms the page cache and writes .pyc files
        shift = round_ % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            token = None
            if variant.needs_link:
                token = checked[variant.check][round_] if variant.check else tokens[round_]
            elapsed = run_once(stack, variant.code, token, variant.check)
            if round_:
                samples[variant.name].append(elapsed)
    reference = median(samples[VARIANTS[1].name])
    section = Section(
        "3. Cold start (fresh `python -c`, wall time)",
        ["variant", "n", "median", "min", "/ reference"],
    )
    for name, values in samples.items():
        section.rows.append(
            [
                name,
                str(len(values)),
                ms(median(values)),
                ms(min(values)),
                f"{ratio(median(values), reference):.2f}",
            ]
        )
    app_times = samples[APP_NAME]
    fastest = ratio(min(app_times), min(samples[VARIANTS[1].name]))
    section.goals.append(
        Goal(
            "cold start (app + redemption / reference)",
            ratio(median(app_times), reference),
            GOAL,
            note=f"ratio of the fastest runs: {fastest:.2f}",
        )
    )
    section.notes.append(
        "The redemption calls the Lambda handler `app.app(event, context)` with a REST API "
        "event (one `UpdateItem` on dynalite, one presign): the clients are created on that "
        f"first request. {REPEATS} runs of each variant interleaved (rotating order) after a "
        "warm-up round; medians. Every run pays interpreter start-up and `site` (including "
        "the editable install's finder for the `onetime` CLI), alike for all variants."
    )
    ssm = median(samples[VARIANTS[3].name])
    derived = median(samples[VARIANTS[4].name])
    section.notes.append(
        "Recipient checks (chalicelib/domain/answers.py): the first checked redemption in a "
        "container reads the secret from SSM Parameter Store, one `GetParameter` (moto here): "
        f"{ms(ssm)} against {ms(derived)} with the key derived from the API key digests, "
        f"{ms(ssm - derived)} ({ratio(ssm, derived):.2f}x) more, side by side. Containers that "
        "never see a checked link never read it."
    )
    plain = import_times(stack)
    boto3_imported = any(name == "boto3" for name, _ in plain)
    section.notes.append(
        "`python -X importtime -c 'import app'`, top 5 by cumulative time: "
        + top(plain)
        + (
            ". boto3 itself is not imported by `import app`; the first request imports it."
            if not boto3_imported
            else ". boto3 is imported by `import app`."
        )
    )
    # What the app adds on top of the reference: import it after the reference's work.
    after = import_times(stack, REFERENCE + "import app\n")
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
