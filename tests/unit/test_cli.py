"""The command line without Nautobot: settings problems are reported, not raised; `run` reads any Job's form."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli, run_inputs
from bot.command_bindings import DEFAULT_COMMANDS
from bot.models import JobForm, JobVariable

MERAKI_CHATOPS = str(Path(sys.executable).parent / "meraki-chatops")


def test_missing_settings_list_every_problem(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NAUTOBOT_"))}
    done = subprocess.run(
        [MERAKI_CHATOPS, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "NAUTOBOT_URL", "NAUTOBOT_TOKEN"):
        assert name in done.stderr
    assert "Traceback" not in done.stderr


def test_malformed_settings_say_what_is_wrong(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NAUTOBOT_"))}
    env.update(
        SLACK_BOT_TOKEN="xapp-wrong-kind", SLACK_APP_TOKEN="xapp-1", NAUTOBOT_URL="not a url", NAUTOBOT_TOKEN="t"
    )
    done = subprocess.run(
        [MERAKI_CHATOPS, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "SLACK_BOT_TOKEN: must start with xoxb-" in done.stderr
    assert "NAUTOBOT_URL:" in done.stderr
    assert "xapp-wrong-kind" not in done.stderr and "Traceback" not in done.stderr


# -- `run`: any command's Job, its variables from the Job's form ------------------------------------

ORGS = [("111111", "Acme Corp (111111)"), ("222222", "Globex (222222)")]
ACCESS = [("full", "Full"), ("read-only", "Read Only"), ("enterprise", "Enterprise"), ("none", "None")]
REQUESTER = [JobVariable(name="requested_by"), JobVariable(name="approved_by"), JobVariable(name="request_id")]
ADD = JobForm(
    job_id="add",
    job_name="Create Meraki User",
    variables=[
        JobVariable(name="user_email", label="User Email", required=True),
        JobVariable(name="user_name", label="User Name", required=True),
        JobVariable(name="meraki_org_id", type="ChoiceVar", choices=ORGS, required=True),
        JobVariable(name="meraki_access_level", type="ChoiceVar", choices=ACCESS, default="read-only", required=True),
        JobVariable(name="meraki_network"),
        JobVariable(name="meraki_network_access", type="ChoiceVar", choices=ACCESS[:2], default="read-only"),
        JobVariable(name="dryrun", type="DryRunVar", default=False),
        *REQUESTER,
    ],
)
FIND = JobForm(
    job_id="find",
    job_name="Find Meraki User",
    variables=[
        JobVariable(name="query", label="Email or Name", required=True, min_length=2),
        JobVariable(name="meraki_org_id", type="ChoiceVar", choices=[("all", "All"), *ORGS], default="all"),
        *REQUESTER,
    ],
)
REMOVE = JobForm(
    job_id="remove",
    job_name="Remove Meraki User",
    variables=[
        JobVariable(name="user_email", required=True),
        JobVariable(name="meraki_org_id", type="ChoiceVar", choices=[("all", "All"), *ORGS], default="all"),
        JobVariable(name="dryrun", type="DryRunVar", default=True),
        *REQUESTER,
    ],
)


def values(form: JobForm, *arguments: str, assignments: tuple[str, ...] = (), dry_run: bool = False) -> dict:
    command, given = run_inputs.split_arguments(arguments)
    assert command is None
    return run_inputs.run_values(form, given, list(assignments), dry_run=dry_run)


def test_run_keeps_the_documented_flags_of_the_add_command() -> None:
    given = values(ADD, "--user-email", "bob@example.com", "--access-level", "Read Only", "--org", "Acme Corp")

    assert given == {
        "user_email": "bob@example.com",
        "user_name": "bob",  # the part of the email before the @
        "meraki_org_id": "111111",  # by its label, without the ID
        "meraki_access_level": "read-only",
        "meraki_network_access": "read-only",
        "dryrun": False,
    }
    assert (
        values(ADD, "--user-email=a@b.co", "--user-name", "Al B", "--network", "N_1", "--network-access", "full")[
            "meraki_network"
        ]
        == "N_1"
    )
    assert values(ADD, "--user-email", "a@b.co", "--network-access", "Full", dry_run=True)["dryrun"] is True
    assert values(ADD, assignments=("user_email=a@b.co",))["user_email"] == "a@b.co"
    args, _ = cli.parser().parse_known_args(["run", "--set", "user_email=a@b.co", "--var", "user_name=A"])
    assert args.assignments == ["user_email=a@b.co", "user_name=A"]  # --set, as before, or --var


def test_run_takes_any_jobs_variables_by_flag_or_by_var() -> None:
    assert values(FIND, "--query", "bob@example.com") == {"query": "bob@example.com", "meraki_org_id": "all"}
    assert values(FIND, assignments=("query=bob", "meraki_org_id=Globex")) == {
        "query": "bob",
        "meraki_org_id": "222222",
    }
    assert values(REMOVE, "--user-email", "bob@example.com", "--dryrun", "false")["dryrun"] is False
    assert values(REMOVE, "--user-email", "bob@example.com")["dryrun"] is True  # the Job's default


def test_run_names_what_exists_when_a_flag_names_nothing_or_too_much() -> None:
    with pytest.raises(run_inputs.UsageError) as unknown:
        values(FIND, "--email", "bob@example.com")
    assert str(unknown.value) == (
        "Find Meraki User has no variable --email. "
        "Its variables: --query, --meraki-org-id, --requested-by, --approved-by, --request-id."
    )
    with pytest.raises(run_inputs.UsageError, match="--meraki could be --meraki-org-id or --meraki-access-level or"):
        values(ADD, "--meraki", "x")
    with pytest.raises(run_inputs.UsageError, match="--var takes NAME=VALUE with a variable of Find Meraki User"):
        values(FIND, assignments=("nope=1",))
    with pytest.raises(run_inputs.UsageError, match="has no dry run"):
        values(FIND, "--query", "bob", dry_run=True)
    with pytest.raises(run_inputs.UsageError, match="--dryrun is yes or no"):
        values(REMOVE, "--dryrun", "maybe")
    with pytest.raises(run_inputs.UsageError, match="--query needs a value"):
        run_inputs.split_arguments(["/meraki-find-user", "--query"])
    with pytest.raises(run_inputs.UsageError, match="give each value after its flag"):
        run_inputs.split_arguments(["/meraki-find-user", "bob"])


def test_run_finds_the_commands_job_in_commands() -> None:
    assert run_inputs.split_arguments(["/meraki-find-user", "--query", "bob"]) == (
        "/meraki-find-user",
        [("query", "bob")],
    )
    assert run_inputs.job_of(DEFAULT_COMMANDS, "meraki-remove-user") == "Remove Meraki User"
    with pytest.raises(run_inputs.UsageError) as unknown:
        run_inputs.job_of(DEFAULT_COMMANDS, "/meraki-nope")
    assert str(unknown.value) == (
        "No command /meraki-nope in COMMANDS. The commands: /meraki-add-user (Create Meraki User), "
        "/meraki-find-user (Find Meraki User), /meraki-remove-user (Remove Meraki User)."
    )


def run_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NAUTOBOT_"))}
    env.update(NAUTOBOT_URL="http://127.0.0.1:9", NAUTOBOT_TOKEN="t" * 40)  # never reached
    return env


def meraki_chatops(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MERAKI_CHATOPS, *arguments], cwd=tmp_path, env=run_env(), capture_output=True, text=True, timeout=60
    )


def test_run_with_an_unknown_command_exits_2_and_lists_the_commands(tmp_path):
    done = meraki_chatops(tmp_path, "run", "/meraki-nope", "--query", "bob")
    assert done.returncode == 2, done.stderr
    assert "No command /meraki-nope in COMMANDS. The commands: /meraki-add-user (Create Meraki User)" in done.stderr
    assert "Traceback" not in done.stderr


class FormOnly:
    """A Nautobot that shows the Job's form and must not be asked to run anything."""

    def __init__(self, form: JobForm) -> None:
        self.form = form
        self.asked: list[str] = []

    async def __aenter__(self) -> FormOnly:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def job_form(self, job: str) -> JobForm:
        self.asked.append(job)
        return self.form

    async def run_job(self, *_args: object) -> None:
        raise AssertionError("nothing may run")


def test_run_with_an_unknown_variable_exits_2_and_lists_the_variables(monkeypatch, capsys) -> None:
    nautobot = FormOnly(FIND)
    monkeypatch.setattr(cli, "nautobot_client", lambda _settings: nautobot)
    monkeypatch.setattr(cli.logs, "configure", lambda *_: None)  # the process's logging stays the tests'
    for name, value in run_env().items():
        monkeypatch.setenv(name, value)

    assert cli.main(["run", "/meraki-find-user", "--user", "bob"]) == 2
    assert nautobot.asked == ["Find Meraki User"]
    assert "has no variable --user. Its variables: --query, --meraki-org-id" in capsys.readouterr().err

    assert cli.main(["run", "/meraki-find-user", "--query", "b"]) == 2  # the form's own checks, as in Slack
    assert "query: Use at least 2 characters" in capsys.readouterr().err


def test_other_commands_still_refuse_unknown_arguments(tmp_path):
    done = meraki_chatops(tmp_path, "preview", "--query", "bob")
    assert done.returncode == 2 and "unrecognized arguments: --query bob" in done.stderr
