"""What the stack tier's openapi.yaml tests share: the spec, the checks every answer must
pass (schemathesis's), and the operator's credentials."""

from __future__ import annotations

from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import ROOT
from tools.stack import Stack

SPEC = ROOT / "openapi.yaml"
# No 5xx, no status code the spec does not list; bodies, headers and content types as it says.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def auth(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.api_key}"}
