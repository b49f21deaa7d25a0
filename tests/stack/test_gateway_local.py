"""What ``chalice local`` answers where API Gateway would answer by itself.

On AWS the template's gateway responses give these in the API's error shape
(tests/test_infra.py).  ``chalice local`` imitates API Gateway's defaults instead, and
its 403 for an unknown path quotes the Authorization header: the API key goes back to the
client in the body.  Chalice has no catch-all route the app could answer with, so
docs/DEPLOY.md says so; these tests pin the behaviour, so a change in chalice shows up.
"""

from __future__ import annotations

import requests

from tests.helpers import ROOT
from tools.stack import Stack

TIMEOUT = 30
DEPLOY_GUIDE = ROOT / "docs" / "DEPLOY.md"


def test_local_unknown_path_answers_403_and_echoes_the_authorization_header(stack: Stack) -> None:
    response = requests.get(
        f"{stack.base_url}/no-such-path",
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    # Not the API's error shape, and the key is in the body, as chalice local writes it.
    assert "error" not in response.json()
    assert f"Authorization=Bearer {stack.api_key}" in response.json()["message"]
    # The key never reaches the stack's logs: chalice local logs only the request line.
    assert stack.log_dir is not None
    for log in stack.log_dir.glob("*.log"):
        assert stack.api_key not in log.read_text(errors="replace"), log.name
    # And the deployment guide says so, and that AWS answers differently.
    guide = DEPLOY_GUIDE.read_text()
    assert "echoes the `Authorization` header" in guide
    assert "x-amazon-apigateway-gateway-responses" in guide


def test_local_unknown_path_without_a_key_answers_403_missing_authentication_token(
    stack: Stack,
) -> None:
    response = requests.get(f"{stack.base_url}/no-such-path", timeout=TIMEOUT)
    assert response.status_code == 403
    assert response.json()["message"] == "Missing Authentication Token"
    assert "error" not in response.json()


def test_local_wrong_method_answers_chalice_s_405(stack: Stack) -> None:
    response = requests.delete(f"{stack.base_url}/health", timeout=TIMEOUT)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    assert response.json() == {
        "Code": "MethodNotAllowedError",
        "Message": "Unsupported method: DELETE",
    }
