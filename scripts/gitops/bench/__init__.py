"""Benchmarks: `make e2e` stage times, the plan preview on large plans, the app under load."""
