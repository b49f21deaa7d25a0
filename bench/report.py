"""The table: printed to stdout and written to BENCHMARKS.md."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from importlib import metadata

from bench.common import Goal, Section
from tools import ROOT


def machine() -> dict[str, str]:
    dynalite = json.loads((ROOT / "node_modules" / "dynalite" / "package.json").read_text())
    try:
        node = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        node = "?"
    return {
        "nproc": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "chalice": metadata.version("chalice"),
        "boto3": metadata.version("boto3"),
        "botocore": metadata.version("botocore"),
        "moto": metadata.version("moto"),
        "dynalite": str(dynalite["version"]),
        "node": node,
    }


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    def cells(row: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"

    return [cells(header), "|" + "|".join("---" for _ in header) + "|", *map(cells, rows)]


def verdict(goal: Goal) -> str:
    met = goal.met
    return "-" if met is None else ("met" if met else "**missed**")


def number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    # Three decimals, so that a value just over its goal never prints as equal to it.
    return f"{value:.0f}" if unit == "" else f"{value:.3f}{unit}"


def render(
    sections: list[Section],
    failures: list[str],
    started: float,
    elapsed: float,
    loads: tuple[tuple[float, float, float], tuple[float, float, float]],
) -> str:
    info = machine()
    goals = [goal for section in sections for goal in section.goals]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`, code in `bench/`); do not edit by hand.",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(started))}",
        f"- machine: {info['nproc']} CPUs (nproc), {info['platform']}; load average "
        f"{loads[0][0]:.2f} at start, {loads[1][0]:.2f} at end (shared machine: noisy)",
        f"- versions: Python {info['python']}, chalice {info['chalice']}, boto3 {info['boto3']} "
        f"(botocore {info['botocore']}), moto {info['moto']}, dynalite {info['dynalite']} "
        f"(node {info['node']})",
        f"- run time: {elapsed:.0f} s",
        "",
        "## Method",
        "",
        "- Everything runs on this machine: dynalite (DynamoDB) and moto server (S3) on "
        "127.0.0.1, plus `chalice local` for §5. moto's DynamoDB is never used for single use "
        "(its conditional writes are not atomic); it appears only in §1, in-process, to count "
        "calls as AWS would answer them.",
        "- Variants are measured side by side in one run, interleaved (A, B, A, B, in rotating "
        "order), each sample on a fresh link minted beforehand outside the timed region; "
        "medians, p99 where asked, and ratios of variants from the same run. Absolute "
        "milliseconds are loopback stand-ins on a shared machine: compare ratios, not "
        "numbers from another day.",
        "- Every loop is bounded in count and time; every process started is stopped.",
        "",
        "## Goals",
        "",
        *table(
            ["measure", "value", "goal", "verdict", "note"],
            [
                [
                    goal.name,
                    number(goal.value, goal.unit),
                    "" if goal.goal is None else number(goal.goal, goal.unit),
                    verdict(goal),
                    goal.note,
                ]
                for goal in goals
            ],
        ),
        "",
    ]
    if failures:
        lines += ["## Failed measurements", "", *(f"- {failure}" for failure in failures), ""]
    for section in sections:
        lines += [f"## {section.title}", "", *table(section.header, section.rows), ""]
        lines += [f"- {note}" for note in section.notes]
        lines.append("")
    return "\n".join(lines)


def write(text: str) -> None:
    (ROOT / "BENCHMARKS.md").write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    sys.stdout.flush()
