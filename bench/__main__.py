"""``python -m bench``: run every measurement and write BENCHMARKS.md."""

from __future__ import annotations

from bench.main import main

raise SystemExit(main())
