#!/usr/bin/env bash
# tests/deploy/check_systemd.sh ROOT BIN: the units of deploy/systemd pass
# `systemd-analyze verify` without a single warning. The units start /usr/local/bin/PROGRAM;
# the check verifies copies whose ExecStart points at the build's BIN/PROGRAM instead (so the
# program must exist and be executable), with each template unit instantiated once. Then it
# proves it can fail: a copy with an unknown key and one with a missing program must not pass.
set -euo pipefail
ROOT=$1 BIN=$2
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze is missing (package systemd; scripts/deps)"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# verify DIR: 0 when every unit in DIR verifies without output.
verify() {
    local out rc=0
    out=$(cd "$1" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no ./*.service 2>&1) || rc=$?
    [ $rc -eq 0 ] && [ -z "$out" ] && return 0
    printf '%s\n' "$out" | sed "s|^|  |"
    return 1
}
copy() { # DIR: the units with ExecStart rewritten, templates instantiated
    mkdir -p "$1"
    for f in "$ROOT"/deploy/systemd/*.service; do
        sed "s|^ExecStart=/usr/local/bin/|ExecStart=$BIN/|" "$f" >"$1/$(basename "$f")"
    done
    for t in "$1"/*@.service; do
        [ -e "$t" ] && cp "$t" "${t%@.service}@9464.service"
    done
    grep -q "^ExecStart=$BIN/" "$1"/*.service || { echo "FAIL: no ExecStart was rewritten"; exit 1; }
}

copy "$TMP/units"
n=$(ls "$TMP/units" | wc -l)
if verify "$TMP/units"; then
    echo "ok: systemd-analyze verify: $n units ($(cd "$TMP/units" && ls | tr '\n' ' '))"
else
    echo "FAIL: systemd-analyze verify reports the above for deploy/systemd"
    exit 1
fi

# The check fails when it should.
copy "$TMP/broken1"
sed -i 's/^Restart=on-failure/Restart=on-failure\nRestartt=always/' "$TMP/broken1/sender-sms.service"
copy "$TMP/broken2"
sed -i "s|^ExecStart=$BIN/sender-email|ExecStart=$BIN/sender-mail|" "$TMP/broken2/sender-email.service"
for b in broken1 broken2; do
    if verify "$TMP/$b" >"$TMP/$b.out"; then
        echo "FAIL: a broken copy ($b) passed systemd-analyze verify"
        exit 1
    fi
    echo "ok: a broken copy fails: $(head -1 "$TMP/$b.out" | sed 's/^ *//')"
done
