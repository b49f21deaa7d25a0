"""openapi.yaml against the running app, with schemathesis: examples, generated cases, workflows.

Passing means: no 5xx, no status code the spec does not list, and bodies, headers and
content types that match it.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis

from tests.stack.openapi import CHECKS, SPEC, auth
from tools.stack import Stack

schema = schemathesis.openapi.from_path(SPEC)
# Only the methods the spec declares: chalice local's HTTP server itself answers 501
# to TRACE and the like before the app sees them (API Gateway answers 403).
schema.config.phases.coverage.unexpected_methods = set()


@schema.parametrize()
@hypothesis.settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
def test_every_operation_conforms(case: Any, stack: Stack) -> None:
    response = case.call(base_url=stack.base_url, headers=auth(stack), allow_redirects=False)
    case.validate_response(response, checks=CHECKS)
    body = response.content.decode("utf-8", "replace")
    assert "Traceback" not in body and "botocore" not in body


def test_workflows_conform(stack: Stack) -> None:
    """Sequences that follow the spec's links: mint, then show, change, revoke, list."""

    statuses: list[int] = []

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": stack.base_url, "headers": auth(stack), "allow_redirects": False}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            statuses.append(response.status_code)
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=hypothesis.settings(
            max_examples=40,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
    # The workflows really ran, and minted links that later steps used.
    assert len(statuses) >= 40 and 201 in statuses and 200 in statuses, statuses


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_undeclared_methods_are_404_as_api_gateway_answers_them(stack: Stack, method: str) -> None:
    import requests

    response = requests.request(method, f"{stack.base_url}/download", timeout=10)
    assert response.status_code == 404  # the template's gateway response (tools/localapi.py)
    assert response.json()["error"] == "not_found"
