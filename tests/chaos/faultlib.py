"""Helpers shared by the infrastructure fault scenarios (broker_outage, broker_errors,
postgres_restart, serialization_error, redis_flush, redis_restart, outages, clock):
component controls of scripts/stack, fault windows, the choice of steps with work in
flight, and the end-of-scenario checks. Not a scenario (it lives outside scenarios/).

The harness calls at_step(ctx, i, n) right after it moved the clock to T_i, before it
waits for the pipeline to be quiet again: the timers due at T_i fire, reminders go out
and are delivered while the hook runs. A fault injected there lands mid-load."""

import collections
import json
import os
import time

import oracle

SERVICES = ("engine", "sender-email", "sender-sms", "sender-letter")


class Faults:
    """Per-run state of a scenario: what was injected, what went wrong."""

    def __init__(self, ctx, scenario):
        self.ctx = ctx
        self.scenario = scenario
        self.injected = []
        # The long runs (scripts/chaos: 16 steps or more) hold every timed fault 2.5 times
        # as long: a broker outage then outlasts the consumers' session timeout (6 s), so
        # every consumer group rebalances when the broker is back.
        self.long = getattr(getattr(ctx, "args", None), "steps", 0) >= 16

    def log(self, msg):
        self.ctx.log("%s: %s" % (self.scenario, msg))

    def broker(self, *args):
        """`scripts/stack broker ARGS`; returns the devbroker's JSON answer."""
        out = self.ctx.stack("broker", *[str(a) for a in args])
        text = out.strip() if isinstance(out, str) else ""
        answer = json.loads(text.splitlines()[-1]) if text else {}
        if answer and not answer.get("ok"):
            raise RuntimeError("the broker refused %s: %s" % (" ".join(map(str, args)), answer))
        return answer

    def window(self, name, hold, on, off, delay=None):
        """A fault held for `hold` seconds (or until hold() returns true when it is a
        callable): on() after a short random delay (work in flight), off() whatever
        happened in between."""
        time.sleep(self.ctx.rng.uniform(0.05, 0.5) if delay is None else delay)
        self.log("%s: on" % name)
        t0 = time.time()
        on()
        self.injected.append(name)
        try:
            if callable(hold):
                hold()
            else:
                time.sleep(hold * (2.5 if self.long else 1))
        finally:
            off()
            self.log("%s: off after %.1fs" % (name, time.time() - t0))

    def finish(self, expect_faults, services=SERVICES):
        """End-of-scenario checks: at least `expect_faults` faults injected and every
        service still running (a service that exits on an outage is a bug: in production
        nobody restarts it at once either)."""
        problems = []
        if len(self.injected) < expect_faults:
            problems.append("only %d of %d faults injected (%s): too few steps?" %
                            (len(self.injected), expect_faults, ", ".join(self.injected) or "none"))
        dead = [s for s in services if not self.ctx.alive(s)]
        if dead:
            problems.append("services exited during the faults: %s" % ", ".join(dead))
        if problems:
            raise RuntimeError("%s: %s" % (self.scenario, "; ".join(problems)))
        self.log("faults injected: %s" % "; ".join(self.injected))


def expected_load(ctx):
    """Reminders the oracle expects to be emitted at each clock point T_i, by channel:
    {i: Counter(channel -> n)}, computed from the harness's workload and policy."""
    if getattr(ctx, "_fault_load", None) is None:
        here = os.path.dirname(os.path.abspath(__file__))
        policies, default = oracle.load_policies(os.path.join(here, "policy.yaml"))
        expect = oracle.run(policies, default, ctx.workload)
        index = {t: i for i, t in enumerate(ctx.workload["times"])}
        load = collections.defaultdict(collections.Counter)
        for rems in expect.reminders.values():
            for (_, _, channel), info in rems.items():
                if info["emitted_at"] in index:
                    load[index[info["emitted_at"]]][channel] += 1
        ctx._fault_load = load
    return ctx._fault_load


def busy_steps(ctx, n, count, want=("email",)):
    """`count` distinct steps in 1..n where timers fire at T_i, the busiest first by the
    channels in `want` (so that a fault injected there meets work), in step order."""
    load = expected_load(ctx)
    ranked = sorted(range(1, n + 1), key=lambda i: (-sum(load[i][c] for c in want), -sum(load[i].values()), i))
    return sorted(ranked[:count])


def timer_key(ctx):
    return ctx.env.get("DUNNING_TIMER_KEY") or "dunning:timers"


# Every member of the bucketed timer index, reached through its index of buckets (a member
# in a bucket the index does not list would never fire, so it does not count).
INDEXED_MEMBERS = """local out = {}
for _, b in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2] .. b, 0, -1)) do out[#out + 1] = m end
end
return out"""


INDEXED_TIMERS = """local out = {}
for _, b in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2] .. b, 0, -1, 'WITHSCORES')) do out[#out + 1] = m end
end
return out"""


def indexed_timers(ctx):
    """Case id -> due time (ms) of every timer the index lists (see INDEXED_MEMBERS)."""
    key = timer_key(ctx)
    flat = ctx.redis("EVAL", INDEXED_TIMERS, "2", key + ":idx", key + ":b:").split()
    return {flat[i]: int(float(flat[i + 1])) for i in range(0, len(flat) - 1, 2)}


def timers_rebuilt(ctx):
    """The engine rebuilt the Redis timer index: the marker key is back and every pending
    timer of PostgreSQL (cases.next_action_at) is a member of a bucket the index lists."""
    key = timer_key(ctx)
    try:
        if ctx.redis("EXISTS", key + ":built").strip() != "1":
            return False
        members = set(ctx.redis("EVAL", INDEXED_MEMBERS, "2", key + ":idx", key + ":b:").split())
    except Exception:  # noqa: BLE001 - Redis still away
        return False
    pending = set(ctx.psql("SELECT case_id FROM cases WHERE next_action_at IS NOT NULL").split())
    return pending <= members
