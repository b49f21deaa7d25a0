"""Speed and memory of onetime, measured side by side on the local stand-ins.

``python -m bench`` (``make bench``) starts dynalite, moto server and ``chalice
local`` on 127.0.0.1, runs every measurement with its variants interleaved, and
prints a table that it also writes to ``BENCHMARKS.md``.  Nothing here is a test:
timings on a shared two-core machine are noisy, so only medians and ratios of
variants measured in the same run are reported.
"""
