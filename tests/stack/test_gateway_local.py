"""Issue 22, item 6: the local server answers a request no route takes as the deployed API
does, through the template's gateway responses (infra/resources.yaml), and never quotes
the request back: `chalice local` answered 403 with the Authorization header, API key
and all, in the body.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tools.package import merge_template
from tools.stack import Stack

TIMEOUT = 30


def deployed_not_found() -> dict[str, Any]:
    """The template's answer for a request no route takes (MISSING_AUTHENTICATION_TOKEN)."""
    for resource in merge_template("dev")["Resources"].values():
        body = resource.get("Properties", {}).get("DefinitionBody", {})
        if "x-amazon-apigateway-gateway-responses" in body:
            found: dict[str, Any] = body["x-amazon-apigateway-gateway-responses"][
                "MISSING_AUTHENTICATION_TOKEN"
            ]
            return found
    raise AssertionError("no gateway responses in infra/resources.yaml")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/no-such-path"),
        ("POST", "/no-such-path/deeper"),
        ("DELETE", "/health"),  # a path the API has, with a method it does not take
        ("PUT", "/get-link"),
    ],
)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer {key}", "AWS4-HMAC-SHA256 Credential=x/{key}", "Basic {key}"],
)
def test_a_request_no_route_takes_gets_the_deployed_404_and_no_header_back(
    stack: Stack, method: str, path: str, authorization: str | None
) -> None:
    headers = {"X-Probe": "echo-me-not"}
    if authorization is not None:
        headers["Authorization"] = authorization.format(key=stack.api_key)
    response = requests.request(
        method, f"{stack.base_url}{path}", headers=headers, data=b"{}", timeout=TIMEOUT
    )
    expected = deployed_not_found()
    assert response.status_code == int(expected["statusCode"]) == 404
    assert response.json() == json.loads(expected["responseTemplates"]["application/json"])
    assert response.json()["error"] == "not_found"
    for name, value in expected["responseParameters"].items():
        assert response.headers[name.removeprefix("gatewayresponse.header.")] == value.strip("'")
    # Nothing of the request comes back: not the key, not any header.
    assert stack.api_key not in response.text
    assert "echo-me-not" not in response.text
    assert all(stack.api_key not in value for value in response.headers.values())
    # Nor into the stack's logs: the local server logs request lines, never headers.
    assert stack.log_dir is not None
    for log in stack.log_dir.glob("*.log"):
        assert stack.api_key not in log.read_text(errors="replace"), log.name


def test_head_of_an_unknown_path_gets_the_404_without_a_body(stack: Stack) -> None:
    response = requests.head(f"{stack.base_url}/no-such-path", timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.content == b""


def test_the_routes_the_api_has_still_answer(stack: Stack) -> None:
    health = requests.get(f"{stack.base_url}/health", timeout=TIMEOUT)
    assert health.status_code == 200
    # The app's own refusals are the app's, not the gateway's.
    unauthorised = requests.get(
        f"{stack.base_url}/get-link",
        params={"file": "x.pdf"},
        headers={"Authorization": "Bearer wrong"},
        timeout=TIMEOUT,
    )
    assert unauthorised.status_code in (401, 403)
    assert unauthorised.json()["error"] != "not_found"
    assert "Bearer wrong" not in unauthorised.text
