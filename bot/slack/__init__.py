"""Everything Slack sees of the bot: the modal, the messages, and the threads they are posted in."""
