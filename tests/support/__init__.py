"""Stand-ins, fakes and the real-Nautobot harness shared by the tests and the benchmarks."""
