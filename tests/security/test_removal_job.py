"""Remove Meraki User fails closed in a real Nautobot: what counts as a dry run, two removals at once, and who
owns the API key (its log is what the Slack bot posts).
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from testbed.meraki_standin import MerakiStandIn
from testbed.nautobot_stack import BOT_USERNAME, REDIS_CACHE_DB, REDIS_HOST, REDIS_PORT, NautobotStack
from testbed.seed import ACME, GLOBEX
from tests.support.job_runs import Run, run_job
from tests.support.nautobot_ui import logged_in, submit_job_form

pytestmark = [pytest.mark.security, pytest.mark.nautobot]

FIND, CREATE, REMOVE = "Find Meraki User", "Create Meraki User", "Remove Meraki User"
JANE = "jane.doe@example.com"
ANN, BOB = "ann@example.com", "bob@example.com"
OWNER_NAME, OWNER_EMAIL = "Olga Keyholder", "olga.keyholder@keyowner.example"
"""Unlike anything else here: Nautobot redacts what precedes an @, so a leak shows as this name or domain."""


@pytest.fixture
def run(stack: NautobotStack, bot):
    def run_named(job_name: str, **data) -> Run:
        return run_job(stack, bot, stack.job_ids[job_name], data)

    return run_named


def emails(meraki: MerakiStandIn, org_id: str) -> list[str]:
    return sorted(admin["email"] for admin in meraki.admins(org_id))


# -- 9: only an explicit false removes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dryrun",
    [..., None, "", "false", "False", "no", 0, "0", [], {}],
    ids=["missing", "null", "empty", "'false'", "'False'", "'no'", "0", "'0'", "[]", "{}"],
)
def test_anything_but_an_explicit_false_is_a_dry_run(stack, meraki, run, dryrun):
    meraki.add_admin(ACME, JANE, "Jane Doe", "read-only")
    data = {"user_email": JANE, "meraki_org_id": "all"} | ({} if dryrun is ... else {"dryrun": dryrun})

    planned = run(REMOVE, **data)

    assert planned.response.status_code == 201, planned.response.text
    assert planned.status == "SUCCESS", planned.lines()
    assert planned.data["outcome"] == "dry-run" and planned.data["dryrun"] is True
    assert meraki.requests_to("DELETE", ".*") == []
    assert emails(meraki, ACME) == [JANE]


def test_an_explicit_false_removes(stack, meraki, run):
    meraki.add_admin(ACME, JANE, "Jane Doe", "read-only")
    removed = run(REMOVE, user_email=JANE, meraki_org_id="all", dryrun=False)
    assert removed.status == "SUCCESS", removed.lines()
    assert removed.data["outcome"] == "removed"
    assert emails(meraki, ACME) == []


def test_nautobots_own_form_removes_only_with_the_box_unticked(stack, meraki):
    """A browser leaves an unticked box out of what it posts; Nautobot's form view reads that as False itself."""
    meraki.add_admin(ACME, JANE, "Jane Doe", "read-only")
    form = {"user_email": JANE, "meraki_org_id": "all"}
    with logged_in(stack) as browser:
        ticked = stack.wait_for_result(submit_job_form(stack, browser, stack.job_ids[REMOVE], {**form, "dryrun": "on"}))
        assert ticked["result"]["outcome"] == "dry-run" and emails(meraki, ACME) == [JANE]
        unticked = stack.wait_for_result(
            submit_job_form(stack, browser, stack.job_ids[REMOVE], {**form, "dryrun": None})
        )
    assert unticked["status"]["value"] == "SUCCESS", unticked["result"]
    assert unticked["result"]["outcome"] == "removed" and emails(meraki, ACME) == []


def enqueue_directly(stack: NautobotStack, job_name: str, job_kwargs: dict) -> str:
    """Queue a run with these inputs as they are, past the REST API's validation, as a stored schedule is run."""
    code = (
        "import json\n"
        "from nautobot.extras.models import Job, JobResult\n"
        "from nautobot.users.models import User\n"
        f"job = Job.objects.get(pk={stack.job_ids[job_name]!r})\n"
        f"user = User.objects.get(username={BOT_USERNAME!r})\n"
        f"result = JobResult.enqueue_job(job, user, **json.loads({json.dumps(job_kwargs)!r}))\n"
        "print('JOB_RESULT', result.pk)\n"
    )
    done = subprocess.run(
        [stack.release.server, "shell", "--command", code], env=stack.env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("JOB_RESULT ")]
    return line.split()[1]


@pytest.mark.parametrize("dryrun", [None, "", "false", 0], ids=["null", "empty", "'false'", "0"])
def test_the_job_itself_removes_only_on_false(stack, meraki, dryrun):
    meraki.add_admin(ACME, JANE, "Jane Doe", "read-only")
    result_id = enqueue_directly(stack, REMOVE, {"user_email": JANE, "meraki_org_id": "all", "dryrun": dryrun})
    result = stack.wait_for_result(result_id)
    assert result["status"]["value"] == "SUCCESS"
    assert result["result"]["outcome"] == "dry-run"
    assert meraki.requests_to("DELETE", ".*") == []
    assert emails(meraki, ACME) == [JANE]


# -- 10: two removals at once never leave an organization without a full administrator ---------------------------


def test_two_removals_at_once_leave_a_full_administrator(stack, meraki, bot):
    meraki.add_admin(ACME, ANN, "Ann", "full", account_status="ok")
    meraki.add_admin(ACME, BOB, "Bob", "full", account_status="ok")
    # Each removal's listing of Acme's administrators is held until the other's arrives, so unless something
    # keeps them apart both read "two full administrators" before either deletes. The worker runs two Jobs at once.
    meraki.gather(2, match=rf"^GET /organizations/{ACME}/admins$", timeout=15)
    data = {"meraki_org_id": ACME, "dryrun": False}

    def remove(email: str) -> Run:
        return run_job(stack, bot, stack.job_ids[REMOVE], {**data, "user_email": email})

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(remove, [ANN, BOB]))

    left = meraki.admins(ACME)
    assert any(admin["orgAccess"] == "full" and admin["accountStatus"] == "ok" for admin in left), left
    assert len(meraki.requests_to("DELETE", rf"/organizations/{ACME}/admins/\d+")) == 1
    actions = sorted(run.data["admins"][0]["action"] for run in runs)
    assert actions == ["refused", "removed"], [run.lines() for run in runs]
    [refused] = [run for run in runs if run.data["admins"][0]["action"] == "refused"]
    assert "last administrator with full organization access" in refused.data["admins"][0]["reason"]


def test_a_removal_that_cannot_get_the_lock_removes_nothing(stack, meraki, run):
    meraki.add_admin(ACME, JANE, "Jane Doe", "read-only")
    meraki.add_admin(GLOBEX, JANE, "Jane Doe", "read-only")
    cache = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_CACHE_DB)
    # As another worker's removal holds it (Django's cache key: prefix, version, key); longer than a run waits.
    held = cache.lock(f":1:meraki_chatops:removal:{ACME}", timeout=300)
    assert held.acquire(blocking=False)
    try:
        removed = run(REMOVE, user_email=JANE, meraki_org_id="all", dryrun=False)
    finally:
        held.release()

    assert removed.status == "FAILURE"
    assert emails(meraki, ACME) == [JANE] and emails(meraki, GLOBEX) == []  # the other organization is still done
    assert meraki.requests_to("GET", f"/organizations/{ACME}/admins") == []
    [busy] = removed.lines("warning")
    assert busy.startswith(f"Not checked Acme Corp ({ACME}): another removal in this organization was still under way")
    assert busy.endswith("Nothing was removed there; run the Job again.")
    assert removed.data["outcome"] == "incomplete"


# -- 12: the API key's owner is never named in a Job's log --------------------------------------------------------


def test_no_job_log_names_the_api_keys_owner(stack, meraki, run):
    meraki.set_identity(OWNER_EMAIL, OWNER_NAME)
    meraki.add_admin(ACME, OWNER_EMAIL, OWNER_NAME, "full", account_status="ok", has_api_key=True)
    meraki.add_admin(ACME, JANE, "Jane Doe", "read-only")

    runs = {
        "remove": run(REMOVE, user_email=JANE, meraki_org_id="all", dryrun=False),
        "find": run(FIND, query=JANE, meraki_org_id="all"),
        "create": run(
            CREATE,
            user_email="new.admin@example.com",
            user_name="New Admin",
            meraki_org_id=ACME,
            meraki_access_level="read-only",
            dryrun=True,
        ),
    }

    for name, done in runs.items():
        assert done.status == "SUCCESS", (name, done.lines())
        logged = json.dumps(done.logs).casefold()
        assert "olga" not in logged and "keyholder" not in logged and "keyowner" not in logged, (name, done.lines())
    assert "The API key's own administrator is known; it is never removed." in runs["remove"].lines("info")
