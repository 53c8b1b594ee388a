"""Jobs this repository provides when Nautobot syncs it as a Git repository."""

from nautobot.apps.jobs import register_jobs

from .meraki_expiry import RevokeMerakiAccess
from .meraki_lifecycle import FindMerakiUser, RemoveMerakiUser
from .meraki_users import CreateMerakiUser

register_jobs(CreateMerakiUser, FindMerakiUser, RemoveMerakiUser, RevokeMerakiAccess)
