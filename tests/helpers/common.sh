# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# Small helpers the shell tests share (sourced, bash): one copy of each.
#
#   wait_for SECONDS COMMAND...  COMMAND every 0.1 s until it succeeds (1 at the end).
#   free_port                    a free TCP port on 127.0.0.1.
#   now_ms                       the wall clock in milliseconds.
#   stop_pid PID SECONDS         SIGTERM, up to SECONDS to exit, then SIGKILL;
#                                returns the exit code (124: did not stop, killed).
#   own_pid PID                  PID runs in this shell's session (not a reused pid).
#   fail/ok MESSAGE              "FAIL: ..." (counted in $FAILS) / "ok   ...";
#                                a test may redefine fail to stop at once.
#   redis_start DIR [ARGS...]    a bare redis-server for a test that needs no
#                                Kafka: 127.0.0.1 on a free port ($REDIS_PORT),
#                                no persistence, files and log in DIR, ARGS
#                                added (--requirepass ...); waits until it
#                                answers (10 s, else exits 1). The caller
#                                stops $REDIS_PID.
#
# The test owns every stack it starts with deploy/local-stack.sh (itself, or
# through demo.sh or stack.sh): STACK_OWNER_PID is this shell, so a stack is
# stopped by its owner watch when the test ends without stopping it (meson
# test kills a test that timed out or was cancelled 0.5 s after SIGTERM).
export STACK_OWNER_PID=${STACK_OWNER_PID:-$$}

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok   $*"; }

wait_for() {
        local n=$(($1 * 10))
        shift
        while [ $n -gt 0 ]; do
                "$@" && return 0
                sleep 0.1
                n=$((n - 1))
        done
        return 1
}

free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

now_ms() { date +%s%3N; }

# own_pid PID: PID runs in this shell's session (what the test started and
# its children; the stacks of deploy/local-stack.sh have sessions of their
# own). A pid noted earlier may since have exited and been reused.
own_pid() {
        local st me
        st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
        me=$(cat "/proc/$$/stat" 2>/dev/null) || return 1
        st=${st##*) } me=${me##*) }
        # shellcheck disable=SC2086
        set -- $st
        local sid=$4
        # shellcheck disable=SC2086
        set -- $me
        [ "$sid" = "$4" ]
}

stop_pid() {
        local n=$(($2 * 10))

        # Gone already (its pid may belong to anyone now): its exit code.
        own_pid "$1" || { wait "$1" 2>/dev/null; return; }
        kill -TERM "$1" 2>/dev/null
        while kill -0 "$1" 2>/dev/null && [ $n -gt 0 ]; do
                sleep 0.1
                n=$((n - 1))
        done
        if kill -0 "$1" 2>/dev/null; then
                kill -9 "$1" 2>/dev/null
                wait "$1" 2>/dev/null
                return 124
        fi
        wait "$1" 2>/dev/null
}

redis_start() {
        local dir=$1
        shift
        REDIS_PORT=$(free_port)
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
                --loglevel warning "$@" >"$dir/redis.log" 2>&1 &
        REDIS_PID=$!
        # A server with a password answers NOAUTH: up all the same.
        wait_for 10 sh -c "redis-cli -p $REDIS_PORT ping 2>&1 | grep -qE 'PONG|NOAUTH'" ||
                { echo "redis-server did not start"; cat "$dir/redis.log"; exit 1; }
}
