#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs a unit test binary beside a real S3-protocol server (versitygw, see
# deploy/s3/s3-env.sh) on a free loopback port, with the bucket "imgflow-test"
# created, and tells the test where it is:
#   IMGFLOW_TEST_S3_ENDPOINT  http://127.0.0.1:<port>
#   IMGFLOW_TEST_S3_ACCESS_KEY_ID, IMGFLOW_TEST_S3_SECRET_ACCESS_KEY
#   IMGFLOW_TEST_S3_DIR       the directory of the server's buckets
# and, where openssl can make a certificate, of a second one that speaks TLS
# with a self-signed certificate for 127.0.0.1 (its own "imgflow-test"):
#   IMGFLOW_TEST_S3_TLS_ENDPOINT  https://127.0.0.1:<port>
#   IMGFLOW_TEST_S3_TLS_CA        that certificate (PEM)
# Without the server built (deploy/setup-debian.sh builds it where Go is
# available), the test is skipped (exit 77) and says so.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/deploy/s3/s3-env.sh"
. "$SRC/tests/helpers/common.sh"

if ! versitygw_ok; then
        echo "SKIP: versitygw $VERSITYGW_VERSION is not built ($IMGFLOW_VERSITYGW); run deploy/setup-debian.sh"
        exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/imgflow-s3-unit.XXXXXX")
S3_ACCESS_KEY_ID=imgflowtest
S3_SECRET_ACCESS_KEY=$(head -c 18 /dev/urandom | base64 | tr '+/' 'AB')
port=$(free_port)
mkdir -p "$dir/buckets/imgflow-test"
if ! versitygw_start "$dir" "$port"; then
        echo "versitygw did not start"
        rm -rf "$dir"
        exit 1
fi
PLAIN_PID=$VERSITYGW_PID TLS_PID=
mkdir -p "$dir/tls/buckets/imgflow-test"
if command -v openssl >/dev/null &&
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" -days 2 \
                -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1; then
        tls_port=$(free_port)
        if ! VERSITYGW_SCHEME=https versitygw_start "$dir/tls" "$tls_port" --cert "$dir/tls/cert.pem" \
                --key "$dir/tls/key.pem"; then
                echo "versitygw (TLS) did not start"
                stop_pid "$PLAIN_PID" 10
                rm -rf "$dir"
                exit 1
        fi
        TLS_PID=$VERSITYGW_PID
        export IMGFLOW_TEST_S3_TLS_ENDPOINT=https://127.0.0.1:$tls_port
        export IMGFLOW_TEST_S3_TLS_CA=$dir/tls/cert.pem
fi
IMGFLOW_TEST_S3_ENDPOINT=http://127.0.0.1:$port IMGFLOW_TEST_S3_ACCESS_KEY_ID=$S3_ACCESS_KEY_ID \
        IMGFLOW_TEST_S3_SECRET_ACCESS_KEY=$S3_SECRET_ACCESS_KEY IMGFLOW_TEST_S3_DIR=$dir/buckets "$@"
rc=$?
stop_pid "$PLAIN_PID" 10
[ -n "$TLS_PID" ] && stop_pid "$TLS_PID" 10
[ $rc -eq 0 ] || tail -20 "$dir/versitygw.log"
rm -rf "$dir"
exit $rc
