"""Human sizes: ``10MB`` (decimal), ``5MiB`` (binary), ``1.5GB`` or plain bytes."""

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
EXAMPLES = "10MB, 5MiB, 1.5GB, 500KiB or plain bytes"


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
