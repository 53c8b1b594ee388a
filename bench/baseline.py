"""The naive design the bot is measured against, as peers build it.

A synchronous ``slack_bolt.App`` over Socket Mode with Bolt's default listener executor (5 threads).
The command reads the Job's form from Nautobot and opens the modal; the submission acknowledges,
runs the Job, then polls its JobResult once a second from the listener thread and gives up after
60 polls, which is what Nautobot's ChatOps app does. For a fair comparison it posts the log into
the thread when it sees the run end (ChatOps posts no log). The modal and the messages are the
bot's own builders, so only the design differs.

Run it as ``python -m bench.baseline`` with the bot's settings in the environment.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import httpx
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient

from bot.models import JobForm, JobRun, LogEntry, ModalContext, RunRequest
from bot.slack import log_messages, messages
from bot.slack import modal as forms

POLL_INTERVAL = 1.0
POLL_LIMIT = 60


class NaiveBot:
    """Every step runs in the listener thread that received the interaction."""

    def __init__(self, nautobot_url: str, nautobot_token: str, job_name: str):
        self.base = nautobot_url.rstrip("/")
        self.job_name = job_name
        self.nautobot = httpx.Client(
            base_url=self.base, headers={"Authorization": f"Token {nautobot_token}"}, timeout=30
        )

    def job_form(self) -> JobForm:
        found = self.nautobot.get("/api/extras/jobs/", params={"name": self.job_name}).json()["results"][0]
        variables = self.nautobot.get(f"/api/extras/jobs/{found['id']}/variables/").json()
        return JobForm.from_api(found, variables)

    def command(self, ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        form = self.job_form()
        text = body.get("text", "")
        context = ModalContext(channel_id=body["channel_id"], user_id=body["user_id"], job_id=form.job_id)
        context = context.model_copy(update={"command_text": text})
        prefill = forms.parse_command_text(text, form)
        client.views_open(
            trigger_id=body["trigger_id"], view=forms.build_modal(form, context=context, prefill=prefill.values)
        )

    def submission(self, ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        ack()
        context = ModalContext.from_metadata(view.get("private_metadata", ""))
        form = self.job_form()
        values = forms.read_submission(view["state"]["values"], form)
        request = RunRequest(
            request_id=view["id"],
            requester_id=body["user"]["id"],
            channel_id=context.channel_id,
            job_name=form.job_name,
            inputs=values,
            dryrun=bool(values.get("dryrun", False)),
        )
        answer = self.nautobot.post(f"/api/extras/jobs/{form.job_id}/run/", json={"data": values}).json()
        run = JobRun.from_api(answer["job_result"], self.base)
        text, blocks = messages.parent_message(request, run, form=form)
        parent = client.chat_postMessage(channel=context.channel_id, text=text, blocks=blocks)
        channel, ts = parent["channel"], parent["ts"]
        for _ in range(POLL_LIMIT):
            time.sleep(POLL_INTERVAL)
            run = JobRun.from_api(self.nautobot.get(f"/api/extras/job-results/{run.result_id}/").json(), self.base)
            if run.status.is_final:
                break
        else:
            client.chat_postMessage(
                channel=channel, thread_ts=ts, text=f"The Job did not reach a ready state in {POLL_LIMIT} s."
            )
            return
        logs = self.nautobot.get(f"/api/extras/job-results/{run.result_id}/logs/").json()
        for text, blocks in log_messages.log_messages([LogEntry.from_api(entry) for entry in logs]):
            client.chat_postMessage(channel=channel, thread_ts=ts, text=text, blocks=blocks)
        text, blocks = messages.parent_message(request, run, run.status, form=form)
        client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)


def build(env: dict[str, str]) -> App:
    client = WebClient(token=env["SLACK_BOT_TOKEN"], base_url=env.get("SLACK_API_URL", "https://slack.com/api/"))
    app = App(client=client)  # Bolt's default listener executor: ThreadPoolExecutor(max_workers=5)
    naive = NaiveBot(env["NAUTOBOT_URL"], env["NAUTOBOT_TOKEN"], env.get("NAUTOBOT_JOB_NAME", "Create Meraki User"))
    app.command(env.get("SLASH_COMMAND", "/meraki-add-user"))(naive.command)
    app.view(forms.CALLBACK_ID)(naive.submission)
    return app


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    env = dict(os.environ)
    SocketModeHandler(build(env), env["SLACK_APP_TOKEN"]).start()


if __name__ == "__main__":
    main()
