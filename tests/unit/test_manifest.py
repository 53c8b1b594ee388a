"""The manifest grants exactly the scopes the bot's Web API calls need."""

from bot.settings import DEFAULT_COMMANDS
from testbed.manifest import bot_scopes, manifest, web_api_methods
from testbed.slack_constants import OPTIONAL_SCOPES
from testbed.slack_standin import METHOD_SCOPES


def test_every_method_the_bot_calls_is_covered_and_no_scope_is_unused():
    methods = web_api_methods()
    assert {"views.open", "views.update", "chat.postMessage", "chat.update"} <= methods
    unknown = methods - METHOD_SCOPES.keys()
    assert not unknown, f"add these methods to the Slack stand-in's scope table: {unknown}"
    needed = {METHOD_SCOPES[m] for m in methods if METHOD_SCOPES[m]} | {"commands"}
    widening = {scope for m in methods for scope in OPTIONAL_SCOPES.get(m, ())} & bot_scopes()
    assert bot_scopes() == needed | widening
    assert widening == {"users:read.email"}  # the Home's grants held: users.info gives the address only with it


def test_socket_mode_command_and_interactivity():
    app = manifest()
    assert app["settings"]["socket_mode_enabled"] is True
    assert app["settings"]["interactivity"]["is_enabled"] is True
    commands = app["features"]["slash_commands"]
    assert [command["command"] for command in commands] == list(DEFAULT_COMMANDS)  # the settings' defaults
    assert all("url" not in command for command in commands)  # Socket Mode needs no request URL


def test_group_rules_are_why_usergroups_read_is_asked_for():
    assert "usergroups.users.list" in web_api_methods()
    assert "usergroups:read" in bot_scopes()
