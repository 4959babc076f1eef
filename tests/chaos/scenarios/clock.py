"""The clock. (1) Events whose occurred_at is far in the future or years in the past (a
billing system with a wrong clock, a replay of old events): the engine must schedule by
its own clock and the invoice's dates, never by occurred_at, so the outcome is the same
as with honest timestamps. (2) The stack stopped just before the clock crosses a stage
boundary and started again after it, twice (a clean SIGTERM stop, then a SIGKILL of every
service): the stages that fell due meanwhile fire once, on the restart, without a burst
of stale reminders or a second copy of anything sent before the stop.

The stop happens inside the harness's clock move (ctx.set_clock is wrapped by setup), so
that the services are down exactly while the clock passes the boundary."""

import time

from faultlib import SERVICES, Faults, busy_steps

DESCRIPTION = "occurred_at far in the future / years in the past; the stack stopped across a stage boundary"
YEAR_MS = 365 * 86400000
DAY_MS = 86400000
_f = None


def setup(ctx):
    global _f
    _f = Faults(ctx, "clock")
    _f.skewed = {"future": 0, "past": 0}
    n = len(ctx.workload["times"]) - 1
    _f.stops = dict(zip(busy_steps(ctx, n, 2, want=("email", "sms", "letter")), ("TERM", "KILL")))
    _f.stopped = None
    times = ctx.workload["times"]
    orig = ctx.set_clock

    def set_clock(ms):
        step = times.index(ms) if ms in times else None
        if step in _f.stops:
            sig = _f.stops[step]
            for name in SERVICES:
                ctx.kill(name, sig)
            _f.stopped = (step, sig)
            _f.log("every service stopped (SIG%s) before the clock moves to step %d" % (sig, step))
        orig(ms)

    ctx.set_clock = set_clock


def transform(ctx, topic, record):
    r = ctx.rng.random()
    if r < 0.2:
        record["occurred_at"] = record["occurred_at"] + ctx.rng.randint(1, 3 * 365) * DAY_MS
        _f.skewed["future"] += 1
    elif r < 0.4:
        record["occurred_at"] = max(0, record["occurred_at"] - ctx.rng.randint(1, 20) * YEAR_MS)
        _f.skewed["past"] += 1
    return record


def at_step(ctx, i, n):
    if _f.stopped and _f.stopped[0] == i:
        step, sig = _f.stopped
        time.sleep(1.0)  # down for a moment at the new time
        for name in SERVICES:
            ctx.start(name)
        _f.injected.append("stopped (SIG%s) across the clock move to step %d" % (sig, step))
        _f.stopped = None


def teardown(ctx):
    _f.log("occurred_at moved into the future on %d records, years into the past on %d" % (
        _f.skewed["future"], _f.skewed["past"]))
    if not _f.skewed["future"] or not _f.skewed["past"]:
        raise RuntimeError("clock: no record got a skewed occurred_at (workload too small?)")
    _f.finish(2)
