"""Parsing Nautobot's JSON and Slack's private_metadata into the bot's models."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.models import (
    METADATA_MAX,
    NAUTOBOT_STATUS,
    JobForm,
    JobRun,
    JobVariable,
    LogEntry,
    ModalContext,
    RunRequest,
    RunStatus,
    humanise,
)

EMAIL_LABEL = "User Email, regex: ^[A-Za-z0-9._%+-]+@example\\.(com|org)$"

NAUTOBOT_READY_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
"""Nautobot's own ``JobResultStatusChoices.READY_STATES``: following stops at these."""


def test_job_variable_from_api_ignores_unknown_keys_and_keeps_choices_as_pairs() -> None:
    var = JobVariable.from_api(
        {
            "name": "access",
            "type": "ChoiceVar",
            "label": "Access",
            "required": True,
            "choices": [["full", "Full"], ["read-only", "Read Only"]],
            "default": "read-only",
            "something_new": {"x": 1},
        }
    )
    assert var.choices == [("full", "Full"), ("read-only", "Read Only")]
    assert var.default == "read-only"
    assert var.required is True
    assert var.choice_label("read-only") == "Read Only"
    assert var.choice_label("nope") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"a": "A", "b": "B"}, [("a", "A"), ("b", "B")]),
        (["x", 2], [("x", "x"), ("2", "2")]),
        ([["Group", [["g1", "G one"], ["g2", "G two"]]]], [("g1", "G one"), ("g2", "G two")]),
        ([[1, "One"]], [("1", "One")]),
        (None, []),
        ("not a list", []),
    ],
)
def test_choices_accept_mappings_bare_values_and_option_groups(raw: object, expected: list) -> None:
    assert JobVariable(name="v", type="ChoiceVar", choices=raw).choices == expected


def test_label_regex_is_parsed_and_hidden_from_the_label() -> None:
    var = JobVariable(name="user_email", type="StringVar", label=EMAIL_LABEL)
    assert var.display_label == "User Email"
    assert var.regex == "^[A-Za-z0-9._%+-]+@example\\.(com|org)$"
    assert var.is_email


def test_a_label_regex_that_does_not_compile_is_kept_so_the_check_fails_closed() -> None:
    var = JobVariable(name="x", label="Code, regex: ([unclosed")
    assert var.regex == "([unclosed"
    assert var.display_label == "Code"


@pytest.mark.parametrize(
    ("var", "label"),
    [
        (JobVariable(name="meraki_org_id"), "Meraki org id"),
        (JobVariable(name="dryrun", type="DryRunVar"), "Dry run"),
        (JobVariable(name="x", label="   "), "X"),
        (JobVariable(name="___"), "Field"),
    ],
)
def test_label_falls_back_to_the_humanised_name(var: JobVariable, label: str) -> None:
    assert var.display_label == label


def test_humanise() -> None:
    assert humanise("user_name") == "User name"
    assert humanise("meraki-network--access") == "Meraki network access"


@pytest.mark.parametrize(
    ("name", "type_", "label", "is_email"),
    [
        ("user_email", "StringVar", None, True),
        ("contact", "StringVar", "Contact e-mail", True),
        ("user_name", "StringVar", "User Name", False),
        ("email_count", "IntegerVar", None, False),
    ],
)
def test_is_email(name: str, type_: str, label: str | None, is_email: bool) -> None:
    assert JobVariable(name=name, type=type_, label=label).is_email is is_email


def test_job_form_from_api_keeps_order_and_exposes_the_email_regex() -> None:
    form = JobForm.from_api(
        {"id": "42", "name": "Create Meraki User", "description": None},
        [
            {"name": "user_name", "type": "StringVar"},
            {"name": "user_email", "type": "StringVar", "label": EMAIL_LABEL},
        ],
    )
    assert [var.name for var in form.variables] == ["user_name", "user_email"]
    assert form.job_id == "42"
    assert form.description == ""
    assert form.email_regex == "^[A-Za-z0-9._%+-]+@example\\.(com|org)$"
    assert form.variable("user_name") is form.variables[0]
    assert form.variable("missing") is None
    assert form.model_dump()["email_regex"] == form.email_regex


def test_job_form_without_an_email_field_has_no_email_regex() -> None:
    assert JobForm(job_id="1", job_name="J", variables=[JobVariable(name="n")]).email_regex is None


def test_log_entry_from_api() -> None:
    entry = LogEntry.from_api(
        {
            "id": "1",
            "created": "2026-11-25T20:15:03.123456Z",
            "log_level": "warning",
            "grouping": "run",
            "message": "Network Branch 1 not found",
            "log_object": None,
            "absolute_url": None,
            "job_result": {"id": "x"},
        }
    )
    assert entry.created == datetime(2026, 11, 25, 20, 15, 3, 123456, tzinfo=UTC)
    assert entry.log_level == "warning"
    assert entry.log_object is None
    assert not entry.failing


@pytest.mark.parametrize(
    ("raw", "level"),
    [("FAILURE", "failure"), ("default", "info"), ("weird", "info"), (None, "info"), ("critical", "critical")],
)
def test_log_levels_are_normalised(raw: str | None, level: str) -> None:
    entry = LogEntry.from_api({"created": "2026-01-01T00:00:00Z", "log_level": raw, "message": None})
    assert entry.log_level == level
    assert entry.message == ""


@pytest.mark.parametrize("level", ["failure", "error", "critical"])
def test_failing_levels(level: str) -> None:
    assert LogEntry(created=datetime.now(UTC), log_level=level).failing


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("PENDING", RunStatus.QUEUED),
        ("RECEIVED", RunStatus.QUEUED),
        ("STARTED", RunStatus.RUNNING),
        ("RETRY", RunStatus.RUNNING),
        ("SUCCESS", RunStatus.SUCCEEDED),
        ("FAILURE", RunStatus.FAILED),
        ("REVOKED", RunStatus.CANCELLED),
        ("REJECTED", RunStatus.QUEUED),
        ("IGNORED", RunStatus.RUNNING),
        ({"value": "SUCCESS", "label": "SUCCESS"}, RunStatus.SUCCEEDED),
        ("completed", RunStatus.SUCCEEDED),
        ("something-new", RunStatus.RUNNING),
        (None, RunStatus.RUNNING),
    ],
)
def test_status_mapping(value: object, status: RunStatus) -> None:
    assert RunStatus.from_nautobot(value) is status


def test_only_nautobot_ready_states_map_to_final_statuses() -> None:
    for value, status in NAUTOBOT_STATUS.items():
        if value.isupper() and value in {"PENDING", "RECEIVED", "STARTED", "RETRY", "REJECTED", "IGNORED"}:
            assert not status.is_final, value
    assert all(RunStatus.from_nautobot(state).is_final for state in NAUTOBOT_READY_STATES)


def test_is_final() -> None:
    final = {status for status in RunStatus if status.is_final}
    assert final == {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.DENIED, RunStatus.TIMED_OUT}


JOB_RESULT = {
    "id": "62a5c0de",
    "url": "http://nautobot/api/extras/job-results/62a5c0de/",
    "status": {"value": "FAILURE", "label": "FAILURE"},
    "name": "Create Meraki User",
    "date_created": "2026-11-25T20:15:00Z",
    "date_started": "2026-11-25T20:15:02Z",
    "date_done": "2026-11-25T20:16:12Z",
    "result": {"exc_type": "RuntimeError", "exc_module": "builtins", "exc_message": ["boom"]},
    "traceback": "Traceback (most recent call last):\n  ...\nRuntimeError: boom\n",
    "info_log_count": 3,
    "warning_log_count": 1,
    "error_log_count": 0,
    "failure_log_count": 1,
    "job_model": {"id": "j"},
}


def test_job_run_from_api() -> None:
    run = JobRun.from_api(JOB_RESULT, "https://nautobot.example.com/")
    assert run.result_id == "62a5c0de"
    assert run.status is RunStatus.FAILED
    assert run.url == "https://nautobot.example.com/extras/job-results/62a5c0de/"
    assert run.duration == timedelta(seconds=70)
    assert run.log_counts == {"info": 3, "warning": 1, "failure": 1}
    assert run.exception == "RuntimeError: boom"
    assert run.traceback is not None and run.traceback.endswith("boom\n")


def test_a_job_result_without_counts_has_them_from_its_log() -> None:
    """Nautobot 2.4's JobResult carries no log counts: unknown until the log itself is read."""
    counted = {key: value for key, value in JOB_RESULT.items() if not key.endswith("_log_count")}
    run = JobRun.from_api(counted, "https://n")
    assert run.log_counts is None
    entries = [
        LogEntry(created=datetime(2026, 11, 25, 20, 15, second, tzinfo=UTC), log_level=level, message="m")
        for second, level in ((3, "info"), (4, "info"), (5, "success"))
    ]
    assert run.with_log(entries).log_counts == {"info": 2, "success": 1}
    counted_earlier = JobRun.from_api({**JOB_RESULT, "info_log_count": 0, "warning_log_count": 0}, "https://n")
    assert counted_earlier.with_log(entries).log_counts == {"info": 2, "success": 1}  # the log read is the truth


def test_job_run_without_start_time_measures_from_creation_and_wraps_non_dict_results() -> None:
    data = {**JOB_RESULT, "date_started": None, "result": "done", "status": "SUCCESS", "traceback": ""}
    run = JobRun.from_api(data, "https://n")
    assert run.duration == timedelta(seconds=72)
    assert run.result == {"value": "done"}
    assert run.exception is None
    assert run.traceback is None


def test_job_run_not_done_has_no_duration() -> None:
    run = JobRun.from_api(
        {"id": "1", "status": {"value": "STARTED"}, "date_created": "2026-01-01T00:00:00Z"}, "http://n"
    )
    assert run.duration is None
    assert run.status is RunStatus.RUNNING


def test_run_request_needs_an_idempotency_key() -> None:
    request = RunRequest(
        request_id="V123",
        requester_id="U1",
        channel_id="C1",
        job_name="Create Meraki User",
        inputs={"user_email": "a@example.com", "count": 2, "dryrun": True, "net": None, "tags": ["a"]},
        dryrun=True,
    )
    assert request.inputs["count"] == 2
    with pytest.raises(ValidationError):
        RunRequest(request_id="", requester_id="U1", channel_id="C1", job_name="J")


def test_modal_context_round_trip() -> None:
    context = ModalContext(channel_id="C1", user_id="U1", job_id="abc", command_text='bob@example.com "Bob"')
    metadata = context.to_metadata()
    assert json.loads(metadata)["c"] == "C1"
    assert ModalContext.from_metadata(metadata) == context


def test_modal_context_truncates_long_command_text_to_fit() -> None:
    context = ModalContext(channel_id="C1", user_id="U1", job_id="j" * 255, command_text="é" * 10_000)
    metadata = context.to_metadata()
    assert len(metadata) <= METADATA_MAX
    restored = ModalContext.from_metadata(metadata)
    assert restored.job_id == "j" * 255
    assert 0 < len(restored.command_text) < 10_000


@given(st.text(max_size=5000))
def test_modal_context_metadata_always_fits(text: str) -> None:
    metadata = ModalContext(channel_id="C1", user_id="U1", job_id="J1", command_text=text).to_metadata()
    assert len(metadata) <= METADATA_MAX
    assert metadata.isascii()
    restored = ModalContext.from_metadata(metadata)
    assert text.startswith(restored.command_text)


@pytest.mark.parametrize("raw", ["", "not json", "[1, 2]", '{"c": 5}', "null"])
def test_modal_context_from_bad_metadata_raises_value_error(raw: str) -> None:
    with pytest.raises(ValueError):
        ModalContext.from_metadata(raw)
