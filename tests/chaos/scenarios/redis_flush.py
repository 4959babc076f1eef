"""Redis flushed (FLUSHALL) mid-load, at two steps, right after the clock moved (timers
being claimed, fired and moved): the timer index and its marker vanish. The engine must
notice the missing marker, rebuild every pending timer from PostgreSQL (the source of
truth) and fire each exactly once: none lost, none fired twice. Checked here as well:
after each flush the index comes back and holds every pending timer of PostgreSQL."""

from faultlib import Faults, busy_steps, timers_rebuilt

DESCRIPTION = "Redis FLUSHALL mid-load: timers rebuilt from PostgreSQL, none lost, none fired twice"
_f = None


def setup(ctx):
    global _f
    _f = Faults(ctx, "redis_flush")


def at_step(ctx, i, n):
    if i in busy_steps(ctx, n, 2):
        _f.window("FLUSHALL", lambda: ctx.wait(60, "the engine rebuilt the timer index after FLUSHALL",
                                               lambda: timers_rebuilt(ctx)),
                  lambda: ctx.stack("redis", "flush"), lambda: None)


def teardown(ctx):
    _f.finish(2)
