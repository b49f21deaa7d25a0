"""Issue 24, "a cheaper front door": `make package FRONT=http|rest`.  The HTTP API (the
default) keeps what the service relies on: throttling, binary answers, access logs, the 5xx
alarm, a custom domain and the 29 s limit; each front passes cfn-lint and checkov
(tests/tooling/test_infra.py, both fronts) and gets exactly one stage from the real SAM
translator.  An HTTP API has no gateway responses: what it answers itself is fixed, and
nothing in its definition may make it quote a request."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.helpers import ROOT
from tests.tooling.packaged import REST, Built, translated_api
from tools import package as packaging

DEPLOY = (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")


@pytest.fixture(params=packaging.STAGES)
def http(request: pytest.FixtureRequest, packaged: dict[str, Built]) -> Built:
    built = packaged[request.param]
    assert built.front == packaging.DEFAULT_FRONT == "http"
    return built


def of_type(resources: dict[str, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in resources.values() if r["Type"] == kind]


def routes(built: Built) -> dict[tuple[str, str], dict[str, Any]]:
    body = built.properties("HttpApi")["DefinitionBody"]
    return {
        (method, path): operation
        for path, methods in body["paths"].items()
        for method, operation in methods.items()
    }


def test_the_http_front_replaces_the_rest_api(http: Built) -> None:
    resources = http.template["Resources"]
    assert "RestAPI" not in resources and "APIHandlerInvokePermission" not in resources
    assert resources["HttpApi"]["Type"] == "AWS::Serverless::HttpApi"
    (permission,) = of_type(resources, "AWS::Lambda::Permission")
    assert permission["FunctionName"] == {"Ref": "APIHandler"}
    assert "${HttpApi}/*" in permission["SourceArn"]["Fn::Sub"]
    assert http.template["Outputs"]["EndpointURL"]["Value"]["Fn::Sub"].startswith(
        "https://${HttpApi}.execute-api."
    )


def test_both_fronts_route_the_same_requests_to_the_function(
    http: Built, packaged: dict[str, Built]
) -> None:
    rest = packaged[REST].properties("RestAPI")["DefinitionBody"]["paths"]
    assert set(routes(http)) == {(m, p) for p, methods in rest.items() for m in methods}
    for (method, path), operation in routes(http).items():
        integration = operation["x-amazon-apigateway-integration"]
        # Payload 1.0 is the REST event shape the app reads; 29 s is the REST API's limit.
        assert integration == {
            "type": "aws_proxy",
            "httpMethod": "POST",
            "uri": rest[path][method]["x-amazon-apigateway-integration"]["uri"],
            "payloadFormatVersion": "1.0",
            "timeoutInMillis": 29_000,
        }, (method, path)


def test_the_http_stage_is_throttled_and_logged(http: Built) -> None:
    api = http.properties("HttpApi")
    assert api["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ThrottleRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ThrottleBurstLimit"},
    }
    logs = api["AccessLogSettings"]
    assert logs["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}
    fields = json.loads(logs["Format"])
    assert fields["request_id"] == "$context.requestId"
    assert fields["route"] == "$context.routeKey"
    # A link's token travels in the query: the line names the route, never the path.
    assert not {"$context.path", "$context.requestUri"} & set(fields.values())
    group = http.properties("HttpApiAccessLogGroup")
    assert group["RetentionInDays"] >= 365


def test_the_5xx_alarm_watches_the_http_api(http: Built) -> None:
    alarm = http.properties("Api5xxAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "5xx")
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions == {"ApiId": {"Ref": "HttpApi"}, "Stage": "$default"}


def test_sam_makes_exactly_one_http_stage_the_throttled_one(http: Built) -> None:
    api = translated_api(http.report.template)
    assert of_type(api, "AWS::ApiGateway::RestApi") == []
    (only,) = of_type(api, "AWS::ApiGatewayV2::Api")
    assert only.get("FailOnWarnings") is True
    (stage,) = of_type(api, "AWS::ApiGatewayV2::Stage")
    assert stage["StageName"] == "$default"
    assert stage["DefaultRouteSettings"] == http.properties("HttpApi")["DefaultRouteSettings"]
    assert stage["AccessLogSettings"] == http.properties("HttpApi")["AccessLogSettings"]


def test_nothing_makes_the_http_api_quote_a_request(http: Built) -> None:
    """Its own answers are fixed (a 404, 429, 413, 500 or 503 with {"message": ...}); it
    could echo a request only through what is absent here: CORS (its preflight answers
    reflect the Origin), an authorizer (its 401/403), a parameter mapping, or a
    catch-all route that would send unknown paths elsewhere."""
    api = http.properties("HttpApi")
    assert not {"CorsConfiguration", "Auth", "Domain", "RouteSettings"} & set(api)
    body = json.dumps(api["DefinitionBody"])
    assert "$request." not in body and "$context." not in body
    assert not re.search(r"x-amazon-apigateway-(cors|auth|request-parameter)", body)
    assert "requestParameters" not in body and "responseParameters" not in body
    assert all("$default" not in path and "{proxy+}" not in path for _, path in routes(http))


def test_deploy_md_says_what_the_http_api_answers_itself() -> None:
    section = DEPLOY.split("### An HTTP API's own answers", 1)[1].split("\n#", 1)[0]
    for status, message in [
        ("404", "Not Found"),
        ("429", "Too Many Requests"),
        ("413", "Request Entity Too Large"),
        ("500", "Internal Server Error"),
        ("503", "Service Unavailable"),
    ]:
        assert re.search(rf"\| {status} `\{{\"message\":\"{message}\"\}}`", section), status


def test_make_package_takes_the_front() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^FRONT \?= http$", makefile, re.M)
    assert "--front $(FRONT)" in makefile
    assert packaging.FRONTS == ("http", "rest")
