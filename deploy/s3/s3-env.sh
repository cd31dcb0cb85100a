# shellcheck shell=sh
# SPDX-License-Identifier: MIT
# Sourced (with SRC set to the source tree) by deploy/setup-debian.sh,
# deploy/local-stack.sh and the tests: the S3-compatible server of the local
# stack and the tests, Versity S3 Gateway (versitygw, Apache-2.0), the
# release pinned here, built from its Go module with the machine's Go into
# the directory IMGFLOW_VERSITYGW_DIR names.
#
# Why versitygw: it verifies SigV4 signatures (a wrong key or a tampered
# request is SignatureDoesNotMatch, as on AWS), answers with S3's error codes,
# has multipart uploads and ListObjectsV2 with continuation tokens, serves
# path-style and virtual-hosted buckets, stores objects as plain files
# (its posix backend), and publishes bucket notifications to Kafka in the S3
# event format itself, which the trigger tests use. It is one static binary
# that starts in well under a second.
VERSITYGW_VERSION=v1.8.0
IMGFLOW_VERSITYGW_DIR=${IMGFLOW_VERSITYGW_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/imgflow/versitygw-$VERSITYGW_VERSION}
IMGFLOW_VERSITYGW=$IMGFLOW_VERSITYGW_DIR/versitygw

# versitygw_ok: the pinned release is built.
versitygw_ok() {
        [ -x "$IMGFLOW_VERSITYGW" ]
}

# versitygw_install: build it (about 2 minutes of CPU, 3-4 on two busy
# cores). It needs Go 1.21 or later (which fetches the toolchain versitygw's
# go.mod asks for from the Go module proxy); Debian 12's golang (1.19) is too
# old. Returns 1 without a usable Go.
versitygw_install() {
        local v
        command -v go >/dev/null 2>&1 || return 1
        v=$(go env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
        [ -n "$v" ] && [ "$v" -ge 21 ] || return 1
        mkdir -p "$IMGFLOW_VERSITYGW_DIR.tmp"
        GOBIN="$IMGFLOW_VERSITYGW_DIR.tmp" GOTOOLCHAIN=auto GOFLAGS=-mod=mod \
                nice go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" || return 1
        rm -rf "$IMGFLOW_VERSITYGW_DIR"
        mv "$IMGFLOW_VERSITYGW_DIR.tmp" "$IMGFLOW_VERSITYGW_DIR"
}

# versitygw_start DIR PORT ARGS...: a server on 127.0.0.1:PORT serving the
# buckets (subdirectories) of DIR/buckets with the root credentials
# $S3_ACCESS_KEY_ID / $S3_SECRET_ACCESS_KEY, region $S3_REGION (us-east-1),
# object metadata (ETags) in DIR/meta, virtual-hosted names under
# "localhost" (curl resolves *.localhost to loopback) and keep-alive; ARGS go
# before the backend (event options; --cert and --key for TLS, with
# VERSITYGW_SCHEME=https so that the readiness probe speaks it).
# Sets VERSITYGW_PID; waits until it answers (15 s, else returns 1).
versitygw_start() {
        local dir=$1 port=$2 n=0
        shift 2
        mkdir -p "$dir/buckets" "$dir/meta"
        "$IMGFLOW_VERSITYGW" --port "127.0.0.1:$port" --access "$S3_ACCESS_KEY_ID" --secret "$S3_SECRET_ACCESS_KEY" \
                --region "${S3_REGION:-us-east-1}" --keep-alive --quiet --virtual-domain localhost "$@" \
                posix --sidecar "$dir/meta" "$dir/buckets" >>"$dir/versitygw.log" 2>&1 &
        VERSITYGW_PID=$!
        while [ $n -lt 150 ]; do
                # Any HTTP answer (403 without a signature) means it is up.
                if curl -s -k -o /dev/null -m 1 "${VERSITYGW_SCHEME:-http}://127.0.0.1:$port/"; then
                        return 0
                fi
                kill -0 "$VERSITYGW_PID" 2>/dev/null || break
                sleep 0.1
                n=$((n + 1))
        done
        tail -20 "$dir/versitygw.log" >&2
        return 1
}

# s3_put FILE BUCKET KEY: PutObject of FILE with curl's SigV4 signer, to
# $S3_ENDPOINT (path style) with $S3_ACCESS_KEY_ID / $S3_SECRET_ACCESS_KEY
# (the local stack's `env` gives them). KEY of [A-Za-z0-9._/-] only (it goes
# into the URL as it is).
s3_put() {
        local sha
        sha=$(sha256sum "$1" | cut -d' ' -f1)
        curl -sS -f -o /dev/null --aws-sigv4 "aws:amz:${S3_REGION:-us-east-1}:s3" \
                --user "$S3_ACCESS_KEY_ID:$S3_SECRET_ACCESS_KEY" -H "x-amz-content-sha256: $sha" \
                -T "$1" "$S3_ENDPOINT/$2/$3"
}
