"""The secret scrubber reads a text in linear time, whatever the text: it runs on the event loop for every log
line and for what Nautobot echoes back. No wall clock here: the work is counted (tests/security/steps.py).

Reproduction: ``scrub("a-" * 8_000)`` took about 2 s in one backtracking regex (the ``scheme://`` branch of the
secret pattern tried again from each letter), and doubling the text made it four times as long.
"""

from __future__ import annotations

import re
import secrets

import httpx
import pytest
import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot import logs
from bot.logs import REDACTED, scrub
from bot.nautobot import responses
from tests.security.secret_scan import Secret, scan
from tests.security.steps import regex_calls, steps_of

pytestmark = pytest.mark.security

HEX40 = "0123456789abcdef0123456789abcdef01234567"
PLANTED = f"xoxb-{'1' * 12}-abc https://bot:s3cret@db.example.com Authorization: Token {HEX40}"
"""A line with every kind of secret in it, each matched once."""


def padding(pairs: int) -> str:
    """What made the old pattern quadratic: letters and dashes, a ``scheme`` that never reaches ``://``."""
    return "a-" * pairs


def test_the_secret_pattern_is_re2_and_no_backtracking_regex_runs() -> None:
    steps = steps_of(lambda: scrub(padding(16_000) + " " + PLANTED))
    assert isinstance(logs._SECRET, re2._Regexp)
    assert regex_calls(steps) == [], regex_calls(steps)[:3]


@pytest.mark.parametrize(
    "unit",
    ["a-", "ab" * 19 + " ", "Authorization: Toke", "https://user", "https://u:pw @h", "xoxb- "],
    ids=["letters and dashes", "short hex runs", "header without value", "URL without @", "URL with a space", "prefix"],
)
def test_the_work_of_a_clean_text_does_not_grow_with_its_length(unit: str) -> None:
    """Read by RE2 in one pass: the Python work is the same for 1,000 and 16,000 repetitions."""
    small, large = steps_of(lambda: scrub(unit * 1_000)), steps_of(lambda: scrub(unit * 16_000))
    assert large.total <= small.total + 10, (small.total, large.total)


@pytest.mark.parametrize(
    "found",
    [PLANTED, "ab" * 30, "https://u:***@h"],
    ids=["secrets", "hex runs that are no token", "URLs already masked"],
)
def test_the_work_grows_with_what_is_found_not_with_the_text_around_it(found: str) -> None:
    def lines(count: int, pad: int) -> str:
        return " ".join([padding(pad), found] * count)

    base = steps_of(lambda: scrub(lines(10, 100))).total
    assert steps_of(lambda: scrub(lines(10, 5_000))).total <= base + 10  # 50 times the padding: no more work
    assert steps_of(lambda: scrub(lines(40, 100))).total <= 4.5 * base  # four times as many found: four times


# -- it masks what the backtracking pattern masked ----------------------------------------------------------

_BEFORE = re.compile(
    r"(?P<auth>authorization['\"]?\s*[:=]\s*['\"]?(?:token|bearer)\s+)[^\s'\",;)}\]]+"
    r"|(?P<url>(?a:\b)[a-z][a-z0-9+.-]*://[^\s:/@'\"<>]*:)(?!\*+@)[^\s/@'\"<>]+(?=@)"
    r"|xox[abpr]-[A-Za-z0-9-]+"
    r"|xapp-[A-Za-z0-9-]+"
    r"|(?<![0-9A-Fa-f])[0-9A-Fa-f]{40}(?![0-9A-Fa-f])",
    re.IGNORECASE,
)
"""The pattern ``scrub`` used before, with lookarounds (fine on the short texts below) and two deliberate
changes: a word boundary is ASCII's (``épostgres://u:pw@h`` is masked too), and the user part of a URL is
scrubbed as well (``https://<token>:x-oauth-basic@host``)."""


def scrubbed_before(text: str) -> str:
    def masked(match: re.Match[str]) -> str:
        url = match.group("url")
        return (scrubbed_before(url) if url else match.group("auth") or "") + REDACTED

    return _BEFORE.sub(masked, text)


PIECES = [
    *("a", "-", ":", "//", "://", "@", "*", "**", " ", "\u00a0", "\t", "'", '"', "<", ">", ",", ";", ")", "]"),
    *("x", "é", "_", "+", ".", "=", "f", "0", "\n", "\udcff", "postgres", "https", "user", "pw", "xoxb-", "xapp-"),
    *("XOXP-", "authorization", "Authorization: ", "token ", "Bearer ", HEX40, "ab" * 20, "AB" * 21),
]


@settings(max_examples=3_000, suppress_health_check=list(HealthCheck), deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=14))
def test_the_linear_scrubber_masks_what_the_backtracking_one_did(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert scrub(text) == scrubbed_before(text.encode("utf-8", "replace").decode("utf-8"))


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        (f"{'ab' * 20}Authorization: token x", f"{'ab' * 20}Authorization: token {REDACTED}"),
        (f"https://{HEX40}:x-oauth-basic@github.com", f"https://{REDACTED}:{REDACTED}@github.com"),
        (f"redis://:****@cache and {HEX40}", f"redis://:****@cache and {REDACTED}"),
        (f"lone surrogate \udcff{HEX40}", f"lone surrogate ?{REDACTED}"),
    ],
    ids=["header after a hex run", "token as a URL's user", "masked URL then a token", "lone surrogate"],
)
def test_what_only_rescanning_finds(text: str, scrubbed: str) -> None:
    assert scrub(text) == scrubbed


# -- a cap never lets part of a secret through -------------------------------------------------------------


def answers(token: str) -> responses.Answers:
    return responses.Answers("https://nautobot.example.com", SecretStr(token), 5.0)


def page(body: str) -> httpx.Response:
    return httpx.Response(502, text=body, request=httpx.Request("POST", "https://nautobot.example.com/api/x/"))


def shapes() -> list[Secret]:
    return [
        Secret("URL password", f"postgresql://bot:{secrets.token_hex(16)}@db.example.com", "postgresql://bot:"),
        Secret("another Nautobot token", secrets.token_hex(20)),
        Secret("Slack token", f"xoxb-{secrets.token_hex(16)}", "xoxb-"),
    ]


@pytest.mark.parametrize("cut_at", [4, 12, 20, 30])
def test_a_secret_the_cap_cuts_is_dropped_not_shown_in_part(cut_at: int) -> None:
    """The cap falls inside the secret: what is before it is shown, no piece of the secret is."""
    token = secrets.token_hex(20)
    for secret in [*shapes(), Secret("own token", token)]:
        before = "said " * ((responses.SCRUB_MAX - cut_at) // 5) + "x" * ((responses.SCRUB_MAX - cut_at) % 5)
        redacted = answers(token).redact(before + secret.value + " and more")
        assert not scan({"redacted": redacted}, [secret]), (secret.name, redacted[-80:])
        assert redacted.startswith("said said") and responses.SCRUB_MAX - 60 <= len(redacted) <= responses.SCRUB_MAX

        tags = "<b>" * ((responses.BODY_READ_MAX - cut_at) // 3) + "x" * ((responses.BODY_READ_MAX - cut_at) % 3)
        excerpt = answers(token).excerpt(page("Bad gateway " + tags + secret.value))
        assert not scan({"excerpt": excerpt}, [secret]), (secret.name, excerpt)
        assert excerpt == "Bad gateway"
