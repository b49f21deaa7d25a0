"""Human sizes: ``5MiB`` (binary, as the CLI and the pages show sizes), ``10MB``
(decimal), ``1.5GiB`` or plain bytes."""

from __future__ import annotations

import re
from decimal import Decimal

from onetime_cli.durations import Quantity

# Both families, since people write both: MB is 1000², MiB is 1024².
UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
# ASCII digits only (as in durations): \d would also admit other scripts' digits.
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([a-z]*)")
# Binary first: what the CLI and the pages show (20MiB is shown as 20.0 MiB; 20MB as 19.1 MiB).
EXAMPLES = "20MiB, 500KiB, 1.5GiB, 10MB (1000-based) or plain bytes"


def parse_size(text: str) -> int:
    """Bytes in ``text``; ``ValueError`` with a sentence for a person otherwise."""
    found = _SIZE.fullmatch(text.strip().lower())
    if found is None or found.group(2) not in UNITS:
        raise ValueError(f"{text!r} is not a size; use e.g. {EXAMPLES}.")
    amount = Decimal(found.group(1)) * UNITS[found.group(2)]
    if amount != amount.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of bytes.")
    if amount <= 0:
        raise ValueError(f"{text!r} is not a size: it must be more than zero.")
    return int(amount)


SIZE = Quantity("size", parse_size)
