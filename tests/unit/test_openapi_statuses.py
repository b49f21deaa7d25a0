"""The API's description names every status a link can be in (a link locked by wrong
answers to its recipient check came back as ``locked``, which openapi.yaml did not list)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml  # type: ignore[import-untyped]  # PyYAML, chalice's dependency; no stubs installed

from chalicelib.domain.link import MAX_WRONG_ANSWERS, Link, StoredObject

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_800_000_000.0


def test_link_state_lists_every_status_a_link_can_have() -> None:
    fresh = Link(
        link_id="l" * 16,
        token_digest="d",
        object=StoredObject("k", 1, "application/pdf", '"e"'),
        filename="f.pdf",
        max_uses=1,
        uses=0,
        created_at=NOW,
        expires_at=int(NOW) + 60,
        confirm=True,
    )
    states = [
        fresh,
        dataclasses.replace(fresh, revoked_at=NOW),
        dataclasses.replace(fresh, wrong_answers=MAX_WRONG_ANSWERS),
        dataclasses.replace(fresh, uses=1),
        dataclasses.replace(fresh, expires_at=int(NOW) - 1),
    ]
    statuses = {link.status(NOW) for link in states}
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    listed = spec["components"]["schemas"]["LinkState"]["properties"]["status"]["enum"]
    assert statuses == {"active", "revoked", "locked", "used", "expired"}
    assert set(listed) == statuses
