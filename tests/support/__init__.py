"""Helpers only the tests use; what the benchmarks share with them is in ``testbed``."""
