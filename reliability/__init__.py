"""Reliability and security figures: hostile inputs, a bounded soak, overload, SIGTERM under load, start-up faults.

Run with ``python -m reliability [--quick]``; writes ``benchmarks/results/reliability.json`` and
``RELIABILITY.md``.
"""
