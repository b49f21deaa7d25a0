"""``python -m onetime_cli``: the ``onetime`` command of this checkout (``make smoke`` runs
it this way, so the code that checks a deploy is the code in the folder it runs from)."""

from onetime_cli.main import cli

cli(prog_name="onetime")
