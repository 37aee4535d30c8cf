#!/usr/bin/env bash
# The default federation as three hospitals on a wide-area network, on this one machine:
#   1. the embedded data exported as one folder per hospital plus the server's global test set,
#      and the in-process run of the same config, for comparison;
#   2. a network namespace for the SuperLink and one per hospital site, each site joined to the
#      SuperLink's namespace by its own veth pair (10.27.K.2 <-> 10.27.K.1);
#   3. in the SuperLink's namespace, `python -m fedcore serve` on 127.0.0.1 and, per site, the
#      fault-injecting proxy (testkit/fault_proxy.py: this kernel has no netem) on 10.27.K.1,
#      which delays, jitters and caps that site's traffic;
#   4. in each site's namespace, `python -m fedcore site` reading only its own folder;
#   5. `flwr run` from the SuperLink's namespace, then per-round seconds against in-process and
#      the transport's floor, and the metrics, which must equal in-process bit for bit;
#   6. on exit (end, error or Ctrl-C) every process, namespace and veth it made is removed.
# Needs root (ip netns). Exit status: 0 metrics identical, 1 not (or a failure), 2 no namespaces.
#
# Settings (environment): ROUNDS (3), SEED (42), MAX_PER_HOSPITAL (0 = all images),
# DELAY_MS (40, one way), JITTER_MS (10), MBIT (50, per site each way), KEEP=1 keeps the
# working folder (logs, stores) for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/token-processes.sh
REPO="$PWD"
PY="${PY:-$REPO/.venv/bin/python}"
BIN="$(dirname "$PY")"
ROUNDS="${ROUNDS:-3}" SEED="${SEED:-42}" MAX_PER_HOSPITAL="${MAX_PER_HOSPITAL:-0}"
DELAY_MS="${DELAY_MS:-40}" JITTER_MS="${JITTER_MS:-10}" MBIT="${MBIT:-50}" KEEP="${KEEP:-0}"
HOSPITALS=3 PORT=9093
WORK="$(mktemp -d -t fedxray-lab.XXXXXX)"
TOKEN="$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# Names of this lab's namespaces and veths carry a tag of its own (a veth name is at most 15
# characters), so that teardown removes exactly these, whoever else runs a lab here.
TAG="${TOKEN:0:6}"
LINK_NS="fxlab-$TAG-link"
site_ns() { echo "fxlab-$TAG-site$1"; }
MADE_NS=()

teardown() {
    local ns
    trap - EXIT INT TERM
    end_token_processes "FEDXRAY_LAB_TOKEN=$TOKEN"
    # Deleting a namespace deletes the veth ends in it, and with them their peers.
    for ns in "${MADE_NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    if [ "$KEEP" = 1 ]; then echo "kept $WORK (logs, run stores)"; else rm -rf "$WORK"; fi
    echo "lab stopped; no namespace, veth or process left"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# run_in NS NAME COMMAND...: run COMMAND in namespace NS in the background, output to logs/NAME.log
run_in() {
    local ns="$1" name="$2"
    shift 2
    mkdir -p "$WORK/logs"
    ip netns exec "$ns" env FEDXRAY_LAB_TOKEN="$TOKEN" PATH="$BIN:$PATH" "$@" \
        > "$WORK/logs/$name.log" 2>&1 &
}

wait_for_port() {  # NS HOST PORT
    for _ in $(seq 150); do
        ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "error: nothing listens on $2:$3 in $1 (see $WORK/logs)" >&2
    return 1
}

if ! ip netns add "$LINK_NS" 2>/dev/null; then
    echo "error: cannot create a network namespace here (needs root and ip netns)" >&2
    exit 2
fi
MADE_NS+=("$LINK_NS")
ip -n "$LINK_NS" link set lo up

echo "working folder $WORK; $HOSPITALS sites, each ${DELAY_MS} ms ± ${JITTER_MS} ms one way, ${MBIT} Mbit/s"
CAP=()
[ "$MAX_PER_HOSPITAL" != 0 ] && CAP=(--max-per-hospital "$MAX_PER_HOSPITAL")
"$PY" -m fedcore export-hospitals --out "$WORK/export" --hospitals "$HOSPITALS" --seed "$SEED" \
    "${CAP[@]}" > /dev/null
echo "in-process run of the same config..."
FEDXRAY_LAB_TOKEN="$TOKEN" FEDCORE_HOME="$WORK/in-process" "$PY" -m fedcore train --rounds "$ROUNDS" --seed "$SEED" \
    --hospitals "$HOSPITALS" "${CAP[@]}" > "$WORK/logs-in-process.log" 2>&1

ADDRESSES=() PROXIES=()
for k in $(seq 1 "$HOSPITALS"); do
    ns="$(site_ns "$k")"
    ip netns add "$ns"
    MADE_NS+=("$ns")
    ip link add "fxl${TAG}s$k" netns "$ns" type veth peer name "fxl${TAG}l$k" netns "$LINK_NS"
    ip -n "$ns" addr add "10.27.$k.2/24" dev "fxl${TAG}s$k"
    ip -n "$LINK_NS" addr add "10.27.$k.1/24" dev "fxl${TAG}l$k"
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "fxl${TAG}s$k" up
    ip -n "$LINK_NS" link set "fxl${TAG}l$k" up
    ADDRESSES+=("10.27.$k.1")
    # Each site's own folder: only its hospital's file is there.
    mkdir -p "$WORK/site$k"
    mv "$WORK/export/hospital_$k.npz" "$WORK/site$k/"
done
scripts/loopback-certs.sh "$WORK/certs" "${ADDRESSES[@]}"

run_in "$LINK_NS" superlink env FEDCORE_HOME="$WORK/flower" FLWR_HOME="$WORK/flwr-superlink" \
    "$PY" -m fedcore serve --global-test "$WORK/export/global_test.npz" --host 127.0.0.1 \
    --port "$PORT" --certificates "$WORK/certs"
wait_for_port "$LINK_NS" 127.0.0.1 "$PORT"
for k in $(seq 1 "$HOSPITALS"); do
    run_in "$LINK_NS" "proxy-$k" "$PY" -m testkit.fault_proxy --listen "10.27.$k.1:$PORT" \
        --target "127.0.0.1:$PORT" --delay-ms "$DELAY_MS" --jitter-ms "$JITTER_MS" \
        --mbit "$MBIT" --seed "$k" --stats "$WORK/proxy-$k.json"
    PROXIES+=($!)  # ip netns exec and env exec the proxy: $! is its pid
    wait_for_port "$(site_ns "$k")" "10.27.$k.1" "$PORT"
    run_in "$(site_ns "$k")" "site-$k" env FLWR_HOME="$WORK/flwr-site-$k" \
        "$PY" -m fedcore site --data "$WORK/site$k/hospital_$k.npz" \
        --superlink "10.27.$k.1:$PORT" --certificates "$WORK/certs" --partition-id "$((k - 1))"
done

mkdir -p "$WORK/flwr-cli"
cat > "$WORK/flwr-cli/config.toml" <<EOF
[superlink]
default = "lab"

[superlink.lab]
address = "127.0.0.1:$PORT"
root-certificates = "$WORK/certs/ca.pem"
EOF
ip netns exec "$LINK_NS" env FEDXRAY_LAB_TOKEN="$TOKEN" FLWR_HOME="$WORK/flwr-cli" \
    PATH="$BIN:$PATH" "$BIN/flwr" run . lab --stream --run-config \
    "rounds=$ROUNDS seed=$SEED hospitals=$HOSPITALS max-per-hospital=$MAX_PER_HOSPITAL" \
    | grep --line-buffered -E '^(run |round |error)' || true
for k in $(seq 1 "$HOSPITALS"); do grep -m1 '^site ' "$WORK/logs/site-$k.log" || true; done
# Each proxy writes its final byte counts as it ends.
kill -TERM "${PROXIES[@]}" 2>/dev/null || true
wait "${PROXIES[@]}" 2>/dev/null || true
"$PY" -m testkit.lab_report --in-process "$WORK/in-process" --flower "$WORK/flower" \
    --stats "$WORK"/proxy-*.json --mbit "$MBIT" --delay-ms "$DELAY_MS"
