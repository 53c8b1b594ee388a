"""Users, tokens and permissions of the test Nautobot; run inside ``nautobot-server shell``.

``admin`` (superuser) sets things up as a Nautobot admin would. ``chatops-bot`` holds exactly the
permissions the README asks an operator to give the bot's token (including those for the
nautobot-chatops integration), and the tests act through it.
"""

import os

from django.contrib.contenttypes.models import ContentType
from nautobot.users.models import ObjectPermission, Token, User

ADMIN_TOKEN = os.environ["TEST_ADMIN_TOKEN"]
BOT_TOKEN = os.environ["TEST_BOT_TOKEN"]

admin, _ = User.objects.get_or_create(username="admin", defaults={"is_superuser": True, "is_staff": True})
admin.set_password("admin")
admin.save()
Token.objects.get_or_create(user=admin, key=ADMIN_TOKEN)

bot, _ = User.objects.get_or_create(username="chatops-bot")
Token.objects.get_or_create(user=bot, key=BOT_TOKEN)


def grant(name: str, actions: list[str], models: list[str], constraints: dict | None = None) -> None:
    permission, _ = ObjectPermission.objects.update_or_create(
        name=name, defaults={"actions": actions, "enabled": True, "constraints": constraints}
    )
    permission.object_types.set(ContentType.objects.get_by_natural_key(*model.split(".")) for model in models)
    permission.users.add(bot)


grant("meraki-chatops: run jobs", ["view", "run"], ["extras.job"])
grant("meraki-chatops: read job results", ["view"], ["extras.jobresult", "extras.joblogentry", "extras.scheduledjob"])
# With NAUTOBOT_CHATOPS on: read the access grants, write the command log, find account links
# (the link list shows only the caller's own links, so they are found through the change log).
grant("meraki-chatops: read chatops access grants", ["view"], ["nautobot_chatops.accessgrant"])
grant("meraki-chatops: write the chatops command log", ["add"], ["nautobot_chatops.commandlog"])
grant("meraki-chatops: read chatops account links", ["view"], ["nautobot_chatops.chatopsaccountlink"])
grant(
    "meraki-chatops: find chatops account links in the change log",
    ["view"],
    ["extras.objectchange"],
    constraints={
        "changed_object_type__app_label": "nautobot_chatops",
        "changed_object_type__model": "chatopsaccountlink",
    },
)
# Nautobot 3.x: find who may decide a run it holds for approval (the scheduled job's approval workflow, its
# stages, the approver group's users) and who decided it (the stages' responses, shown only to a user who may view
# them); 2.4 has no approval workflows.
if ContentType.objects.filter(app_label="extras", model="approvalworkflow").exists():
    grant(
        "meraki-chatops: find the approvers of a run held for approval",
        ["view"],
        [
            "extras.approvalworkflow",
            "extras.approvalworkflowstage",
            "extras.approvalworkflowstagedefinition",
            "extras.approvalworkflowstageresponse",
            "users.user",
        ],
    )
    # doctor: would an approval workflow definition hold the scheduled revoke of a time-bound grant?
    grant(
        "meraki-chatops: read approval workflow definitions",
        ["view"],
        ["extras.approvalworkflowdefinition"],
    )
# Approval rules naming Nautobot groups, or requiring an account link: the groups' users (and whether each is active),
# and the groups themselves (doctor tells a group that does not exist); the links come from the change log above.
grant("meraki-chatops: find approvers named by Nautobot group", ["view"], ["users.user", "auth.group"])
# The test-only Job "Every Variable Type" offers statuses in its ObjectVar selects: what the README asks
# of an operator whose Job has ObjectVars (view on the models they name).
grant("meraki-chatops tests: view the statuses the test Job offers", ["view"], ["extras.status"])

# Celery beat takes no notice of the first change it ever sees to the scheduled jobs (django-celery-beat compares
# each change's time with the one before, and a database that never scheduled a job has none): record one, as in
# any Nautobot that has scheduled a job before, so that a revoke scheduled while beat runs is picked up.
from nautobot.extras.models import ScheduledJobs  # noqa: E402 - this file runs as a shell script, top to bottom

ScheduledJobs.update_changed()
