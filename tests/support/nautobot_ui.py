"""Nautobot's own web UI as a person uses it: log in, open a Job's form, submit it as the browser would."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

from testbed.nautobot_stack import NautobotStack

ADMIN_USER, ADMIN_PASSWORD = "admin", "admin"  # testbed/provision_nautobot.py
RESULT_URL = re.compile(r"/extras/job-results/(?P<id>[0-9a-f-]{36})/")


@dataclass
class _Form:
    fields: dict[str, str] = field(default_factory=dict)
    select: str | None = None


class FormReader(HTMLParser):
    """What a browser submits for the form holding ``marker``: inputs, checked boxes, each select's choice.

    Unticked checkboxes are not submitted, as in a browser; a select sends its selected option, else its first.
    """

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker
        self.forms: list[_Form] = []
        self.current: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.current = _Form()
            self.forms.append(self.current)
        form, name = self.current, a.get("name", "")
        if form is None:
            return
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            form.fields[name] = a.get("value", "on" if a.get("type") == "checkbox" else "")
        elif tag == "textarea" and name:
            form.fields[name] = ""
        elif tag == "select" and name:
            form.select = name
        elif tag == "option" and form.select and (form.select not in form.fields or "selected" in a):
            form.fields[form.select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self.current is not None:
            self.current.select = None
        elif tag == "form":
            self.current = None

    def submitted(self) -> dict[str, str]:
        [form] = [form for form in self.forms if self.marker in form.fields]
        return dict(form.fields)


@contextlib.contextmanager
def logged_in(stack: NautobotStack) -> Iterator[httpx.Client]:
    """A browser-like client logged in as Nautobot's admin."""
    with httpx.Client(base_url=stack.url, timeout=60, follow_redirects=False) as client:
        login = client.get("/login/")
        reader = FormReader("username")
        reader.feed(login.text)
        data = {**reader.submitted(), "username": ADMIN_USER, "password": ADMIN_PASSWORD}
        done = client.post("/login/", data=data, headers={"Referer": f"{stack.url}/login/"})
        if done.status_code != 302:
            raise AssertionError(f"logging in to Nautobot's UI failed: {done.status_code}")
        yield client


def submit_job_form(stack: NautobotStack, client: httpx.Client, job_id: str, values: dict[str, str | None]) -> str:
    """Fill the Job's form with ``values`` (None: leave a checkbox unticked) and submit it; the JobResult's id."""
    url = f"/extras/jobs/{job_id}/run/"
    page = client.get(url)
    page.raise_for_status()
    reader = FormReader(next(iter(values)))
    reader.feed(page.text)
    data = reader.submitted()
    for name, value in values.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    sent = client.post(url, data=data, headers={"Referer": f"{stack.url}{url}"})
    found = RESULT_URL.search(sent.headers.get("location", ""))
    if found is None:
        raise AssertionError(f"Nautobot's form did not start a run: {sent.status_code} {sent.text[-2000:]}")
    return found["id"]
