"""Benchmarks: figures measured side by side in one run (see each script's docstring)."""
