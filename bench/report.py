"""Turns one bench/results/*.json into the results table of docs/performance.md.

  report.py RESULTS.json --print          prints the table
  report.py RESULTS.json DOC.md           replaces the text between the markers
                                          <!-- bench:results --> and <!-- /bench:results -->
"""
import json
import re
import sys


def fmt(v, unit="", digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, (int, float)):
        s = f"{v:,.{digits}f}" if isinstance(v, float) else f"{v:,}"
    else:
        s = str(v)
    return s + unit


def verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def table(r):
    ing, st, lat, mem, snd = r["ingest"], r["storm"], r["latency"], r["memory"], r["senders"]
    m = r["machine"]
    rows = []

    def row(what, engine, ceiling, target, ok):
        rows.append(f"| {what} | {engine} | {ceiling} | {target} | {verdict(ok)} |")

    ratio = ing.get("ratio")
    row("ingest, events/s", fmt(ing["engine_rate"]), fmt(ing["ceiling_rate"]), "≥ 0.6 × ceiling",
        None if ratio is None else ratio >= 0.6)
    rows.append(f"| ↳ engine / ceiling | {fmt(ratio, digits=3)} | | | |")
    so = r.get("scale_out") or {}
    if so.get("rate"):
        row("ingest with two engines in one consumer group, events/s", fmt(so["rate"]), "", "reported", None)
        rows.append(f"| ↳ two engines / one | {fmt(so.get('vs_one'), digits=2)} | | | |")
    srat = st.get("ratio")
    limit = 60 * st["timers"] / 1000000
    row(f"timer storm, {st['timers']:,} cases: seconds to the last ReminderDue", fmt(st["seconds"]), "",
        "< 60 s" if st["timers"] >= 1000000 else f"< 60 s per 1,000,000 ({limit:.1f} s here)",
        None if st["seconds"] is None else st["seconds"] < limit)
    row("timer storm, reminders/s", fmt(st["rate"]), fmt(st["ceiling_rate"]), "≥ 0.7 × ceiling",
        None if srat is None else srat >= 0.7)
    rows.append(f"| ↳ engine / ceiling | {fmt(srat, digits=3)} | | | |")
    row(f"timer due → ReminderDue p50 / p99 / max, ms (at {lat['load_events_per_s']:,} events/s)",
        f"{lat['timer_p50_ms']} / {lat['timer_p99_ms']} / {lat['timer_max_ms']}", "",
        "p99 < 1000", lat["timer_p99_ms"] < 1000 and lat["timer_reminders"] > 0)
    row("payment → case resolved p50 / p99 / max, ms",
        f"{lat['payment_p50_ms']} / {lat['payment_p99_ms']} / {lat['payment_max_ms']}", "", "p99 < 1000",
        lat["payment_p99_ms"] < 1000 and lat["payments"] > 0)
    row("Redis bytes per pending timer", fmt(mem["redis_bytes_per_timer"]), "", "≤ 120",
        None if mem["redis_bytes_per_timer"] is None else mem["redis_bytes_per_timer"] <= 120)
    row("PostgreSQL bytes per open case (tables + indexes)", fmt(mem["pg_bytes_per_case_storm"]), "", "", None)
    row("PostgreSQL bytes per case after ingest (with payments, audit)", fmt(mem["pg_bytes_per_case_ingest"]), "",
        "", None)
    rss100 = mem.get("engine_rss_kb_at_100k_invoices")
    row("engine RSS, MiB: at 100k invoices / after ingest / peak",
        f"{fmt(round(rss100 / 1024, 1)) if rss100 else 'n/a'} / {fmt(round(mem['engine_rss_kb_after_ingest'] / 1024, 1))}"
        f" / {fmt(round(mem['engine_peak_rss_kb_ingest'] / 1024, 1))}", "", "not growing with cases",
        None if not rss100 else mem["engine_rss_kb_after_ingest"] <= rss100 * 1.5)
    row("sender-email, emails/s", fmt(snd["email_rate"]), fmt(snd["smtp_sink_alone_rate"]) + " (sink alone)",
        "≥ 500", None if snd["email_rate"] is None else snd["email_rate"] >= 500)
    row("sender-letter, letters/s", fmt(snd["letter_rate"]), "", "≥ 50",
        None if snd["letter_rate"] is None else snd["letter_rate"] >= 50)
    row("sender-sms (Kannel), SMS/s", fmt(snd["sms_rate"]), "", "", None)
    head = [
        f"Run of {r['started']} ({'quick' if r['quick'] else 'full' if r['invoices'] >= 1000000 else 'events'}: "
        f"{r['invoices']:,} invoices, "
        f"{r['events']:,} ingest events), commit `{r['commit']}`, {m['nproc']} cores ({m['cpu']}), "
        f"{m['ram_gb']} GiB RAM, load average at start {m['load_at_start']}, "
        f"{r['broker_partitions']} partitions per topic, engine log level {r['log_level']}. "
        f"Load generator alone: {fmt(r['generator']['rate'])} events/s.",
        "",
        "| measure | engine | ceiling (same run) | target | |",
        "| --- | --- | --- | --- | --- |",
    ]
    return "\n".join(head + rows) + "\n"


def main():
    r = json.load(open(sys.argv[1]))
    t = table(r)
    if sys.argv[2] == "--print":
        print(t)
        return
    doc = open(sys.argv[2]).read()
    new, n = re.subn(r"(<!-- bench:results -->\n).*?(<!-- /bench:results -->)",
                     lambda mo: mo.group(1) + t + mo.group(2), doc, flags=re.S)
    if n != 1:
        sys.exit(f"{sys.argv[2]}: the markers <!-- bench:results --> ... <!-- /bench:results --> are missing")
    open(sys.argv[2], "w").write(new)
    print(f"{sys.argv[2]}: results of {sys.argv[1]}")


main()
