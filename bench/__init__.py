"""Benchmarks for the leaderboard on this machine: `python -m bench` (or `make bench`).

Every measurement runs against real local servers the suite starts itself (redis-server, the
Tansu Kafka broker, moto), and each figure is reported next to its floor measured in the same
run. BENCH_SCALE=25m selects the full-size run. Results go to bench/results/.
"""
