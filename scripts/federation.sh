#!/usr/bin/env bash
# A whole Flower federation on this machine's loopback, then nothing left running:
#   1. TLS certificates for 127.0.0.1 (scripts/loopback-certs.sh, openssl);
#   2. the embedded data exported as one file per hospital plus the global test set;
#   3. a SuperLink (with the run store and global test set; its state in memory) and three
#      FedXray SuperNodes (python -m fedcore.flower.supernode: Flower's SuperNode and a warm
#      ClientApp executor), each pointed at its own hospital's file, every one on 127.0.0.1;
#   4. `flwr run . local-deployment --stream`, which ends when the run ends;
#   5. on exit (end, error or Ctrl-C) every process it started, and theirs, is ended.
# The run lands in the usual run store (FEDCORE_HOME, default ./runs), so the dashboard
# shows it like any other. docs/flower.md has the same steps on three real machines.
#
# Settings (environment): ROUNDS (3), SEED (42), MAX_PER_HOSPITAL (0 = all images),
# SECURE=1 for SecAgg+, AUTH=1 for SuperNode authentication, PORT (9093), KEEP=1 to
# keep the working folder (certificates, logs) for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/token-processes.sh
REPO="$PWD"
PY="${PY:-$REPO/.venv/bin/python}"
BIN="$(dirname "$PY")"
ROUNDS="${ROUNDS:-3}" SEED="${SEED:-42}" MAX_PER_HOSPITAL="${MAX_PER_HOSPITAL:-0}"
SECURE="${SECURE:-0}" AUTH="${AUTH:-0}" PORT="${PORT:-9093}" KEEP="${KEEP:-0}"
HOSPITALS=3
export FEDCORE_HOME="$(realpath -m "${FEDCORE_HOME:-runs}")"
WORK="$(mktemp -d -t fedxray-federation.XXXXXX)"
# Every process started here carries this token (but not this shell): teardown ends
# exactly those, even the ones Flower starts in sessions of their own.
TOKEN="$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

teardown() {
    end_token_processes "FEDXRAY_LOOPBACK_TOKEN=$TOKEN"
    if [ "$KEEP" = 1 ]; then echo "kept $WORK (certificates, logs)"; else rm -rf "$WORK"; fi
    echo "federation stopped; no process left running"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# start NAME FLWR_HOME COMMAND...: run in the background, output to $WORK/logs/NAME.log
start() {
    local name="$1" home="$2"
    shift 2
    mkdir -p "$WORK/logs" "$home"
    env FEDXRAY_LOOPBACK_TOKEN="$TOKEN" FLWR_HOME="$home" PATH="$BIN:$PATH" "$@" > "$WORK/logs/$name.log" 2>&1 &
}

echo "working folder $WORK; run store $FEDCORE_HOME"
scripts/loopback-certs.sh "$WORK/certs"
"$PY" -m fedcore export-hospitals --out "$WORK/sites" --hospitals "$HOSPITALS" --seed "$SEED" \
    $( [ "$MAX_PER_HOSPITAL" != 0 ] && echo --max-per-hospital "$MAX_PER_HOSPITAL" ) > /dev/null

# The `flwr` CLI's connection: the Flower configuration file of its own FLWR_HOME.
CLI_HOME="$WORK/flwr-cli"
mkdir -p "$CLI_HOME"
cat > "$CLI_HOME/config.toml" <<EOF
[superlink]
default = "local-deployment"

[superlink.local-deployment]
address = "127.0.0.1:$PORT"
root-certificates = "$WORK/certs/ca.pem"
EOF

AUTH_FLAG=()
[ "$AUTH" = 1 ] && AUTH_FLAG=(--enable-supernode-auth)
start superlink "$WORK/flwr-superlink" env FEDXRAY_GLOBAL_TEST="$WORK/sites/global_test.npz" \
    flower-superlink --host 127.0.0.1 --port "$PORT" \
    --ssl-certfile "$WORK/certs/server.pem" --ssl-keyfile "$WORK/certs/server.key" \
    --ssl-ca-certfile "$WORK/certs/ca.pem" --disable-runtime-dependency-installation "${AUTH_FLAG[@]}"
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.2
done

for k in $(seq 1 "$HOSPITALS"); do
    KEY_FLAG=()
    if [ "$AUTH" = 1 ]; then
        mkdir -p "$WORK/keys"
        ssh-keygen -q -t ecdsa -b 384 -N "" -f "$WORK/keys/hospital_$k"
        env FLWR_HOME="$CLI_HOME" "$BIN/flwr" supernode register "$WORK/keys/hospital_$k.pub" local-deployment > /dev/null
        KEY_FLAG=(--auth-supernode-private-key "$WORK/keys/hospital_$k")
    fi
    start "supernode-$k" "$WORK/flwr-supernode-$k" \
        "$PY" -m fedcore.flower.supernode --superlink "127.0.0.1:$PORT" --root-certificates "$WORK/certs/ca.pem" \
        --port "$((PORT + 10 + k))" "${KEY_FLAG[@]}" \
        --node-config "partition-id=$((k - 1)) data-path=\"$WORK/sites/hospital_$k.npz\""
done

SECURE_VALUE=false STRATEGY_SETTING=""
# SecAgg+ reveals only the example-weighted sum of the updates: FedAvg's, not the default
# SCAFFOLD's (whose control variates would travel in the clear), so it runs FedAvg.
[ "$SECURE" = 1 ] && SECURE_VALUE=true STRATEGY_SETTING=' strategy="fedavg"'
env FEDXRAY_LOOPBACK_TOKEN="$TOKEN" FLWR_HOME="$CLI_HOME" PATH="$BIN:$PATH" \
    "$BIN/flwr" run . local-deployment --stream --run-config \
    "rounds=$ROUNDS seed=$SEED hospitals=$HOSPITALS secure-aggregation=$SECURE_VALUE$STRATEGY_SETTING"
# `flwr run` returns 0 whatever became of the run: the run store says how it ended.
"$PY" - <<'PYEND'
import sys
from fedcore.store import RunStore
run = RunStore().latest_run()
if run is None or run["status"] != "finished":
    reason = "no run was recorded" if run is None else f"run {run['id']} ended {run['status']}"
    print(f"error: the federation did not finish: {reason}", file=sys.stderr)
    sys.exit(1)
PYEND
