#!/bin/sh
# Install what building, testing and running imgflow needs on Debian 12, the
# pinned Apache Kafka release (deploy/kafka/pom.xml) through Maven, which
# checks every jar's checksum, into the directory deploy/kafka/kafka-env.sh
# names, and the S3-compatible server of the tests and the local stack
# (versitygw, deploy/s3/s3-env.sh) built from its Go module with the
# machine's Go. Safe to run again: apt-get skips what is installed, Maven
# what the directory already holds for the same pom, Go a release already
# built.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)

PACKAGES="build-essential meson ninja-build pkg-config clang libclang-rt-14-dev \
  librdkafka-dev libhiredis-dev libjemalloc-dev libvips-dev libjansson-dev libsystemd-dev libglib2.0-dev libpcre2-dev \
  libcurl4-openssl-dev libexpat1-dev zlib1g-dev curl libmicrohttpd-dev libgraphviz-dev chromium fonts-liberation python3-websocket redis-server kcat python3 systemd nodejs npm \
  awscli python3-boto3 python3-pil libyaml-dev openssl stunnel4"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=""
for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# A JDK (17 or later) and Maven: the machine's own if it has them, else Debian's.
command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 ||
        missing="$missing openjdk-17-jdk-headless"
command -v mvn >/dev/null 2>&1 || missing="$missing maven"
# node and npm may come from elsewhere than Debian's packages: keep those.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
        missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//')
fi
if [ -n "$(echo "$missing" | tr -d ' ')" ]; then
        echo "Installing:$missing"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
# chromium, fonts-liberation (its text; only recommended by the package) and
# python3-websocket: the console's browser test
# (tests/integration/test-console.sh drives headless Chromium over the
# DevTools protocol).
# redis-server's package starts a system instance; imgflow's tests and local stack
# run their own on loopback, so it is left as the package configured it.

# Apache Kafka's broker and its dependencies.
. "$SRC/deploy/kafka/kafka-env.sh"
if ! kafka_libs_ok; then
        echo "Apache Kafka $KAFKA_VERSION (Maven) into $IMGFLOW_KAFKA_LIBS"
        rm -rf "$IMGFLOW_KAFKA_LIBS.tmp"
        mkdir -p "$(dirname "$IMGFLOW_KAFKA_LIBS")"
        mvn -B -q -f "$KAFKA_POM" -Dkafka.libs="$IMGFLOW_KAFKA_LIBS.tmp" \
                -DbuildDirectory="$IMGFLOW_KAFKA_LIBS.tmp/target" package
        rm -rf "$IMGFLOW_KAFKA_LIBS.tmp/target" "$SRC/deploy/kafka/target"
        cp "$KAFKA_POM" "$IMGFLOW_KAFKA_LIBS.tmp/.pom"
        rm -rf "$IMGFLOW_KAFKA_LIBS"
        mv "$IMGFLOW_KAFKA_LIBS.tmp" "$IMGFLOW_KAFKA_LIBS"
fi
kafka_prepare

# The S3-compatible server (versitygw) of the tests and of STACK_STORAGE=s3.
. "$SRC/deploy/s3/s3-env.sh"
if ! versitygw_ok; then
        echo "versitygw $VERSITYGW_VERSION (Go module) into $IMGFLOW_VERSITYGW_DIR"
        versitygw_install || echo "warning: versitygw not built (it needs Go 1.21 or later);" \
                "the S3 tests are skipped and STACK_STORAGE=s3 is not available" >&2
fi

# The third-party clients of the integration tests (tests/clients/package.json):
# kafkajs and @aws-sdk/client-sfn, as the lockfile pins them.
if [ -f "$SRC/tests/clients/package-lock.json" ] && { [ ! -d "$SRC/tests/clients/node_modules/kafkajs" ] ||
        [ ! -d "$SRC/tests/clients/node_modules/@aws-sdk/client-sfn" ]; }; then
        (cd "$SRC/tests/clients" && npm ci --no-audit --no-fund --loglevel=error)
fi
exit 0
