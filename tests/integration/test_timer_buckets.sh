#!/usr/bin/env bash
# The timer index in small bucketed sorted sets (issue 6): members spread by FNV-1a of the
# member over DUNNING_TIMER_BUCKETS buckets `<key>:b:<n>`; `<key>:idx` holds each non-empty
# bucket scored by its smallest due time, exactly, after every add, removal and claim; the
# claim walks the due buckets and leases exactly the due members; `<key>:count` counts
# them; the buckets stay in
# Redis' listpack encoding; the scripts survive a flushed script cache; and an engine that
# finds the index built with another bucket count (or in the layout before buckets) clears
# it and rebuilds it from PostgreSQL.
source "$(dirname "$0")/lib.sh"
reset_state
PROBE_BIN=$(dirname "$BIN")/tests/dn-timers-probe
[ -x "$PROBE_BIN" ] || fail "$PROBE_BIN is not built"
rc() { redis-cli -u "$DUNNING_REDIS_URL" "$@"; }

# fnv BUCKETS STRING: FNV-1a (32 bits) of the string mod BUCKETS, as the C code computes it.
fnv() {
    local s=$2 h=2166136261 i c
    for ((i = 0; i < ${#s}; i++)); do
        printf -v c '%d' "'${s:i:1}"
        h=$((((h ^ c) * 16777619) & 0xFFFFFFFF))
    done
    echo $((h % $1))
}
m() { echo "00000000-0000-4000-8000-0000000000$1"; } # member NN

# ---- 1. the probe, 4 buckets, one session (a coprocess) --------------------------------
K=tb$$
export DUNNING_TIMER_KEY=$K DUNNING_TIMER_BUCKETS=4
coproc PROBE { "$PROBE_BIN" 2>>"$WORK/probe.err"; }
# probe LINE: sends one command; answering commands print their answer line.
probe() {
    echo "$*" >&"${PROBE[1]}"
    case $1 in add | remove) return 0 ;; esac
    local line
    read -r -t 20 line <&"${PROBE[0]}" || fail "the probe did not answer '$*': $(cat "$WORK/probe.err")"
    echo "$line"
}
idx() { rc ZRANGE "$K:idx" 0 -1 WITHSCORES | paste -sd' '; }
bucket() { rc ZRANGE "$K:b:$1" 0 -1 WITHSCORES | sed 's/^00000000-0000-4000-8000-0000000000//' | paste -sd' '; }
# Every bucket's index entry is its smallest score (an empty bucket has neither key nor
# entry), and the count of timers is the number of members of all bucket keys.
idx_exact() {
    local b first
    for b in 0 1 2 3; do
        first=$(rc ZRANGE "$K:b:$b" 0 0 WITHSCORES | sed -n 2p)
        assert_eq "$first" "$(rc ZSCORE "$K:idx" "$b")" "$1: index entry of bucket $b = its smallest score"
    done
    assert_eq "$(rc EVAL "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do
        n = n + redis.call('ZCARD', k) end return n" 0 "$K:b:*")" "$(rc GET "$K:count")" "$1: count of timers"
}

# Members 01..12 due at NN * 1000: FNV-1a puts 03 07 10 in bucket 0, 04 08 in 1,
# 01 05 09 12 in 2, 02 06 11 in 3.
for i in 01 02 03 04 05 06 07 08 09 10 11 12; do
    assert_eq "$(fnv 4 "$(m $i)")" "$(probe bucket "$(m $i)")" "bucket of $i (FNV-1a mod 4)"
    probe add "$(m $i)" $((10#$i * 1000))
done
assert_eq ok "$(probe flush)" "12 timers added"
assert_eq "03 3000 07 7000 10 10000" "$(bucket 0)" "bucket 0"
assert_eq "04 4000 08 8000" "$(bucket 1)" "bucket 1"
assert_eq "01 1000 05 5000 09 9000 12 12000" "$(bucket 2)" "bucket 2"
assert_eq "02 2000 06 6000 11 11000" "$(bucket 3)" "bucket 3"
assert_eq "2 1000 3 2000 0 3000 1 4000" "$(idx)" "index of buckets: smallest score each"
for b in 0 1 2 3; do assert_eq listpack "$(rc OBJECT ENCODING "$K:b:$b")" "encoding of bucket $b"; done
assert_eq "12 1000" "$(probe stats)" "stats: pending, earliest"
idx_exact "after the adds"
assert_eq 6 "$(probe due 6500)" "due at 6500"

# Claim at 6500: exactly 01..06, from all four buckets, leased to 6500 + 100000.
assert_eq "$(m 01) $(m 02) $(m 03) $(m 04) $(m 05) $(m 06)" "$(probe claim 6500 100000 100)" "claim at 6500"
for i in 01 02 03 04 05 06; do assert_eq 106500 "$("$BIN/dunningctl" timers get "$(m $i)")" "lease of $i"; done
assert_eq 7000 "$("$BIN/dunningctl" timers get "$(m 07)")" "07 untouched"
assert_eq "0 7000 1 8000 2 9000 3 11000" "$(idx)" "index after the claim"
assert_eq "" "$(probe claim 6500 100000 100)" "nothing left due at 6500 (leased)"
stats=$(probe stats)
assert_eq 12 "${stats%% *}" "a claim keeps the timers"
# At most MAX: the earliest due bucket first (bucket 0: 07 and 10), then the next ones.
assert_eq "$(m 07) $(m 10)" "$(probe claim 10500 100000 2)" "claim at 10500, max 2"
assert_eq "$(m 08) $(m 09)" "$(probe claim 10500 100000 10)" "claim at 10500, the rest"
assert_eq "3 11000 2 12000 0 106500 1 106500" "$(idx)" "index after the claims"
idx_exact "after the claims"

# Reschedule the smallest of bucket 2 later, another one earlier; empty bucket 1.
probe add "$(m 12)" 200000
assert_eq ok "$(probe flush)" "12 moved later"
assert_eq 106500 "$(rc ZSCORE "$K:idx" 2)" "bucket 2's entry follows its new smallest score"
probe add "$(m 05)" 500
assert_eq ok "$(probe flush)" "05 moved earlier"
assert_eq 500 "$(rc ZSCORE "$K:idx" 2)" "bucket 2's entry after 05 moved earlier"
probe remove "$(m 04)"
probe remove "$(m 08)"
assert_eq ok "$(probe flush)" "bucket 1 emptied"
assert_eq 0 "$(rc EXISTS "$K:b:1")" "empty bucket 1 is gone"
assert_eq "" "$(rc ZSCORE "$K:idx" 1)" "and out of the index"
assert_eq "" "$(timer_of "$(m 04)")" "04 has no timer"
probe remove "$(m 04)"
assert_eq ok "$(probe flush)" "removing a missing member"
assert_eq "" "$(rc ZSCORE "$K:idx" 1)" "removing a missing member adds no index entry"
probe add "$(m 04)" 4000
assert_eq ok "$(probe flush)" "04 back"
assert_eq 4000 "$(rc ZSCORE "$K:idx" 1)" "bucket 1 back in the index"
idx_exact "after the updates"
assert_eq "11 500" "$(probe stats)" "stats after the updates"
assert_eq 2 "$(probe due 5000)" "due at 5000 (05, 04)"

# Redis forgets the scripts (SCRIPT FLUSH, a failover): the next calls load them again.
rc SCRIPT FLUSH >/dev/null
probe add "$(m 13)" 13000
probe remove "$(m 11)"
assert_eq ok "$(probe flush)" "updates after SCRIPT FLUSH"
assert_eq 13000 "$(timer_of "$(m 13)")" "13 added after SCRIPT FLUSH"
assert_eq "" "$(timer_of "$(m 11)")" "11 removed after SCRIPT FLUSH"
rc SCRIPT FLUSH >/dev/null
assert_eq "$(m 04) $(m 05)" "$(probe claim 5000 1000 10)" "claim after SCRIPT FLUSH"
idx_exact "after SCRIPT FLUSH"
assert_eq ok "$(probe clear)" "clear"
assert_eq "" "$(rc KEYS "$K*")" "no key of the index left after clear"
assert_eq "0 -" "$(probe stats)" "stats of the empty index"
exec {PROBE[1]}>&-
wait "$PROBE_PID" || fail "the probe failed: $(cat "$WORK/probe.err")"

# ---- 2. sized as documented (~100 per bucket), buckets stay listpack -------------------
assert_eq "zset-max-listpack-entries 128" "$(rc CONFIG GET zset-max-listpack-entries | paste -sd' ')" \
    "Redis' default listpack limit"
for i in $(seq 1 400); do printf 'add %08d-0000-4000-8000-000000000000 %d\n' "$i" "$i"; done |
    { cat; echo flush; } | DUNNING_TIMER_KEY=$K.2 "$PROBE_BIN" >"$WORK/probe2.out"
assert_eq ok "$(cat "$WORK/probe2.out")" "400 timers in 4 buckets"
for b in 0 1 2 3; do
    assert_eq listpack "$(rc OBJECT ENCODING "$K.2:b:$b")" "encoding of bucket $b ($(rc ZCARD "$K.2:b:$b") members)"
done
unset DUNNING_TIMER_KEY DUNNING_TIMER_BUCKETS

# ---- 3. the engine: an index in another layout or bucket count is cleared and rebuilt ----
reset_state
clock_start 2026-03-02T08:00:00Z 0
# What the layout before buckets left: one sorted set and a marker "1".
rc ZADD dunning:timers 1 stale-member >/dev/null
rc SET dunning:timers:built 1 >/dev/null
start_service engine dunning-engine DUNNING_TIMER_BUCKETS=4
wait_eq 20 "the index rebuilt with 4 buckets" buckets=4 rc GET dunning:timers:built
assert_eq 0 "$(rc EXISTS dunning:timers)" "the sorted set of the old layout is gone"
for i in 1 2 3 4 5 6; do invoice_json "B$i" "cust-$i" 1000 2026-03-02 "b$i@example.com"; done | publish invoice-issued
wait_eq 30 "six cases" "B1:open B2:open B3:open B4:open B5:open B6:open" cases_summary
due=$(($(date -u -d 2026-03-04 +%s) * 1000))
wait_eq 20 "six timers" 6 eval 'DUNNING_TIMER_BUCKETS=4 "$BIN/dunningctl" timers stats --json | jq .pending'
stop_service engine

start_service engine dunning-engine DUNNING_TIMER_BUCKETS=3
wait_eq 20 "the index rebuilt with 3 buckets" buckets=3 rc GET dunning:timers:built
grep -q '"timer index cleared before the rebuild".*"built_buckets":"4".*"buckets":"3"' "$WORK/engine.log" ||
    fail "the engine did not log clearing the index of 4 buckets"
assert_eq 0 "$(rc EXISTS dunning:timers:b:3)" "no bucket 3 with 3 buckets"
assert_eq 6 "$(rc EVAL "local n = 0 for _, k in ipairs(redis.call('KEYS', 'dunning:timers:b:*')) do
    n = n + redis.call('ZCARD', k) end return n" 0)" "members in all bucket keys: each case once"
for i in 1 2 3 4 5 6; do
    id=$(case_field "B$i" case_id)
    assert_eq "$due" "$(DUNNING_TIMER_BUCKETS=3 timer_of "$id")" "B$i's timer in bucket $(fnv 3 "$id") of 3"
    assert_eq "$due" "$(rc ZSCORE "dunning:timers:b:$(fnv 3 "$id")" "$id")" "B$i in its FNV-1a bucket"
done
step 2026-03-04T08:00:00Z
assert_eq "B1,1 B2,1 B3,1 B4,1 B5,1 B6,1" "$(reminders | cut -d, -f1,2 | tr '\n' ' ' | sed 's/ $//')" \
    "first reminders, once each, from the rebuilt index"
log "PASS"
