#!/usr/bin/env bash
# The stack's SIP test peer (config/voice/sipp/callee.xml + config/voice/rtp-sink.py):
# a second SIPp (config/voice/sipp/caller-selftest.xml) calls every number of the scheme
# at once, offering PCMU + telephone-event and streaming 4 s of PCMU (200 packets); for
# each call it checks the final response the caller got (200, 486, 404, 487 after its
# CANCEL), the digits the caller received as RFC 4733 events (recorded by a sink of the
# test's own on the caller's media port, so also that they come from the address the
# peer's SDP names), the greeting the peer streamed (a person's, or the answering machine's
# for +493099000088: audio from that same address for as long as the call lasts) and the
# peer's line in $DUNNING_VOICE_LOG (outcome, greeting, digits sent, RTP packets and
# seconds of audio received, duration, who hung up). Also: an OPTIONS probe
# gets 200. Needs only `scripts/stack start` (no build, no database).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TEST=$(basename "$0" .sh)
log() { printf '[%s %s] %s\n' "$TEST" "$(date +%T)" "$*"; }
fail() {
    printf '[%s] FAIL: %s\n' "$TEST" "$*"
    local f noise='prefers looking for pcap|^In pcap|^max pkt length|^base port|^Resolving remote|^The following events'
    for f in "$WORK"/*/sipp.err "$WORK"/*/errors.log "$WORK"/*/sink.err; do
        [ -s "$f" ] && grep -Evq "$noise" "$f" && { echo "--- $f"; grep -Ev "$noise" "$f" | tail -n 8; }
    done
    exit 1
}
STACK_ENV=$("$ROOT/scripts/stack" env) || { echo "FAIL: the stack is not running (scripts/stack start)"; exit 1; }
eval "$STACK_ENV"
[ -n "${DUNNING_VOICE_PEER:-}" ] && [ -f "${DUNNING_VOICE_LOG:-}" ] || fail "the stack runs no voice peer (scripts/stack start)"
command -v sipp >/dev/null || fail "sipp is not installed (scripts/deps)"
[ "$(id -u)" -eq 0 ] || getcap "$(command -v sipp)" 2>/dev/null | grep -q cap_net_raw ||
    fail "play_pcap_audio needs root or CAP_NET_RAW on sipp"
WORK=$(mktemp -d "${DUNNING_RUN_DIR:-/tmp}/$TEST.XXXXXX")
PIDS=()
cleanup() {
    local rc=$? p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ $rc -eq 0 ] && rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
SINK=$ROOT/config/voice/rtp-sink.py
PEER_MEDIA=127.0.0.1:$(($(cut -d' ' -f2 "$DUNNING_RUN_DIR/voice/ports") + 4))
log "peer at $DUNNING_VOICE_PEER, its media at $PEER_MEDIA, log $DUNNING_VOICE_LOG"

mkdir -p "$WORK/pcap"
python3 "$ROOT/tests/voice-peer/make_audio_pcap.py" "$WORK/pcap/audio-pcmu.pcap" 4

# OPTIONS (a sender's health probe): 200 (SIPp's -aa).
OPTIONS_ANSWER=$(python3 - "$DUNNING_VOICE_PEER" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(3)
lp = s.getsockname()[1]
msg = ("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-opt%d\r\n"
       "From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:%s>\r\nCall-ID: opt-%d@127.0.0.1\r\n"
       "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n") % (sys.argv[1], lp, lp, sys.argv[1], lp)
s.sendto(msg.encode(), (host, int(port)))
try:
    print(s.recv(65535).decode(errors="replace").split("\r\n")[0])
except socket.timeout:
    print("no answer")
PY
)
[ "$OPTIONS_ANSWER" = "SIP/2.0 200 OK" ] || fail "OPTIONS: got '$OPTIONS_ANSWER', want 'SIP/2.0 200 OK'"
log "ok: OPTIONS -> 200"

udp_free() { ! ss -Hlun "sport = :$1" 2>/dev/null | grep -q . && ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
TAKEN=" "
# media_port: M with M, M+2 (SIPp's) and M+4 (the test's sink) free and not given out yet.
media_port() {
    local m
    for _ in $(seq 1 200); do
        m=$((20000 + RANDOM % 12000))
        case "$TAKEN" in *" $m "* | *" $((m + 2)) "* | *" $((m + 4)) "* | *" $((m - 2)) "* | *" $((m - 4)) "*) continue ;; esac
        udp_free "$m" && udp_free $((m + 2)) && udp_free $((m + 4)) && { TAKEN="$TAKEN$m $((m + 2)) $((m + 4)) "; echo "$m"; return; }
    done
    fail "no free media ports"
}

# number | final response | peer outcome | digits | caller hangs up (answered) or CANCELs
CASES=(
    "+493099000001 200 answered 1"
    "+493099000002 200 answered 2"
    "+493099000003 200 answered 3"
    "+493099000009 200 answered 91"
    "+493099000000 200 answered -"
    "+493099000088 200 answered -"
    "+493099000086 486 busy -"
    "+493099000080 487 noanswer -"
    "+493099000004 404 notfound -"
    "+493099000077 404 notfound -"
)
# One directory, media port and sink per call; the sinks listen before any call starts.
MEDIA=()
for i in "${!CASES[@]}"; do
    dir=$WORK/call-$i
    mkdir -p "$dir"
    ln -s ../pcap "$dir/pcap"
    m=$(media_port)
    MEDIA+=("$m")
    python3 "$SINK" serve --port $((m + 4)) --log "$dir/caller-calls.log" 2>>"$dir/sink.err" &
    PIDS+=($!)
done
for m in "${MEDIA[@]}"; do
    for _ in $(seq 1 100); do ss -Hlun "sport = :$((m + 4))" | grep -q . && break; sleep 0.1; done
    ss -Hlun "sport = :$((m + 4))" | grep -q . || fail "the test's RTP sink on $((m + 4)) did not come up"
done
CALLERS=()
for i in "${!CASES[@]}"; do
    read -r number final outcome digits <<<"${CASES[$i]}"
    dir=$WORK/call-$i
    m=${MEDIA[$i]}
    extra=()
    [ "$outcome" = noanswer ] && extra=(-set cancel 1)
    (cd "$dir" && exec sipp "$DUNNING_VOICE_PEER" -sf "$ROOT/config/voice/sipp/caller-selftest.xml" -s "$number" \
        "${extra[@]}" -m 1 -d 6000 -t u1 -i 127.0.0.1 -mi 127.0.0.1 -mp "$m" -nostdin -timeout 40s \
        -key voice_end "/usr/bin/python3 $SINK end --sink 127.0.0.1:$((m + 4))" \
        -trace_err -error_file "$dir/errors.log" -trace_logs -log_file "$dir/sipp.log" \
        >/dev/null 2>"$dir/sipp.err") &
    CALLERS+=($!)
done
log "${#CASES[@]} calls placed at once"
i=0
for p in "${CALLERS[@]}"; do
    wait "$p" || fail "the caller of ${CASES[$i]%% *} failed (exit $?; see $WORK/call-$i)"
    i=$((i + 1))
done

field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
wait_line() { # FILE CALL_ID: the line of that call, within 10 s
    for _ in $(seq 1 100); do
        grep -F " call_id=$2" "$1" 2>/dev/null | tail -1 | grep . && return 0
        sleep 0.1
    done
    return 1
}
i=0
for c in "${CASES[@]}"; do
    read -r number final outcome digits <<<"$c"
    dir=$WORK/call-$i
    i=$((i + 1))
    line=$(tail -1 "$dir/sipp.log" 2>/dev/null || true)
    [ -n "$line" ] || fail "$number: the caller logged nothing"
    got=$(field "$line" final)
    [ "$got" = "$final" ] || fail "$number: final response $got, want $final"
    cid=$(field "$line" call_id)
    peer=$(wait_line "$DUNNING_VOICE_LOG" "$cid") || fail "$number: no line for call $cid in $DUNNING_VOICE_LOG"
    want=(number "$number" outcome "$outcome" digits_sent "$digits")
    if [ "$outcome" = answered ]; then
        greeting=person
        [ "$number" = +493099000088 ] && greeting=machine
        want+=(rtp_packets 200 audio_s 4.00 hangup caller dtmf_in - greeting "$greeting")
    else
        want+=(rtp_packets 0 audio_s 0.00 duration_s 0.0)
        [ "$outcome" = noanswer ] && want+=(hangup caller) || want+=(hangup -)
    fi
    for ((k = 0; k < ${#want[@]}; k += 2)); do
        got=$(field "$peer" "${want[k]}")
        [ "$got" = "${want[k + 1]}" ] || fail "$number: peer logged ${want[k]}=$got, want ${want[k + 1]}: $peer"
    done
    if [ "$outcome" = answered ]; then
        d=$(field "$peer" duration_s)
        awk -v d="$d" 'BEGIN { exit !(d >= 5.5 && d <= 8.0) }' || fail "$number: duration_s=$d, want ~6 (the caller hangs up after 6 s)"
        # What the caller received: the digits, 10 packets each (dtmf_2833_<d>.pcap), from
        # the address the peer's 200 OK names.
        mine=$(wait_line "$dir/caller-calls.log" "$cid") || fail "$number: the caller's sink wrote nothing for $cid"
        got=$(field "$mine" dtmf_in)
        [ "$got" = "$digits" ] || fail "$number: the caller received digits '$got', want '$digits': $mine"
        # And the greeting with the line's noise after it, 20 ms packets for the ~6 s the
        # call lasts: at least 4.5 s of PCMU besides the digits' 10 packets each.
        n=$([ "$digits" = - ] && echo 0 || echo $((10 * ${#digits})))
        got=$(field "$mine" rtp_packets)
        [ "$got" -ge $((n + 225)) ] || fail "$number: the caller received $got RTP packets from the peer's media address, want >= $((n + 225))"
        got=$(field "$mine" audio_s)
        awk -v a="$got" 'BEGIN { exit !(a >= 4.5 && a <= 8.0) }' || fail "$number: the caller received $got s of the peer's audio, want 4.5-8"
        got=$(field "$mine" media)
        [ "$got" = "$PEER_MEDIA" ] || fail "$number: the peer's SDP names $got, want $PEER_MEDIA"
    fi
    log "ok: $number -> $final, peer: $(cut -d' ' -f2- <<<"$peer" | sed 's/ media=.*//')"
done
log "PASS"
