"""Benchmarks that print figures and ratios: `python -m bench` runs them all, `python -m bench hit` one.

Each benchmark starts what it needs on loopback (a private redis-server, and a helper process with the
moto server, the simulated model and the Upstash-REST server), builds the engine the production way,
warms up, then prints a table with the target and PASS/MISS next to each targeted figure.
"""
