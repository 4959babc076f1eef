"""SIGKILL of the engine at random moments: while it consumes a step's input and while the
step's timers fire. The engine also runs the outbox relay, so this kills the relay too
(rows published but not yet deleted are published again, with the same event ids)."""

import time

DESCRIPTION = "SIGKILL of dunning-engine (and so of the outbox relay) at random moments, repeatedly, restarted"


def setup(ctx):
    # Small batches, so that kills land between transactions.
    ctx.extra_env["DUNNING_BATCH_MAX"] = "10"
    n = len(ctx.workload["times"]) - 1
    # Each kill costs a consumer-group session timeout; about one step in six (at least 2).
    steps = ctx.rng.sample(range(1, n + 1), max(2, n // 6))
    ctx.kill_plan = {s: ctx.rng.choice(["while consuming", "while timers fire"]) for s in steps}
    ctx.log("engine kills planned at steps %s" % sorted(ctx.kill_plan.items()))


def _kill(ctx, where, i):
    # Right after the publish the engine is still consuming; after the clock moved, firing.
    time.sleep(ctx.rng.uniform(0, 0.1 if where == "while consuming" else 0.4))
    ctx.kill("engine", "KILL")
    ctx.log("step %d: engine SIGKILLed %s" % (i, where))
    ctx.start("engine")


def after_publish(ctx, i, n):
    if ctx.kill_plan.get(i) == "while consuming":
        _kill(ctx, "while consuming", i)


def at_step(ctx, i, n):
    if ctx.kill_plan.get(i) == "while timers fire":
        _kill(ctx, "while timers fire", i)
