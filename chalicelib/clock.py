"""The one clock: every "now" in the service comes from the clock it was given.

Production passes ``time.time``; tests pass a clock they freeze and advance, so
no test edits an item's times or sleeps.
"""

from __future__ import annotations

from collections.abc import Callable

Clock = Callable[[], float]
