#!/bin/bash
# SPDX-License-Identifier: MIT
# imgflow-api driven by a client nobody here wrote, on a stack of its own:
# redis-server and Apache Kafka (tests/helpers/stack.sh), imgflow-coordinator,
# an imgflow-worker with a photos bucket, and imgflow-api on a free loopback
# port with an access keys file (mode 0600) of three keys:
#
#   admin    every states:* action
#   starter  StartExecution and Describe* on the image-* state machines and
#            their executions, and the callbacks (states:Send*); nothing else
#   denier   states:* but an explicit Deny of states:Delete*
#
#   test-api.sh CLIENT COORD WORKER API MAKE_PHOTOS SRC
#
# CLIENT is one of
#   awscli  tests/integration/api/awscli-test.sh: Debian's `aws stepfunctions`
#   boto3   tests/integration/api/boto3-test.py: Debian's python3-boto3
#   node    tests/clients/sfn-client.mjs: @aws-sdk/client-sfn, the version
#           tests/clients/package-lock.json pins (deploy/setup-debian.sh
#           installs it there with `npm ci`)
# Each creates the image pipeline and runs it on photos, reads histories,
# approves and rejects human-approval reviews by task token, takes activity
# tasks (node also redrives a failed one: Debian's awscli and boto3 predate
# RedriveExecution), and is refused for each reason the API refuses
# (docs/api.md). It
# gets the stack through the environment: API_ENDPOINT, AWS_REGION,
# ACCOUNT, the keys (ADMIN_KEY/ADMIN_SECRET, STARTER_..., DENIER_...),
# EXAMPLES, PHOTOS (keys of the photos), WIDE_PHOTO (one wider than the
# human-approval example's 8000 pixels) and REVIEW_TOKEN (a command:
# REVIEW_TOKEN EXECUTION-ID prints the token of its review request, as
# examples/human-approval/review.sh lists it).
#
# The awscli run is over HTTPS: api.tls_certificate and api.tls_key name a
# self-signed certificate made here (openssl) for 127.0.0.1, which the aws
# command trusts through AWS_CA_BUNDLE; a plain HTTP request to that
# listener gets no answer.
#
# Afterwards: the API's log names the access key of every refusal and
# holds no secret. Skipped (77) when the client is not installed.
set -u
CLIENT=$1 COORD=$2 WORKER=$3 API=$4 MAKE_PHOTOS=$5 SRC=$6

case "$CLIENT" in
awscli) [ -x /usr/bin/aws ] || { echo "Debian's awscli missing (deploy/setup-debian.sh): skipped"; exit 77; } ;;
boto3) /usr/bin/python3 -c 'import boto3' 2>/dev/null ||
        { echo "Debian's python3-boto3 missing (deploy/setup-debian.sh): skipped"; exit 77; } ;;
node) command -v node >/dev/null && [ -d "$SRC/tests/clients/node_modules/@aws-sdk/client-sfn" ] ||
        { echo "node or @aws-sdk/client-sfn in tests/clients missing (deploy/setup-debian.sh): skipped"; exit 77; } ;;
*) echo "usage: $0 awscli|boto3|node COORD WORKER API MAKE_PHOTOS SRC"; exit 2 ;;
esac

# shellcheck source=../helpers/stack.sh
. "$SRC/tests/helpers/stack.sh"
stack_init "api-$CLIENT"

start_infra --partitions 4 --topics "imgflow.tasks.reviewers:1"
APORT=$(free_port)
mkdir -p "$TMP/photos/raw"
"$MAKE_PHOTOS" "$TMP/photos/raw" 3 640 480 >/dev/null || { echo "make-photos failed"; exit 1; }
mkdir -p "$TMP/wide" && "$MAKE_PHOTOS" "$TMP/wide" 1 8200 64 >/dev/null && mv "$TMP/wide/photo-0000.jpg" "$TMP/photos/raw/wide.jpg" ||
        { echo "make-photos (wide) failed"; exit 1; }

# Secrets of 40 characters that appear nowhere but in the keys file and
# the clients' environment: the API's log is checked for them below.
secret() { head -c 30 /dev/urandom | base64 | tr -d '/+=' | cut -c1-40; }
ADMIN_KEY=AKIAIMGFLOWADMIN0001 ADMIN_SECRET=$(secret)
STARTER_KEY=AKIAIMGFLOWSTART0001 STARTER_SECRET=$(secret)
DENIER_KEY=AKIAIMGFLOWDENY00001 DENIER_SECRET=$(secret)
cat >"$TMP/api-keys.json" <<EOF
{"keys": [
 {"accessKeyId": "$ADMIN_KEY", "secretAccessKey": "$ADMIN_SECRET", "user": "admin",
  "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "states:*", "Resource": "*"}]}},
 {"accessKeyId": "$STARTER_KEY", "secretAccessKey": "$STARTER_SECRET", "user": "starter",
  "policy": {"Version": "2012-10-17", "Statement": [
   {"Effect": "Allow", "Action": ["states:StartExecution", "states:Describe*"],
    "Resource": ["arn:aws:states:*:*:stateMachine:image-*", "arn:aws:states:*:*:execution:image-*:*"]},
   {"Effect": "Allow", "Action": "states:Send*", "Resource": "*"}]}},
 {"accessKeyId": "$DENIER_KEY", "secretAccessKey": "$DENIER_SECRET", "user": "denier",
  "policy": {"Version": "2012-10-17", "Statement": [
   {"Effect": "Allow", "Action": "states:*", "Resource": "*"},
   {"Effect": "Deny", "Action": "states:Delete*", "Resource": "*"}]}}
]}
EOF
chmod 600 "$TMP/api-keys.json"

SCHEME=http TLS_CONF=
if [ "$CLIENT" = awscli ]; then
        command -v openssl >/dev/null || { echo "openssl missing (deploy/setup-debian.sh): skipped"; exit 77; }
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
                -addext "subjectAltName=IP:127.0.0.1" -keyout "$TMP/api-key.pem" -out "$TMP/api-cert.pem" \
                >"$TMP/openssl.log" 2>&1 || { cat "$TMP/openssl.log"; echo "openssl failed"; exit 1; }
        chmod 600 "$TMP/api-key.pem"
        SCHEME=https TLS_CONF="tls_certificate = $TMP/api-cert.pem
tls_key = $TMP/api-key.pem"
        export AWS_CA_BUNDLE=$TMP/api-cert.pem
fi

stack_conf <<EOF
[api]
listen = 127.0.0.1:$APORT
keys = $TMP/api-keys.json
$TLS_CONF
[worker]
threads = 2
[buckets]
photos = $TMP/photos
$(cat "$SRC/examples/image-pipeline/stack.conf")
EOF

start_coordinator
env IMGFLOW_LOG_TARGET=console "$WORKER" --config "$CONF" >>"$TMP/worker.log" 2>&1 &
PIDS+=($!)
env IMGFLOW_LOG_TARGET=console "$API" --config "$CONF" >>"$TMP/api.log" 2>&1 &
API_PID=$!
PIDS+=($API_PID)
wait_for 60 grep -qs "Coordinator ready" "$TMP/coordinator.log" || stack_die imgflow-coordinator "$TMP/coordinator.log"
wait_for 60 grep -qs "Kafka answered" "$TMP/worker.log" || stack_die imgflow-worker "$TMP/worker.log"
wait_for 60 grep -qs "imgflow-api ready" "$TMP/api.log" || stack_die imgflow-api "$TMP/api.log"
if [ "$SCHEME" = https ]; then
        grep -q "imgflow-api ready on 127.0.0.1:$APORT (HTTPS)" "$TMP/api.log" && ok "imgflow-api serves HTTPS" ||
                fail "imgflow-api is not on HTTPS: $(grep ready "$TMP/api.log")"
        code=$(curl -s -o /dev/null -m 10 -w '%{http_code}' "http://127.0.0.1:$APORT/healthz")
        [ "$code" = 000 ] && ok "plain HTTP to the HTTPS listener gets no answer" || fail "plain HTTP: $code"
        code=$(curl -s -o /dev/null -m 10 -w '%{http_code}' --cacert "$TMP/api-cert.pem" "https://127.0.0.1:$APORT/healthz")
        [ "$code" = 200 ] && ok "GET /healthz over HTTPS: 200" || fail "GET /healthz over HTTPS: $code"
fi

cat >"$TMP/review-token" <<EOF
#!/bin/sh
# review-token EXECUTION-ID: the token of its review request (waits up to 60 s).
for i in \$(seq 300); do
        t=\$(KAFKA_BOOTSTRAP=$BOOT "$SRC/examples/human-approval/review.sh" list 2>/dev/null |
                awk -F'\t' -v e="\$1" '\$2 == e { print \$1 }' | tail -1)
        [ -n "\$t" ] && { echo "\$t"; exit 0; }
        sleep 0.2
done
exit 1
EOF
chmod +x "$TMP/review-token"

export API_ENDPOINT=$SCHEME://127.0.0.1:$APORT AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export ACCOUNT=123456789012 EXAMPLES=$SRC/examples REVIEW_TOKEN=$TMP/review-token
export ADMIN_KEY ADMIN_SECRET STARTER_KEY STARTER_SECRET DENIER_KEY DENIER_SECRET
export PHOTOS="raw/photo-0000.jpg raw/photo-0001.jpg raw/photo-0002.jpg" WIDE_PHOTO=raw/wide.jpg
# The clients' own configuration files and credentials stay out of it.
export AWS_CONFIG_FILE=$TMP/no-aws-config AWS_SHARED_CREDENTIALS_FILE=$TMP/no-aws-credentials
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN

echo "--- $CLIENT against imgflow-api on $API_ENDPOINT"
case "$CLIENT" in
awscli) timeout 800 bash "$SRC/tests/integration/api/awscli-test.sh"; RC=$? ;;
boto3) timeout 800 /usr/bin/python3 "$SRC/tests/integration/api/boto3-test.py"; RC=$? ;;
node) timeout 800 node "$SRC/tests/clients/sfn-client.mjs"; RC=$? ;;
esac
[ "$RC" = 0 ] && ok "$CLIENT: every check passed" || fail "$CLIENT: exit $RC"

echo "--- the API's log"
for k in "$ADMIN_KEY" "$STARTER_KEY" "$DENIER_KEY" AKIAIMGFLOWUNKNOWN01; do
        grep -q "Refused .*access_key_id=$k " "$TMP/api.log" && ok "refusals of $k are logged with its key id" ||
                fail "no refusal logged for $k"
done
leaked=0
for s in "$ADMIN_SECRET" "$STARTER_SECRET" "$DENIER_SECRET"; do
        grep -qF "$s" "$TMP/api.log" "$TMP/coordinator.log" && leaked=1
done
[ $leaked = 0 ] && ok "no secret in the logs" || fail "a secret is in a log"

echo "--- SIGTERM"
stop_pid "$API_PID" 30
rc=$?
[ $rc = 0 ] && ok "imgflow-api stopped cleanly" || fail "imgflow-api exit $rc on SIGTERM"

if [ "$FAILS" -gt 0 ]; then
        echo "--- api log (tail) ---"; tail -40 "$TMP/api.log"
        echo "--- coordinator log (tail) ---"; tail -20 "$TMP/coordinator.log"
        echo "$FAILS failure(s)"
        exit 1
fi
exit 0
