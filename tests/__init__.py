"""The test suite; its own helpers are importable as ``tests.support``, what it shares with bench/ as ``testbed``."""
