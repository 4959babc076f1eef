"""Two engine instances in one consumer group; one of them killed (or stopped) and restarted
while the step's timers fire, so partitions move between them and both claim timers."""

import time

DESCRIPTION = "two engines in one consumer group, one SIGKILLed or stopped and restarted while timers fire"


def setup(ctx):
    ctx.extra_env["DUNNING_BATCH_MAX"] = "5"  # small batches: both instances claim timers at once
    ctx.start("engine2")
    n = len(ctx.workload["times"]) - 1
    steps = ctx.rng.sample(range(1, n + 1), max(2, n // 6))
    ctx.plan = {s: (ctx.rng.choice(["engine", "engine2"]), "KILL" if ctx.rng.random() < 0.7 else "TERM")
                for s in steps}
    ctx.log("rebalances planned at steps %s" % sorted(ctx.plan.items()))


def at_step(ctx, i, n):
    if i not in ctx.plan:
        return
    name, sig = ctx.plan[i]
    time.sleep(ctx.rng.uniform(0, 0.4))
    ctx.kill(name, sig)
    ctx.log("step %d: %s SIG%s while timers fire, restarted" % (i, name, sig))
    ctx.start(name)
