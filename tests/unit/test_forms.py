"""The Job's variables as a Slack modal, pre-filling, reading submissions, and error mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import (
    CheckboxesElement,
    ContextBlock,
    EmailInputElement,
    ExternalDataMultiSelectElement,
    ExternalDataSelectElement,
    InputBlock,
    NumberInputElement,
    PlainTextInputElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.models import JobForm, JobVariable, ModalContext
from bot.slack.modal import (
    ACTION_ID,
    MAX_BLOCKS,
    MAX_VIEW_BYTES,
    Prefill,
    Unreadable,
    blocking_problems,
    build_modal,
    choice_options,
    field_errors,
    loading_modal,
    modal_title,
    parse_command_text,
    read_submission,
    unavailable_modal,
    validate,
    view_size,
)
from testbed.fake_nautobot import EMAIL_REGEX
from testbed.fake_nautobot import VARIABLES as JOB_VARIABLES

ORDER = [var["name"] for var in JOB_VARIABLES]
CONTEXT = ModalContext(channel_id="C0123", user_id="U0456", job_id="job-1", command_text="")


def job_form(variables: list[dict[str, Any]] | None = None, **job: Any) -> JobForm:
    return JobForm.from_api({"id": "job-1", "name": "Create Meraki User", **job}, variables or JOB_VARIABLES)


def form_of(*variables: dict[str, Any]) -> JobForm:
    return job_form(list(variables))


def as_dict(view: View) -> dict[str, Any]:
    """``to_dict()`` runs slack_sdk's validation; every view in these tests must pass it."""
    return view.to_dict()


def block(view: View, block_id: str) -> Any:
    return next(b for b in view.blocks if b.block_id == block_id)


def assert_within_slack_limits(view: View) -> None:
    data = as_dict(view)
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # no lone surrogates anywhere
    assert 1 <= len(data["blocks"]) <= MAX_BLOCKS
    assert view_size(view) <= MAX_VIEW_BYTES
    assert len(data["title"]["text"]) <= 24
    assert len(data.get("private_metadata", "")) <= 3000
    ids = [b["block_id"] for b in data["blocks"] if "block_id" in b]
    assert len(ids) == len(set(ids))
    for item in data["blocks"]:
        element = item.get("element", {})
        for option in element.get("options", []):
            assert 1 <= len(option["text"]["text"]) <= 75
            assert 1 <= len(option["value"]) <= 150
        if item["type"] == "input":
            assert item["label"]["text"].strip()


# -- the modal for our Job -----------------------------------------------------------------------


def test_modal_for_the_meraki_job() -> None:
    view = build_modal(job_form(), context=CONTEXT)
    data = as_dict(view)
    assert data["type"] == "modal"
    assert data["callback_id"] == "meraki_add_user"
    assert data["title"]["text"] == "Create Meraki User"
    assert data["submit"]["text"] == "Run"
    assert data["close"]["text"] == "Cancel"
    assert ModalContext.from_metadata(data["private_metadata"]) == CONTEXT
    assert [b.block_id for b in view.blocks] == ORDER
    assert all(isinstance(b, InputBlock) for b in view.blocks)
    assert all(b.element.action_id == ACTION_ID for b in view.blocks)
    types = [type(b.element) for b in view.blocks]
    assert types == [
        EmailInputElement,
        PlainTextInputElement,
        StaticSelectElement,
        StaticSelectElement,
        PlainTextInputElement,
        StaticSelectElement,
        CheckboxesElement,
        StaticSelectElement,  # for how long
    ]
    assert [b.optional for b in view.blocks] == [False, False, False, False, True, True, True, True]


def test_modal_labels_hints_and_lengths() -> None:
    view = build_modal(job_form(), context=CONTEXT)
    email = as_dict(view)["blocks"][0]
    assert email["label"]["text"] == "User Email"
    assert email["hint"]["text"].startswith("Email address of the new administrator")
    assert block(view, "user_name").element.max_length == 255
    assert block(view, "dryrun").label.text == "Dry run"


def test_modal_selects_show_defaults_and_every_choice() -> None:
    view = build_modal(job_form(), context=CONTEXT)
    org = as_dict(view)["blocks"][2]["element"]
    assert [(o["value"], o["text"]["text"]) for o in org["options"]] == [
        ("111111", "Acme Corp (111111)"),
        ("222222", "Globex (222222)"),
    ]
    assert "initial_option" not in org
    access = block(view, "meraki_access_level").element.to_dict()
    assert access["initial_option"]["value"] == "read-only"
    assert access["initial_option"] in access["options"]
    assert block(view, "meraki_network_access").element.to_dict()["initial_option"]["value"] == "read-only"


def test_modal_dry_run_checkbox_is_unchecked_by_default_and_checked_by_prefill() -> None:
    unchecked = block(build_modal(job_form(), context=CONTEXT), "dryrun").element.to_dict()
    assert len(unchecked["options"]) == 1
    assert "initial_options" not in unchecked
    checked = block(build_modal(job_form(), context=CONTEXT, prefill={"dryrun": True}), "dryrun")
    assert checked.element.to_dict()["initial_options"] == checked.element.to_dict()["options"]


def test_modal_prefill_wins_over_defaults() -> None:
    prefill = {"user_email": "bob@example.com", "meraki_access_level": "full", "user_name": "Bob Smith"}
    view = build_modal(job_form(), context=CONTEXT, prefill=prefill)
    assert block(view, "user_email").element.initial_value == "bob@example.com"
    assert block(view, "user_name").element.initial_value == "Bob Smith"
    assert block(view, "meraki_access_level").element.to_dict()["initial_option"]["value"] == "full"


def test_modal_ignores_a_prefill_that_is_not_a_choice() -> None:
    view = build_modal(job_form(), context=CONTEXT, prefill={"meraki_org_id": "999"})
    assert "initial_option" not in block(view, "meraki_org_id").element.to_dict()


def test_modal_hides_fields_the_bot_fills_itself() -> None:
    view = build_modal(job_form(), context=CONTEXT, hidden=frozenset({"user_name", "dryrun"}))
    assert [b.block_id for b in view.blocks] == [n for n in ORDER if n not in ("user_name", "dryrun")]


def test_modal_shows_the_job_description_and_a_notice_escaped() -> None:
    view = build_modal(job_form(description="Adds <!channel> admins"), context=CONTEXT, notice="Not used: <@U1>")
    texts = [b.elements[0].text for b in view.blocks[:2]]
    assert texts == ["Not used: &lt;@U1&gt;", "Adds &lt;!channel&gt; admins"]
    assert [b.block_id for b in view.blocks[2:]] == ORDER


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("Create Meraki User", "Create Meraki User"),
        ("Create Meraki Dashboard Administrator", "Create Meraki Dashboard…"),
        ("Add a Meraki administrator now", "Add a Meraki…"),
        ("X" * 40, "X" * 23 + "…"),
        ("", "Run a Nautobot Job"),
        ("\x00\n  ", "Run a Nautobot Job"),
    ],
)
def test_modal_title_fits_24_characters(name: str, title: str) -> None:
    assert modal_title(name) == title
    assert len(modal_title(name)) <= 24


def test_choice_var_with_more_than_100_choices_becomes_an_external_select() -> None:
    choices = [[str(n), f"Org {n}"] for n in range(150)]
    form = form_of({"name": "org", "type": "ChoiceVar", "required": True, "choices": choices, "default": "7"})
    element = build_modal(form, context=CONTEXT).blocks[0].element
    assert isinstance(element, ExternalDataSelectElement)
    assert element.min_query_length == 0
    assert element.action_id == ACTION_ID
    assert element.to_dict()["initial_option"] == {
        "text": {"type": "plain_text", "text": "Org 7", "emoji": True},
        "value": "7",
    }
    options = choice_options(form.variables[0], "org 14")
    assert [o.value for o in options] == ["14", *[str(n) for n in range(140, 150)]]
    assert len(choice_options(form.variables[0])) == 100


def test_exactly_100_choices_stay_a_static_select() -> None:
    choices = [[str(n), f"Org {n}"] for n in range(100)]
    form = form_of({"name": "org", "type": "ChoiceVar", "choices": choices})
    assert isinstance(build_modal(form, context=CONTEXT).blocks[0].element, StaticSelectElement)


def test_long_choice_labels_are_truncated_but_values_kept() -> None:
    form = form_of({"name": "org", "type": "ChoiceVar", "choices": [["v1", "L" * 200], ["v2", ""]]})
    options = as_dict(build_modal(form, context=CONTEXT))["blocks"][0]["element"]["options"]
    assert options[0]["text"]["text"] == "L" * 74 + "…"
    assert options[0]["value"] == "v1"
    assert options[1]["text"]["text"] == "v2"


def test_choices_slack_cannot_carry_are_left_out_and_the_hint_says_so() -> None:
    choices = [["ok", "OK"], ["x" * 151, "Too long"], ["", "---------"], ["ok", "Duplicate"]]
    form = form_of({"name": "pick", "type": "ChoiceVar", "help_text": "Pick one.", "choices": choices})
    data = as_dict(build_modal(form, context=CONTEXT))["blocks"][0]
    assert [o["value"] for o in data["element"]["options"]] == ["ok"]
    assert data["hint"]["text"] == "Pick one. (1 choices can't be picked from Slack; use Nautobot for those.)"


def test_choice_var_without_choices_becomes_a_note_with_its_help_text() -> None:
    form = form_of(
        {"name": "user_email", "type": "StringVar", "required": True},
        {
            "name": "meraki_org_id",
            "type": "ChoiceVar",
            "label": "Meraki Organization",
            "help_text": "Meraki could not be reached (timeout) when the Job loaded.",
            "required": True,
            "choices": [],
        },
    )
    view = build_modal(form, context=CONTEXT)
    note = block(view, "meraki_org_id")
    assert isinstance(note, SectionBlock)
    assert "*Meraki Organization* has no choices" in note.text.text
    assert "Meraki could not be reached (timeout)" in note.text.text
    assert "can't be submitted" in note.text.text
    as_dict(view)
    assert blocking_problems(form) == ["Meraki Organization (ChoiceVar) can't be set from Slack."]


def test_unsupported_optional_type_becomes_a_note() -> None:
    form = form_of({"name": "user_email", "type": "StringVar"}, {"name": "upload", "type": "FileVar", "label": "CSV"})
    note = block(build_modal(form, context=CONTEXT), "upload")
    assert isinstance(note, SectionBlock)
    assert note.text.text.endswith("*CSV* (FileVar) can't be set from Slack; Nautobot will use its default.")
    assert blocking_problems(form) == []


def test_unsupported_required_type_says_the_form_cannot_be_submitted() -> None:
    form = form_of({"name": "name", "type": "StringVar"}, {"name": "upload", "type": "FileVar", "required": True})
    view = build_modal(form, context=CONTEXT)
    assert "can't be submitted. Run the Job in Nautobot instead." in block(view, "upload").text.text
    errors = validate({"name": "x"}, form)
    assert list(errors) == ["name"]
    assert "Upload (FileVar) can't be set from Slack." in errors["name"]


def test_variables_whose_names_cannot_be_block_ids_become_notes() -> None:
    form = form_of(
        {"name": "ok", "type": "StringVar"},
        {"name": "ok", "type": "StringVar", "label": "Again"},
        {"name": "x" * 256, "type": "StringVar", "label": "Long"},
        {"name": "bad\x00name", "type": "StringVar", "label": "Odd"},
    )
    view = build_modal(form, context=CONTEXT)
    assert_within_slack_limits(view)
    assert [b.block_id for b in view.blocks] == ["ok", None, None, None]
    assert [type(b) for b in view.blocks] == [InputBlock, SectionBlock, SectionBlock, SectionBlock]
    assert "*Again* (StringVar) can't be set from Slack" in view.blocks[1].text.text


def test_a_form_with_nothing_submittable_has_no_submit_button() -> None:
    view = build_modal(form_of({"name": "upload", "type": "FileVar", "required": True}), context=CONTEXT)
    assert as_dict(view).get("submit") is None


def test_a_job_without_inputs_can_still_be_run() -> None:
    view = build_modal(form_of({"name": "requested_by", "type": "StringVar"}), context=CONTEXT, hidden={"requested_by"})
    data = as_dict(view)
    assert data["submit"]["text"] == "Run"
    assert data["blocks"][0]["text"]["text"] == "This Job has no inputs to fill in."


def test_other_variable_types() -> None:
    form = form_of(
        {"name": "notes", "type": "TextVar", "max_length": 5000, "default": "hi"},
        {"name": "count", "type": "IntegerVar", "min_value": 1, "max_value": 5, "default": 2},
        {"name": "enabled", "type": "BooleanVar", "default": True},
        {"name": "tags", "type": "MultiChoiceVar", "choices": [["a", "A"], ["b", "B"]], "default": ["b"]},
        {"name": "site", "type": "ObjectVar", "model": "dcim.location", "required": True},
        {"name": "sites", "type": "MultiObjectVar", "model": "dcim.location"},
        {"name": "address", "type": "IPAddressVar"},
        {"name": "settings", "type": "JSONVar", "default": {"a": 1}},
    )
    view = build_modal(form, context=CONTEXT)
    elements = {b.block_id: b.element for b in view.blocks}
    assert isinstance(elements["notes"], PlainTextInputElement)
    assert elements["notes"].multiline is True
    assert elements["notes"].max_length == 3000
    assert elements["notes"].initial_value == "hi"
    number = elements["count"]
    assert isinstance(number, NumberInputElement)
    assert (number.is_decimal_allowed, number.min_value, number.max_value, number.initial_value) == (
        False,
        "1",
        "5",
        "2",
    )
    assert isinstance(elements["enabled"], CheckboxesElement)
    assert elements["enabled"].to_dict()["initial_options"][0]["value"] == "true"
    assert isinstance(elements["tags"], StaticMultiSelectElement)
    assert [o["value"] for o in elements["tags"].to_dict()["initial_options"]] == ["b"]
    assert isinstance(elements["site"], ExternalDataSelectElement)
    assert isinstance(elements["sites"], ExternalDataMultiSelectElement)
    assert elements["site"].action_id == elements["sites"].action_id == ACTION_ID
    assert elements["address"].to_dict()["placeholder"]["text"] == "192.0.2.10"
    assert json.loads(elements["settings"].initial_value) == {"a": 1}
    as_dict(view)


def test_number_input_drops_bounds_that_contradict_and_defaults_out_of_range() -> None:
    form = form_of(
        {"name": "a", "type": "IntegerVar", "min_value": 5, "max_value": 1},
        {"name": "b", "type": "IntegerVar", "min_value": 1, "max_value": 5, "default": 9},
    )
    view = build_modal(form, context=CONTEXT)
    assert (view.blocks[0].element.min_value, view.blocks[0].element.max_value) == (None, None)
    assert view.blocks[1].element.initial_value is None
    as_dict(view)


def test_more_variables_than_slack_blocks_end_with_an_overflow_note() -> None:
    variables = [{"name": f"v{n}", "type": "StringVar", "required": n == 140} for n in range(150)]
    view = build_modal(job_form(variables), context=CONTEXT)
    assert_within_slack_limits(view)
    last = view.blocks[-1]
    assert isinstance(last, ContextBlock)
    assert "53 more fields" in last.elements[0].text
    assert "V140" in last.elements[0].text
    assert any(p.startswith("V140") for p in blocking_problems(job_form(variables)))


def test_huge_forms_are_shrunk_under_250_kb() -> None:
    choices = [[f"{'v' * 140}{n:03d}", "🙂" * 80] for n in range(100)]
    variables = [
        {"name": f"v{n}", "type": "ChoiceVar", "label": "🙂" * 3000, "help_text": "🙂" * 3000, "choices": choices}
        for n in range(120)
    ]
    view = build_modal(job_form(variables, description="🙂" * 5000), context=CONTEXT)
    assert_within_slack_limits(view)


def test_huge_notes_are_shrunk_under_250_kb() -> None:
    variables = [
        {
            "name": f"v{n}",
            "type": "FileVar" if n % 2 else "ChoiceVar",
            "required": True,
            "label": "🙂" * 3000,
            "help_text": "🙂" * 3000,
            "choices": [],
        }
        for n in range(120)
    ]
    view = build_modal(job_form(variables), context=CONTEXT, notice="🙂" * 5000)
    assert_within_slack_limits(view)
    assert as_dict(view).get("submit") is None


def test_loading_modal() -> None:
    data = as_dict(loading_modal(CONTEXT, "Create Meraki User"))
    assert data["title"]["text"] == "Create Meraki User"
    assert "submit" not in data
    assert "Loading the form from Nautobot" in data["blocks"][0]["text"]["text"]
    assert ModalContext.from_metadata(data["private_metadata"]) == CONTEXT


def test_unavailable_modal_says_what_happened_that_nothing_was_sent_and_what_to_do() -> None:
    data = as_dict(unavailable_modal("Nautobot at <https://n> did not answer.", "Try again in a minute."))
    text = data["blocks"][0]["text"]["text"]
    assert "Nautobot at &lt;https://n&gt; did not answer." in text
    assert "Nothing was submitted." in text
    assert "Try again in a minute." in text
    assert data["close"]["text"] == "Close"
    assert "submit" not in data


# -- pre-filling from the command text -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values", "unused"),
    [
        ("", {}, []),
        ("bob@example.com", {"user_email": "bob@example.com"}, []),
        ("bob@example.com read-only", {"user_email": "bob@example.com", "meraki_access_level": "read-only"}, []),
        (
            "read-only READ-ONLY",
            {"meraki_access_level": "read-only", "meraki_network_access": "read-only"},
            [],
        ),
        ('"Bob Smith" bob@example.com', {"user_name": "Bob Smith", "user_email": "bob@example.com"}, []),
        ("“Bob Smith”", {"user_name": "Bob Smith"}, []),
        ("'Bob Smith'", {"user_name": "Bob Smith"}, []),
        ('"Read Only"', {"meraki_access_level": "read-only"}, []),
        ("Globex", {"meraki_org_id": "222222"}, []),
        ("111111 Full", {"meraki_org_id": "111111", "meraki_access_level": "full"}, []),
        ("dry-run", {"dryrun": True}, []),
        ("--dry-run", {"dryrun": True}, []),
        ("DRYRUN", {"dryrun": True}, []),
        ('meraki_network="Branch 1"', {"meraki_network": "Branch 1"}, []),
        ("meraki-network-access=monitor-only", {"meraki_network_access": "monitor-only"}, []),
        ("dryrun=no", {"dryrun": False}, []),
        ("bob junk", {}, ["bob", "junk"]),
        ("a@example.com b@example.com", {"user_email": "a@example.com"}, ["b@example.com"]),
        ("meraki_org_id=333", {}, ["meraki_org_id=333"]),
        ("nonsense=1", {}, ["nonsense=1"]),
        # Typed brackets arrive escaped: that is text someone wrote, not Slack's link, so it is not taken apart.
        ("&lt;mailto:bob@example.com|bob@example.com&gt;", {}, ["<mailto:bob@example.com|bob@example.com>"]),
        ("<mailto:bob@example.com|bob@example.com>", {"user_email": "bob@example.com"}, []),
        ('"Bob Smith', {"user_name": "Bob Smith"}, []),
        ("bob@example.com,", {"user_email": "bob@example.com"}, []),
        # Typed (so escaped by Slack), not Slack's own link: it stays text.
        (
            'bob@example.com "&lt;mailto:a@b.c|x&gt;"',
            {"user_email": "bob@example.com", "user_name": "<mailto:a@b.c|x>"},
            [],
        ),
        # What does not fit a field is named, not cut or put where Slack would refuse the form.
        ("a" * 250 + "@example.com", {}, ["a" * 99 + "…"]),
        ("user_email=<!here>", {}, ["user_email=<!here>"]),
        ("user_name=" + "x" * 300, {}, ["user_name=" + "x" * 89 + "…"]),
    ],
)
def test_parse_command_text(text: str, values: dict[str, Any], unused: list[str]) -> None:
    assert parse_command_text(text, job_form()) == Prefill(values=values, unused=unused)


def test_parse_command_text_skips_hidden_fields() -> None:
    prefill = parse_command_text("bob@example.com dry-run", job_form(), hidden={"dryrun"})
    assert prefill == Prefill(values={"user_email": "bob@example.com"}, unused=["dry-run"])


def test_prefill_notice_lists_ignored_words() -> None:
    assert Prefill().notice() is None
    assert Prefill(unused=["junk", "<@U1>"]).notice() == (
        "Not used from your command: junk <@U1>. Fill in the form below instead."
    )


def test_parse_command_text_caps_the_list_of_ignored_words() -> None:
    prefill = parse_command_text(" ".join(f"w{n}" for n in range(500)), job_form())
    assert len(prefill.unused) == 50
    assert prefill.unused[-1] == "(and 451 more)"


def test_parse_command_text_output_builds_a_valid_modal() -> None:
    prefill = parse_command_text('bob@example.com "Bob Smith" Globex full dry-run', job_form())
    view = build_modal(job_form(), context=CONTEXT, prefill=prefill.values, notice=prefill.notice())
    assert_within_slack_limits(view)


HOSTILE = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list("\"'\u201c\u201d\u2018\u2019= \t\n\x00\x1b\u202e@.-<>&|abc")), max_size=300),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=20),
    st.just("x" * 10_000),
    st.just('"' * 5001),
    st.just("a=" * 3000),
)


@given(HOSTILE)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_parse_command_text_never_raises(text: str) -> None:
    prefill = parse_command_text(text, job_form())
    assert set(prefill.values) <= set(ORDER)
    assert len(prefill.unused) <= 50
    assert_within_slack_limits(
        build_modal(job_form(), context=CONTEXT, prefill=prefill.values, notice=prefill.notice())
    )


# -- reading a submission ------------------------------------------------------------------------


def state(**actions: dict[str, Any]) -> dict[str, Any]:
    return {block_id: {ACTION_ID: action} for block_id, action in actions.items()}


def selected(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value}, "value": value}


SUBMITTED = state(
    user_email={"type": "email_text_input", "value": "  bob@example.com "},
    user_name={"type": "plain_text_input", "value": "Bob Smith"},
    meraki_org_id={"type": "static_select", "selected_option": selected("111111")},
    meraki_access_level={"type": "static_select", "selected_option": selected("read-only")},
    meraki_network={"type": "plain_text_input", "value": "   "},
    meraki_network_access={"type": "static_select", "selected_option": None},
    dryrun={"type": "checkboxes", "selected_options": [selected("true")]},
)


def test_read_submission() -> None:
    assert read_submission(SUBMITTED, job_form()) == {
        "user_email": "bob@example.com",
        "user_name": "Bob Smith",
        "meraki_org_id": "111111",
        "meraki_access_level": "read-only",
        "dryrun": True,
    }


def test_read_submission_unchecked_box_is_false_and_hidden_fields_are_skipped() -> None:
    values = {**SUBMITTED, "dryrun": {ACTION_ID: {"type": "checkboxes", "selected_options": []}}}
    data = read_submission(values, job_form(), hidden={"user_name"})
    assert data["dryrun"] is False
    assert "user_name" not in data


def test_read_submission_of_other_types() -> None:
    form = form_of(
        {"name": "count", "type": "IntegerVar"},
        {"name": "bad_count", "type": "IntegerVar"},
        {"name": "tags", "type": "MultiChoiceVar", "choices": [["a", "A"], ["b", "B"]]},
        {"name": "site", "type": "ObjectVar"},
        {"name": "settings", "type": "JSONVar"},
        {"name": "bad_settings", "type": "JSONVar"},
        {"name": "upload", "type": "FileVar"},
    )
    values = state(
        count={"type": "number_input", "value": "42"},
        bad_count={"type": "number_input", "value": "4x"},
        tags={"type": "multi_static_select", "selected_options": [selected("a"), selected("b")]},
        site={"type": "external_select", "selected_option": selected("uuid-1")},
        settings={"type": "plain_text_input", "value": '{"a": [1, 2]}'},
        bad_settings={"type": "plain_text_input", "value": "{nope"},
        upload={"type": "file_input", "files": []},
    )
    data = read_submission(values, form)
    assert data["count"] == 42
    assert data["bad_count"] == Unreadable("4x", "Enter a whole number.")
    assert data["tags"] == ["a", "b"]
    assert data["site"] == "uuid-1"
    assert data["settings"] == {"a": [1, 2]}
    assert isinstance(data["bad_settings"], Unreadable)
    assert "upload" not in data


def test_read_submission_tolerates_other_action_ids_and_junk() -> None:
    form = form_of({"name": "a", "type": "StringVar"}, {"name": "b", "type": "StringVar"})
    values = {"a": {"renamed": {"type": "plain_text_input", "value": "x"}}, "b": ["junk"]}
    assert read_submission(values, form) == {"a": "x"}
    assert read_submission("junk", form) == {}  # type: ignore[arg-type]


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
STATE_VALUES = st.dictionaries(
    st.sampled_from([*ORDER, "count", "other"]),
    st.dictionaries(
        st.sampled_from([ACTION_ID, "x"]),
        st.one_of(
            JSONISH,
            st.fixed_dictionaries(
                {
                    "type": st.text(max_size=10),
                    "value": JSONISH,
                    "selected_option": JSONISH,
                    "selected_options": JSONISH,
                }
            ),
        ),
    ),
)


@given(STATE_VALUES)
def test_read_submission_and_validate_never_raise(values: dict[str, Any]) -> None:
    form = job_form([*JOB_VARIABLES, {"name": "count", "type": "IntegerVar", "min_value": 1}])
    data = read_submission(values, form)
    errors = validate(data, form, email_regex=".*")
    assert set(errors) <= set(ORDER) | {"count"}
    assert all(isinstance(message, str) and 0 < len(message) <= 2000 for message in errors.values())


@given(st.dictionaries(st.sampled_from(ORDER), JSONISH))
def test_validate_never_raises_on_arbitrary_values(values: dict[str, Any]) -> None:
    validate(values, job_form(), email_regex=EMAIL_REGEX)


# -- validation ----------------------------------------------------------------------------------

GOOD = {
    "user_email": "bob@example.com",
    "user_name": "Bob Smith",
    "meraki_org_id": "111111",
    "meraki_access_level": "read-only",
    "dryrun": False,
}


def test_valid_submission_has_no_errors() -> None:
    assert validate(GOOD, job_form()) == {}


def test_required_fields() -> None:
    assert validate({}, job_form()) == {
        "user_email": "Fill this in.",
        "user_name": "Fill this in.",
        "meraki_org_id": "Pick an option.",
        "meraki_access_level": "Pick an option.",
    }


def test_the_label_regex_is_checked_like_django_does() -> None:
    errors = validate({**GOOD, "user_email": "bob@example.net"}, job_form())
    assert errors == {"user_email": f"This doesn't match the required pattern {EMAIL_REGEX}"}


def test_the_configured_regex_applies_to_email_fields() -> None:
    assert validate(GOOD, job_form(), email_regex=r"@example\.org$") == {
        "user_email": "This doesn't match the required pattern @example\\.org$"
    }
    assert validate(GOOD, job_form(), email_regex=r"@example\.com$") == {}
    assert "could not be completed" in validate(GOOD, job_form(), email_regex="([broken")["user_email"]


@pytest.mark.parametrize("email", ["bob", "bob@", "@example.com", "bob@example", "bo b@example.com"])
def test_email_shape(email: str) -> None:
    form = form_of({"name": "email", "type": "StringVar"})
    assert validate({"email": email}, form) == {"email": "Enter an email address, like name@example.com."}


def test_length_limits() -> None:
    form = form_of({"name": "code", "type": "StringVar", "min_length": 3, "max_length": 5})
    assert validate({"code": "ab"}, form) == {"code": "Use at least 3 characters (this has 2)."}
    assert validate({"code": "abcdef"}, form) == {"code": "Use at most 5 characters (this has 6)."}
    assert validate({"code": "abcd"}, form) == {}


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ({"min_value": 1, "max_value": 5}, 0, "Enter a number from 1 to 5."),
        ({"min_value": 1, "max_value": 5}, 6, "Enter a number from 1 to 5."),
        ({"min_value": 1}, 0, "Enter a number of at least 1."),
        ({"max_value": 5}, 6, "Enter a number of at most 5."),
        ({}, "7", "Enter a whole number."),
        ({}, True, "Enter a whole number."),
        ({}, Unreadable("4x", "Enter a whole number."), "Enter a whole number."),
        ({"min_value": 1, "max_value": 5}, 3, None),
    ],
)
def test_integer_rules(var: dict[str, Any], value: Any, message: str | None) -> None:
    form = form_of({"name": "count", "type": "IntegerVar", **var})
    assert validate({"count": value}, form) == ({"count": message} if message else {})


def test_choice_membership() -> None:
    errors = validate({**GOOD, "meraki_access_level": "superuser"}, job_form())
    assert errors == {"meraki_access_level": "Pick one of the listed options."}
    multi = form_of({"name": "tags", "type": "MultiChoiceVar", "choices": [["a", "A"]], "required": True})
    assert validate({"tags": ["a", "z"]}, multi) == {"tags": "Pick one of the listed options."}
    assert validate({"tags": []}, multi) == {"tags": "Pick at least one option."}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Bob\x00Smith", "U+0000"),
        ("Bob \u202eSmith", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("B\u200bob", "U+200B ZERO WIDTH SPACE"),
        ("Bob\u2028Smith", "U+2028 LINE SEPARATOR"),
        ("Bob\nSmith", "U+000A"),
        ("Bob\tSmith", "U+0009"),
        ("\U000e0041", "U+E0041 TAG LATIN CAPITAL LETTER A"),
    ],
)
def test_control_and_invisible_characters_in_a_one_line_field_are_named(text: str, named: str) -> None:
    errors = validate({**GOOD, "user_name": text}, job_form())
    assert errors == {
        "user_name": f"Delete the control or invisible character {named}: it can't be part of this field."
    }


def test_emoji_sequences_keep_their_joiners_and_multiline_text_its_line_breaks() -> None:
    assert validate({**GOOD, "user_name": "Ada \U0001f469\u200d\U0001f4bb"}, job_form()) == {}
    notes = form_of({"name": "notes", "type": "TextVar"})
    assert validate({"notes": "line one\n\tline two"}, notes) == {}
    assert list(validate({"notes": "line one\r\nline two"}, notes)) == ["notes"]


@pytest.mark.parametrize(
    ("email", "named"),
    [
        ("bob@ex\u0430mple.com", "'\u0430', U+0430 CYRILLIC SMALL LETTER A"),
        ("bob\uff20example.com", "'\uff20', U+FF20 FULLWIDTH COMMERCIAL AT"),
        ("bob@b\u00fccher.example", "'\u00fc', U+00FC LATIN SMALL LETTER U WITH DIAERESIS"),
    ],
)
def test_email_with_look_alike_characters_is_refused_naming_them(email: str, named: str) -> None:
    form = form_of({"name": "email", "type": "StringVar", "label": "Email"})
    assert validate({"email": email}, form) == {
        "email": f"Use only plain ASCII in an email address: {named} only looks like one. "
        "Write an international domain in its xn-- form."
    }
    assert validate({"email": "bob@xn--bcher-kva.example"}, form) == {}


@pytest.mark.parametrize("field", ["user_name", "user_email", "meraki_network"])
def test_a_lone_surrogate_is_a_field_error_not_a_crash(field: str) -> None:
    """Slack's JSON may carry ``\\ud800``; it decodes into a string nothing can encode or store."""
    values = {**SUBMITTED, field: {ACTION_ID: {"type": "plain_text_input", "value": "Bob \ud800 Smith"}}}
    data = read_submission(values, job_form())
    assert data[field] == Unreadable(
        "Bob \ufffd Smith", "This has a broken character (U+D800); delete it and type that part again."
    )
    assert validate(data, job_form()) == {field: data[field].problem}


def test_a_lone_surrogate_in_a_picked_value_is_a_field_error() -> None:
    form = form_of({"name": "site", "type": "ObjectVar"}, {"name": "tags", "type": "MultiObjectVar"})
    values = state(
        site={"type": "external_select", "selected_option": selected("uuid-\udfff")},
        tags={"type": "multi_external_select", "selected_options": [selected("a"), selected("\ud800")]},
    )
    errors = validate(read_submission(values, form), form)
    assert errors == {
        "site": "This has a broken character (U+DFFF); pick the option again.",
        "tags": "This has a broken character (U+D800); pick the options again.",
    }


def test_a_checkbox_value_the_box_does_not_offer_is_a_field_error() -> None:
    for sent in ("false", "<!channel>", ""):
        values = {**SUBMITTED, "dryrun": {ACTION_ID: {"type": "checkboxes", "selected_options": [selected(sent)]}}}
        errors = validate(read_submission(values, job_form()), job_form())
        assert list(errors) == ["dryrun"]
        assert errors["dryrun"].startswith("Untick this box, tick it again if you want it")


def test_required_checkbox_must_be_ticked() -> None:
    form = form_of({"name": "confirm", "type": "BooleanVar", "required": True})
    assert validate({"confirm": False}, form) == {"confirm": "Tick this box to continue."}
    assert validate({"confirm": True}, form) == {}


@pytest.mark.parametrize(
    ("type_", "good", "bad"),
    [
        ("IPAddressVar", "192.0.2.1", "192.0.2.300"),
        ("IPAddressWithMaskVar", "2001:db8::1/64", "192.0.2.1"),
        ("IPNetworkVar", "192.0.2.0/24", "192.0.2.1/24"),
    ],
)
def test_ip_fields(type_: str, good: str, bad: str) -> None:
    form = form_of({"name": "ip", "type": type_})
    assert validate({"ip": good}, form) == {}
    assert list(validate({"ip": bad}, form)) == ["ip"]


def test_validate_skips_hidden_fields() -> None:
    assert validate({k: v for k, v in GOOD.items() if k != "user_name"}, job_form(), hidden={"user_name"}) == {}


# -- Nautobot's errors ---------------------------------------------------------------------------


def test_nautobot_field_errors_go_under_their_fields() -> None:
    body = {
        "errors": {
            "user_email": ["Invalid value. Must match regex: ^x$"],
            "meraki_access_level": ["Select a valid choice.", "Another problem."],
        }
    }
    assert field_errors(body, job_form()) == (
        {
            "user_email": "Invalid value. Must match regex: ^x$",
            "meraki_access_level": "Select a valid choice. Another problem.",
        },
        [],
    )


def test_nautobot_errors_on_unknown_or_hidden_fields_are_general() -> None:
    body = {"errors": {"bogus": ["Job data contained an unknown property"], "dryrun": ["Nope"]}}
    assert field_errors(body, job_form(), hidden={"dryrun"}) == (
        {},
        ["bogus: Job data contained an unknown property", "Dry run: Nope"],
    )


@pytest.mark.parametrize(
    ("body", "general"),
    [
        ({"errors": ["Job data needs to be a dict"]}, ["Job data needs to be a dict"]),
        ({"detail": "This job is not enabled to be run."}, ["This job is not enabled to be run."]),
        ({"task_queue": ['"x" is not a valid choice.']}, ['task_queue: "x" is not a valid choice.']),
        ({"errors": {"non_field_errors": ["Both set"]}}, ["Both set"]),
        ("Bad gateway", ["Bad gateway"]),
        (None, []),
    ],
)
def test_nautobot_general_errors(body: Any, general: list[str]) -> None:
    assert field_errors(body, job_form()) == ({}, general)


def test_field_errors_without_a_form_treat_named_keys_as_fields() -> None:
    assert field_errors({"user_email": ["Bad"]}) == ({"user_email": "Bad"}, [])


def test_field_errors_are_capped() -> None:
    by_field, general = field_errors(
        {"errors": {"user_email": ["x" * 5000], **{f"k{n}": "y" for n in range(30)}}}, job_form()
    )
    assert len(by_field["user_email"]) == 2000
    assert len(general) == 20
    assert general[-1] == "…and 11 more."


@given(JSONISH)
def test_field_errors_never_raise(body: Any) -> None:
    by_field, general = field_errors(body, job_form())
    assert set(by_field) <= set(ORDER)
    assert all(isinstance(text, str) for text in general)


# -- any Job's variables build a valid view ------------------------------------------------------

ANY_TEXT = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=st.characters(codec=None), max_size=300),
    st.text(alphabet=st.sampled_from(["\x00", "\n", " ", "<", "&", "\ud800", "🙂", "a", "\u202e"]), max_size=100),
    st.integers(min_value=0, max_value=3000).map(lambda n: "L" * n),
)
CHOICE_LIST = st.one_of(
    st.lists(st.tuples(ANY_TEXT, ANY_TEXT), max_size=8),
    st.integers(min_value=0, max_value=220).map(lambda n: [(f"c{i}", f"Choice {i}") for i in range(n)]),
)
TYPES = st.sampled_from(
    [
        "StringVar",
        "TextVar",
        "IntegerVar",
        "BooleanVar",
        "DryRunVar",
        "ChoiceVar",
        "MultiChoiceVar",
        "ObjectVar",
        "MultiObjectVar",
        "FileVar",
        "IPAddressVar",
        "IPAddressWithMaskVar",
        "IPNetworkVar",
        "JSONVar",
        "WeirdVar",
    ]
)
VARIABLE = st.builds(
    JobVariable,
    name=st.one_of(st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True), ANY_TEXT),
    type=TYPES,
    label=st.none() | ANY_TEXT,
    help_text=ANY_TEXT,
    required=st.booleans(),
    min_length=st.none() | st.integers(min_value=-5, max_value=5000),
    max_length=st.none() | st.integers(min_value=-5, max_value=5000),
    min_value=st.none() | st.integers(min_value=-(10**6), max_value=10**6),
    max_value=st.none() | st.integers(min_value=-(10**6), max_value=10**6),
    choices=CHOICE_LIST,
    default=st.none() | JSONISH,
)


@given(
    variables=st.lists(VARIABLE, max_size=12),
    job_name=ANY_TEXT,
    description=ANY_TEXT,
    prefill=st.dictionaries(st.text(max_size=10), JSONISH, max_size=5),
    command_text=ANY_TEXT,
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_build_modal_is_always_valid_for_slack(
    variables: list[JobVariable], job_name: str, description: str, prefill: dict[str, Any], command_text: str
) -> None:
    form = JobForm(job_id="j", job_name=job_name, description=description, variables=variables)
    context = ModalContext(channel_id="C1", user_id="U1", job_id="j", command_text=command_text)
    parsed = parse_command_text(command_text, form)
    view = build_modal(form, context=context, prefill={**prefill, **parsed.values}, notice=parsed.notice())
    assert_within_slack_limits(view)
    submitted = read_submission({}, form)
    validate(submitted, form)


SIMPLE_VARIABLE = st.builds(
    JobVariable,
    name=st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    type=TYPES,
    label=st.integers(min_value=0, max_value=2500).map(lambda n: "🙂" * n),
    help_text=st.integers(min_value=0, max_value=2500).map(lambda n: "&" * n),
    required=st.booleans(),
    choices=st.integers(min_value=0, max_value=120).map(lambda n: [(f"{i:0150d}", "🙂" * 80) for i in range(n)]),
)


@given(st.lists(SIMPLE_VARIABLE, min_size=90, max_size=130))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_build_modal_with_many_variables_stays_within_limits(variables: list[JobVariable]) -> None:
    form = JobForm(job_id="j", job_name="Big", variables=variables)
    assert_within_slack_limits(build_modal(form, context=CONTEXT))
