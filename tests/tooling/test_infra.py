"""The deployment: templates packaged for real (``tools.package``, as ``make package``
runs it), checked by cfn-lint and checkov, and read back for what matters.

Both stages are packaged once per module, in parallel, into pytest's temporary
directory; every assertion reads the generated ``sam.json`` or the policy files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import ROOT
from tests.tooling.packaged import DATA_ONLY, REST, Built, translated_api
from tools import package as packaging
from tools import resources as local
from tools.ports import HOST
from tools.resources import create_table
from tools.stack import Stack

STAGES = packaging.STAGES

# Every IAM action the function may take, and the code that needs it.  Nothing else:
# no Scan, no BatchWriteItem, no ListBucket, no DeleteObject (a lifecycle rule removes uploads).
EXPECTED_ACTIONS = {
    # LinkStore.create: minting (GET /get-link, POST /links), conditional on a new id.
    "dynamodb:PutItem",
    # LinkStore.claim (the redemption), .release (a use given back), .change (PATCH),
    # .revoke (DELETE /links/{id}); GrantStore.put (POST /grants) and .use (a buyer's
    # daily allowance).
    "dynamodb:UpdateItem",
    # LinkStore._read (HEAD /download, GET /links/{id}), LinkStore.ping (/health),
    # GrantStore._read (why an allowance was refused).
    "dynamodb:GetItem",
    # GrantStore.delete: DELETE /grants (revoking a link is an UpdateItem, not this).
    "dynamodb:DeleteItem",
    # LinkStore.for_file (GET /links?file=, index by-file), LinkStore.for_recipient
    # (GET /links?email=, index by-recipient), LinkStore.newest (GET /links, index
    # by-day) and GrantStore.for_subject (GET /grants?subject=, index by-subject).
    "dynamodb:Query",
    # LinkStore.newest: the newest links' items, after their keys from by-day.
    "dynamodb:BatchGetItem",
    # ObjectStore.describe (HeadObject is authorised as GetObject), .fetch (the stream
    # path), .ping (/health), and presigned redirect URLs, which act as the role.
    "s3:GetObject",
    # ObjectStore.fetch and .presign with VersionId: links pin the version they were minted with.
    "s3:GetObjectVersion",
    # ObjectStore.presign_upload: POST /uploads hands out a presigned POST under uploads/,
    # and a file request's page one under requests/; S3 authorises both as the role.
    "s3:PutObject",
    # Multipart uploads (issue 25): ObjectStore.list_parts (resuming, completing) and
    # .abort_multipart (over the limit, a request withdrawn), under the upload prefixes.
    "s3:ListMultipartUploadParts",
    "s3:AbortMultipartUpload",
    # A file request's form carries a tagging field (onetime-upload=pending), which S3
    # authorises as PutObjectTagging; confirming the upload retags that very version,
    # which needs PutObjectVersionTagging as well.
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    # Mailer.send: SES v2 SendEmail (POST /links with "email").  It sends Raw MIME
    # content, which SES authorises as ses:SendRawEmail; both name the one identity.
    "ses:SendEmail",
    "ses:SendRawEmail",
    # chalicelib/storage/secrets.py: the SecureString that keys recipient checks, read once per
    # container (SSM's AWS managed key needs no kms:Decrypt grant of its own).
    "ssm:GetParameter",
    # The Lambda runtime writes the function's JSON log lines (chalicelib/logs.py)
    # and its embedded-format metrics to the function's own log group.
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
}

# checkov checks that do not apply, each skipped in infra/resources.yaml with its reason.
EXPECTED_SKIPS = {
    "CKV_AWS_18",  # S3 access logging
    "CKV_AWS_27",  # the notifications' dead-letter queue: SQS-managed encryption, not KMS
    "CKV_AWS_115",  # the notify function's concurrency: bounded by the stream's shards
    "CKV_AWS_116",  # DLQ: the function is invoked synchronously
    "CKV_AWS_117",  # VPC
    "CKV_AWS_119",  # DynamoDB with a customer managed key (AWS managed KMS key instead)
    "CKV_AWS_158",  # log group with a customer managed key
    "CKV_AWS_173",  # environment encrypted with a customer managed key
}
# The REST API's own (its access logs need the account-wide API Gateway role; the HTTP
# API writes them through its service-linked role, and has neither caching nor X-Ray).
EXPECTED_REST_SKIPS = {
    "CKV_AWS_73",  # X-Ray on the API
    "CKV_AWS_76",  # API access logging (needs the account-wide API Gateway role)
    "CKV_AWS_120",  # API caching: would break single use
}


@pytest.fixture(scope="module")
def built(packaged: dict[str, Built]) -> dict[str, Built]:
    return packaged


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest, built: dict[str, Built]) -> Built:
    """Each stage with the default front (an HTTP API)."""
    return built[request.param]


@pytest.fixture(params=[*STAGES, REST])
def any_front(request: pytest.FixtureRequest, built: dict[str, Built]) -> Built:
    return built[request.param]


@pytest.fixture
def rest(built: dict[str, Built]) -> Built:
    """prod with the REST API front (`make package FRONT=rest`)."""
    return built[REST]


def policy_statements(stage: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = packaging.policy_document(stage)["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(stage: str) -> Iterator[tuple[str, str]]:
    """(action, resource) for every Allow in the stage's policy file."""
    for statement in policy_statements(stage):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                yield action, resource


# The checkers


def test_cfn_lint_reports_no_errors_and_no_warnings(any_front: Built) -> None:
    assert any_front.report.lint == []


def test_checkov_fails_nothing_and_every_skip_says_why(any_front: Built) -> None:
    scan = any_front.report.scan
    assert scan is not None
    assert scan.failed == []
    assert scan.passed >= 20
    expected = EXPECTED_SKIPS | (EXPECTED_REST_SKIPS if any_front.front == "rest" else set())
    assert {check_id for check_id, _ in scan.skipped} == expected
    assert all(len(reason) > 40 for _, reason in scan.skipped), scan.skipped


def test_data_only_template_passes_the_same_checks(built: dict[str, Built]) -> None:
    data = built[DATA_ONLY]
    assert data.report.ok, packaging.describe(data.report)
    assert set(data.template["Resources"]) == {"LinksTable", "FilesBucket", "FilesBucketPolicy"}
    # The same table and bucket as the full template's.
    for name in data.template["Resources"]:
        assert data.resource(name) == built["prod"].resource(name)
    assert set(data.template["Parameters"]) == {
        "TableName",
        "BucketName",
        "UploadExpirationDays",
        "UnconfirmedUploadDays",
        "NoncurrentVersionDays",
        "PublicUrl",  # the bucket's CORS rule
        "TableDeletionProtection",  # off for a first create only (docs/DEPLOY.md)
    }
    # The bucket's CORS rule needs its condition, or the stack would not deploy.
    assert data.template["Conditions"] == {
        "HasPublicUrl": built["prod"].template["Conditions"]["HasPublicUrl"]
    }


# The table


class RecordingDynamoDB:
    """Stands in for a boto3 client: records what create_table asks for."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create_table(self, **kwargs: Any) -> None:
        self.created.append(kwargs)

    def get_waiter(self, name: str) -> RecordingDynamoDB:
        return self

    def wait(self, **kwargs: Any) -> None:
        pass


def test_table_keys_and_index_are_those_the_tests_run_on(stage: Built) -> None:
    client = RecordingDynamoDB()
    create_table(client, "links")
    (local,) = client.created
    table = stage.properties("LinksTable")

    def by_name(definitions: list[dict[str, str]]) -> list[dict[str, str]]:
        return sorted(definitions, key=lambda d: d["AttributeName"])

    assert by_name(table["AttributeDefinitions"]) == by_name(local["AttributeDefinitions"])
    assert table["KeySchema"] == local["KeySchema"]
    assert table["GlobalSecondaryIndexes"] == local["GlobalSecondaryIndexes"]
    assert table["BillingMode"] == local["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TableName"] == {"Ref": "TableName"}
    config = packaging.stage_config(stage.stage)["environment_variables"]
    assert stage.parameter_default("TableName") == config["ONETIME_TABLE"]


def test_the_indexes_the_stores_query_are_in_the_template(stage: Built) -> None:
    from chalicelib.storage.grantstore import SUBJECT_INDEX
    from chalicelib.storage.linkstore import DAY_INDEX, FILE_INDEX, RECIPIENT_INDEX

    indexes = {
        index["IndexName"]: [key["AttributeName"] for key in index["KeySchema"]]
        for index in stage.properties("LinksTable")["GlobalSecondaryIndexes"]
    }
    # The attributes the stores write and query by (chalicelib/storage/linkstore.py _to_item).
    assert indexes[FILE_INDEX] == ["file", "created_at"]
    assert indexes[SUBJECT_INDEX] == ["grant_subject", "created_at"]
    assert indexes[RECIPIENT_INDEX] == ["recipient_key", "created_at"]
    assert indexes[DAY_INDEX] == ["created_day", "created_at"]


def test_table_survives_mistakes_and_purges_old_links(stage: Built) -> None:
    resource = stage.resource("LinksTable")
    table = resource["Properties"]
    # Kept by every stack operation but the rollback of the create that made it
    # (tests/tooling/test_deploy24_template.py).
    assert resource["DeletionPolicy"] == "RetainExceptOnCreate"
    assert resource["UpdateReplacePolicy"] == "Retain"
    assert table["DeletionProtectionEnabled"] == {"Ref": "TableDeletionProtection"}
    assert stage.parameter_default("TableDeletionProtection") == "true"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "purge_at", "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}


# The bucket


def test_bucket_is_private_versioned_and_encrypted(stage: Built) -> None:
    bucket = stage.properties("FilesBucket")
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert stage.resource("FilesBucket")["DeletionPolicy"] == "RetainExceptOnCreate"


def test_bucket_refuses_requests_without_tls(stage: Built) -> None:
    policy = stage.properties("FilesBucketPolicy")
    assert policy["Bucket"] == {"Ref": "FilesBucket"}
    refusals = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s["Principal"] == "*"
        and s["Action"] == "s3:*"
        and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(refusals) == 1
    assert refusals[0]["Resource"] == [
        {"Fn::GetAtt": ["FilesBucket", "Arn"]},
        {"Fn::Sub": "${FilesBucket.Arn}/*"},
    ]


def test_bucket_lifecycle_expires_uploads_old_versions_and_stale_multipart(
    stage: Built,
) -> None:
    rules = {r["Id"]: r for r in stage.properties("FilesBucket")["LifecycleConfiguration"]["Rules"]}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    assert rules["expire-uploads"]["Prefix"] == "uploads/"
    assert rules["expire-uploads"]["ExpirationInDays"] == {"Ref": "UploadExpirationDays"}
    noncurrent = rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]
    assert noncurrent == {"NoncurrentDays": {"Ref": "NoncurrentVersionDays"}}
    # A link pins its version for up to 30 days (the longest ttl).
    assert stage.template["Parameters"]["NoncurrentVersionDays"]["MinValue"] > 30
    abort = rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"]
    assert abort == {"DaysAfterInitiation": 1}


def test_bucket_lifecycle_removes_unconfirmed_request_uploads_soon(stage: Built) -> None:
    rules = {r["Id"]: r for r in stage.properties("FilesBucket")["LifecycleConfiguration"]["Rules"]}
    unconfirmed = rules["expire-unconfirmed-request-uploads"]
    # Both the prefix and the tag: a confirmed upload, or one under uploads/, is not touched.
    assert unconfirmed["Prefix"] == "requests/"
    assert unconfirmed["TagFilters"] == [{"Key": "onetime-upload", "Value": "pending"}]
    assert unconfirmed["ExpirationInDays"] == {"Ref": "UnconfirmedUploadDays"}
    # Its bytes too: on a versioned bucket expiring leaves the object as an old version.
    assert unconfirmed["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": {"Ref": "UnconfirmedUploadDays"}
    }
    days = stage.template["Parameters"]["UnconfirmedUploadDays"]
    assert (days["Type"], days["Default"], days["MinValue"]) == ("Number", 1, 1)
    # Confirmed ones live as long as any upload.
    confirmed = rules["expire-request-uploads"]
    assert confirmed["Prefix"] == "requests/"
    assert "TagFilters" not in confirmed
    assert confirmed["ExpirationInDays"] == {"Ref": "UploadExpirationDays"}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())


def as_api_rule(rule: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """A template's lifecycle rule in the S3 API's shape (as tools/stack.py puts it),
    with each parameter at its default."""

    def value(node: Any) -> Any:
        return parameters[node["Ref"]]["Default"] if isinstance(node, dict) else node

    rule = dict(rule)
    prefix = rule.pop("Prefix", "")
    tags = rule.pop("TagFilters", None)
    api: dict[str, Any] = {
        "ID": rule.pop("Id"),
        "Status": rule.pop("Status"),
        "Filter": {"And": {"Prefix": prefix, "Tags": tags}} if tags else {"Prefix": prefix},
    }
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": value(rule.pop("ExpirationInDays"))}
    if "ExpiredObjectDeleteMarker" in rule:
        api["Expiration"] = {"ExpiredObjectDeleteMarker": rule.pop("ExpiredObjectDeleteMarker")}
    if "NoncurrentVersionExpiration" in rule:
        days = rule.pop("NoncurrentVersionExpiration")["NoncurrentDays"]
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": value(days)}
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = rule.pop("AbortIncompleteMultipartUpload")
    assert rule == {}, f"a lifecycle setting this test does not translate: {rule}"
    return api


def test_local_bucket_has_the_template_s_lifecycle_rules(stage: Built) -> None:
    bucket = stage.properties("FilesBucket")
    parameters = stage.template["Parameters"]
    declared = [as_api_rule(r, parameters) for r in bucket["LifecycleConfiguration"]["Rules"]]
    assert declared == local.bucket_lifecycle()["Rules"]


# The bucket's CORS rule (file requests' upload page)


def evaluate(node: Any, parameters: dict[str, str]) -> Any:
    """The few intrinsic functions the CORS origin is built with, as CloudFormation
    evaluates them."""
    if isinstance(node, list):
        return [evaluate(item, parameters) for item in node]
    if not isinstance(node, dict):
        return node
    ((function, argument),) = node.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Fn::Sub":
        return re.sub(r"\$\{(\w+)\}", lambda m: parameters[m[1]], argument)
    if function == "Fn::Split":
        separator, text = argument
        return str(evaluate(text, parameters)).split(separator)
    if function == "Fn::Select":
        index, items = argument
        return evaluate(items, parameters)[int(index)]
    if function == "Fn::Join":
        separator, items = argument
        return separator.join(evaluate(items, parameters))
    raise AssertionError(f"{function} is not expected in the CORS rule")


def cors_rule(stage: Built) -> tuple[dict[str, Any], Any]:
    """The rule when PublicUrl is set, and what stands when it is not."""
    condition, present, absent = stage.properties("FilesBucket")["CorsConfiguration"]["Fn::If"]
    assert condition == "HasPublicUrl"
    assert stage.template["Conditions"]["HasPublicUrl"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PublicUrl"}, ""]}]
    }
    (rule,) = present["CorsRules"]
    return rule, absent


def test_bucket_cors_allows_a_post_and_parts_from_the_service_s_origin(stage: Built) -> None:
    rule, absent = cors_rule(stage)
    assert absent == {"Ref": "AWS::NoValue"}  # no PublicUrl: no rule, the plain form works
    # A form POST, and a large file's parts (issue 25): PUTs whose ETag the script reads.
    assert rule["AllowedMethods"] == ["POST", "PUT"]
    assert rule["ExposedHeaders"] == ["ETag"]
    # A part goes as a bare body: no request header is allowed.
    assert "AllowedHeaders" not in rule
    assert 0 < rule["MaxAge"] <= 3600
    (origin,) = rule["AllowedOrigins"]
    for public_url, expected in [
        ("https://files.example.com", "https://files.example.com"),
        ("https://files.example.com/", "https://files.example.com"),
        ("https://files.example.com:8443/x/y", "https://files.example.com:8443"),
        (
            "https://abc123.execute-api.eu-central-1.amazonaws.com/api",
            "https://abc123.execute-api.eu-central-1.amazonaws.com",
        ),
    ]:
        assert evaluate(origin, {"PublicUrl": public_url}) == expected
    # Even unused, the expression evaluates with PublicUrl empty.
    assert evaluate(origin, {"PublicUrl": ""}) == "https://"


def test_public_url_must_have_a_host_an_origin_can_match(stage: Built) -> None:
    pattern = stage.template["Parameters"]["PublicUrl"]["AllowedPattern"]
    # CloudFormation matches the whole value.
    for good in ["", "https://files.example.com", "https://a-b.example.com:8443/api/"]:
        assert re.fullmatch(pattern, good), good
    for bad in [
        "http://files.example.com",
        "https://Files.Example.com",  # browsers send the host in lower case
        "https://user@files.example.com",
        "https://files.example.com?x=1",
        "files.example.com",
    ]:
        assert not re.fullmatch(pattern, bad), bad


def test_local_bucket_has_the_template_s_cors_rule(stage: Built) -> None:
    rule, _ = cors_rule(stage)
    origin = "http://127.0.0.1:8000"
    assert local.bucket_cors(origin) == {
        "CORSRules": [
            {
                "ID": rule["Id"],
                "AllowedMethods": rule["AllowedMethods"],
                "ExposeHeaders": rule["ExposedHeaders"],
                "AllowedOrigins": [origin],
                "MaxAgeSeconds": rule["MaxAge"],
            }
        ]
    }


def test_local_bucket_shows_a_form_post_s_answer_to_the_service_s_pages_only(
    stack: Stack,
) -> None:
    """What the file request page's script meets: moto as the stack runs it (no global
    CORS, the bucket's rule added to POST answers as S3 does)."""
    post = stack.client("s3").generate_presigned_post(stack.bucket, "requests/r/n/cors.txt")

    def post_from(origin: str | None) -> requests.Response:
        return requests.post(
            post["url"],
            data=post["fields"],
            files={"file": ("cors.txt", b"hi")},
            headers={"Origin": origin} if origin else {},
            timeout=10,
        )

    allowed = post_from(stack.base_url)
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == stack.base_url
    for origin in ["https://elsewhere.example", f"http://{HOST}:{stack.s3_port}", None]:
        other = post_from(origin)
        assert other.status_code == 204  # stored all the same: CORS only hides the answer
        assert "Access-Control-Allow-Origin" not in other.headers, origin
    # Nor does any other request get an answer for every origin any more.
    read = requests.get(
        f"{post['url']}/requests/r/n/cors.txt",
        headers={"Origin": "https://elsewhere.example"},
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in read.headers


# The function's permissions


def test_policy_grants_exactly_the_actions_the_code_needs(stage: Built) -> None:
    assert {action for action, _ in grants(stage.stage)} == EXPECTED_ACTIONS


def test_policy_has_no_wildcard_action_and_no_bare_wildcard_resource(stage: Built) -> None:
    for statement in policy_statements(stage.stage):
        assert not {"NotAction", "NotResource"} & set(statement)
    for action, resource in grants(stage.stage):
        assert "*" not in action
        assert resource != "*"
        assert resource.startswith("arn:aws:")
        # A wildcard may stand for the region or the account, or end a path; never a name.
        assert "*" not in resource.split(":", 5)[-1].rstrip("*").rstrip(":/")


def test_policy_names_only_this_stage_s_table_bucket_and_log_group(stage: Built) -> None:
    env = packaging.stage_config(stage.stage)["environment_variables"]
    table = f"arn:aws:dynamodb:*:*:table/{env['ONETIME_TABLE']}"
    objects = f"arn:aws:s3:::{env['ONETIME_BUCKET']}/"
    log_group = f"arn:aws:logs:*:*:log-group:/aws/lambda/onetime-{stage.stage}"
    mail_domain = env["ONETIME_MAIL_FROM"].split("@")[1]
    allowed = {
        "dynamodb:PutItem": {table},
        "dynamodb:UpdateItem": {table},
        "dynamodb:GetItem": {table},
        "dynamodb:BatchGetItem": {table},
        "dynamodb:DeleteItem": {table},
        "dynamodb:Query": {
            f"{table}/index/by-file",
            f"{table}/index/by-subject",
            f"{table}/index/by-recipient",
            f"{table}/index/by-day",
        },
        "s3:GetObject": {objects + "*"},
        "s3:GetObjectVersion": {objects + "*"},
        "s3:PutObject": {objects + "uploads/*", objects + "requests/*"},
        "s3:ListMultipartUploadParts": {objects + "uploads/*", objects + "requests/*"},
        "s3:AbortMultipartUpload": {objects + "uploads/*", objects + "requests/*"},
        "s3:PutObjectTagging": {objects + "requests/*"},
        "s3:PutObjectVersionTagging": {objects + "requests/*"},
        "ses:SendEmail": {
            f"arn:aws:ses:*:*:identity/{mail_domain}",
            f"arn:aws:ses:*:*:identity/{env['ONETIME_MAIL_FROM']}",
        },
        "ses:SendRawEmail": {
            f"arn:aws:ses:*:*:identity/{mail_domain}",
            f"arn:aws:ses:*:*:identity/{env['ONETIME_MAIL_FROM']}",
        },
        "ssm:GetParameter": {f"arn:aws:ssm:*:*:parameter/onetime/{stage.stage}/secret"},
        "logs:CreateLogGroup": {log_group, log_group + ":*"},
        "logs:CreateLogStream": {log_group + ":*"},
        "logs:PutLogEvents": {log_group + ":*"},
    }
    for action, resource in grants(stage.stage):
        assert resource in allowed[action], (action, resource)


def test_writes_and_tags_reach_exactly_the_upload_prefixes(stage: Built) -> None:
    env = packaging.stage_config(stage.stage)["environment_variables"]
    objects = f"arn:aws:s3:::{env['ONETIME_BUCKET']}/"
    where: dict[str, set[str]] = {}
    for action, resource in grants(stage.stage):
        where.setdefault(action, set()).add(resource)
    # Every prefix named, and no other (not the bucket's root, where the linked files are).
    assert where["s3:PutObject"] == {objects + "uploads/*", objects + "requests/*"}
    assert where["s3:PutObjectTagging"] == {objects + "requests/*"}
    assert where["s3:PutObjectVersionTagging"] == {objects + "requests/*"}
    # Multipart uploads are listed and aborted only where they are made (issue 25).
    for multipart in ("s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"):
        assert where[multipart] == where["s3:PutObject"]
    writes = {a for a in where if a.startswith("s3:") and not a.startswith("s3:Get")}
    assert writes == {
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:ListMultipartUploadParts",
        "s3:AbortMultipartUpload",
    }


def test_policy_files_differ_only_in_the_stage_s_names() -> None:
    def shape(stage: str) -> str:
        env = packaging.stage_config(stage)["environment_variables"]
        text = json.dumps(packaging.policy_document(stage), sort_keys=True)
        text = text.replace(packaging.secret_parameter(stage), "SECRET")
        return text.replace(env["ONETIME_BUCKET"], "BUCKET").replace(f"onetime-{stage}", "NAME")

    assert shape("dev") == shape("prod")


def test_the_packaged_role_carries_the_policy_file_unchanged(stage: Built) -> None:
    (policy,) = stage.properties("ApiHandlerRole")["Policies"]
    assert policy["PolicyDocument"] == packaging.policy_document(stage.stage)
    assert stage.properties("APIHandler")["Role"] == {"Fn::GetAtt": ["ApiHandlerRole", "Arn"]}


def test_names_the_policy_relies_on_cannot_be_changed_at_deploy_time(stage: Built) -> None:
    for name in packaging.PINNED_PARAMETERS:
        parameter = stage.template["Parameters"][name]
        assert parameter["AllowedValues"] == [parameter["Default"]]
    assert stage.parameter_default("Stage") == stage.stage
    assert stage.properties("APIHandler")["FunctionName"] == {"Fn::Sub": "onetime-${Stage}"}
    log_group = stage.properties("ApiHandlerLogGroup")
    assert log_group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${APIHandler}"}
    assert log_group["RetentionInDays"] >= 365


def test_deleting_the_stack_keeps_the_logs(stage: Built) -> None:
    """Issue 16, item 7: a year of logs must survive the stack's deletion or replacement."""
    for name in ("ApiHandlerLogGroup", "NotifyLogGroup", "HttpApiAccessLogGroup"):
        group = stage.resource(name)
        assert (group.get("DeletionPolicy"), group.get("UpdateReplacePolicy")) == (
            "RetainExceptOnCreate",  # but a failed first create removes them: the retry works
            "Retain",
        ), name


def test_packaging_refuses_an_upload_prefix_the_policy_does_not_name() -> None:
    with pytest.raises(packaging.PackageError, match="ONETIME_UPLOAD_PREFIX"):
        packaging.check_upload_prefix("prod", {"ONETIME_UPLOAD_PREFIX": "incoming/"})
    with pytest.raises(packaging.PackageError, match="ONETIME_KEY_PREFIX"):
        packaging.check_upload_prefix("prod", {"ONETIME_KEY_PREFIX": "files/"})
    with pytest.raises(packaging.PackageError, match="ONETIME_REQUEST_PREFIX"):
        packaging.check_upload_prefix("prod", {"ONETIME_REQUEST_PREFIX": "inbox/"})
    for stage in STAGES:
        packaging.check_upload_prefix(stage, packaging.stage_config(stage)["environment_variables"])


def test_packaging_refuses_a_policy_for_another_bucket_or_sender() -> None:
    parameters = {
        "TableName": {"Default": "onetime-prod"},
        "BucketName": {"Default": "someone-elses-bucket"},
        "MailFrom": {"Default": "no-reply@onetime.example.com"},
    }
    with pytest.raises(packaging.PackageError, match=r"does not name .*someone-elses-bucket"):
        packaging.check_policy_names("prod", parameters)
    prod = packaging.stage_config("prod")["environment_variables"]
    parameters["BucketName"]["Default"] = prod["ONETIME_BUCKET"]
    packaging.check_policy_names("prod", parameters)
    parameters["MailFrom"]["Default"] = "no-reply@elsewhere.example"
    with pytest.raises(packaging.PackageError, match=re.escape("identity/onetime.example.com")):
        packaging.check_policy_names("prod", parameters)


def test_email_is_allowed_from_the_senders_domain_or_its_address_alone() -> None:
    """Issue 16, item 3: DEPLOY.md allows verifying the domain or only the address; the
    policy must cover both, or every emailed link would get 502 and be revoked.  A sender
    whose address identity the policy does not name is refused by `make package`."""
    prod = packaging.stage_config("prod")["environment_variables"]
    sender = prod["ONETIME_MAIL_FROM"]
    resources = {
        resource
        for statement in packaging.policy_document("prod")["Statement"]
        if "ses:SendEmail" in statement["Action"]
        for resource in statement["Resource"]
    }
    assert resources == {
        f"arn:aws:ses:*:*:identity/{sender.split('@')[1]}",
        f"arn:aws:ses:*:*:identity/{sender}",
    }
    parameters = {
        "TableName": {"Default": "onetime-prod"},
        "BucketName": {"Default": prod["ONETIME_BUCKET"]},
        "MailFrom": {"Default": "downloads@onetime.example.com"},  # same domain, other address
    }
    with pytest.raises(packaging.PackageError, match=re.escape("downloads@onetime.example.com")):
        packaging.check_policy_names("prod", parameters)


# The function's configuration


def test_api_key_hashes_come_from_ssm_not_from_the_template(stage: Built) -> None:
    variables = stage.properties("APIHandler")["Environment"]["Variables"]
    assert variables["ONETIME_API_KEY_SHA256"] == {"Ref": "ApiKeyHashParameter"}
    parameter = stage.template["Parameters"]["ApiKeyHashParameter"]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == f"/onetime/{stage.stage}/api-key-sha256"
    assert variables["ONETIME_TABLE"] == {"Ref": "TableName"}
    assert variables["ONETIME_BUCKET"] == {"Ref": "BucketName"}
    assert variables["ONETIME_UPLOAD_PREFIX"] == "uploads/"


def test_request_uploads_go_where_the_policy_and_the_lifecycle_rules_say(stage: Built) -> None:
    variables = stage.properties("APIHandler")["Environment"]["Variables"]
    assert variables["ONETIME_REQUEST_PREFIX"] == "requests/" == local.REQUEST_PREFIX
    # `chalice deploy` (way 1) takes the environment from config.json.
    config = packaging.stage_config(stage.stage)["environment_variables"]
    assert config["ONETIME_REQUEST_PREFIX"] == "requests/"


def test_function_ends_before_api_gateway_gives_up(stage: Built) -> None:
    function = stage.properties("APIHandler")
    # chalicelib/storage/budgets.py: the slowest route's worst case (25 s), checked against the
    # config's lambda_timeout by tests/unit/test_budgets.py; API Gateway gives up at 29 s.
    assert 25 < function["Timeout"] < 29
    assert function["MemorySize"] == 1024


def test_concurrency_is_unreserved_unless_asked_for(stage: Built) -> None:
    """Issue 16, item 5: reserving 100 fails the whole stack on accounts whose quota is
    under 200; it is a parameter that defaults to no reservation."""
    parameter = stage.template["Parameters"]["ReservedConcurrency"]
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 0, 0)
    assert stage.properties("APIHandler")["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "HasReservedConcurrency",
            {"Ref": "ReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert stage.template["Conditions"]["HasReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]
    }
    # `chalice deploy` (way 1) reserves nothing either, unless config.json is given a value.
    assert "reserved_concurrency" not in packaging.stage_config(stage.stage)


def test_api_stage_is_throttled(rest: Built) -> None:
    (setting,) = rest.properties("RestAPI")["MethodSettings"]
    assert setting["ResourcePath"] == "/*"
    assert setting["HttpMethod"] == "*"
    assert setting["ThrottlingRateLimit"] == {"Ref": "ThrottleRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ThrottleBurstLimit"}


def test_alarms_watch_this_api_and_released_uses(rest: Built) -> None:
    stage = rest
    api = stage.properties("RestAPI")
    alarm = stage.properties("Api5xxAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "5XXError")
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions["ApiName"] == api["Name"] == api["DefinitionBody"]["info"]["title"]
    assert dimensions["Stage"] == packaging.stage_config(stage.stage)["api_gateway_stage"]
    released = stage.properties("UsesReleasedAlarm")
    assert (released["Namespace"], released["MetricName"]) == ("onetime", "UsesReleased")
    # The embedded-format metric carries no dimensions (chalicelib/logs.py metric()).
    assert "Dimensions" not in released


# Notifications (chalicelib/events/notifications.py)


def test_the_table_streams_both_images_to_the_notifications_function(stage: Built) -> None:
    table = stage.properties("LinksTable")
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    function = stage.properties("Notify")
    assert function["Handler"] == "app.notify"
    assert function["FunctionName"] == {"Fn::Sub": "onetime-${Stage}-notify"}
    assert function["Role"] == {"Fn::GetAtt": ["NotifyRole", "Arn"]}
    (source,) = function["Events"].values()
    assert source["Type"] == "DynamoDB"
    mapping = source["Properties"]
    # The table's own stream, not app.py's stand-in.
    assert mapping["Stream"] == {"Fn::GetAtt": ["LinksTable", "StreamArn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 1 <= mapping["MaximumRetryAttempts"] <= 5
    assert mapping["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": ["NotificationsDeadLetterQueue", "Arn"]}}
    }
    # One record at its worst (every endpoint failing every attempt) fits the timeout.
    from chalicelib.events.webhooks import BACKOFF, TIMEOUT
    from chalicelib.settings import MAX_WEBHOOK_URLS

    worst = MAX_WEBHOOK_URLS * (TIMEOUT * (len(BACKOFF) + 1) + sum(BACKOFF))
    assert worst + 10 < function["Timeout"] <= 900
    variables = function["Environment"]["Variables"]
    assert variables["ONETIME_WEBHOOK_URLS"] == {"Ref": "WebhookUrls"}
    assert variables["ONETIME_WEBHOOK_SECRET_PARAMETER"] == {"Ref": "WebhookSecretParameter"}
    assert "ONETIME_WEBHOOK_SECRET" not in variables  # the secret stays in SSM


def test_the_notifications_role_may_do_only_what_notifying_needs(stage: Built) -> None:
    (policy,) = stage.properties("NotifyRole")["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    conditional = [s for s in statements if "Fn::If" in s]
    (secret,) = conditional
    condition, granted, absent = secret["Fn::If"]
    assert condition == "HasWebhookSecretParameter" and absent == {"Ref": "AWS::NoValue"}
    plain = {s["Sid"]: s for s in statements if "Fn::If" not in s}
    allowed = {
        "ReadTheLinksStream": (
            ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            {"Fn::GetAtt": ["LinksTable", "StreamArn"]},
        ),
        "ListTheLinksStreams": ("dynamodb:ListStreams", {"Fn::Sub": "${LinksTable.Arn}/stream/*"}),
        "SetAsideFailures": (
            "sqs:SendMessage",
            {"Fn::GetAtt": ["NotificationsDeadLetterQueue", "Arn"]},
        ),
    }
    for sid, (action, resource) in allowed.items():
        assert (plain[sid]["Action"], plain[sid]["Resource"]) == (action, resource)
    assert plain["SendReceipts"]["Action"] == ["ses:SendEmail", "ses:SendRawEmail"]
    domain, address = plain["SendReceipts"]["Resource"]  # the sender's domain or its address
    assert "identity/${Domain}" in domain["Fn::Sub"][0]
    assert address["Fn::Sub"].endswith(":identity/${MailFrom}")
    assert plain["WriteOwnLogs"]["Resource"]["Fn::Sub"].endswith(
        "log-group:/aws/lambda/onetime-${Stage}-notify:*"
    )
    assert set(plain) == set(allowed) | {"SendReceipts", "WriteOwnLogs"}
    assert granted["Action"] == "ssm:GetParameter"
    assert granted["Resource"]["Fn::Sub"].endswith(":parameter${WebhookSecretParameter}")
    for statement in [*plain.values(), granted]:
        assert statement["Effect"] == "Allow"
        assert "*" not in json.dumps(statement["Action"])
        assert statement["Resource"] != "*"


def test_failed_notifications_are_set_aside_and_alarmed(stage: Built) -> None:
    queue = stage.properties("NotificationsDeadLetterQueue")
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 86_400
    alarm = stage.properties("NotificationsFailedAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert alarm["Dimensions"] == [
        {
            "Name": "QueueName",
            "Value": {"Fn::GetAtt": ["NotificationsDeadLetterQueue", "QueueName"]},
        }
    ]
    assert alarm["Threshold"] == 1


def test_packaging_refuses_a_template_that_keeps_the_stand_in_stream() -> None:
    import app

    assert packaging.STREAM_STAND_IN in app.STREAM_ARN


def test_local_stage_keeps_no_environment() -> None:
    # tests and `make serve` set the environment themselves.
    config = json.loads(packaging.CONFIG.read_text())
    assert config["stages"]["local"] == {"api_gateway_stage": "local"}


def test_prod_refuses_the_example_names_unless_asked_not_to(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 16, item 10: `make package STAGE=prod` with the repository's example bucket and
    sender stops, naming them, before building anything."""
    assert packaging.main(["--stage", "prod", "--out", str(tmp_path)]) == 1
    said = capsys.readouterr().err
    assert "onetime-prod-files-example" in said and "no-reply@onetime.example.com" in said
    assert not (tmp_path / "sam.json").exists()
    packaging.check_placeholders("dev")  # dev may keep them
    with pytest.raises(packaging.PackageError, match="--allow-placeholders"):
        packaging.check_placeholders("prod")


# API Gateway's own answers (gateway responses)

# Each response type the template sets: (status, error code).  None keeps API Gateway's
# status.  The signature errors arise only for a request that matched no route (no
# method here is IAM-authorised), so they answer as an unknown path does.
GATEWAY_RESPONSES: dict[str, tuple[str | None, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": ("404", "not_found"),
    "INCOMPLETE_SIGNATURE": ("404", "not_found"),
    "INVALID_SIGNATURE": ("404", "not_found"),
    "EXPIRED_TOKEN": ("404", "not_found"),
    "THROTTLED": ("429", "rate_limited"),
    "REQUEST_TOO_LARGE": ("413", "request_too_large"),
    "UNSUPPORTED_MEDIA_TYPE": ("415", "unsupported_media_type"),
    "DEFAULT_4XX": (None, "refused"),
    "DEFAULT_5XX": (None, "unavailable"),
}

# What a template may refer to: the request id, nothing that holds the request's text.
_VTL_REFERENCE = re.compile(r"\$!?\{?[A-Za-z][\w.]*\}?")


def gateway_responses(stage: Built) -> dict[str, dict[str, Any]]:
    body = stage.properties("RestAPI")["DefinitionBody"]
    found: dict[str, dict[str, Any]] = body["x-amazon-apigateway-gateway-responses"]
    return found


def test_api_gateway_s_own_answers_are_the_ones_the_template_sets(rest: Built) -> None:
    stage = rest
    assert set(gateway_responses(stage)) == set(GATEWAY_RESPONSES)
    # In the definition SAM imports and deploys: separate GatewayResponse resources would
    # miss the stage's deployment snapshot.
    types = {resource.get("Type") for resource in stage.template["Resources"].values()}
    assert "AWS::ApiGateway::GatewayResponse" not in types


@pytest.mark.parametrize("response_type", sorted(GATEWAY_RESPONSES))
def test_each_gateway_response_is_private_json_in_the_api_s_error_shape(
    rest: Built, response_type: str
) -> None:
    response = gateway_responses(rest)[response_type]
    status, code = GATEWAY_RESPONSES[response_type]
    assert response.get("statusCode") == status
    (template,) = response["responseTemplates"].values()
    assert list(response["responseTemplates"]) == ["application/json"]
    # Nothing from the request: no $input, no $context.error (API Gateway's message
    # quotes the Authorization header), no header, path or query parameter.
    references = set(_VTL_REFERENCE.findall(template))
    assert references <= {"$context.requestId"}, references
    assert "header" not in template.lower()
    assert "#" not in template  # no VTL directives either
    body = json.loads(
        template.replace("$context.requestId", "c0ffee00-0000-4000-8000-000000000000")
    )
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"].endswith(".")
    assert set(body) <= {"error", "message", "request_id"}
    # Static values only ('...'): a header mapped from the request would echo it.
    parameters = response["responseParameters"]
    assert all(re.fullmatch(r"'[^']*'", value) for value in parameters.values()), parameters
    headers = {
        name.removeprefix("gatewayresponse.header."): value for name, value in parameters.items()
    }
    assert headers["Content-Type"] == "'application/json'"
    assert headers["Cache-Control"] == "'no-store'"
    assert headers["X-Content-Type-Options"] == "'nosniff'"
    assert headers["Referrer-Policy"] == "'no-referrer'"
    if response_type == "THROTTLED":
        assert headers["Retry-After"] == "'1'"


def test_gateway_error_codes_match_the_app_s_where_they_mean_the_same(rest: Built) -> None:
    stage = rest
    from chalicelib.domain.errors import (
        RateLimitedError,
        UnavailableError,
        UnsupportedMediaTypeError,
    )

    responses = gateway_responses(stage)

    def code(response_type: str) -> str:
        (template,) = responses[response_type]["responseTemplates"].values()
        found: str = json.loads(template)["error"]
        return found

    assert code("THROTTLED") == RateLimitedError.code
    assert code("UNSUPPORTED_MEDIA_TYPE") == UnsupportedMediaTypeError.code
    assert code("DEFAULT_5XX") == UnavailableError.code


def test_uploads_cannot_be_encrypted_with_a_key_the_function_cannot_use(stage: Built) -> None:
    """Issue 16, item 8: an object under the uploader's own KMS key (or SSE-C) could never be
    delivered; the bucket policy refuses such uploads, whoever signs them."""
    statements = {
        s["Sid"]: s for s in stage.properties("FilesBucketPolicy")["PolicyDocument"]["Statement"]
    }
    kms = statements["DenyUploadsNotSseS3"]
    assert (kms["Effect"], kms["Principal"], kms["Action"]) == ("Deny", "*", "s3:PutObject")
    assert kms["Condition"] == {
        "StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"},
        "Null": {"s3:x-amz-server-side-encryption": "false"},  # only when the header is sent
    }
    customer = statements["DenyUploadsWithCustomerKeys"]
    assert (customer["Effect"], customer["Action"]) == ("Deny", "s3:PutObject")
    assert customer["Condition"] == {
        "Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}
    }
    encryption = stage.properties("FilesBucket")["BucketEncryption"]
    [rule] = encryption["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


# What CloudFormation deploys: the SAM transform's output


def test_sam_deploys_exactly_one_api_stage_the_throttled_one(rest: Built) -> None:
    stage = rest
    api = translated_api(stage.report.template)

    def of_type(kind: str) -> list[dict[str, Any]]:
        return [r.get("Properties", {}) for r in api.values() if r["Type"] == kind]

    (only_stage,) = of_type("AWS::ApiGateway::Stage")
    assert only_stage["StageName"] == packaging.stage_config(stage.stage)["api_gateway_stage"]
    assert only_stage["MethodSettings"] == stage.properties("RestAPI")["MethodSettings"]
    # A Deployment with a StageName creates that stage as well: SAM's "Stage", next to the
    # real one, unthrottled and unwatched (aws/serverless-application-model#191).
    (deployment,) = of_type("AWS::ApiGateway::Deployment")
    assert "StageName" not in deployment, deployment


# The runtime


def zip_names(stage: Built) -> list[str]:
    with zipfile.ZipFile(stage.directory / "deployment.zip") as archive:
        return archive.namelist()


def test_every_function_runs_on_the_pinned_runtime(stage: Built) -> None:
    functions = {
        name: resource["Properties"]
        for name, resource in stage.template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert set(functions) == {"APIHandler", "Notify"}
    assert {name: p["Runtime"] for name, p in functions.items()} == {
        name: "python3.12" for name in functions
    }
    assert packaging.LAMBDA_RUNTIME == "python3.12"


def test_the_zip_s_dependencies_are_built_for_the_runtime(stage: Built) -> None:
    names = zip_names(stage)
    # cffi's backend is the one extension with a CPython tag: cryptography's is abi3.
    assert "_cffi_backend.cpython-312-x86_64-linux-gnu.so" in names
    assert "cryptography/hazmat/bindings/_rust.abi3.so" in names
    assert [name for name in names if "cpython-311" in name] == []
    # pip's console scripts stay out, and the only bytecode is the runtime's, each beside
    # its source (none from the Python that ran chalice, which the runtime would ignore).
    assert [name for name in names if name.startswith("bin/")] == []
    sources = {name for name in names if name.endswith(".py")}
    assert {name for name in names if name.endswith(".pyc")} <= {
        bytecode_of(source) for source in sources
    }


def bytecode_of(source: str) -> str:
    folder, _, module = source.rpartition("/")
    tag = packaging.RUNTIME_TAG
    return f"{folder}/__pycache__/{module[:-3]}.{tag}.pyc".lstrip("/")


def runtime_python_or_skip() -> str:
    python = packaging.runtime_python()
    if python is None:
        pytest.skip(
            f"no CPython {packaging.LAMBDA_RUNTIME} on this machine (PATH, pyenv, "
            f"{packaging.RUNTIME_PYTHON_VARIABLE}): the zip was built without bytecode"
        )
    return python


def test_every_module_in_the_zip_ships_the_runtime_s_unchecked_bytecode(stage: Built) -> None:
    runtime_python_or_skip()
    with zipfile.ZipFile(stage.directory / "deployment.zip") as archive:
        names = archive.namelist()
        sources = [name for name in names if name.endswith(".py")]
        assert [source for source in sources if bytecode_of(source) not in names] == []
        # PEP 552's flags word: hash-based (bit 0), source never checked (bit 1 clear).
        flags = {int.from_bytes(archive.read(bytecode_of(name))[4:8], "little") for name in sources}
    assert flags == {0b01}


# Lambda's code directory is read-only and nothing there is recompiled: a module whose
# bytecode were missing or stale would read its source, which here raises.
POISON = "raise ImportError('the runtime read a source instead of its bytecode: ' + __file__)\n"
IMPORTS_APP = """\
import os, sys
import app
tree = os.environ["TREE"]
ours = {name: module.__file__ for name, module in sys.modules.items()
        if name.split(".")[0] in ("app", "chalicelib", "chalice")}
outside = sorted(name for name, path in ours.items() if not path.startswith(tree))
assert not outside, outside
assert sys.version_info[:2] == (3, 12), sys.version
print(len(ours))
"""


def test_the_runtime_imports_app_from_the_zip_s_bytecode_alone(
    built: dict[str, Built], tmp_path: Path
) -> None:
    python = runtime_python_or_skip()
    tree = tmp_path / "task"
    with zipfile.ZipFile(built["prod"].directory / "deployment.zip") as archive:
        archive.extractall(tree)
    for source in tree.rglob("*.py"):
        source.write_text(POISON)
    provided = packaging.provide_runtime_packages(tmp_path / "runtime", link=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{tree}{os.pathsep}{provided}",
        "TREE": str(tree),
    }
    done = subprocess.run(
        [python, "-B", "-c", IMPORTS_APP],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout) > 20  # app, chalice and most of chalicelib, all from bytecode


def test_the_zip_keeps_the_app_s_own_modules(stage: Built) -> None:
    names = set(zip_names(stage))
    root = ROOT
    own = {"app.py"} | {
        path.relative_to(root).as_posix()
        for path in (root / "chalicelib").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert own - names == set()
    assert "chalice/app.py" in names  # chalice's runtime, which app.py imports


def test_packaging_refuses_a_zip_with_another_python_s_extension(tmp_path: Path) -> None:
    archive = tmp_path / "deployment.zip"
    with zipfile.ZipFile(archive, "w") as built:
        built.writestr("app.py", "")
        built.writestr("_cffi_backend.cpython-311-x86_64-linux-gnu.so", b"")
    with pytest.raises(packaging.PackageError, match="cpython-311"):
        packaging.check_runtime_files(archive)
