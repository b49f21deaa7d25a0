"""Developer tools: the local stack (``make serve``, the tests, the bench) and packaging."""

from pathlib import Path

# The checkout's root: processes start here, and it holds node_modules and the build.
ROOT = Path(__file__).resolve().parent.parent
