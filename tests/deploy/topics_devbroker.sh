#!/usr/bin/env bash
# `dunningctl topics create` against the embedded stack's broker (label integration). The
# mock cluster implements Metadata but not CreateTopics, so this covers what it can: every
# registry topic already exists there and is reported (with its partition count, and the
# note when deploy/topics.json wants more), exit 0; a topic that does not exist (a new
# prefix) makes the command fail with the broker's error, not hang or pass; the dry run
# honours --replication-factor / --min-insync-replicas; a settings file that names a topic
# the code does not use is refused before anything is sent.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
eval "$("$ROOT/scripts/stack" env)" || { echo "FAIL: the stack is not running"; exit 1; }
BIN=${DUNNING_BIN:-$ROOT/build/bin}
export DUNNING_HOME=$ROOT
fail() { echo "FAIL: $*"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
N=$(jq '.topics | length' "$ROOT/schemas/registry.json")

"$BIN/dunningctl" topics create >"$TMP/out" 2>&1 || fail "topics create against existing topics: $(cat "$TMP/out")"
[ "$(grep -c '^exists  ' "$TMP/out")" = "$N" ] || fail "expected $N 'exists' lines: $(cat "$TMP/out")"
for t in $(jq -r '.topics[].name' "$ROOT/schemas/registry.json"); do
    grep -qE "^exists  $t \([0-9]+ partitions" "$TMP/out" || fail "$t not reported: $(cat "$TMP/out")"
done
echo "ok: the $N existing topics reported, exit 0"
P=$(sed -n 's/^exists  invoice-issued (\([0-9]*\) partitions.*/\1/p' "$TMP/out")
if [ "$P" -lt 12 ]; then
    grep -q "^exists  invoice-issued ($P partitions; the settings want 12" "$TMP/out" || fail "no note about the missing partitions"
    echo "ok: the note that invoice-issued has $P partitions, the settings want 12"
fi

rc=0
DUNNING_TOPIC_PREFIX=new-$$. timeout 60 "$BIN/dunningctl" topics create --timeout-ms 3000 >"$TMP/new" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "creating topics on the mock cluster: status $rc (expected 1): $(cat "$TMP/new")"
grep -q "CreateTopics failed" "$TMP/new" || fail "no CreateTopics error: $(cat "$TMP/new")"
echo "ok: missing topics on the mock cluster: status 1, $(head -1 "$TMP/new")"

"$BIN/dunningctl" topics create --dry-run --replication-factor 1 --min-insync-replicas 1 >"$TMP/dry"
[ "$(grep -c -- '--replication-factor 1 .*min.insync.replicas=1$' "$TMP/dry")" = "$N" ] ||
    fail "dry run does not honour the overrides: $(cat "$TMP/dry")"
echo "ok: dry run with --replication-factor 1 --min-insync-replicas 1"

jq '.topics += [{"name": "invoices-v2", "partitions": 3, "retention_ms": 1000}]' "$ROOT/deploy/topics.json" >"$TMP/extra.json"
rc=0
"$BIN/dunningctl" topics create --file "$TMP/extra.json" >"$TMP/extra" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "'invoices-v2' is not a topic of schemas/registry.json" "$TMP/extra" ||
    fail "an unknown topic in the file: status $rc: $(cat "$TMP/extra")"
jq 'del(.topics[0])' "$ROOT/deploy/topics.json" >"$TMP/missing.json"
rc=0
"$BIN/dunningctl" topics create --dry-run --file "$TMP/missing.json" >"$TMP/missing" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "no settings for topic 'invoice-issued'" "$TMP/missing" ||
    fail "a registry topic missing from the file: status $rc: $(cat "$TMP/missing")"
echo "ok: settings files with an unknown topic or without a registry topic are refused"
