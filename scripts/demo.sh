#!/usr/bin/env bash
# One command from a fresh clone: install everything, build the demo (and, through
# turbo's "@sansmqtt/demo..." filter, @sansmqtt/client and everything it uses), run it.
#   bash scripts/demo.sh                     # throwaway mosquitto on 127.0.0.1: TCP, TLS and WebSocket, MQTT 3.1.1 and 5.0
#   bash scripts/demo.sh --broker HOST:PORT  # against that broker (plain TCP only); no broker started
#   MQTT_BROKER=HOST:PORT bash scripts/demo.sh   # the same
#   bash scripts/demo.sh --v311              # MQTT 3.1.1 only (--v5: MQTT 5.0 only)
#   bash scripts/demo.sh --trace             # also one line per MQTT packet on the wire
# For a broker that wants a login, set MQTT_USERNAME and MQTT_PASSWORD (never printed).
# Exit 0 on success, 1 on any failure, 2 on bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

broker=${MQTT_BROKER:-}
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --broker) [ $# -ge 2 ] || { echo "demo: --broker needs HOST:PORT" >&2; exit 2; }; broker=$2; shift 2 ;;
    --broker=*) broker=${1#--broker=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

. scripts/bootstrap.sh
pnpm exec turbo run build --filter=@sansmqtt/demo... --output-logs=errors-only

if [ -n "$broker" ]; then
  exec node packages/demo/dist/main.js --broker "$broker" "${args[@]}"
else
  exec bash scripts/with-broker.sh node packages/demo/dist/main.js "${args[@]}"
fi
