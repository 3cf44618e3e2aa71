"""Reliability and security figures: hostile inputs, the cost of each attack, a bounded soak, overload, SIGTERM
under load and start-up faults (``python -m reliability``)."""
