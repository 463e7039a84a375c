#!/usr/bin/env bash
# Installs what this repo needs, idempotently: Debian packages (mosquitto, mosquitto-clients, openssl),
# the pnpm pinned in package.json#packageManager, and node_modules (frozen lockfile).
# Source it (". scripts/bootstrap.sh") or run it; safe to repeat.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 TURBO_NO_UPDATE_NOTIFIER=1
export NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin" ;; esac

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. Debian packages: mosquitto (the throwaway test broker), mosquitto-clients (mosquitto_pub and
#    mosquitto_sub: the bench's end-to-end row for the C clients) and openssl (the broker's throwaway CA).
#    Checked one command each, so a machine with mosquitto but without mosquitto_pub gets the clients too.
if ! command -v mosquitto >/dev/null || ! command -v mosquitto_pub >/dev/null \
   || ! command -v mosquitto_sub >/dev/null || ! command -v openssl >/dev/null; then
  echo "bootstrap: installing mosquitto, mosquitto-clients and openssl from Debian" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    mosquitto mosquitto-clients openssl >/dev/null
fi

# 2. pnpm, exactly the version package.json pins (npm's global bin, /usr/bin as root)
want=$(node -p 'require("./package.json").packageManager.replace(/^pnpm@/, "").split("+")[0]')
have=$(pnpm --version 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  echo "bootstrap: installing pnpm $want (found: ${have:-none})" >&2
  if [ -w "$(npm prefix --global)" ]; then npm_g() { npm "$@"; }; else npm_g() { as_root npm "$@"; }; fi
  npm_g install --global --save-exact --allow-scripts=pnpm --no-fund --no-audit --loglevel=error "pnpm@$want" >/dev/null
  hash -r
  have=$(pnpm --version)
  [ "$have" = "$want" ] || { echo "bootstrap: pnpm on PATH is $have, not $want ($(command -v pnpm))" >&2; exit 1; }
fi

# 3. node_modules
pnpm install --frozen-lockfile --reporter=append-only
