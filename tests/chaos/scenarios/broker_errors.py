"""Broker request errors and slowness, through librdkafka's mock cluster
(`scripts/stack broker errors/rtt`), each right after the clock moved: retriable errors
pushed on Produce (the outbox relays' idempotent producers), Fetch (every consumer),
OffsetCommit (a commit after the database COMMIT fails: the records come back and must be
skipped as duplicates), Heartbeat (every consumer group rebalances while timers fire),
dropped connections (_TRANSPORT), and a few seconds of high round-trip time."""

from faultlib import Faults, busy_steps

DESCRIPTION = "request errors on Produce/Fetch/OffsetCommit/Heartbeat, dropped connections, high RTT"
_f = None

# (api, count, error): each is retriable for the client, as a real broker's would be
# during a leader election, a coordinator move or a network blip.
ROUNDS = [
    [("Produce", 6, "NOT_LEADER_FOR_PARTITION"), ("Fetch", 6, "NOT_LEADER_FOR_PARTITION"),
     ("OffsetCommit", 4, "COORDINATOR_LOAD_IN_PROGRESS")],
    [("Produce", 3, "REQUEST_TIMED_OUT"), ("OffsetCommit", 3, "REQUEST_TIMED_OUT"),
     ("Heartbeat", 2, "REBALANCE_IN_PROGRESS")],
    [("Produce", 2, "_TRANSPORT"), ("Fetch", 2, "_TRANSPORT"), ("OffsetCommit", 2, "NOT_COORDINATOR")],
]
APIS = ("Produce", "Fetch", "OffsetCommit", "Heartbeat")


def setup(ctx):
    global _f
    _f = Faults(ctx, "broker_errors")


def _push(errors):
    for api, count, err in errors:
        _f.broker("errors", api, count, err)


def _clear():
    for api in APIS:
        _f.broker("clear", api)


def at_step(ctx, i, n):
    points = busy_steps(ctx, n, len(ROUNDS) + 1)
    for k, p in enumerate(points[:-1]):
        if i == p:
            errs = ROUNDS[k]
            # The errors stay queued until that many requests used them up; after the
            # window what is left is dropped, so that the next step starts clean.
            _f.window("errors " + ", ".join("%s x%d %s" % e for e in errs), 3.0, lambda: _push(errs), _clear)
    if i == points[-1]:
        rtt = ctx.rng.choice([500, 1000, 1500])
        _f.window("rtt %d ms on every broker" % rtt, ctx.rng.uniform(2.0, 4.0), lambda: _f.broker("rtt", -1, rtt),
                  lambda: _f.broker("rtt", -1, 0))


def teardown(ctx):
    _clear()
    _f.broker("rtt", -1, 0)
    _f.finish(len(ROUNDS) + 1)
