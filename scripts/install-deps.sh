#!/usr/bin/env bash
# Installs what the build, the tests and the main job need, once. Safe to re-run: every step is
# skipped when its tool is already present.
set -euo pipefail

TANSU_VERSION=0.6.0
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '==> %s\n' "$*"; }

# Tansu: the Apache-Kafka-compatible broker the tests and the harness run on loopback.
if command -v tansu >/dev/null 2>&1 && tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
  say "tansu $TANSU_VERSION present"
else
  say "installing tansu $TANSU_VERSION (one-off, several minutes)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore
fi

# OpenSSL headers and pkg-config: librdkafka is built with TLS and SASL (SCRAM needs OpenSSL)
# against the system's OpenSSL.
if ! dpkg -s libssl-dev >/dev/null 2>&1 || ! command -v pkg-config >/dev/null 2>&1; then
  say "installing libssl-dev and pkg-config"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev pkg-config
fi

# stunnel: the real TLS terminator the secured-Kafka tests put in front of the local broker.
if ! command -v stunnel4 >/dev/null 2>&1 && ! command -v stunnel >/dev/null 2>&1; then
  say "installing stunnel4"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stunnel4
  # The package's service is not used (the tests start their own stunnel on a free port).
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now stunnel4 >/dev/null 2>&1 || true; fi
fi

# pip, allowed to install beside Debian's packages (PEP 668) on machines that mark them managed.
pip_install() {
  python3 -m pip install --quiet "$@" 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages "$@"
}

# Python `requests`: the seed's REST client scripts run as-is in the tests.
if python3 -c 'import requests' 2>/dev/null; then
  say "python requests present"
else
  say "installing python requests"
  pip_install requests
fi

# confluent-kafka's AvroDeserializer: a third-party reader of what the proxy writes (tests).
if python3 -c 'import confluent_kafka.schema_registry.avro, fastavro' 2>/dev/null; then
  say "python confluent-kafka present"
else
  say "installing python confluent-kafka[avro,schemaregistry]"
  pip_install "confluent-kafka[avro,schemaregistry]"
fi

# mosquitto_pub: the MQTT tests' real client.
if ! command -v mosquitto_pub >/dev/null 2>&1; then
  say "installing mosquitto-clients"
  apt-get update -qq && apt-get install -y -qq mosquitto-clients
fi
# mosquitto: the real MQTT broker the MQTT source subscribes to in tests (started by each test on
# a free loopback port; the package's own service is not used).
if [ ! -x /usr/sbin/mosquitto ]; then
  say "installing mosquitto"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto
  # The package starts its service on port 1883: the tests start their own.
  (systemctl disable --now mosquitto || service mosquitto stop) >/dev/null 2>&1 || true
fi

# wrk and nginx: the harness's cross-check of its REST driver against wrk, and the HTTP ceiling
# (nginx answering a fixed produce reply) it measures in the same run.
if ! command -v wrk >/dev/null 2>&1; then
  say "installing wrk"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
# h2load (nghttp2's): the same cross-check for HTTP/2 workloads (scenarios/single-record-h2c.toml).
if ! command -v h2load >/dev/null 2>&1; then
  say "installing h2load"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client
fi
if [ ! -x /usr/sbin/nginx ]; then
  say "installing nginx"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx
  # The package starts its default site on port 80 where it can; the harness runs its own nginx
  # on a free loopback port, so the one just installed is stopped (an nginx that was already
  # here is left alone).
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
  pkill -f 'nginx: master process /usr/sbin/nginx$' 2>/dev/null || true
fi

# curl: the README's and seed's curl flows.
if ! command -v curl >/dev/null 2>&1; then
  say "installing curl"
  apt-get update -qq && apt-get install -y -qq curl
fi
