"""The command line without Nautobot: settings problems are reported, not raised."""

import os
import subprocess
import sys
from pathlib import Path

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
