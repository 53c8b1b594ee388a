"""Jobs the test harness syncs beside the project's own, as a Git repository of their own."""

from nautobot.apps.jobs import register_jobs

from .every_variable import EveryVariableType

register_jobs(EveryVariableType)
