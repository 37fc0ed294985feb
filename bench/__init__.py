"""Reproducible benchmarks: `make bench` runs `python -m bench`; results go in BENCHMARKS.md."""
