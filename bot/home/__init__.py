"""The App Home tab: each person's requests, what waits for their approval, their access that expires, and what
they may do, drawn from the ledger and Nautobot whenever they open it or something on it changes.

One module per concern: :mod:`~bot.home.changes` (what the core tells it), :mod:`~bot.home.reading` (the
ledger's answers), :mod:`~bot.home.statuses` (Nautobot's), :mod:`~bot.home.abilities` (the access policy's),
:mod:`~bot.home.render` and :mod:`~bot.home.fit` (Block Kit within Slack's limits), :mod:`~bot.home.publisher`
(coalesced, paced ``views.publish``) and :mod:`~bot.home.service`, which ties them together. Nothing is imported
here: the core imports :mod:`~bot.home.changes` alone.
"""
