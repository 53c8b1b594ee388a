"""What the tests and the benchmarks both run against: the Slack and Meraki stand-ins, the fake Nautobot,
and the real-Nautobot harness with its seed data.

It imports neither ``tests`` nor ``bench``: both import it, so neither has to import the other. It is not part
of the installed package (pyproject.toml installs ``bot`` alone); run from the repository root.
"""
