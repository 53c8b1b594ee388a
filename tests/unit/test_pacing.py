"""Many runs finishing at once in one channel: posts are paced, Slack never answers 429."""

import asyncio
import time

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.pacing import ChannelPacer
from tests.support.slack_standin import SlackStandIn


async def post_all(client: AsyncWebClient, pacer: ChannelPacer, channel: str, count: int) -> None:
    async def post(n: int) -> None:
        await pacer.turn(channel)
        await client.chat_postMessage(channel=channel, text=f"run {n} finished")

    await asyncio.gather(*(post(n) for n in range(count)))


async def test_a_burst_in_one_channel_draws_no_429_and_other_channels_are_not_held_up():
    # Slack's limit scaled down 10x to keep the test short: 10 messages a second per channel, no burst.
    with SlackStandIn(post_message_limit=None) as slack:
        slack.rate_limit("chat.postMessage", per_second=10, burst=1, per="channel")
        slack.add_user("U1")
        for channel in ("C1", "C2"):
            slack.add_channel(channel, name=channel.lower(), members={"U1"}, bot_member=True)
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        pacer = ChannelPacer(interval=0.12)  # a little under the limit, as 1 s is under Slack's
        started = time.monotonic()
        await asyncio.gather(post_all(client, pacer, "C1", 20), post_all(client, pacer, "C2", 5))
        elapsed = time.monotonic() - started

        calls = slack.calls_to("chat.postMessage")
        assert [c.status for c in calls] == [200] * 25
        assert len(slack.messages("C1")) == 20 and len(slack.messages("C2")) == 5
        assert elapsed >= 19 * 0.12  # the pacing, not luck, avoided the 429s


async def test_without_pacing_the_same_burst_is_rate_limited():
    with SlackStandIn(post_message_limit=None) as slack:
        slack.rate_limit("chat.postMessage", per_second=10, burst=1, per="channel")
        slack.add_user("U1")
        slack.add_channel("C1", name="c1", members={"U1"}, bot_member=True)
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        results = await asyncio.gather(
            *(client.chat_postMessage(channel="C1", text=str(n)) for n in range(20)), return_exceptions=True
        )
        assert any(isinstance(r, Exception) for r in results)
