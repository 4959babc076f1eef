"""Redis restarted empty mid-load (`scripts/stack redis restart`: no persistence, every key
gone, every connection cut), and at a later step stopped for a few seconds before it comes
back empty (the engine's claims and timer writes fail meanwhile). The engine must
reconnect, rebuild the index from PostgreSQL and fire every timer exactly once."""

from faultlib import Faults, busy_steps, timers_rebuilt

DESCRIPTION = "Redis restarted empty, and stopped for seconds, mid-load: timers rebuilt, none lost or doubled"
_f = None


def setup(ctx):
    global _f
    _f = Faults(ctx, "redis_restart")


def _rebuilt(ctx, what):
    ctx.wait(60, "the engine rebuilt the timer index after " + what, lambda: timers_rebuilt(ctx))


def at_step(ctx, i, n):
    restart_at, outage_at = busy_steps(ctx, n, 2)
    if i == restart_at:
        _f.window("redis restarted empty", lambda: _rebuilt(ctx, "the restart"), lambda: ctx.stack("redis", "restart"),
                  lambda: None)
    if i == outage_at:
        _f.window("redis down", ctx.rng.uniform(2.0, 4.0), lambda: ctx.stack("redis", "stop"),
                  lambda: ctx.stack("redis", "start"))
        _rebuilt(ctx, "the outage")


def teardown(ctx):
    ctx.stack("redis", "start")
    _f.finish(2)
