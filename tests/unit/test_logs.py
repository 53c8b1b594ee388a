"""The bot's logging: text and JSON lines, the correlation id across tasks, secrets kept out of the log."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot import logs
from bot.logs import (
    JsonFormatter,
    TextFormatter,
    configure,
    correlation,
    current_correlation,
    new_correlation_id,
    reset_correlation,
    scrub,
    set_correlation,
)

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"

# Built from pieces so that no scanner mistakes these fakes for real credentials.
BOT_TOKEN = "xox" + "b-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
USER_TOKEN = "xox" + "p-1234567890-0987654321-1122334455-0a1b2c3d4e5f"
LEGACY_TOKEN = "xox" + "a-2-1234567890-abcdef"
REFRESH_TOKEN = "xox" + "r-1234567890-abcdef"
APP_TOKEN = "xa" + "pp-1-A0123456789-1234567890123-0a1b2c3d4e5f6a7b8c9d"
NAUTOBOT_TOKEN = "0123456789abcdef" * 2 + "01234567"
BEARER = "eyJhbGciOi.eyJzdWIiOi.SflKxwRJSM"

SECRETS = {
    "slack bot token": (BOT_TOKEN, BOT_TOKEN),
    "slack user token": (USER_TOKEN, USER_TOKEN),
    "slack legacy token": (LEGACY_TOKEN, LEGACY_TOKEN),
    "slack refresh token": (REFRESH_TOKEN, REFRESH_TOKEN),
    "slack app token": (APP_TOKEN, APP_TOKEN),
    "nautobot token": (NAUTOBOT_TOKEN, NAUTOBOT_TOKEN),
    "authorization token": (f"Authorization: Token {NAUTOBOT_TOKEN}", NAUTOBOT_TOKEN),
    "authorization bearer": (f"Authorization: Bearer {BEARER}", BEARER),
    "authorization header dict": (repr({"Authorization": f"Bearer {BEARER}"}), BEARER),
}


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Each test configures the root logger; the next one starts from what was there before."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in logs.QUIET}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, saved in quiet.items():
        logging.getLogger(name).setLevel(saved)


def text_lines(level: str = "INFO") -> io.StringIO:
    stream = io.StringIO()
    configure(level, "text", stream)
    return stream


def json_lines(level: str = "INFO") -> io.StringIO:
    stream = io.StringIO()
    configure(level, "json", stream)
    return stream


def events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def record(message: str = "status request=%s", *args: Any, **attrs: Any) -> logging.LogRecord:
    created = datetime(2026, 11, 25, 21, 0, 0, 123000, tzinfo=UTC).timestamp()
    fields = {"name": "bot.follow", "levelno": logging.INFO, "levelname": "INFO", "msg": message, "args": args}
    return logging.makeLogRecord({**fields, "created": created, **attrs})


# -- text ----------------------------------------------------------------------------------------


def test_text_line_has_utc_timestamp_level_logger_and_message() -> None:
    assert TextFormatter().format(record("status request=%s", "r1")) == (
        "2026-11-25T21:00:00.123Z INFO bot.follow status request=r1"
    )


def test_text_line_ends_with_the_correlation_id() -> None:
    line = TextFormatter().format(record("status request=%s", "r1", correlation_id="abc123"))
    assert line == "2026-11-25T21:00:00.123Z INFO bot.follow status request=r1 [cid=abc123]"


def test_text_through_configure() -> None:
    stream = text_lines()
    logging.getLogger("bot.follow").info("status request=%s", "r1")
    with correlation("abc123"):
        logging.getLogger("bot.runs").warning("announced")
    first, second = stream.getvalue().splitlines()
    assert re.fullmatch(rf"{TS} INFO bot\.follow status request=r1", first)
    assert re.fullmatch(rf"{TS} WARNING bot\.runs announced \[cid=abc123\]", second)


def test_text_keeps_one_event_per_line() -> None:
    stream = text_lines()
    logging.getLogger("bot.listeners").info("user=%s", "eve\n2026-01-01T00:00:00.000Z INFO bot forged")
    assert stream.getvalue().count("\n") == 1
    assert "user=eve\\n2026" in stream.getvalue()


def test_text_puts_the_traceback_below() -> None:
    stream = text_lines()
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("bot.runs").exception("could not resume request=%s", "r1")
    first, *rest = stream.getvalue().splitlines()
    assert first.endswith("ERROR bot.runs could not resume request=r1")
    assert rest[0].startswith("Traceback") and rest[-1] == "ValueError: boom"


# -- JSON ----------------------------------------------------------------------------------------


def test_json_event_fields() -> None:
    [event] = [json.loads(JsonFormatter().format(record("status request=%s", "r1")))]
    assert event == {
        "ts": "2026-11-25T21:00:00.123Z",
        "level": "INFO",
        "logger": "bot.follow",
        "message": "status request=r1",
    }


def test_json_one_object_per_line_with_correlation_and_extras() -> None:
    stream = json_lines()
    log = logging.getLogger("bot.follow")
    log.info("status request=%s", "r1", extra={"request_id": "r1", "attempt": 2, "tags": ["a", "b"]})
    with correlation("abc123"):
        log.info("second")
    first, second = events(stream)
    assert re.fullmatch(TS, first["ts"])
    assert first == {
        "ts": first["ts"],
        "level": "INFO",
        "logger": "bot.follow",
        "message": "status request=r1",
        "request_id": "r1",
        "attempt": 2,
        "tags": ["a", "b"],
    }
    assert second["correlation_id"] == "abc123" and second["message"] == "second"


def test_json_extra_cannot_replace_a_core_field() -> None:
    stream = json_lines()
    logging.getLogger("bot.runs").info("hello", extra={"level": "fake", "ts": "then"})
    [event] = events(stream)
    assert event["level"] == "INFO" and event["extra_level"] == "fake" and event["extra_ts"] == "then"


def test_json_exception_goes_into_exc() -> None:
    stream = json_lines()
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("bot.runs").exception("following a run failed")
    [event] = events(stream)
    assert event["message"] == "following a run failed" and event["level"] == "ERROR"
    assert event["exc"].startswith("Traceback") and event["exc"].endswith("ValueError: boom")


def test_json_never_raises_on_odd_extras() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    circular: list[Any] = []
    circular.append(circular)
    stream = json_lines()
    log = logging.getLogger("bot.runs")
    log.info("odd", extra={"opaque": Opaque(), "broken": Broken(), "when": datetime(2026, 1, 1, tzinfo=UTC)})
    log.info("keys", extra={"by_tuple": {(1, 2): "x"}, "circular": circular, "fine": 1})
    odd, keys = events(stream)
    assert odd["opaque"] == "<opaque>" and odd["broken"] == "<unrepresentable Broken>"
    assert odd["when"] == repr(datetime(2026, 1, 1, tzinfo=UTC))
    assert keys["by_tuple"] == "{(1, 2): 'x'}" and keys["fine"] == 1
    assert json.dumps(keys["circular"]).endswith('"[[...]]"' + "]" * 8)


def test_arguments_that_do_not_fit_the_format_still_give_a_line() -> None:
    unfiltered = json.loads(JsonFormatter().format(record("bad args %d", "not a number")))
    filtered = record("bad args %d", "not a number")
    assert logs.ScrubFilter().filter(filtered)
    for event in (unfiltered, json.loads(JsonFormatter().format(filtered))):
        assert event["message"] == "'bad args %d' % ('not a number',)"
    assert TextFormatter().format(filtered).endswith("INFO bot.follow 'bad args %d' % ('not a number',)")


# -- correlation id ------------------------------------------------------------------------------


def test_new_correlation_ids_are_short_random_hex() -> None:
    ids = {new_correlation_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{12}", cid) for cid in ids)


def test_correlation_context_sets_and_restores() -> None:
    assert current_correlation() is None
    with correlation("outer") as cid:
        assert cid == current_correlation() == "outer"
        with correlation("inner"):
            assert current_correlation() == "inner"
        assert current_correlation() == "outer"
    assert current_correlation() is None


def test_set_and_reset_correlation() -> None:
    token = set_correlation("abc123")
    try:
        assert current_correlation() == "abc123"
    finally:
        reset_correlation(token)
    assert current_correlation() is None


def test_no_correlation_id_outside_the_context() -> None:
    text = text_lines()
    logging.getLogger("bot.runs").info("idle")
    assert "[cid=" not in text.getvalue()
    structured = json_lines()
    logging.getLogger("bot.runs").info("idle")
    [event] = events(structured)
    assert "correlation_id" not in event


def test_explicit_correlation_id_is_kept() -> None:
    stream = json_lines()
    with correlation("context"):
        logging.getLogger("bot.runs").info("resumed", extra={"correlation_id": "explicit"})
    [event] = events(stream)
    assert event["correlation_id"] == "explicit"


async def test_correlation_id_survives_await() -> None:
    stream = json_lines()
    log = logging.getLogger("bot.listeners")
    with correlation("req-await"):
        log.info("before")
        await asyncio.sleep(0)
        log.info("after")
    log.info("outside")
    before, after, outside = events(stream)
    assert before["correlation_id"] == after["correlation_id"] == "req-await"
    assert "correlation_id" not in outside


async def test_follow_task_keeps_the_id_it_was_created_with() -> None:
    stream = json_lines()
    log = logging.getLogger("bot.follow")
    started = asyncio.Event()

    async def follow() -> None:
        await started.wait()  # runs only after the creating block has left the context
        log.info("status request=%s", "r1")

    with correlation("req-1"):
        task = asyncio.create_task(follow())
    log.info("submitted")
    started.set()
    await task
    submitted, status = events(stream)
    assert submitted["message"] == "submitted" and "correlation_id" not in submitted
    assert status["message"] == "status request=r1" and status["correlation_id"] == "req-1"


async def test_concurrent_requests_do_not_share_ids() -> None:
    stream = json_lines()
    log = logging.getLogger("bot.follow")

    async def handle(cid: str) -> None:
        with correlation(cid):
            for step in range(3):
                log.info("step %d", step)
                await asyncio.sleep(0)

    await asyncio.gather(handle("aaa"), handle("bbb"))
    seen = [(event["correlation_id"], event["message"]) for event in events(stream)]
    assert sorted(seen) == sorted((cid, f"step {n}") for cid in ("aaa", "bbb") for n in range(3))
    assert [cid for cid, _ in seen[:2]] == ["aaa", "bbb"]  # interleaved, each line still its own id


def test_library_loggers_get_the_id() -> None:
    stream = text_lines()
    with correlation("lib123"):
        logging.getLogger("slack_bolt.AsyncApp").info("handling")
    assert stream.getvalue().rstrip().endswith("handling [cid=lib123]")


# -- secrets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "secret"), SECRETS.values(), ids=SECRETS.keys())
def test_scrub_each_secret_shape(text: str, secret: str) -> None:
    cleaned = scrub(f"calling with {text} now")
    assert secret not in cleaned and "[redacted]" in cleaned
    assert cleaned.startswith("calling with ") and cleaned.endswith(" now")


def test_scrub_keeps_the_header_name_and_scheme() -> None:
    assert scrub(f"Authorization: Token {NAUTOBOT_TOKEN}") == "Authorization: Token [redacted]"
    assert scrub(f"authorization: bearer {BEARER}, next") == "authorization: bearer [redacted], next"


def test_scrub_leaves_lookalikes_alone() -> None:
    sha256 = "ab" * 32
    uuid = "0f0e0d0c-0b0a-0908-0706-050403020100"
    text = f"must start with xoxb- (the xoxb-… token); digest={sha256} result={uuid} cid={new_correlation_id()}"
    assert scrub(text) == text


@pytest.mark.parametrize(("text", "secret"), SECRETS.values(), ids=SECRETS.keys())
def test_secrets_scrubbed_in_message_args_and_extras(text: str, secret: str) -> None:
    stream = json_lines()
    log = logging.getLogger("bot.nautobot")
    log.info(f"literal {text}")
    log.info("argument %s", text)
    log.info("extra", extra={"header": text, "nested": {"headers": [text]}})
    output = stream.getvalue()
    assert secret not in output
    literal, argument, extra = events(stream)
    assert "[redacted]" in literal["message"] and "[redacted]" in argument["message"]
    assert "[redacted]" in extra["header"] and "[redacted]" in extra["nested"]["headers"][0]


def test_secrets_scrubbed_in_text_and_tracebacks() -> None:
    stream = text_lines()
    try:
        raise RuntimeError(f"slack refused {BOT_TOKEN}")
    except RuntimeError:
        logging.getLogger("slack_bolt.App").exception("token %s failed", APP_TOKEN)
    output = stream.getvalue()
    assert BOT_TOKEN not in output and APP_TOKEN not in output
    assert "token [redacted] failed" in output and "RuntimeError: slack refused [redacted]" in output


def test_caller_extras_are_not_modified() -> None:
    json_lines()
    headers = {"Authorization": f"Token {NAUTOBOT_TOKEN}"}
    logging.getLogger("bot.nautobot").info("request", extra={"headers": headers})
    assert headers == {"Authorization": f"Token {NAUTOBOT_TOKEN}"}


# -- configure -----------------------------------------------------------------------------------


def test_configure_twice_writes_each_line_once() -> None:
    first = io.StringIO()
    configure("INFO", "text", first)
    configure("INFO", "text", first)
    logging.getLogger("bot.runs").info("once")
    assert first.getvalue().count("once") == 1


def test_configure_again_replaces_its_handler_only() -> None:
    root = logging.getLogger()
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    old, new = io.StringIO(), io.StringIO()
    configure("INFO", "text", old)
    configure("INFO", "json", new)
    logging.getLogger("bot.runs").info("moved")
    assert old.getvalue() == ""
    assert [event["message"] for event in events(new)] == ["moved"]
    assert foreign in root.handlers


def test_configure_sets_the_root_level() -> None:
    stream = text_lines("warning")
    logging.getLogger("bot.runs").info("hidden")
    logging.getLogger("bot.runs").warning("shown")
    assert "hidden" not in stream.getvalue() and "shown" in stream.getvalue()
    assert logging.getLogger().level == logging.WARNING


def test_configure_rejects_unknown_level_and_format() -> None:
    with pytest.raises(ValueError, match="log level"):
        configure("LOUD", "text", io.StringIO())
    with pytest.raises(ValueError, match="log format"):
        configure("INFO", "yaml", io.StringIO())  # type: ignore[arg-type]


LEVELS = {
    "INFO": {"httpx": "WARNING", "httpcore": "WARNING", "sqlalchemy.engine": "WARNING", "aiosqlite": "WARNING"},
    "DEBUG": {"httpx": "DEBUG", "httpcore": "DEBUG", "sqlalchemy.engine": "DEBUG", "aiosqlite": "INFO"},
    "ERROR": {"httpx": "ERROR", "httpcore": "ERROR", "sqlalchemy.engine": "ERROR", "aiosqlite": "ERROR"},
}


@pytest.mark.parametrize("level", LEVELS)
def test_library_levels(level: str) -> None:
    configure(level, "text", io.StringIO())
    got = {name: logging.getLevelName(logging.getLogger(name).getEffectiveLevel()) for name in LEVELS[level]}
    assert got == LEVELS[level]


def test_library_levels_follow_a_reconfigure() -> None:
    configure("DEBUG", "text", io.StringIO())
    stream = text_lines("INFO")
    logging.getLogger("httpx").info('HTTP Request: GET https://nautobot.example.com/api/ "HTTP/1.1 200 OK"')
    logging.getLogger("httpx").warning("retrying")
    logging.getLogger("aiosqlite").debug("executing SELECT ...")
    logging.getLogger("bot.runs").info("own line")
    output = stream.getvalue()
    assert "HTTP Request" not in output and "executing" not in output
    assert "retrying" in output and "own line" in output
