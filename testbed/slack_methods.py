"""The Web API methods the stand-in answers (auth, views, chat, conversations, files, users and
user groups), each with the checks and error codes Slack documents for it."""

from __future__ import annotations

import copy
import time
from typing import Any

from testbed.block_kit import MAX_VIEW_BYTES, validate_message_blocks, validate_view, view_size
from testbed.slack_constants import (
    BOT_ID,
    BOT_USER_ID,
    BOT_USER_NAME,
    MAX_MESSAGE_TEXT,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
)
from testbed.slack_replies import SlackError
from testbed.slack_state import SharedState
from testbed.slack_workspace import Channel, Upload, assign_ids, bot_message, random_id


class WebMethods:
    """One handler per supported method: ``(args, token) -> the answer's fields``, or :class:`SlackError`.

    Called with the stand-in's lock held.
    """

    def __init__(self, standin: SharedState) -> None:
        self.s = standin
        self.space = standin._workspace

    # -- auth and connections ----------------------------------------------------------

    def auth_test(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_USER_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def apps_connections_open(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        return {"url": self.s.issue_ticket_url()}

    # -- views -------------------------------------------------------------------------

    def _checked_view(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if view is None:
            raise SlackError(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: view"]}
            )
        if not isinstance(view, dict):
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] must provide an object [json-pointer:/view]"]},
            )
        if view_size(view) > MAX_VIEW_BYTES:
            raise SlackError("view_too_large")
        problems = validate_view(view)
        if problems:
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        return view

    def _trigger_arg(self, args: dict[str, Any]) -> Any:
        return args.get("trigger_id") or args.get("interactivity_pointer")

    def views_open(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        view = self._checked_view(args)
        user_id = self.space.exchange_trigger(self._trigger_arg(args))
        self.space.check_external_id(view)
        stored = self.space.store_view(view)
        self.space.stacks[user_id] = [stored["id"]]
        return {"view": copy.deepcopy(stored)}

    def views_push(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        view = self._checked_view(args)
        user_id = self.space.exchange_trigger(self._trigger_arg(args))
        self.space.check_external_id(view)
        return {"view": copy.deepcopy(self.space.push_view(user_id, view))}

    def views_update(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        if not args.get("view_id") and not args.get("external_id"):
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] either view_id or external_id is required"]},
            )
        view = self._checked_view(args)
        current = self.space.open_view(args.get("view_id") or None, args.get("external_id") or None)
        expected_hash = args.get("hash")
        if expected_hash and expected_hash != current["hash"]:
            raise SlackError("hash_conflict")
        self.space.check_external_id(view, replacing=current["id"])
        return {"view": copy.deepcopy(self.space.replace_view(current, view))}

    # -- messages ----------------------------------------------------------------------

    def _content(self, args: dict[str, Any]) -> dict[str, Any]:
        """The text, blocks and attachments of a message, checked like chat.postMessage."""
        text = args.get("text")
        blocks = args.get("blocks")
        attachments = args.get("attachments")
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        if text is not None and not isinstance(text, str):
            text = str(text)
        if text and len(text) > MAX_MESSAGE_TEXT:
            raise SlackError("msg_too_long")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise SlackError("invalid_blocks_format")
            problems = validate_message_blocks(blocks)
            if problems:
                raise SlackError("invalid_blocks", response_metadata={"messages": problems})
            blocks = copy.deepcopy(blocks)
            assign_ids(blocks)
        if attachments is not None:
            if not isinstance(attachments, list):
                raise SlackError("invalid_attachments")
            if len(attachments) > 100:
                raise SlackError("too_many_attachments")
        content: dict[str, Any] = {"text": text or ""}
        if blocks is not None:
            content["blocks"] = blocks
        if attachments is not None:
            content["attachments"] = copy.deepcopy(attachments)
        return content

    def _postable(self, ref: Any) -> Channel:
        channel = self.space.visible_channel(ref)
        if channel.is_archived:
            raise SlackError("is_archived")
        if not channel.bot_member and "chat:write.public" not in self.s.scopes:
            raise SlackError("not_in_channel")
        return channel

    def chat_post_message(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._postable(args.get("channel"))
        data = bot_message(self._content(args), self.space.next_ts())
        thread_ts = args.get("thread_ts")
        if thread_ts:
            data["thread_ts"] = str(thread_ts)
            data["parent_user_id"] = self._parent_user(channel.id, str(thread_ts))
        message = self.space.add_message(channel, data)
        return {"channel": channel.id, "ts": message.ts, "message": copy.deepcopy(message.data)}

    def _parent_user(self, channel_id: str, thread_ts: str) -> str | None:
        parent = self.space.find_message(channel_id, thread_ts)
        return parent.data.get("user") if parent else None

    def chat_update(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self.space.visible_channel(args.get("channel"))
        if channel.is_archived:
            raise SlackError("is_archived")
        message = self.space.find_message(channel.id, str(args.get("ts") or ""))
        if message is None:
            raise SlackError("message_not_found")
        if message.data.get("bot_id") != BOT_ID:
            raise SlackError("cant_update_message")
        content = self._content(args)
        previous = {k: copy.deepcopy(message.data.get(k)) for k in ("text", "blocks", "attachments")}
        message.history.append({**previous, "replaced_at": time.time()})
        for key in ("blocks", "attachments"):
            if key in args:
                message.data.pop(key, None)
        message.data.update(content)
        message.data["edited"] = {"user": BOT_USER_ID, "ts": self.space.next_ts()}
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.data["text"],
            "message": copy.deepcopy(message.data),
        }

    def chat_get_permalink(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        """A link to a message the bot can see, as Slack builds it (a reply's names its thread)."""
        channel = self.space.visible_channel(args.get("channel"))
        ts = str(args.get("message_ts") or "")
        message = self.space.find_message(channel.id, ts)
        if message is None:
            raise SlackError("message_not_found")
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel.id}/p{ts.replace('.', '')}"
        thread = message.data.get("thread_ts")
        if thread and thread != ts:
            link += f"?thread_ts={thread}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    def chat_post_ephemeral(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._postable(args.get("channel"))
        user_id = args.get("user")
        if user_id not in self.space.users:
            raise SlackError("user_not_found")
        if user_id not in channel.members:
            raise SlackError("user_not_in_channel")
        ts = self.space.next_ts()
        data = bot_message(self._content(args), ts)
        if args.get("thread_ts"):
            data["thread_ts"] = str(args["thread_ts"])
        self.space.ephemerals.append({**data, "channel": channel.id, "recipient": user_id})
        return {"message_ts": ts}

    def conversations_open(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        if args.get("channel"):
            channel = self.space.visible_channel(args["channel"])
            return {"channel": {"id": channel.id}, "no_op": True, "already_open": True}
        raw = args.get("users")
        if not raw:
            raise SlackError("users_list_not_supplied")
        user_ids = [u.strip() for u in str(raw).split(",") if u.strip()]
        if len(user_ids) > 8:
            raise SlackError("too_many_users")
        if any(u not in self.space.users for u in user_ids):
            raise SlackError("user_not_found")
        channel, existed = self.space.open_dm(user_ids)
        if existed:
            return {"channel": {"id": channel.id}, "no_op": True, "already_open": True}
        return {"channel": {"id": channel.id}}

    # -- files -------------------------------------------------------------------------

    def files_get_upload_url(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        filename = args.get("filename")
        try:
            length = int(args.get("length") or 0)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None
        if not filename or length <= 0:
            raise SlackError("missing_argument")
        alt_txt = args.get("alt_txt")
        if alt_txt and len(str(alt_txt)) > 1000:
            raise SlackError("alt_txt_too_large")
        upload = Upload(random_id("F"), str(filename), length, alt_txt)
        self.space.uploads[upload.id] = upload
        return {"upload_url": f"{self.s._base_url}upload/{upload.id}", "file_id": upload.id}

    def files_complete_upload(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        uploads = []
        for entry in entries:
            upload = self.space.uploads.get(entry.get("id")) if isinstance(entry, dict) else None
            if upload is None or upload.content is None or upload.completed:
                raise SlackError("file_not_found")
            uploads.append((upload, entry.get("title") or upload.filename))
        channel = self._share_target(args)
        files = [self._complete(upload, title, channel, args) for upload, title in uploads]
        if channel is not None:
            self._announce(channel, files, args)
        return {"files": [self._public_file(f) for f in files]}

    def _share_target(self, args: dict[str, Any]) -> Channel | None:
        if not args.get("channel_id"):
            if args.get("thread_ts"):
                raise SlackError("invalid_arguments")
            return None
        try:
            channel = self.space.visible_channel(args["channel_id"])
        except SlackError:
            raise SlackError("invalid_channel") from None
        if not channel.bot_member:
            raise SlackError("posting_to_channel_denied")
        return channel

    def _complete(self, upload: Upload, title: str, channel: Channel | None, args: dict[str, Any]) -> dict[str, Any]:
        upload.completed = True
        record = {
            "id": upload.id,
            "name": upload.filename,
            "title": title,
            "size": upload.length,
            "content": upload.content,
            "channel_id": channel.id if channel else None,
            "thread_ts": args.get("thread_ts") if channel else None,
            "initial_comment": args.get("initial_comment"),
            "alt_txt": upload.alt_txt,
        }
        self.space.files.append(record)
        return record

    @staticmethod
    def _public_file(record: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": record["id"],
            "name": record["name"],
            "title": record["title"],
            "size": record["size"],
            "user": BOT_USER_ID,
        }

    def _announce(self, channel: Channel, files: list[dict[str, Any]], args: dict[str, Any]) -> None:
        data = bot_message(
            {"text": str(args.get("initial_comment") or ""), "upload": True},
            self.space.next_ts(),
        )
        data["files"] = [self._public_file(f) for f in files]
        if args.get("thread_ts"):
            data["thread_ts"] = str(args["thread_ts"])
        self.space.add_message(channel, data)

    # -- users and groups --------------------------------------------------------------

    def usergroups_users_list(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        """``{"users": [ids]}``; errors as documented: ``no_such_subteam``, ``plan_upgrade_required``."""
        group = args.get("usergroup")
        if not group:
            raise SlackError("invalid_arguments")
        if not self.space.usergroups_available:  # user groups need a paid plan
            raise SlackError("plan_upgrade_required")
        if group not in self.space.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.space.usergroups[group])}

    def users_info(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        user = self.space.users.get(args.get("user") or "")
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.to_slack(with_email="users:read.email" in self.s.scopes)}
