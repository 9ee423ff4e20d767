#!/usr/bin/env bash
# Idempotent install of the real servers used by tests and benchmarks (ems.infra.servers):
#   redis-server and postgresql-15 (apt), and the Apache Kafka broker jars (Maven Central, via mvn);
#   and what the web console's build and browser tests need: Node.js 18+ with npm, chromium (apt).
# Run as root on Debian 12 (CI), or as a user with sudo. Quiet when there is nothing to do.
#   EMS_KAFKA_LIBS   classpath dir (default: $HOME/.cache/ems/kafka-<version>/libs)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/kafka/pom.xml"
kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
[[ -n "$kafka_version" ]] || { echo "install.sh: no <kafka.version> in $pom" >&2; exit 1; }
libs="${EMS_KAFKA_LIBS:-$HOME/.cache/ems/kafka-$kafka_version/libs}"

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi

# --- apt packages -------------------------------------------------------------------------------
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql-15)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || [[ -f "$libs/.complete" ]] || missing+=(maven)
node -e 'process.exit(+process.versions.node.split(".")[0] < 18 ? 1 : 0)' >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-liberation)
if ((${#missing[@]})); then
  echo "install.sh: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes
  $sudo apt-get update -qq
  # policy-rc.d: do not start the distro's own redis/postgres services; tests start their own.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
id postgres >/dev/null 2>&1 || { echo "install.sh: no 'postgres' system user" >&2; exit 1; }

# --- Kafka classpath ----------------------------------------------------------------------------
if [[ ! -f "$libs/.complete" ]]; then
  echo "install.sh: fetching Kafka $kafka_version jars into $libs" >&2
  mkdir -p "$(dirname "$libs")"
  tmp="$(mktemp -d "$(dirname "$libs")/libs.XXXXXX")"
  if ! out="$(mvn -B -q -Dstyle.color=never -f "$pom" -Dkafka.version="$kafka_version" \
        dependency:copy-dependencies -DoutputDirectory="$tmp" 2>&1)"; then
    echo "$out" >&2
    rm -rf "$tmp"
    echo "install.sh: mvn failed to fetch the Kafka jars" >&2
    exit 1
  fi
  ls "$tmp"/kafka_2.13-"$kafka_version".jar >/dev/null
  echo "$kafka_version" >"$tmp/.complete"
  rm -rf "$libs"
  mv "$tmp" "$libs"
fi
