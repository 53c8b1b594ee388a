"""``python -m bench --chaos``: replicas of the bot on one PostgreSQL ledger, runs arriving steadily, and a seeded
schedule of faults (replicas killed and restarted, a rolling restart, Redis restarted, Nautobot answering 503 and
down, Slack's Web API answering 5xx, Socket Mode connections dropped, the ledger's connections killed); then a
checker reads what the stand-ins and the ledger hold and reports the zeros the bot promises and the latencies.

- :mod:`bench.chaos.plan`: how long, how many, how often (the full run and the tests' tiny one);
- :mod:`bench.chaos.schedule`: the seeded fault schedule;
- :mod:`bench.chaos.services`: the run's own Redis and PostgreSQL database, and the replicas;
- :mod:`bench.chaos.faults`: carries the schedule out and times the take-overs of killed replicas' requests;
- :mod:`bench.chaos.workload`: the people arriving;
- :mod:`bench.chaos.checker`: the figures and the zeros; :mod:`bench.chaos.report` renders them;
- :mod:`bench.chaos.run`: the scenario end to end.
"""
