#!/usr/bin/env bash
# One command from a fresh clone: install everything, build the demo, run it.
#   bash scripts/demo.sh                     # against a throwaway mosquitto on 127.0.0.1
#   bash scripts/demo.sh --broker HOST:PORT  # against that broker (plain TCP); no broker started
#   MQTT_BROKER=HOST:PORT bash scripts/demo.sh   # the same
#   bash scripts/demo.sh --v311              # MQTT 3.1.1 instead of MQTT 5
# For a broker that wants a login, set MQTT_USERNAME and MQTT_PASSWORD (never printed).
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
