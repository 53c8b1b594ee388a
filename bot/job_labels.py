"""A Job variable's label, read: the words people see, and the regex a label like ``"Email, regex: ^x$"`` announces.

Labels come from Nautobot, so reading them is linear in their length and stops at :data:`LABEL_READ_MAX`.
"""

from __future__ import annotations

import re

LABEL_READ_MAX = 10_000
"""Characters of a label read; Slack shows at most 2,000 of it, and no announced regex needs more."""
MARKER = "regex:"
UNCHECKABLE = "(?P=label_longer_than_10000_characters)"
"""The regex of a label too long to read whole: RE2 cannot compile it, so the field's input is refused
(a cut pattern could match more than the Job's), never let through unchecked."""
_SEPARATORS = re.compile(r"[_\-\s]+")


def humanise(name: str) -> str:
    """``meraki_org_id`` → ``Meraki org id``: a readable label for a variable that has none."""
    words = _SEPARATORS.sub(" ", name[:LABEL_READ_MAX]).strip()
    return words[:1].upper() + words[1:]


def split_label(label: str | None) -> tuple[str, str | None]:
    """Split ``"User Email, regex: ^x$"`` into the label people see and the regex it announces.

    The first ``regex:`` at the start, after whitespace or after a comma starts the regex, which is the rest
    of the label. The regex is kept even when it does not compile: input is then refused (the check cannot be
    done), never let through unchecked. One pass over the label, no backtracking regex.
    """
    if not label:
        return "", None
    if len(label) > LABEL_READ_MAX:
        shown, regex = split_label(label[:LABEL_READ_MAX])
        return shown, (UNCHECKABLE if regex is not None or MARKER in label else None)
    end = len(label.rstrip())  # the announced regex must have a character that is not whitespace
    start = label.find(MARKER)
    while start >= 0 and start + len(MARKER) < end:
        before = start
        while before > 0 and label[before - 1].isspace():  # each whitespace run is walked once
            before -= 1
        if before == 0 or before < start or label[before - 1] == ",":
            shown = label[: before - 1 if before and label[before - 1] == "," else before]
            return shown.strip(), label[start + len(MARKER) :].strip()
        start = label.find(MARKER, start + 1)
    return label.strip(), None
