#!/usr/bin/env bash
# Usage: bash scripts/with-broker.sh CMD [ARGS...]
# Starts a throwaway mosquitto on loopback, exports where its listeners are, runs
# CMD, and stops the broker (by PID) when this script exits, whatever CMD did:
#   MQTT_HOST                  127.0.0.1
#   MQTT_TCP_PORT              MQTT over TCP
#   MQTT_TLS_PORT              MQTT over TLS (certificate for localhost and 127.0.0.1)
#   MQTT_WS_PORT MQTT_WSS_PORT MQTT over WebSockets, plain and secure
#   MQTT_CA_FILE               the CA that signed every certificate below
#   MQTT_UNIX_SOCKET           MQTT over a unix domain socket (a path)
#   MQTT_TLS_CLIENT_CERT_PORT  TLS listener with require_certificate true
#   MQTT_CLIENT_CERT MQTT_CLIENT_KEY    a client certificate (CN sansmqtt-test-client) and its key
#   MQTT_CLIENT_KEY_ENCRYPTED MQTT_CLIENT_KEY_PASSPHRASE  the same key, encrypted (AES-256)
#   MQTT_TLS_EXPIRED_PORT      TLS listener whose certificate (localhost) expired yesterday
#   MQTT_TLS_WRONG_HOST_PORT   TLS listener whose certificate is for wrong-host.example only
#   MQTT_SERVER_CERT MQTT_SERVER_KEY    the broker's certificate and key, for TLS servers a test starts
#   MQTT_AUTH_PORT             MQTT over TCP, anonymous clients refused: only MQTT_AUTH_USERNAME
#   MQTT_AUTH_USERNAME MQTT_AUTH_PASSWORD  with MQTT_AUTH_PASSWORD may connect (password_file)
# Every certificate is signed by a CA made for this run only (MQTT_CA_FILE); all
# of it is deleted with the broker.
# MQTT_PORT_BASE (default 18831) picks the first port; if one of the eight is taken,
# the next block of ten is tried. MQTT_BROKER_LOG_ON_FAIL=1 prints the broker log
# when CMD fails.
set -euo pipefail

command -v mosquitto >/dev/null || PATH="$PATH:/usr/sbin"
if ! command -v mosquitto >/dev/null || ! command -v mosquitto_passwd >/dev/null || ! command -v openssl >/dev/null; then
  echo "with-broker: needs mosquitto, mosquitto_passwd and openssl (bash scripts/bootstrap.sh, or apt-get install -y mosquitto openssl)" >&2
  exit 127
fi
[ $# -gt 0 ] || { echo "usage: bash scripts/with-broker.sh CMD [ARGS...]" >&2; exit 2; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

base=${MQTT_PORT_BASE:-18831}
for _ in $(seq 1 50); do
  free=1
  for off in 0 1 2 3 4 5 6 7; do port_busy $((base+off)) && { free=0; break; }; done
  [ "$free" = 1 ] && break
  base=$((base+10))
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/sansmqtt-broker.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
# CMD runs in the background so that a signal to this script is handled at once
# (bash runs no trap while a foreground child runs): pass it on as SIGTERM to
# CMD, wait for CMD, then stop the broker. Background commands ignore SIGINT,
# hence TERM for both.
child=""
on_signal() {
  trap '' INT TERM
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi
  exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# Throwaway CA and a server certificate for localhost / 127.0.0.1 (EC keys: fast).
(
  cd "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=sansmqtt throwaway test CA" -keyout ca.key -out ca.crt \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=localhost" -keyout server.key -out server.csr
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" > server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.crt
  # The same names, expired: -days -1 puts notAfter a day before notBefore (now).
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days -1 \
    -extfile server.ext -out expired.crt
  # A valid certificate for another host name only.
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:wrong-host.example" > wrong.ext
  openssl req -new -key server.key -subj "/CN=wrong-host.example" -out wrong.csr
  openssl x509 -req -in wrong.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile wrong.ext -out wrong.crt
  # A client certificate, its key, and the key encrypted with a passphrase.
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=sansmqtt-test-client" -keyout client.key -out client.csr
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth" > client.ext
  openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile client.ext -out client.crt
  openssl pkey -in client.key -aes256 -passout pass:sansmqtt-test-passphrase -out client-encrypted.key
) >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; exit 1; }
chmod 0644 "$dir"/*.key   # throwaway keys; readable if mosquitto drops privileges

# The one account of the password-protected listener (hashed by mosquitto_passwd).
auth_user=sansmqtt-test-user
auth_password=sansmqtt-test-password
mosquitto_passwd -b -c "$dir/passwords" "$auth_user" "$auth_password" >"$dir/passwd.log" 2>&1 \
  || { cat "$dir/passwd.log" >&2; exit 1; }
chmod 0644 "$dir/passwords"

cat >"$dir/mosquitto.conf" <<CONF
# generated by scripts/with-broker.sh
user $(id -un)
persistence false
set_tcp_nodelay true
# Authentication is set per listener, so that one listener can require a password.
# With this on, allow_anonymous (false by default in mosquitto 2.0) and
# password_file apply to the listener they follow: every listener below that
# admits anonymous clients says so itself.
per_listener_settings true
log_dest file $dir/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
connection_messages true

listener $base 127.0.0.1
protocol mqtt
allow_anonymous true

listener $((base+1)) 127.0.0.1
protocol mqtt
allow_anonymous true
cafile $dir/ca.crt
certfile $dir/server.crt
keyfile $dir/server.key

# WebSockets listeners take an interface name, not an address: mosquitto 2.0.11
# (Debian 12) binds "listener N 127.0.0.1" websockets on all addresses.
listener $((base+2)) lo
protocol websockets
allow_anonymous true

listener $((base+3)) lo
protocol websockets
allow_anonymous true
cafile $dir/ca.crt
certfile $dir/server.crt
keyfile $dir/server.key

# Client certificates required (signed by the run's CA).
listener $((base+4)) 127.0.0.1
protocol mqtt
allow_anonymous true
cafile $dir/ca.crt
certfile $dir/server.crt
keyfile $dir/server.key
require_certificate true

# An expired server certificate (mosquitto 2.0.11 loads it without complaint).
listener $((base+5)) 127.0.0.1
protocol mqtt
allow_anonymous true
cafile $dir/ca.crt
certfile $dir/expired.crt
keyfile $dir/server.key

# A server certificate for another host name.
listener $((base+6)) 127.0.0.1
protocol mqtt
allow_anonymous true
cafile $dir/ca.crt
certfile $dir/wrong.crt
keyfile $dir/server.key

# A unix domain socket (port 0 and a path: supported since mosquitto 2.0).
listener 0 $dir/mqtt.sock
protocol mqtt
allow_anonymous true

# Anonymous clients refused; MQTT_AUTH_USERNAME / MQTT_AUTH_PASSWORD accepted.
listener $((base+7)) 127.0.0.1
protocol mqtt
allow_anonymous false
password_file $dir/passwords
CONF

mosquitto -c "$dir/mosquitto.conf" >"$dir/stdout.log" 2>&1 &
pid=$!

for p in "$base" $((base+1)) $((base+2)) $((base+3)) $((base+4)) $((base+5)) $((base+6)) $((base+7)); do
  for i in $(seq 1 100); do
    port_busy "$p" && break
    if ! kill -0 "$pid" 2>/dev/null || [ "$i" = 100 ]; then
      echo "with-broker: mosquitto did not open 127.0.0.1:$p" >&2
      cat "$dir/stdout.log" "$dir/mosquitto.log" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 0.1
  done
done
for i in $(seq 1 100); do
  [ -S "$dir/mqtt.sock" ] && break
  if ! kill -0 "$pid" 2>/dev/null || [ "$i" = 100 ]; then
    echo "with-broker: mosquitto did not open the unix socket $dir/mqtt.sock" >&2
    cat "$dir/stdout.log" "$dir/mosquitto.log" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.1
done

export MQTT_HOST=127.0.0.1 MQTT_TCP_PORT=$base MQTT_TLS_PORT=$((base+1)) \
       MQTT_WS_PORT=$((base+2)) MQTT_WSS_PORT=$((base+3)) MQTT_CA_FILE="$dir/ca.crt" \
       MQTT_TLS_CLIENT_CERT_PORT=$((base+4)) MQTT_TLS_EXPIRED_PORT=$((base+5)) MQTT_TLS_WRONG_HOST_PORT=$((base+6)) \
       MQTT_UNIX_SOCKET="$dir/mqtt.sock" MQTT_SERVER_CERT="$dir/server.crt" MQTT_SERVER_KEY="$dir/server.key" \
       MQTT_CLIENT_CERT="$dir/client.crt" MQTT_CLIENT_KEY="$dir/client.key" \
       MQTT_CLIENT_KEY_ENCRYPTED="$dir/client-encrypted.key" MQTT_CLIENT_KEY_PASSPHRASE=sansmqtt-test-passphrase \
       MQTT_AUTH_PORT=$((base+7)) MQTT_AUTH_USERNAME="$auth_user" MQTT_AUTH_PASSWORD="$auth_password"
echo "with-broker: mosquitto pid $pid on 127.0.0.1 tcp:$MQTT_TCP_PORT tls:$MQTT_TLS_PORT ws:$MQTT_WS_PORT wss:$MQTT_WSS_PORT" \
     "tls+client-cert:$MQTT_TLS_CLIENT_CERT_PORT tls-expired:$MQTT_TLS_EXPIRED_PORT tls-wrong-host:$MQTT_TLS_WRONG_HOST_PORT auth:$MQTT_AUTH_PORT unix:$MQTT_UNIX_SOCKET" >&2

set +e
"$@" <&0 &   # the explicit <&0 keeps stdin (a background command would get /dev/null)
child=$!
wait "$child"
rc=$?
child=""
set -e
if [ "$rc" != 0 ] && [ -n "${MQTT_BROKER_LOG_ON_FAIL:-}" ]; then
  echo "---- mosquitto log" >&2; tail -n 50 "$dir/mosquitto.log" >&2 || true
fi
exit "$rc"
