"""A request's life, from the moment a listener hands it over to the final status in its thread.

- :mod:`bot.runs.core`: :class:`~bot.runs.core.Runs`, the one owner of a request's life: record once, send
  once, tell, announce, follow, and the leases that keep one replica on each request;
- :mod:`bot.runs.outcome`: what an entry point hands the core (``Ask``) and gets back (``SubmitOutcome``);
- :mod:`bot.runs.take_up`: a request taken up where it stood, after a restart or a lost lease;
- :mod:`bot.runs.follow`: a run (or its approval) followed to its end, its log and final status posted;
- :mod:`bot.runs.pace`: when a follow looks next.
"""
