"""A second Git repository for the test Nautobot: Jobs that exist only to exercise the bot (never shipped)."""
