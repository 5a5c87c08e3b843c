"""Opt-in benchmarks: scripts that print throughput as ratios against a same-run baseline."""
