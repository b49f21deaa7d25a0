"""Issue 24, items 1 and 3: the documented deploy commands work for the templates as
packaged (a template over 51,200 bytes needs ``--s3-bucket``), and a failed first create
can be retried with the documented commands (nothing with a fixed name is left behind, and
the table's deletion protection does not stop the rollback)."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML, chalice's dependency; no stubs installed

from tests.helpers import ROOT
from tests.tooling.packaged import BUILDS, DATA_ONLY, Built

DEPLOY = (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
# `aws cloudformation deploy` refuses a template body above this without --s3-bucket.
INLINE_TEMPLATE_LIMIT = 51_200
# Resources whose names the template fixes: one left behind by a failed create makes the
# retry fail with "already exists".
FIXED_NAMES = ("LinksTable", "FilesBucket", "ApiHandlerLogGroup", "NotifyLogGroup")


def shell_commands(text: str) -> list[list[str]]:
    """Every command in the document's sh blocks, continuation lines joined, comments cut."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(words)
    return commands


def deploy_commands() -> list[list[str]]:
    return [c for c in shell_commands(DEPLOY) if c[:3] == ["aws", "cloudformation", "deploy"]]


def option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def packaged_size(built: Built) -> int:
    """The size of what `aws cloudformation package` writes: the template as YAML, the zip
    replaced by its S3 location."""
    document: dict[str, Any] = yaml.safe_load(yaml.safe_dump(built.template))
    for resource in document["Resources"].values():
        if "CodeUri" in resource.get("Properties", {}):
            resource["Properties"]["CodeUri"] = (
                "s3://my-artifacts-123456789012-eu-central-1/0123456789abcdef0123456789abcdef"
            )
    return len(yaml.safe_dump(document, default_flow_style=False, sort_keys=False).encode())


def test_every_documented_deploy_can_send_its_template(packaged: dict[str, Built]) -> None:
    commands = deploy_commands()
    assert len(commands) >= 3  # way 2's first and later deploys, way 1's data stack
    sizes = {name: packaged_size(built) for name, built in packaged.items()}
    for command in commands:
        template = option(command, "--template-file")
        assert template is not None, command
        if template.endswith("packaged.yaml"):
            size = max(size for name, size in sizes.items() if name != DATA_ONLY)
        else:
            assert template.endswith("data.json"), template
            size = sizes[DATA_ONLY]
        if size > INLINE_TEMPLATE_LIMIT:
            assert option(command, "--s3-bucket"), (template, size, command)
    # The reason it matters: the REST front's template is over the limit, and the HTTP
    # front's a few routes or resources away from it.
    assert sizes["prod (rest)"] > INLINE_TEMPLATE_LIMIT, sizes
    assert sizes["prod"] > INLINE_TEMPLATE_LIMIT * 3 // 4, sizes


@pytest.mark.parametrize("name", BUILDS)
def test_a_failed_first_create_leaves_no_fixed_name_behind(
    packaged: dict[str, Built], name: str
) -> None:
    built = packaged[name]
    resources = built.template["Resources"]
    fixed = [r for r in (*FIXED_NAMES, "HttpApiAccessLogGroup") if r in resources]
    assert fixed
    for resource in fixed:
        # Kept by a deletion or a replacement, removed by the failed create that made it.
        assert resources[resource]["DeletionPolicy"] == "RetainExceptOnCreate", resource
        assert resources[resource]["UpdateReplacePolicy"] == "Retain", resource
    assert not [r for r, v in resources.items() if v.get("DeletionPolicy") == "Retain"]


@pytest.mark.parametrize("name", BUILDS)
def test_deletion_protection_is_a_parameter_the_first_deploy_turns_off(
    packaged: dict[str, Built], name: str
) -> None:
    built = packaged[name]
    table = built.properties("LinksTable")
    assert table["DeletionProtectionEnabled"] == {"Ref": "TableDeletionProtection"}
    parameter = built.template["Parameters"]["TableDeletionProtection"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("true", ["true", "false"])


def test_the_documented_commands_deploy_first_without_protection_then_with_it() -> None:
    way2 = [c for c in deploy_commands() if str(option(c, "--template-file")).endswith(".yaml")]
    first, later = way2[0], way2[1:]
    assert "TableDeletionProtection=false" in first
    assert later and all("TableDeletionProtection=true" in c for c in later)
    # A failed first create ends in ROLLBACK_COMPLETE, which deploy cannot update: the
    # document deletes the empty stack before the retry.
    commands = [" ".join(c) for c in shell_commands(DEPLOY)]
    assert "aws cloudformation delete-stack --stack-name onetime-prod" in commands
    assert "aws cloudformation wait stack-delete-complete --stack-name onetime-prod" in commands
    assert "rolls back by itself" not in DEPLOY


@pytest.mark.parametrize("name", ["dev", "prod", "prod (rest)"])
def test_without_webhooks_only_links_asking_for_receipts_invoke_the_notify_function(
    packaged: dict[str, Built], name: str
) -> None:
    """Issue 24, item 6: the notify function is billed per invocation; records it would do
    nothing with (no webhooks, no receipt asked for) are dropped by Lambda's filter first."""
    built = packaged[name]
    source = built.properties("Notify")["Events"]["NotifyDynamodbEventSource"]["Properties"]
    kept_when, no_filter, the_filter = source["FilterCriteria"]["Fn::If"]
    assert kept_when == "HasWebhooks" and no_filter == {"Ref": "AWS::NoValue"}
    assert built.template["Conditions"]["HasWebhooks"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "WebhookUrls"}, ""]}]
    }
    (only,) = the_filter["Filters"]
    pattern = json.loads(only["Pattern"])
    assert pattern == {"dynamodb": {"NewImage": {"notify": {"S": [{"exists": True}]}}}}
    # The item attribute a link asking for receipts carries (chalicelib/storage/linkstore.py).
    from chalicelib.domain.link import Link

    assert hasattr(Link, "notify")
    linkstore = (ROOT / "chalicelib" / "storage" / "linkstore.py").read_text()
    assert re.search(r'for name in \([^)]*"notify"', linkstore)
