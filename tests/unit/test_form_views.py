"""The form built once and sent to everyone it fits: the same view as building it each time, the person's own
metadata, and a fresh build whenever the form or what is left out of it differs."""

from __future__ import annotations

from typing import Any

from bot.access import Decision, restricted_form
from bot.models import JobForm, ModalContext
from bot.slack.modal import build_modal
from bot.slack.modal.cached import FormViews
from testbed.fake_nautobot import VARIABLES

ALICE = ModalContext(channel_id="C1", user_id="UALICE", job_id="job-1")
BOB = ModalContext(channel_id="C2", user_id="UBOB", job_id="job-1")


def job_form(description: str = "") -> JobForm:
    return JobForm.from_api({"id": "job-1", "name": "Create Meraki User", "description": description}, VARIABLES)


def built(form: JobForm, context: ModalContext, **kwargs: Any) -> dict[str, Any]:
    return build_modal(form, context=context, **kwargs).to_dict()


def test_a_kept_form_is_the_view_a_fresh_build_gives_with_each_persons_metadata() -> None:
    views, form = FormViews(), job_form()
    first = views.view(form, context=ALICE, prefill={}, hidden=frozenset(), notice=None)
    second = views.view(form, context=BOB, prefill={}, hidden=frozenset(), notice=None)
    assert first == built(form, ALICE)
    assert second == built(form, BOB)
    assert first["private_metadata"] != second["private_metadata"]


def test_pre_filled_values_and_notices_each_get_their_own_view() -> None:
    views, form = FormViews(), job_form()
    plain = views.view(form, context=ALICE, prefill={}, hidden=frozenset(), notice=None)
    filled = views.view(form, context=ALICE, prefill={"dryrun": True}, hidden=frozenset(), notice=None)
    noticed = views.view(form, context=ALICE, prefill={}, hidden=frozenset(), notice="Not used: xyz")
    assert filled == built(form, ALICE, prefill={"dryrun": True})
    assert noticed == built(form, ALICE, notice="Not used: xyz")
    assert plain != filled
    assert plain != noticed


def test_a_refreshed_form_is_built_afresh() -> None:
    views = FormViews()
    views.view(job_form("Old words"), context=ALICE, prefill={}, hidden=frozenset(), notice=None)
    refreshed = job_form("New words")
    assert views.view(refreshed, context=ALICE, prefill={}, hidden=frozenset(), notice=None) == built(refreshed, ALICE)


def test_choices_left_out_for_one_person_are_not_left_out_for_another() -> None:
    views, form = FormViews(), job_form()
    select = next(var for var in form.variables if var.choices)
    denied = Decision(allowed=True, reason="", denied_choices={select.name: frozenset({select.choices[0][0]})})
    shown = restricted_form(form, denied)
    narrowed = views.view(shown, of=form, shape="narrowed", context=ALICE, prefill={}, hidden=frozenset(), notice=None)
    full = views.view(form, of=form, shape="", context=BOB, prefill={}, hidden=frozenset(), notice=None)
    assert narrowed == built(shown, ALICE)
    assert full == built(form, BOB)
    assert narrowed["blocks"] != full["blocks"]


def test_only_the_latest_forms_are_kept() -> None:
    views = FormViews(kept=2)
    forms = [job_form(f"Version {index}") for index in range(3)]
    for form in forms:
        views.view(form, context=ALICE, prefill={}, hidden=frozenset(), notice=None)
    assert len(views._built) == 2


def test_each_persons_command_pre_fills_their_own_view() -> None:
    views, form = FormViews(), job_form("Adds a user")
    for email in ("alice@example.com", "bob@example.com"):
        prefill = {"user_email": email, "dryrun": True}
        view = views.view(form, context=ALICE, prefill=prefill, hidden=frozenset(), notice="Not used: xyz")
        assert view == built(form, ALICE, prefill=prefill, notice="Not used: xyz")


def test_a_form_without_fields_shows_a_notice_in_place_of_its_placeholder() -> None:
    views = FormViews()
    empty = JobForm.from_api({"id": "job-2", "name": "No inputs"}, [])
    assert views.view(empty, context=ALICE, prefill={}, hidden=frozenset(), notice=None) == built(empty, ALICE)
    noticed = views.view(empty, context=ALICE, prefill={}, hidden=frozenset(), notice="Not used: xyz")
    assert noticed == built(empty, ALICE, notice="Not used: xyz")
