"""Broker outage: every broker of the devbroker refuses connections for a few seconds
right after the clock moved (timers firing, the outbox relays publishing, the senders
fetching), then comes back; at a later step the partition leaders move (to another broker
when the devbroker runs with DUNNING_BROKER_COUNT >= 2, else every partition is left
without a leader for a while and then led again). Injected with `scripts/stack broker
down/up/leader` (librdkafka's mock cluster API)."""

from faultlib import Faults, busy_steps

DESCRIPTION = "broker down and up mid-load, then a leader change on every partition"
_f = None


def setup(ctx):
    global _f
    _f = Faults(ctx, "broker_outage")
    _f.brokers = int(_f.broker("info").get("brokers", 1))
    _f.log("%d broker(s) in the mock cluster" % _f.brokers)


def at_step(ctx, i, n):
    down_at, leader_at = busy_steps(ctx, n, 2)
    if i == down_at:
        _f.window("all brokers down", ctx.rng.uniform(2.0, 4.0), lambda: _f.broker("down", -1),
                  lambda: _f.broker("up", -1))
    if i == leader_at:
        if _f.brokers >= 2:
            other = ctx.rng.randint(2, _f.brokers)
            _f.window("leaders moved to broker %d" % other, ctx.rng.uniform(2.0, 3.0),
                      lambda: _f.broker("leader", "all", -1, other), lambda: _f.broker("leader", "all", -1, 1))
        else:
            _f.window("every partition leaderless", ctx.rng.uniform(2.0, 3.0),
                      lambda: _f.broker("leader", "all", -1, -1), lambda: _f.broker("leader", "all", -1, 1))


def teardown(ctx):
    _f.broker("up", -1)
    _f.broker("leader", "all", -1, 1)
    _f.finish(2)
