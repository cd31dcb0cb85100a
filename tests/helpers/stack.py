# SPDX-License-Identifier: MIT
#
# A local imgflow stack for the python tests (the fault and hostile-input
# tests, tests/integration/chaos/), started and stopped by the test itself:
# redis-server (AOF on) and Kafka (Apache Kafka brokers, or the mock cluster
# with STACK_KAFKA=mock) come from deploy/local-stack.sh, which also kills
# and restarts them (by the pids it recorded); imgflow-coordinator and
# imgflow-worker processes are started here and killed and restarted by pid.
# Plus the small clients and helpers the tests share: a RESP client for
# Redis (the tests run on any python3, without a Redis package), kcat for
# Kafka, a PNG writer for test images, free_port, now_ms, wait_until.
#
# Everything listens on 127.0.0.1 on kernel-chosen ports. Every process this
# module starts is remembered and killed by pid in Stack.close(); nothing else
# is ever signalled.

import datetime
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def now_ms():
    return int(time.time() * 1000)


def parse_ts(s):
    """A history event's timestamp (RFC 3339, ms, UTC) -> epoch ms."""
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp() * 1000)


def wait_until(fn, timeout, step=0.1):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            return v
        time.sleep(step)


# ---------------------------------------------------------------- Redis client

class RedisError(Exception):
    pass


class Redis:
    """A minimal RESP2 client; reconnects on every error (the server restarts)."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = b""

    def _connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise ConnectionError("redis closed the connection")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            d = self.sock.recv(65536)
            if not d:
                raise ConnectionError("redis closed the connection")
            self.buf += d
        v, self.buf = self.buf[:n], self.buf[n + 2:]
        return v

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RedisError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ConnectionError("bad reply %r" % line)

    def call(self, *args, retries=50):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        for attempt in range(retries):
            try:
                if not self.sock:
                    self._connect()
                self.sock.sendall(out)
                return self._reply()
            except (OSError, ConnectionError):
                self.close()
                if attempt == retries - 1:
                    raise
                time.sleep(0.2)

    def exec_field(self, exec_id, field):
        return self.call("HGET", "imgflow:{%s}:exec" % exec_id, field)

    def history(self, exec_id):
        return [json.loads(e) for e in self.call("LRANGE", "imgflow:{%s}:history" % exec_id, 0, -1)]


# ---------------------------------------------------------------- images

def png_bytes(width, height, seed):
    """A deterministic RGB PNG: gradients plus noise."""
    rnd = random.Random(seed)
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows += bytes(((x * 255 // max(width - 1, 1) + rnd.randrange(32)) & 255,
                           (y * 255 // max(height - 1, 1) + rnd.randrange(32)) & 255,
                           (seed * 37 + rnd.randrange(64)) & 255))

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + chunk(b"IEND", b""))


def image_info(path):
    """(format, width, height) of a PNG/JPEG/WebP/GIF file, or None if it is
    not a complete image of one of those formats."""
    try:
        data = open(path, "rb").read()
    except OSError:
        return None
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 33:
        if not data.endswith(b"IEND\xaeB`\x82"):
            return None
        w, h = struct.unpack(">II", data[16:24])
        return ("png", w, h)
    if data[:2] == b"\xff\xd8":
        if not data.rstrip(b"\0").endswith(b"\xff\xd9"):
            return None
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            seglen = struct.unpack(">H", data[i + 2:i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return ("jpeg", w, h)
            i += 2 + seglen
        return None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        if struct.unpack("<I", data[4:8])[0] + 8 != len(data):
            return None
        return ("webp", 0, 0)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        if not data.endswith(b";"):
            return None
        w, h = struct.unpack("<HH", data[6:10])
        return ("gif", w, h)
    return None


# ---------------------------------------------------------------- processes

class Proc:
    def __init__(self, name, argv, logpath, env=None):
        self.name, self.argv, self.logpath, self.env = name, argv, logpath, env
        self.p = None
        self.starts = 0

    def start(self):
        f = open(self.logpath, "ab")
        f.write(("--- %s start %d\n" % (time.strftime("%H:%M:%S"), self.starts)).encode())
        f.flush()
        env = dict(os.environ)
        env.update(self.env or {})
        self.p = subprocess.Popen(self.argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=env)
        f.close()
        self.starts += 1
        return self

    @property
    def pid(self):
        return self.p.pid if self.p else None

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill(self, sig=signal.SIGKILL, timeout=30):
        """Signal by pid and reap; returns the exit code (or None)."""
        if not self.p:
            return None
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.p.pid, signal.SIGKILL)
            rc = self.p.wait()
        self.p = None
        return rc

    def rss_kb(self):
        try:
            for line in open("/proc/%d/status" % self.p.pid):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except (OSError, AttributeError):
            pass
        return 0


HERE = os.path.dirname(os.path.abspath(__file__))
LOCAL_STACK = os.path.join(HERE, "..", "..", "deploy", "local-stack.sh")


def kafka_missing():
    """Why the real broker cannot run here ("" when it can, or with STACK_KAFKA=mock)."""
    if os.environ.get("STACK_KAFKA", "real") == "mock":
        return ""
    if not shutil.which("java"):
        return "java missing"
    r = subprocess.run(["bash", "-c", 'SRC=$1; . "$SRC/deploy/kafka/kafka-env.sh"; kafka_libs_ok || '
                        'echo "Apache Kafka $KAFKA_VERSION missing in $IMGFLOW_KAFKA_LIBS"', "-",
                        os.path.join(HERE, "..", "..")], capture_output=True, text=True)
    return r.stdout.strip()


class Stack:
    def __init__(self, args, tmp, partitions=4, brokers=1, appendfsync="always", extra_conf=""):
        self.args, self.tmp = args, tmp
        self.procs = []
        self.coordinators = []
        self.workers = []
        self.partitions, self.brokers = partitions, brokers
        self.appendfsync = appendfsync
        self.extra_conf = extra_conf
        self.bucket = os.path.join(tmp, "photos")
        self.stack_dir = os.path.join(tmp, "stack")
        self.build = os.path.dirname(os.path.dirname(os.path.abspath(args.coordinator)))
        os.makedirs(self.bucket, exist_ok=True)

    # --- redis-server and Kafka (deploy/local-stack.sh)
    def local_stack(self, *argv, check=True, env=None, timeout=300):
        e = dict(os.environ)
        # Brokers without the C2 compiler start in half the CPU (see stack.sh).
        # This process owns the stack: if it dies before close() (SIGTERM from
        # meson test), the stack's owner watch stops it (local-stack.sh).
        e.setdefault("STACK_OWNER_PID", str(os.getpid()))
        e.update({"IMGFLOW_STACK_DIR": self.stack_dir, "IMGFLOW_BUILD": self.build,
                  "STACK_STOP_TIMEOUT": os.environ.get("STACK_STOP_TIMEOUT", "5")})
        e.update(env or {})
        with open(os.path.join(self.tmp, "stack.log"), "ab") as f:
            r = subprocess.run([LOCAL_STACK] + list(argv), env=e, stdout=subprocess.PIPE, stderr=f,
                               timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("local-stack.sh %s failed (%s)" % (" ".join(argv), self.tail("stack.log")))
        return r.stdout.decode().strip()

    def tail(self, name, lines=15):
        try:
            with open(os.path.join(self.tmp, name), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def start_infra(self, topics=None, env=None):
        """redis-server on $rport (AOF, appendfsync as given) and Kafka at
        $bootstrap; topics: more topics, "name:partitions ..."; env: more
        local-stack.sh settings (such as STACK_REDIS_SENTINELS)."""
        self.local_stack("start", env=dict({
            "STACK_COORDINATORS": "0", "STACK_WORKERS": "0", "STACK_PARTITIONS": str(self.partitions),
            "STACK_BROKERS": str(self.brokers), "STACK_TOPICS": topics or "", "STACK_RESOURCES": "",
            "STACK_REDIS_APPENDFSYNC": self.appendfsync}, **(env or {})))
        env = {}
        for line in open(os.path.join(self.stack_dir, "stack.env")):
            k, _, v = line.strip().partition("=")
            env[k] = v.strip("'")
        self.rport, self.bootstrap, self.kafka = int(env["REDIS_PORT"]), env["BOOTSTRAP"], env["KAFKA"]
        self.redis = Redis(self.rport)

    def _ping(self):
        try:
            r = Redis(self.rport)
            ok = r.call("PING", retries=1) == "PONG"
            r.close()
            return ok
        except Exception:
            return False

    def restart_redis(self, sig=signal.SIGKILL, down_seconds=0.5):
        self.local_stack("kill", "redis", sig.name)
        time.sleep(down_seconds)
        self.local_stack("restart", "redis")
        # Loading the AOF: LOADING errors until done.
        return wait_until(lambda: self._ping(), 30)

    def rollback_redis(self, lose_seconds=1.0):
        """What a host crash does to an AOF with appendfsync everysec: the
        writes of the last second (acknowledged to clients) are gone. A
        SIGKILL alone cannot show it (written AOF data survives in the page
        cache), so: copy the data directory, let traffic run on, kill
        redis-server, put the copy back, start it again."""
        d = os.path.join(self.stack_dir, "redis")
        snap = os.path.join(self.tmp, "redis-snapshot")
        shutil.rmtree(snap, ignore_errors=True)
        shutil.copytree(d, snap)
        time.sleep(lose_seconds)
        self.local_stack("kill", "redis", "KILL")
        shutil.rmtree(d)
        os.rename(snap, d)
        self.local_stack("restart", "redis")
        return wait_until(lambda: self._ping(), 30)

    # --- Kafka brokers: ids 1..brokers
    def kill_broker(self, broker, sig="KILL"):
        """SIGKILL (or another signal) to a broker; the mock takes it down."""
        self.local_stack("kill", "kafka-%d" % broker, sig)

    def start_broker(self, broker):
        """Start a killed broker again (its data kept) and wait until it runs."""
        self.local_stack("restart", "kafka-%d" % broker)

    def broker_pid(self, broker):
        return int(self.local_stack("pid", "kafka-%d" % broker))

    def leader(self, topic, partition):
        return int(self.local_stack("leader", topic, str(partition)))

    def kafka_command(self, line):
        """A command to the mock cluster (deploy/mock-kafka.c); only with the mock."""
        if self.kafka == "mock":
            self.local_stack("kafka-command", line)

    # --- config
    def write_config(self, resources=""):
        self.conf = os.path.join(self.tmp, "imgflow.conf")
        with open(self.conf, "w") as f:
            f.write("""[imgflow]
log_level = info
[redis]
address = 127.0.0.1:%d
timeout = 2s
[coordinator]
timer_interval = 200ms
shutdown_timeout = 5s
[worker]
shutdown_timeout = 5s
heartbeat_interval = 2s
[kafka]
bootstrap.servers = %s
topic.metadata.refresh.interval.ms = 1000
reconnect.backoff.ms = 50
reconnect.backoff.max.ms = 500
[kafka.producer]
linger.ms = 1
[kafka.consumer]
session.timeout.ms = 6000
heartbeat.interval.ms = 500
%s
[resources]
%s
""" % (self.rport, self.bootstrap, self.extra_conf, resources))

    # --- daemons
    def add_coordinator(self, start=True):
        i = len(self.coordinators)
        p = Proc("coordinator-%d" % i, [self.args.coordinator, "--config", self.conf],
                 os.path.join(self.tmp, "coordinator-%d.log" % i), env={"IMGFLOW_LOG_TARGET": "console",
                                                                        "IMGFLOW_COORDINATOR_INSTANCE": "c%d" % i})
        self.coordinators.append(p)
        self.procs.append(p)
        return p.start() if start else p

    def add_worker(self, threads=2, start=True, extra_env=None):
        i = len(self.workers)
        p = Proc("worker-%d" % i, [self.args.worker, "--config", self.conf, "--instance", str(i),
                                   "--threads", str(threads), "--bucket", "photos=" + self.bucket,
                                   "--log-target", "console"],
                 os.path.join(self.tmp, "worker-%d.log" % i), env=extra_env)
        self.workers.append(p)
        self.procs.append(p)
        return p.start() if start else p

    def register(self, name, path):
        r = subprocess.run([self.args.tool, str(self.rport), "register", name, path],
                           capture_output=True, text=True, timeout=30)
        return r.returncode, (r.stdout + r.stderr).strip()

    # --- kafka clients
    def produce(self, topic, lines, wait=True, key_sep="|"):
        """lines: 'key|payload' strings (or bytes). Returns the Popen when wait is False."""
        data = b"".join((l if isinstance(l, bytes) else l.encode()) + b"\n" for l in lines)
        argv = ["kcat", "-P", "-b", self.bootstrap, "-t", topic, "-K", key_sep,
                "-X", "reconnect.backoff.max.ms=500", "-X", "topic.metadata.refresh.interval.ms=1000",
                "-X", "enable.idempotence=true"]
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.tmp, "kcat.err"), "ab"))
        p.stdin.write(data)
        p.stdin.close()
        if wait:
            return p.wait(timeout=120)
        return p

    def consume(self, topic, timeout=60):
        """Every message of a topic from the beginning, as parsed JSON (or raw text)."""
        # -e learns the end from an empty Fetch, which the broker holds for
        # fetch.wait.max.ms (500 ms by default): short here.
        r = subprocess.run(["kcat", "-C", "-b", self.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
                            "-X", "fetch.wait.max.ms=5",
                            "-f", "%k\t%s\n"], capture_output=True, timeout=timeout)
        out = []
        for line in r.stdout.decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            key, _, payload = line.partition("\t")
            try:
                out.append((key, json.loads(payload)))
            except ValueError:
                out.append((key, payload))
        return out

    # --- executions
    def status(self, exec_id):
        return self.redis.exec_field(exec_id, "status")

    def wait_terminal(self, exec_ids, timeout):
        end = time.monotonic() + timeout
        pending = list(exec_ids)
        while True:
            pending = [e for e in pending if self.status(e) in (None, "RUNNING")]
            if not pending or time.monotonic() >= end:
                return pending
            time.sleep(0.3)

    def close(self):
        for p in reversed(self.procs):
            if p.alive():
                p.kill(signal.SIGTERM, timeout=10)
        if os.path.isdir(os.path.join(self.stack_dir, "pids")):
            self.local_stack("stop", check=False)


def start_message(sm, name, inp, request_id=None):
    m = {"v": 1, "type": "StartExecution", "stateMachine": sm, "name": name, "input": inp}
    if request_id:
        m["requestId"] = request_id
    return "%s|%s" % (name, json.dumps(m))


def common_args(parser):
    parser.add_argument("--mock", required=True, help="imgflow-mock-kafka (for STACK_KAFKA=mock)")
    parser.add_argument("--coordinator", required=True)
    parser.add_argument("--worker", required=True)
    parser.add_argument("--tool", required=True)
    parser.add_argument("--srcdir", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")


def run_in_tmp(args, prefix, run):
    """The harnesses' main: 77 (skipped) without redis-server, kcat or a
    Kafka to run on; else run(args, tmp) in a new temporary directory,
    removed afterwards unless --keep or CHAOS_KEEP is given."""
    for tool in ("redis-server", "kcat"):
        if not shutil.which(tool):
            print("%s missing: skipped" % tool)
            return 77
    why = kafka_missing()
    if why:
        print("%s (deploy/setup-debian.sh, or STACK_KAFKA=mock): skipped" % why)
        return 77
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        return run(args, tmp)
    finally:
        if args.keep or os.environ.get("CHAOS_KEEP"):
            print("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def is_sanitized(path):
    """True if the binary was built with AddressSanitizer (RSS bounds differ)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        # clang links the runtime in, gcc links libasan.so.
        return b"AddressSanitizer" in data or b"libasan.so" in data or b"__asan_init" in data
    except OSError:
        return False


def die(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)
