"""PostgreSQL stopped and restarted mid-load (`scripts/stack pg stop|start`), right after
the clock moved: first a fast shutdown held for a few seconds (every connection of every
service is cut, new ones refused), later an immediate stop (a crash: no checkpoint, WAL
recovery at the next start). The services must keep running, retry their transactions
and reconnect; nothing lost, nothing done twice."""

from faultlib import Faults, busy_steps

DESCRIPTION = "PostgreSQL stopped (fast, then immediate) and restarted while the services work"
_f = None


def setup(ctx):
    global _f
    _f = Faults(ctx, "postgres_restart")


def at_step(ctx, i, n):
    fast_at, crash_at = busy_steps(ctx, n, 2)
    if i == fast_at:
        _f.window("postgres stopped (fast)", ctx.rng.uniform(2.0, 4.0), lambda: ctx.stack("pg", "stop", "fast"),
                  lambda: ctx.stack("pg", "start"))
    if i == crash_at:
        _f.window("postgres crashed (immediate)", ctx.rng.uniform(1.0, 2.0),
                  lambda: ctx.stack("pg", "stop", "immediate"), lambda: ctx.stack("pg", "start"))


def teardown(ctx):
    ctx.stack("pg", "start")  # harmless when it runs
    _f.finish(2)
