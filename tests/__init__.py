"""The test suite; its helpers are importable as ``tests.support``."""
