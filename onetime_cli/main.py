"""``onetime``: the operators' command-line tool for single-use download links
(and ``onetime get``, the customer's download).  The entry point: the group
(onetime_cli/group.py) with every audience's commands added."""

from __future__ import annotations

from onetime_cli.commands import customers, deploys, operators, uploaders
from onetime_cli.group import cli

COMMANDS = (
    customers.get_command,
    operators.link_command,
    operators.show_command,
    operators.revoke_command,
    operators.unlock_command,
    operators.refund_command,
    operators.extend_command,
    operators.list_command,
    operators.resend_command,
    uploaders.share_command,
    uploaders.request_command,
    uploaders.requests_group,
    deploys.smoke_command,
)
for command in COMMANDS:
    cli.add_command(command)

__all__ = ["cli"]
