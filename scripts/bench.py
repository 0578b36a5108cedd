#!/usr/bin/env python3
"""Portico's benchmarks (SPEC §9), run by `scripts/bench [signin|routing|memory|topologies|failover|all]`.

Speed is reported as ratios against a reference measured in the same run, never asserted.
Everything listens on 127.0.0.1 only: a private redis-server, simulated managers
(`portico simulate-manager`), `portico serve` from a generated config, and nginx. Every process
is started and stopped here (also on Ctrl-C, SIGTERM, or if this script dies), and the whole run
has a deadline. The report goes to stdout and target/bench/report.md (+ report.json).
"""

import argparse
import contextlib
import ctypes
import dataclasses
import datetime
import glob
import http.client
import http.cookies
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
PORTICO = os.path.join(TARGET, "release", "portico")
# The stack's floor (`examples/proxy_floor.rs`): hyper server and client as Portico uses them, and
# nothing else.
FLOOR = os.path.join(TARGET, "release", "examples", "proxy_floor")
OUT = os.path.join(TARGET, "bench")
BASE_PATH = "/api/portal/v1.3"
ROUTED = BASE_PATH + "/discovery/apis"
# A routed call with a body (`scripts/bench instructions`): the fast upstream answers it itself.
UPLOAD = BASE_PATH + "/__bench/upload"
UPLOAD_BYTES = 1024
SLAVE_COUNTS = (1, 5, 10)
LOGIN_DELAY_MS = 100
USER, PASSWORD = "alice", "alice-password"
SIM_COOKIE = "APIMANAGERSESSION"
WRK = ["-t2", "-c32", "-d10s"]
WARMUP_WRK = ["-t2", "-c32", "-d2s"]
DEADLINE_S = 1500  # bounds a whole run: `all` runs seven benchmarks (instructions alone about 5 minutes)


class BenchError(Exception):
    """A setup step failed: reported plainly, then everything is cleaned up."""


# ---------------------------------------------------------------- processes and ports


def _die_with_parent():
    # PR_SET_PDEATHSIG: a child gets SIGTERM if this script is killed before it can clean up.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class Processes:
    """The processes of one run, stopped in reverse order by `stop_all`."""

    def __init__(self, workdir):
        self.workdir, self.running = workdir, []

    def start(self, name, argv, env=None):
        log = open(os.path.join(self.workdir, name + ".log"), "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=self.workdir, preexec_fn=_die_with_parent)
        log.close()
        proc.bench_name = name
        self.running.append(proc)
        return proc

    def stop(self, proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(ValueError):
            self.running.remove(proc)

    def stop_all(self):
        for proc in reversed(list(self.running)):
            self.stop(proc)

    def log_tail(self, name, lines=15):
        with contextlib.suppress(OSError), open(os.path.join(self.workdir, name + ".log"), errors="replace") as f:
            return "".join(f.readlines()[-lines:])
        return ""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_call(port, method, path, body=None, headers=None, timeout=10):
    """One request on a fresh connection: (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, res.headers, res.read()
    finally:
        conn.close()


def wait_ready(procs, proc, port, path, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise BenchError(f"{proc.bench_name} exited ({proc.returncode}):\n{procs.log_tail(proc.bench_name)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if http_call(port, "GET", path, timeout=2)[0] == 200:
                return
        time.sleep(0.1)
    raise BenchError(f"{proc.bench_name} not ready on port {port} after {timeout}s:\n{procs.log_tail(proc.bench_name)}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


# ---------------------------------------------------------------- Redis (a minimal RESP client)


class Redis:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = self.sock.makefile("rb")

    def close(self):
        with contextlib.suppress(OSError):
            self.buf.close()
            self.sock.close()

    def __call__(self, *args):
        self.send(*args)
        return self._read()

    def send(self, *args):
        self.sock.sendall(self.encode(*args))

    @staticmethod
    def encode(*args):
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in map(str, args):
            parts.append(f"${len(arg.encode())}\r\n{arg}\r\n".encode())
        return b"".join(parts)

    def _read(self):
        line = self.buf.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise BenchError(f"redis: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if int(rest) < 0 else self.buf.read(int(rest) + 2)[:-2].decode(errors="replace")
        if kind == b"*":
            return [self._read() for _ in range(int(rest))]
        raise BenchError(f"redis: unexpected reply {line!r}")

    def info(self, section):
        text = self("INFO", section)
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))

    def command_calls(self):
        """Calls per command (INFO commandstats), without our own INFO calls, the PINGs with
        which Portico keeps its connections alive, nor a replica's REPLCONF acknowledgements."""
        calls = {}
        for key, value in self.info("commandstats").items():
            name = key.removeprefix("cmdstat_")
            if name not in NOT_PORTICOS:
                calls[name] = int(re.search(r"calls=(\d+)", value).group(1))
        return calls

    def pipeline(self, commands, batch=1000):
        """The replies to `commands` (tuples of arguments), sent `batch` at a time."""
        replies = []
        for at in range(0, len(commands), batch):
            chunk = commands[at:at + batch]
            self.sock.sendall(b"".join(self.encode(*c) for c in chunk))
            replies += [self._read() for _ in chunk]
        return replies

    def keys(self, pattern):
        cursor, found = "0", []
        while True:
            cursor, batch = self("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            found += batch
            if cursor == "0":
                return found


# Not counted as Portico's commands: our INFO calls, keep-alive PINGs, and REPLCONF (sent only by
# replicas to their master, once a second, never by Portico).
NOT_PORTICOS = ("info", "ping", "replconf")


def command_delta(before, after):
    return {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}


# ---------------------------------------------------------------- Redis topologies: Sentinel and Cluster
#
# Ported from tests/api/support/redis/{sentinel,cluster}.rs: the same processes and settings, the
# same readiness checks. Their processes belong to the run's `Processes`, so they are stopped on
# every way out; each node lives in a folder of its own under the run's temporary folder.

SENTINEL_MASTER_NAME = "portico"
CLUSTER_SLOTS = 16384


def free_ports(n):
    """`n` distinct free ports, all held until every one is chosen."""
    held = []
    try:
        for _ in range(n):
            s = socket.socket()
            held.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def query(port, *args):
    """One command on a fresh connection with short timeouts; None when the node does not answer
    or answers an error (a probe of a dead node must not hang nor fail the run)."""
    try:
        conn = Redis(port, timeout=2)
    except OSError:
        return None
    try:
        return conn(*args)
    except (OSError, BenchError):
        return None
    finally:
        conn.close()


def info_fields(text):
    return dict(line.split(":", 1) for line in (text or "").splitlines() if ":" in line and not line.startswith("#"))


def info_field(port, section, name):
    return info_fields(query(port, "INFO", section)).get(name, "").strip() or None


def answers_as_master(port):
    role = query(port, "ROLE")
    return isinstance(role, list) and bool(role) and role[0] == "master"


def wait_for(timeout, what, probe, interval=0.05):
    """Polls `probe` until it gives a value other than None/False; BenchError after `timeout` with
    `what()`, evaluated only then (so it can describe the state that was not reached)."""
    end = time.monotonic() + timeout
    while True:
        value = probe()
        if value not in (None, False):
            return value
        if time.monotonic() >= end:
            raise BenchError(f"gave up after {timeout} s waiting for {what()}")
        time.sleep(interval)


def summed_command_calls(ports):
    total = {}
    for port in ports:
        conn = Redis(port, timeout=5)
        try:
            for name, calls in conn.command_calls().items():
                total[name] = total.get(name, 0) + calls
        finally:
            conn.close()
    return total


class RedisNode:
    """One redis-server (a data node or a sentinel) of a topology."""

    def __init__(self, procs, name, port, argv):
        self.procs, self.name, self.port = procs, name, port
        self.proc = procs.start(name, argv)
        wait_for(10, lambda: f"{name} answering on port {port}:\n{procs.log_tail(name)}",
                 lambda: self._exited() or query(port, "PING") == "PONG")

    def _exited(self):
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} exited at start-up ({self.proc.returncode}):\n{self.procs.log_tail(self.name)}")
        return False

    @classmethod
    def server(cls, procs, workdir, name, port, extra=()):
        """A data node without persistence; a replica's first sync starts at once (Redis otherwise
        waits 5 s for more replicas to share it)."""
        folder = os.path.join(workdir, name)
        os.makedirs(folder, exist_ok=True)
        return cls(procs, name, port, ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                       "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--dir", folder,
                                       *extra])

    @classmethod
    def sentinel(cls, procs, workdir, name, port, master_port):
        """A sentinel watching `master_port`, its file in a folder of its own (sentinels rewrite it)."""
        folder = os.path.join(workdir, name)
        os.makedirs(folder, exist_ok=True)
        conf = os.path.join(folder, "sentinel.conf")
        with open(conf, "w") as f:
            f.write(f'port {port}\nbind 127.0.0.1\ndir "{folder}"\n'
                    f"sentinel monitor {SENTINEL_MASTER_NAME} 127.0.0.1 {master_port} 2\n"
                    f"sentinel down-after-milliseconds {SENTINEL_MASTER_NAME} 1000\n"
                    f"sentinel failover-timeout {SENTINEL_MASTER_NAME} 3000\n"
                    f"sentinel parallel-syncs {SENTINEL_MASTER_NAME} 1\n")
        return cls(procs, name, port, ["redis-server", conf, "--sentinel"])

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        """SIGKILL, then reaps the process; returns the monotonic time the signal was sent."""
        at = time.monotonic()
        self.proc.kill()
        self.proc.wait()
        self.procs.stop(self.proc)  # only forgets it: it has exited
        return at

    def stop(self):
        self.procs.stop(self.proc)


class SingleTopology:
    """The lab's own redis-server (started and stopped by the lab)."""

    kind = "single"

    def __init__(self, port):
        self.port = port

    def toml(self):
        return ['url = { env = "PORTICO_REDIS_URL" }']

    def masters(self):
        return [self.port]

    def stop(self):
        pass


class SentinelTopology:
    """One master, one replica and three sentinels (down-after 1000 ms, failover-timeout 3000 ms);
    ready once the replica is in sync and every sentinel knows it and the two other sentinels."""

    kind = "sentinel"

    def __init__(self, lab, name="sentinel"):
        self.sentinels, self.data, self.killed = [], [], None
        ports = free_ports(5)
        master, replica = ports[0], ports[1]
        try:
            self.data.append(RedisNode.server(lab.procs, lab.workdir, f"{name}-master-{master}", master))
            self.data.append(RedisNode.server(lab.procs, lab.workdir, f"{name}-replica-{replica}", replica,
                                              ["--replicaof", "127.0.0.1", str(master)]))
            wait_for(10, lambda: f"replica {replica} in sync with master {master}",
                     lambda: info_field(master, "replication", "connected_slaves") == "1"
                     and info_field(replica, "replication", "master_link_status") == "up")
            # Started once the replica is in sync, so each sentinel's first INFO of the master lists it.
            for port in ports[2:]:
                self.sentinels.append(RedisNode.sentinel(lab.procs, lab.workdir, f"{name}-sentinel-{port}", port, master))
            wait_for(20, lambda: f"every sentinel to know the replica and the two other sentinels:\n{self.describe()}",
                     lambda: self.settled(master, replica))
        except BaseException:
            self.stop()
            raise

    def toml(self):
        nodes = ", ".join(f'"redis://127.0.0.1:{s.port}"' for s in self.sentinels)
        return [f'sentinel = {{ master_name = "{SENTINEL_MASTER_NAME}", nodes = [{nodes}] }}']

    def master_port(self):
        """The master as the sentinels report it; when they disagree for a moment after a failover,
        the reported node that answers as master wins, then the one most sentinels report."""
        votes = {}
        for s in self.sentinels:
            if (port := reported_master(s.port)) is not None:
                votes[port] = votes.get(port, 0) + 1
        if not votes:
            raise BenchError(f"no sentinel reports a master:\n{self.describe()}")
        return max(votes, key=lambda port: (answers_as_master(port), votes[port]))

    def masters(self):
        """Where Portico's commands land: the master."""
        return [self.master_port()]

    def replicas_of(self, master):
        return [n.port for n in self.data if n.alive() and n.port != master]

    def kill_master(self, _key=None):
        """SIGKILLs the current master: (its port, the monotonic time of the kill)."""
        port = self.master_port()
        node = next((n for n in self.data if n.alive() and n.port == port), None)
        if node is None:
            raise BenchError(f"the master {port} is none of the group's live nodes")
        self.killed = port
        return port, node.kill()

    def failed_over(self):
        """The successor's port once a sentinel reports a master other than the one killed and
        that node answers as master; else None."""
        for s in self.sentinels:
            port = reported_master(s.port)
            if port is not None and port != self.killed and answers_as_master(port):
                return port
        return None

    def settled(self, master, replica):
        for s in self.sentinels:
            replicas = sentinel_entries(s.port, "replicas")
            others = sentinel_entries(s.port, "sentinels")
            replica_known = (replicas is not None and len(replicas) == 1
                             and replicas[0].get("port") == str(replica)
                             and replicas[0].get("master-link-status") == "ok" and entry_up(replicas[0]))
            others_known = others is not None and len(others) == 2 and all(map(entry_up, others))
            if not (reported_master(s.port) == master and replica_known and others_known):
                return False
        return True

    def describe(self):
        lines = [f"  data {n.port}: alive {n.alive()}, role {info_field(n.port, 'replication', 'role')}"
                 for n in self.data]
        for s in self.sentinels:
            flags = lambda what: [e.get("flags") for e in sentinel_entries(s.port, what) or []]
            lines.append(f"  sentinel {s.port}: master {reported_master(s.port)}, replicas {flags('replicas')}, "
                         f"sentinels {flags('sentinels')}")
        return "\n".join(lines)

    def stop(self):
        # Sentinels first: no failover starts while the group is torn down.
        for node in self.sentinels + self.data:
            node.stop()


def reported_master(sentinel_port):
    addr = query(sentinel_port, "SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER_NAME)
    with contextlib.suppress(TypeError, IndexError, ValueError):
        return int(addr[1])
    return None


def sentinel_entries(sentinel_port, what):
    """`SENTINEL replicas|sentinels portico`, each entry as field → value."""
    raw = query(sentinel_port, "SENTINEL", what, SENTINEL_MASTER_NAME)
    if not isinstance(raw, list):
        return None
    return [dict(zip(flat[::2], flat[1::2])) for flat in raw if isinstance(flat, list)]


def entry_up(entry):
    return not set((entry.get("flags") or "").split(",")) & {"s_down", "o_down", "disconnected"}


class ClusterTopology:
    """Six nodes in cluster mode (three masters, each with a replica; node timeout 1000 ms, explicit
    bus ports), created with `redis-cli --cluster create`; ready once every node reports
    `cluster_state:ok`, every slot is on a live master and every master has a replica in sync."""

    kind = "cluster"

    def __init__(self, lab, name="cluster"):
        self.nodes, self.killed = [], None
        ports = free_ports(12)
        try:
            # An explicit bus port: the default (port + 10000) may be taken, or past 65535.
            for port, bus in zip(ports[::2], ports[1::2]):
                self.nodes.append(RedisNode.server(
                    lab.procs, lab.workdir, f"{name}-{port}", port,
                    ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", "1000", "--cluster-port", str(bus)]))
            self.create(lab)
            wait_for(20, lambda: f"every node ok and every master with a replica in sync:\n{self.describe()}",
                     lambda: self.serving() and self.replicated())
        except BaseException:
            self.stop()
            raise

    def create(self, lab):
        argv = ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
                "--cluster-replicas", "1", "--cluster-yes"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                                  cwd=lab.workdir, preexec_fn=_die_with_parent)
        except subprocess.TimeoutExpired as e:
            raise BenchError(f"redis-cli --cluster create did not finish in 30 s:\n{e.stdout or ''}") from None
        if done.returncode != 0:
            raise BenchError(f"redis-cli --cluster create failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def toml(self):
        nodes = ", ".join(f'"redis://127.0.0.1:{n.port}"' for n in self.nodes)
        return [f"cluster = {{ nodes = [{nodes}] }}"]

    def live(self):
        return [n.port for n in self.nodes if n.alive()]

    def masters(self):
        """Where Portico's commands land: the live nodes that answer as master."""
        return [port for port in self.live() if answers_as_master(port)]

    def slot_owner(self, slot):
        """The master that owns `slot` in a live node's view, or None."""
        for port in self.live():
            owner = next((n for n in cluster_view(port) or [] if n["master"] and n["owns"](slot)), None)
            if owner:
                return owner["port"]
        return None

    def keyslot(self, key):
        slot = next((s for s in (query(p, "CLUSTER", "KEYSLOT", key) for p in self.live()) if isinstance(s, int)), None)
        if slot is None:
            raise BenchError(f"no node answers CLUSTER KEYSLOT:\n{self.describe()}")
        return slot

    def replicas_of(self, master):
        view = next((v for v in map(cluster_view, self.live()) if v), [])
        ids = {n["id"] for n in view if n["port"] == master}
        return [n["port"] for n in view if n["master_id"] in ids and not n["failing"] and n["port"] in self.live()]

    def kill_master(self, key):
        """SIGKILLs the master that owns `key`'s slot: (its port, the monotonic time of the kill)."""
        self.killed_slot = self.keyslot(key)
        owner = self.slot_owner(self.killed_slot)
        node = next((n for n in self.nodes if n.alive() and n.port == owner), None)
        if node is None:
            raise BenchError(f"no live master owns the slot of {key}:\n{self.describe()}")
        self.killed = owner
        return owner, node.kill()

    def failed_over(self):
        """The new owner of the killed master's slot once every live node is ok and sees every
        slot on a live master; else None."""
        return self.slot_owner(self.killed_slot) if self.serving() else None

    def serving(self):
        """Every live node says `cluster_state:ok` and, in its own view, every slot belongs to a
        live master that is not failing; those masters answer as such."""
        live, owners = self.live(), set()
        for port in live:
            if info_fields(query(port, "CLUSTER", "INFO")).get("cluster_state", "").strip() != "ok":
                return False
            view = cluster_view(port)
            if view is None:
                return False
            serving = [n for n in view if n["slots"]]
            if sum(n["slot_count"] for n in serving) != CLUSTER_SLOTS or not all(
                    n["master"] and not n["failing"] and n["port"] in live for n in serving):
                return False
            owners.update(n["port"] for n in serving)
        return all(map(answers_as_master, owners))

    def replicated(self):
        """Every master has a replica whose link to it is up."""
        view = cluster_view(self.live()[0]) if self.live() else None
        if not view:
            return False
        return all(any(r["master_id"] == m["id"] and not r["failing"]
                       and info_field(r["port"], "replication", "master_link_status") == "up" for r in view)
                   for m in view if m["master"] and m["slots"])

    def describe(self):
        lines = [f"  node {n.port}: alive {n.alive()}, cluster_state "
                 f"{info_fields(query(n.port, 'CLUSTER', 'INFO')).get('cluster_state')}" for n in self.nodes]
        if self.live():
            lines.append(f"  CLUSTER NODES on {self.live()[0]}:\n{query(self.live()[0], 'CLUSTER', 'NODES')}")
        return "\n".join(lines)

    def stop(self):
        for node in self.nodes:
            node.stop()


def cluster_view(port):
    """A node's `CLUSTER NODES`, one dict per line:
    `<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot>…`."""
    text = query(port, "CLUSTER", "NODES")
    if not isinstance(text, str):
        return None
    view = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        flags = parts[2].split(",")
        slots = []
        for s in parts[8:]:
            if s.startswith("["):  # slots being migrated
                continue
            a, _, b = s.partition("-")
            slots.append((int(a), int(b or a)))
        view.append({"id": parts[0], "port": int(re.split(r"[@,]", parts[1])[0].rsplit(":", 1)[1]),
                     "master": "master" in flags, "failing": bool({"fail", "fail?", "noaddr"} & set(flags)),
                     "master_id": None if parts[3] == "-" else parts[3], "slots": slots,
                     "slot_count": sum(b - a + 1 for a, b in slots),
                     "owns": (lambda slots: lambda slot: any(a <= slot <= b for a, b in slots))(slots)})
    return view


class PorticoCommands:
    """Portico's Redis commands over a window, as `with PorticoCommands(topology) as c: …; c.total`:
    INFO commandstats deltas summed over the topology's masters (the nodes Portico's commands land
    on) without NOT_PORTICOS. On Sentinel the three sentinels PUBLISH a hello on the master every
    2 s each: a subscriber counts those messages over the window and they are taken off `publish`."""

    def __init__(self, topology):
        self.topology, self.hello = topology, None

    def __enter__(self):
        self.ports = self.topology.masters()
        if self.topology.kind == "sentinel":
            self.hello = Redis(self.ports[0], timeout=5)
            self.hello("SUBSCRIBE", "__sentinel__:hello")
        self.before = summed_command_calls(self.ports)
        return self

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                self.by_name = command_delta(self.before, summed_command_calls(self.ports))
                if self.hello is not None:
                    hellos = self._hellos()
                    self.by_name["publish"] = self.by_name.get("publish", 0) - hellos
                    self.by_name = {k: v for k, v in self.by_name.items() if v}
                self.total = sum(self.by_name.values())
        finally:
            if self.hello is not None:
                self.hello.close()

    def _hellos(self):
        """The hello messages delivered so far: a PING on the subscribed connection is answered after them."""
        self.hello.send("PING")
        count = 0
        while True:
            message = self.hello._read()
            if message[0] == "pong":
                return count
            count += message[0] == "message"


# ---------------------------------------------------------------- the lab: Redis, managers, Portico


class Lab:
    def __init__(self, procs, workdir):
        self.procs, self.workdir, self.slaves = procs, workdir, []
        self.redis_port = free_port()
        proc = procs.start("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--dir", workdir])
        self.redis = self._connect_redis(proc)
        self.redis_pid = proc.pid
        # Worker threads of Portico and worker processes of the reference nginx (0: each one's
        # default, one per core).
        self.proxy_workers = 0
        # The caller's PORTICO_* overrides and RUST_LOG would change what is measured.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTICO_", "RUST_LOG"))}
        self.env.update(PORTICO_SESSION_SECRET=secrets.token_urlsafe(48),
                        PORTICO_REDIS_URL=f"redis://127.0.0.1:{self.redis_port}")
        self.master_port = self._simulator("master", [])
        self.single = SingleTopology(self.redis_port)

    def _connect_redis(self, proc):
        end = time.monotonic() + 10
        while True:
            try:
                return Redis(self.redis_port)
            except OSError:
                if proc.poll() is not None or time.monotonic() > end:
                    raise BenchError(f"redis-server did not start:\n{self.procs.log_tail('redis')}")
                time.sleep(0.05)

    def _simulator(self, name, extra):
        port = free_port()
        proc = self.procs.start(name, [PORTICO, "simulate-manager", "--listen", f"127.0.0.1:{port}", *extra],
                                self.env)
        wait_ready(self.procs, proc, port, "/__simulator/health")
        return port

    def pid(self, name):
        """The pid of the running process started as `name` (e.g. "master", the master simulator)."""
        return next(p.pid for p in self.procs.running if p.bench_name == name)

    def ensure_slaves(self, count):
        while len(self.slaves) < count:
            master = f"http://127.0.0.1:{self.master_port}"
            self.slaves.append(self._simulator(f"slave-{len(self.slaves) + 1}", ["--master", master]))
        return self.slaves[:count]

    def sim(self, port, method, what, body=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        status, _, data = http_call(port, method, "/__simulator/" + what,
                                    json.dumps(body) if body is not None else None, headers)
        if status >= 300:
            raise BenchError(f"simulator control {method} {what} answered {status}")
        return json.loads(data) if data else None

    def manager_session(self):
        """A session on the master for USER, as Portico would open one (for the nginx reference)."""
        form = urllib.parse.urlencode({"username": USER, "password": PASSWORD})
        status, headers, _ = http_call(self.master_port, "POST", BASE_PATH + "/login", form,
                                       {"Content-Type": "application/x-www-form-urlencoded"})
        cookies = cookies_of(headers)
        if status != 303 or SIM_COOKIE not in cookies:
            raise BenchError(f"direct login on the master simulator answered {status}")
        return cookies[SIM_COOKIE]

    @contextlib.contextmanager
    def portico(self, slave_count, topology=None, name=None, master_url=None, wrap=(), session=()):
        """`portico serve` with the master and the first `slave_count` slaves, on a flushed Redis:
        the lab's own server, or `topology` (then it must also be ready: /readyz). `master_url`
        replaces the master simulator's address in `[master] url` (routing: a front before it);
        `wrap` runs it under another program (instructions: valgrind); `session` adds TOML lines
        to `[session]`."""
        topology = topology or self.single
        for master in topology.masters():
            if query(master, "FLUSHALL") != "OK":
                raise BenchError(f"FLUSHALL on the {topology.kind} master {master} failed")
        name = name or f"portico-{slave_count}"
        port = free_port()
        lines = [
            "[server]", f'listen = "127.0.0.1:{port}"', f'public_url = "http://127.0.0.1:{port}"',
            *([f"workers = {self.proxy_workers}"] if self.proxy_workers else []),
            "[session]", 'secret = { env = "PORTICO_SESSION_SECRET" }', *session,
            "[redis]", *topology.toml(),
            "[database]", f'url = "sqlite://{self.workdir}/{name}.db"',
            "[master]", f'url = "{master_url or f"http://127.0.0.1:{self.master_port}"}"',
            "[log]", 'level = "info"',
        ]
        for i, slave_port in enumerate(self.ensure_slaves(slave_count), 1):
            lines += ["[[slaves]]", f'id = "slave-{i}"', f'name = "Slave {i}"', f'url = "http://127.0.0.1:{slave_port}"']
        config = os.path.join(self.workdir, f"{name}.toml")
        with open(config, "w") as f:
            f.write("\n".join(lines) + "\n")
        proc = self.procs.start(name, [*wrap, PORTICO, "serve", "--config", config], env=self.env)
        try:
            wait_ready(self.procs, proc, port, "/healthz")
            if topology is not self.single:
                wait_ready(self.procs, proc, port, "/readyz")
            yield port, proc.pid
        finally:
            self.procs.stop(proc)


# ---------------------------------------------------------------- clients


def cookies_of(headers):
    jar = {}
    for value in headers.get_all("Set-Cookie") or []:
        parsed = http.cookies.SimpleCookie()
        parsed.load(value)
        jar.update({name: morsel.value for name, morsel in parsed.items()})
    return jar


def sign_in(conn):
    """GET /login (form token + cookie), POST /login → 303; returns the session cookie header."""
    conn.request("GET", "/login")
    res = conn.getresponse()
    page, login_cookies = res.read().decode(), cookies_of(res.headers)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if res.status != 200 or not token or not login_cookies:
        raise BenchError(f"GET /login answered {res.status} without a form token")
    form = urllib.parse.urlencode({"username": USER, "password": PASSWORD, "csrf_token": token.group(1)})
    cookie = "; ".join(f"{k}={v}" for k, v in login_cookies.items())
    conn.request("POST", "/login", body=form,
                 headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    res = conn.getresponse()
    res.read()
    session = {k: v for k, v in cookies_of(res.headers).items() if v and not k.endswith("_login")}
    if res.status != 303 or not session:
        raise BenchError(f"POST /login answered {res.status} (expected 303 and a session cookie)")
    return "; ".join(f"{k}={v}" for k, v in session.items())


def timed_sign_ins(port, count):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        times, cookie = [], None
        for _ in range(count):
            start = time.perf_counter()
            cookie = sign_in(conn)
            times.append((time.perf_counter() - start) * 1000)
        return times, cookie
    finally:
        conn.close()


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk(url, cookie=None, settings=WRK, script=None):
    argv = ["wrk", *settings, "--latency", "--timeout", "5s", url]
    if cookie:
        argv[1:1] = ["-H", f"Cookie: {cookie}"]
    if script:
        argv[1:1] = ["-s", script]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout

    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        return round(float(m.group(1)) * UNITS_MS[m.group(2)], 3) if m else None

    requests = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not requests or not rps:
        raise BenchError(f"could not read wrk's output:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"requests": int(requests.group(1)), "rps": float(rps.group(1)), "p50_ms": latency(50),
            "p99_ms": latency(99), "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": errors.group(1).strip() if errors else None}


def sample_rss(pid, stop, samples):
    while not stop.is_set():
        with contextlib.suppress(OSError, StopIteration):
            samples.append(rss_kib(pid))
        stop.wait(0.1)


def wrk_with_rss(url, cookie, pid):
    stop, samples = threading.Event(), []
    sampler = threading.Thread(target=sample_rss, args=(pid, stop, samples), daemon=True)
    sampler.start()
    try:
        return wrk(url, cookie), max(samples, default=None)
    finally:
        stop.set()
        sampler.join()


# ---------------------------------------------------------------- statistics and tables


def summary(times):
    ordered = sorted(times)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {"n": len(times), "mean_ms": round(statistics.fmean(times), 1),
            "p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1)}


def table(headers, rows):
    fmt = lambda v: "–" if v is None else (f"{v:,.2f}" if isinstance(v, float) else str(v))
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- the three benchmarks


def bench_signin(lab, args):
    rows, results = [], []
    slaves = lab.ensure_slaves(max(SLAVE_COUNTS))
    for port in slaves:
        lab.sim(port, "DELETE", "faults")
        lab.sim(port, "POST", "faults", {"operation": "login", "latency_ms": LOGIN_DELAY_MS})
    try:
        for n in SLAVE_COUNTS:
            with lab.portico(n) as (port, _):
                timed_sign_ins(port, args.warmup)
                for slave in slaves[:n]:
                    lab.sim(slave, "DELETE", "requests")
                before = lab.redis.command_calls()
                times, _ = timed_sign_ins(port, args.signins)
                redis_cmds = sum(command_delta(before, lab.redis.command_calls()).values()) / len(times)
                joined = min(sum(1 for r in lab.sim(s, "GET", "requests")
                                 if r["method"] == "POST" and r["path"].endswith("/login") and r["status"] == 303)
                             for s in slaves[:n])
                if joined < len(times):
                    raise BenchError(f"with {n} slaves only {joined} of {len(times)} sign-ins joined every slave")
                results.append({"slaves": n, **summary(times), "redis_cmds_per_signin": round(redis_cmds, 2)})
    finally:
        for port in slaves:
            lab.sim(port, "DELETE", "faults")
    base = results[0]["mean_ms"]
    for r in results:
        r["overhead_mean_ms"] = round(r["mean_ms"] - LOGIN_DELAY_MS, 1)
        r["ratio_to_1_slave"] = round(r["mean_ms"] / base, 3)
        rows.append([r["slaves"], r["n"], r["mean_ms"], r["p50_ms"], r["p95_ms"], r["overhead_mean_ms"],
                     r["ratio_to_1_slave"], r["redis_cmds_per_signin"]])
    text = (f"Full sign-in (GET /login + POST /login → 303), {args.signins} sequential sign-ins of `{USER}` "
            f"after {args.warmup} warm-up, one keep-alive connection. Each slave's login is delayed "
            f"{LOGIN_DELAY_MS} ms (the reference: a concurrent fan-out costs that once); the master is not.\n\n"
            + table(["slaves", "n", "mean ms", "p50 ms", "p95 ms", f"mean − {LOGIN_DELAY_MS} ms",
                     "mean / 1-slave mean", "Redis cmds / sign-in"], rows))
    return {"login_delay_ms": LOGIN_DELAY_MS, "results": results}, text


ROUTING_CASES = (("fast", "fast (nginx, fixed body)"), ("simulator", "simulated master"))
# The revocation window of the fast upstream's second Portico (`session.revocation_window`): none,
# so that every request asks Redis (the default window spares a busy session those questions).
ROUTING_ASKING = "0s"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ENDLESS_KEEPALIVE = 1_000_000  # no connection closed after N requests (nginx closes after 1,000 by default)


def bench_routing(lab, args):
    try:
        return routing(lab, args)
    finally:  # the nginx instances serve this benchmark only
        for proc in [p for p in lab.procs.running if p.bench_name in ("nginx", "nginx-upstream")]:
            lab.procs.stop(proc)


def routing(lab, args):
    """Routed calls through Portico and through nginx `proxy_pass`, against two upstreams: the
    fast one (a second nginx answering the routed path with a fixed body, the rest proxied to the
    simulated master, so that sign-in still goes to the simulator) and the simulated master itself.
    Paired rounds, interleaved; the ratios are of the medians."""
    sim_session = lab.manager_session()
    sim_cookie = f"{SIM_COOKIE}={sim_session}"
    status, _, body = http_call(lab.master_port, "GET", ROUTED, headers={"Cookie": sim_cookie})
    if status != 200:
        raise BenchError(f"GET {ROUTED} on the master simulator answered {status}")
    front_port, front_workers = start_front(lab, body)
    nginx_ports, nginx_workers = start_nginx(lab, sim_session, {"fast": front_port, "simulator": lab.master_port})
    upstreams = {"fast": (f"http://127.0.0.1:{front_port}", front_port, None, front_workers),
                 "simulator": (f"http://127.0.0.1:{lab.master_port}", lab.master_port, sim_cookie, [lab.pid("master")])}
    for case, (_, port, cookie, _) in upstreams.items():
        direct = http_call(port, "GET", ROUTED, headers={"Cookie": cookie} if cookie else {})
        via_nginx = http_call(nginx_ports[case], "GET", ROUTED)
        if direct[0] != 200 or direct[2] != body or via_nginx[2] != body:
            raise BenchError(f"reference check failed ({case} upstream): direct {direct[0]}, via nginx {via_nginx[0]}, "
                             f"same body as the simulator's: {direct[2] == body} / {via_nginx[2] == body}")
    settings = ["-t2", "-c32", f"-d{args.routing_seconds}s"]
    load_start = loadavg()
    result = {"path": ROUTED, "wrk": " ".join(settings), "warmup": " ".join(WARMUP_WRK),
              "rounds": args.routing_rounds, "sessions": args.routing_sessions, "body_bytes": len(body), "cases": {}}
    rows, ratio_rows = [], []
    for case, title in ROUTING_CASES:
        print(f"   {case} upstream …", file=sys.stderr, flush=True)
        master_url, port, cookie, pids = upstreams[case]
        data = routing_case(lab, args, case, master_url, body, (nginx_ports[case], nginx_workers),
                            (port, cookie, pids), settings, sim_session)
        result["cases"][case] = data
        for key, name in (("portico", "Portico"), ("portico_asking", f"Portico, revocation window {ROUTING_ASKING}"),
                          ("floor", "hyper floor"), ("nginx", "nginx proxy_pass"), ("direct", "direct (context)")):
            if key not in data:
                continue
            r = data[key]
            if not isinstance(r, dict):
                rows.append([title, name, None, None, None, None, None, None, None, None, r])
                continue
            shares = [s for s in r["busiest_worker_rounds"] if s is not None]
            notes = (f"{r['non_2xx']} non-2xx, {r['cpu_kernel_share']:.0%} of the CPU in the kernel"
                     + (f", busiest worker {' / '.join(f'{s:.0%}' for s in shares)} of the workers' CPU"
                        if shares and key != "direct" else "")
                     + (f", socket errors {r['socket_errors']}" if r["socket_errors"] else ""))
            rows.append([title, name, f"{r['rps']:,.0f}", " / ".join(f"{x:,.0f}" for x in r["rps_rounds"]), r["p50_ms"],
                         r["p99_ms"], r["cpu_us_per_request"], " / ".join(f"{x:.1f}" for x in r["cpu_rounds"]),
                         r["redis_cmds_per_request"], r["redis_cpu_us_per_request"], notes])
        if "throughput_ratio" in data:
            ratio_rows.append([title, f"{data['throughput_ratio']:.2f}", f"{data['cpu_ratio']:.2f}",
                               f"{data['p99_diff_ms']:+.2f}"])
        else:
            ratio_rows.append([title, None, None, None])
        if "asking_throughput_ratio" in data:
            ratio_rows.append([f"{title}, revocation window {ROUTING_ASKING}", f"{data['asking_throughput_ratio']:.2f}",
                               f"{data['asking_cpu_ratio']:.2f}", f"{data['asking_p99_diff_ms']:+.2f}"])
    fast = result["cases"]["fast"]
    if "throughput_ratio" in fast:
        result["throughput_ratio"], result["cpu_ratio"] = fast["throughput_ratio"], fast["cpu_ratio"]
        verdict = (f"**Fast upstream: Portico / nginx throughput {fast['throughput_ratio']:.2f}, CPU per request "
                   f"{fast['cpu_ratio']:.2f}, p99 {fast['p99_diff_ms']:+.2f} ms** (goal: throughput ≥ 1.0 with p99 "
                   f"≤ nginx's + 0.5 ms; 0.9 at the least)."
                   + (f" The hyper floor / nginx: throughput {fast['floor_throughput_ratio']:.2f}, CPU per request "
                      f"{fast['floor_cpu_ratio']:.2f} — the most a proxy on this stack reaches."
                      if "floor_throughput_ratio" in fast else "")
                   + (f" Portico's CPU per request is {fast['over_floor_cpu_ratio']:.2f}× the floor's."
                      if "over_floor_cpu_ratio" in fast else "")
                   + (f" With `session.revocation_window = \"{ROUTING_ASKING}\"` (every request asks Redis, and "
                      f"endings do not wait): throughput "
                      f"{fast['asking_throughput_ratio']:.2f}, CPU per request {fast['asking_cpu_ratio']:.2f}, p99 "
                      f"{fast['asking_p99_diff_ms']:+.2f} ms."
                      if "asking_throughput_ratio" in fast else "")
                   + (f" CPU per request with Redis's: Portico {with_redis(fast['portico']):.1f} µs, asking at every "
                      f"request {with_redis(fast['portico_asking']):.1f} µs, nginx {with_redis(fast['nginx']):.1f} µs."
                      if all(isinstance(fast.get(k), dict) for k in ("portico", "portico_asking", "nginx")) else ""))
    else:
        verdict = f"**Portico: {fast['portico']}** — only the nginx reference was measured."
    rounds = args.routing_rounds
    text = (f"`GET {ROUTED}` as `{USER}`, `wrk {' '.join(settings)}` per proxy and round after a "
            f"`{' '.join(WARMUP_WRK)}` warm-up, {rounds} paired rounds with the order alternating "
            f"(Portico then nginx, nginx then Portico, …): through Portico (session cookie) and through nginx "
            f"`proxy_pass` that adds the manager session cookie itself (upstream keep-alive). Two upstreams, "
            f"each with its own Portico (`[master] url`) and nginx server: the *fast* one is a second nginx "
            f"that answers the routed GET with the simulator's body ({len(body):,} bytes) from a `return 200` "
            f"and proxies everything else (sign-in, /currentuser, …) to the simulated master, so that the "
            f"proxy and not the upstream is the bottleneck; the *simulated master* is the manager simulator "
            f"itself. On the fast upstream two more proxies take their turn in each round: a second Portico "
            f"with `session.revocation_window = \"{ROUTING_ASKING}\"` (every request asks Redis whether the session is "
            f"still what the copy holds; the default window serves a copy Redis confirmed less than 100 ms ago and "
            f"makes endings and rewrites wait that long instead), and the *hyper floor* "
            f"(`examples/proxy_floor.rs`, as many workers as Portico), hyper's server and client as Portico's "
            f"listener uses them and nothing else, so its row is the most any proxy on this stack can reach. "
            f"The direct row is one run straight to the upstream (context: what it serves alone). "
            f"req/s, p50 and p99 are medians of the rounds (each round's req/s in \"rounds\"); CPU is user+sys "
            f"from `/proc/PID/stat` over each measured run ÷ its requests, the median of the rounds (Portico: "
            f"its process; nginx: the sum of its workers; direct: the upstream's, the front nginx's workers or "
            f"the simulator). Redis commands are `INFO commandstats` totals over the runs ÷ requests; Redis CPU "
            f"is the `redis-server` process's user+sys over each run ÷ its requests (the median of the rounds): "
            f"what the session questions cost on the same cores, beyond the proxy's own process. In the "
            f"notes, each round's busiest worker's share of the workers' CPU (Portico's serving threads, "
            f"nginx's worker processes): Portico gives each new connection to the thread with the fewest, nginx "
            f"and the floor keep those each worker accepts first, and a round whose connections all fell on one "
            f"worker (near 100%) costs less CPU per call than one that spread them, whose workers each wait for "
            f"work more often. The "
            f"ratios are of the medians. "
            + (f"Each proxy runs {lab.proxy_workers} worker(s) (`--proxy-workers`). " if lab.proxy_workers else "")
            + (f"Portico's calls take turns with {args.routing_sessions} signed-in sessions of `{USER}` "
               f"(`--routing-sessions`): each call the next one's cookie, as from as many API clients. "
               if args.routing_sessions > 1 else "")
            + f"Load average {load_start} at the start of this benchmark, "
            f"{loadavg()} at its end.\n\n"
            + table(["upstream", "through", "req/s", "rounds", "p50 ms", "p99 ms", "CPU µs / req",
                     "CPU µs / req, rounds", "Redis cmds / req", "Redis CPU µs / req", "notes"], rows)
            + "\n\n"
            + table(["upstream", "Portico / nginx req/s", "Portico / nginx CPU µs / req", "p99 Portico − nginx ms"],
                    ratio_rows)
            + "\n\n" + verdict)
    result["loadavg"] = [load_start, loadavg()]
    return result, text


def with_redis(row):
    """A routing row's CPU µs per request, its own and the Redis server's."""
    return row["cpu_us_per_request"] + row["redis_cpu_us_per_request"]


def routing_case(lab, args, case, master_url, body, nginx, upstream, settings, sim_session):
    """One upstream: Portico pointed at it and the nginx reference in paired, interleaved rounds
    (on the fast upstream a Portico that asks Redis at every request and the hyper floor too), then one run
    straight to the upstream."""
    nginx_port, nginx_pids = nginx
    upstream_port, upstream_cookie, upstream_pids = upstream
    data = {}
    floor = start_floor(lab, upstream_port, sim_session) if case == "fast" else None
    try:
        with contextlib.ExitStack() as running:
            # (Both started before either signs in: each start flushes Redis.)
            porticos = [("portico", *running.enter_context(lab.portico(1, master_url=master_url, name=f"portico-{case}")))]
            if case == "fast":
                asking = lab.portico(1, master_url=master_url, name=f"portico-{case}-asking",
                                     session=[f'revocation_window = "{ROUTING_ASKING}"'])
                porticos.append(("portico_asking", *running.enter_context(asking)))
            proxies = [Proxy("nginx", nginx_port, None, None, nginx_pids)]
            if floor is not None:
                floor.check(body)
                proxies.append(floor.proxy)
            for at, (key, port, pid) in enumerate(porticos):
                portico, refusal = checked_portico(lab, args, case, body, key, port, pid)
                if portico is None:
                    data[key] = refusal
                else:
                    proxies.insert(at, portico)
            runs = routing_rounds(lab, proxies, args.routing_rounds, settings)
    finally:
        if floor is not None:
            lab.procs.stop(floor.proc)
    direct_url = f"http://127.0.0.1:{upstream_port}{ROUTED}"
    wrk(direct_url, upstream_cookie, ["-t2", "-c32", "-d1s"])
    runs["direct"] = [measured_wrk(lab, direct_url, upstream_cookie, upstream_pids, settings)]
    lab.sim(lab.master_port, "DELETE", "requests")
    for key, rounds in runs.items():
        data[key] = combined(rounds)
    n = data["nginx"]
    for key, prefix in (("portico", ""), ("portico_asking", "asking_")):
        if isinstance(data.get(key), dict):
            p = data[key]
            data[f"{prefix}throughput_ratio"] = round(p["rps"] / n["rps"], 3)
            data[f"{prefix}cpu_ratio"] = round(p["cpu_us_per_request"] / n["cpu_us_per_request"], 3)
            data[f"{prefix}p99_diff_ms"] = round(p["p99_ms"] - n["p99_ms"], 3)
    if "floor" in data:
        f = data["floor"]
        data["floor_throughput_ratio"] = round(f["rps"] / n["rps"], 3)
        data["floor_cpu_ratio"] = round(f["cpu_us_per_request"] / n["cpu_us_per_request"], 3)
        if isinstance(data.get("portico"), dict):
            # Portico's CPU per call over the stack's own: a ratio that compares across machines
            # (nginx's kernel share varies with the machine more than hyper's).
            data["over_floor_cpu_ratio"] = round(data["portico"]["cpu_us_per_request"] / f["cpu_us_per_request"], 3)
    return data


@dataclasses.dataclass
class Floor:
    """The hyper floor running: its process and port."""
    proc: subprocess.Popen
    port: int

    @property
    def proxy(self):
        """The floor as one of the routing rounds' proxies."""
        return Proxy("floor", self.port, None, None, [self.proc.pid])

    def check(self, body):
        """The floor answers the routed call with the upstream's body, as the other proxies do."""
        status, _, answer = http_call(self.port, "GET", ROUTED)
        if status != 200 or answer != body:
            raise BenchError(f"reference check failed (hyper floor): {status}, same body: {answer == body}")


def start_floor(lab, upstream_port, sim_session):
    """The hyper floor in front of `upstream_port`, with as many workers as Portico runs."""
    port = free_port()
    # (The CPUs this process may run on, as Portico's default counts them: not os.cpu_count().)
    workers = lab.proxy_workers or len(os.sched_getaffinity(0)) or 2
    proc = lab.procs.start("floor", [FLOOR, str(port), str(upstream_port), f"{SIM_COOKIE}={sim_session}",
                                     str(workers)])
    wait_ready(lab.procs, proc, port, "/nginx-health")
    return Floor(proc, port)


@dataclasses.dataclass
class Proxy:
    """One proxy measured in the routing rounds: the key of its row, its port, the cookie its calls
    carry (or the wrk `script` that gives each call its own), and the processes whose CPU it costs."""
    key: str
    port: int
    cookie: str | None
    script: str | None
    pids: list[int]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}{ROUTED}"


def checked_portico(lab, args, case, body, key, port, pid):
    """Portico for the routing rounds (its row: `key`), once its routed call answered with the
    upstream's body from the upstream of `case`: (Proxy, None), or (None, why it is not measured)."""
    cookies = [timed_sign_ins(port, 1)[1] for _ in range(args.routing_sessions)]
    cookie = cookies[0]
    # (More than one session: Portico's wrk sends each call with the next one's cookie.)
    script = sessions_script(lab, f"{key}-{case}", cookies) if len(cookies) > 1 else None
    lab.sim(lab.master_port, "DELETE", "requests")
    status, _, answer = http_call(port, "GET", ROUTED, headers={"Cookie": cookie})
    # The routed call must reach the upstream of this case: the simulator sees it only in its own.
    at_simulator = any(r["method"] == "GET" and r["path"].endswith(ROUTED.removeprefix(BASE_PATH))
                       for r in lab.sim(lab.master_port, "GET", "requests"))
    if status == 200 and at_simulator != (case == "simulator"):
        raise BenchError(f"{case} upstream: Portico's routed call {'reached' if at_simulator else 'missed'} the simulator")
    if status == 200 and same_json(answer, body):
        return Proxy(key, port, None if script else cookie, script, [pid]), None
    if status == 404:
        return None, "routing endpoint not available (404)"
    return None, f"routing answered {status}, not the manager's answer: not measured"


def routing_rounds(lab, proxies, rounds, settings):
    """`rounds` paired rounds of the routed call through each of `proxies`, the order alternating,
    after a warm-up of each: {key: [run, …]}."""
    for proxy in proxies:
        wrk(proxy.url, proxy.cookie, WARMUP_WRK, proxy.script)
    runs = {proxy.key: [] for proxy in proxies}
    for i in range(rounds):
        for proxy in (proxies if i % 2 == 0 else proxies[::-1]):
            runs[proxy.key].append(measured_wrk(lab, proxy.url, proxy.cookie, proxy.pids, settings, proxy.script))
    return runs


def sessions_script(lab, name, cookies):
    """A wrk script that sends each call with the next of `cookies` (in turn, per wrk thread): calls
    of different sessions, as from many API clients, instead of one client's many connections."""
    path = os.path.join(lab.workdir, f"sessions-{name}.lua")
    listed = ", ".join(f'"{cookie}"' for cookie in cookies)
    with open(path, "w") as f:
        f.write(f"local cookies = {{{listed}}}\nlocal turn = 0\n"
                "function request()\n  turn = turn % #cookies + 1\n"
                "  return wrk.format(nil, nil, {Cookie = cookies[turn]})\nend\n")
    return path


def measured_wrk(lab, url, cookie, pids, settings, script=None):
    """One wrk run with the CPU time (user+sys) of `pids`, and Portico's Redis commands and the
    Redis server's CPU time over it."""
    lab.sim(lab.master_port, "DELETE", "requests")  # the simulator's request log grows per call
    before = lab.redis.command_calls()
    workers = worker_ticks(pids)
    user, system = cpu_ticks(pids)
    redis_ticks = sum(cpu_ticks([lab.redis_pid]))
    run = wrk(url, cookie, settings, script)
    redis_ticks = sum(cpu_ticks([lab.redis_pid])) - redis_ticks
    user_after, system_after = cpu_ticks(pids)
    worked = [ticks - workers.get(worker, 0) for worker, ticks in worker_ticks(pids).items()]
    user, system = user_after - user, system_after - system
    cpu_s = (user + system) / CLOCK_TICKS
    delta = command_delta(before, lab.redis.command_calls())
    run["cpu_s"] = round(cpu_s, 2)
    run["cpu_us_per_request"] = round(cpu_s * 1e6 / max(run["requests"], 1), 2)
    run["cpu_kernel_share"] = round(system / max(user + system, 1), 3)
    run["redis_cmds"] = sum(delta.values())
    run["redis_cpu_us_per_request"] = round(redis_ticks / CLOCK_TICKS * 1e6 / max(run["requests"], 1), 2)
    # How the connections fell on the workers (each takes the ones it accepts first): all on one
    # busy worker, or spread over several that each wait more often.
    run["busiest_worker_share"] = round(max(worked) / sum(worked), 2) if sum(worked) > 0 else None
    return run


def combined(rounds):
    """The rounds of one proxy: medians of req/s, p50, p99 and CPU µs/request, every round kept."""
    med = lambda key: round(statistics.median(r[key] for r in rounds), 3)
    requests = sum(r["requests"] for r in rounds)
    return {"rps": round(statistics.median(r["rps"] for r in rounds), 2), "rps_rounds": [r["rps"] for r in rounds],
            "p50_ms": med("p50_ms"), "p99_ms": med("p99_ms"), "p99_worst_ms": max(r["p99_ms"] for r in rounds),
            "cpu_us_per_request": med("cpu_us_per_request"), "cpu_rounds": [r["cpu_us_per_request"] for r in rounds],
            "cpu_kernel_share": med("cpu_kernel_share"),
            "busiest_worker_rounds": [r["busiest_worker_share"] for r in rounds],
            "requests": requests, "non_2xx": sum(r["non_2xx"] for r in rounds),
            "socket_errors": "; ".join(r["socket_errors"] for r in rounds if r["socket_errors"]) or None,
            "redis_cmds_per_request": round(sum(r["redis_cmds"] for r in rounds) / max(requests, 1), 3),
            "redis_cpu_us_per_request": med("redis_cpu_us_per_request")}


def cpu_ticks(pids):
    """utime and stime (clock ticks) of `pids`, each summed: fields 14 and 15 of /proc/PID/stat,
    which for a process cover all its threads."""
    user = system = 0
    for pid in pids:
        pid_user, pid_system = stat_ticks(f"/proc/{pid}/stat")
        user, system = user + pid_user, system + pid_system
    return user, system


def stat_ticks(path):
    """utime and stime (clock ticks) of a `/proc/…/stat` file (a process's or a thread's)."""
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def worker_ticks(pids):
    """CPU ticks (user+sys) of each worker: the serving threads of Portico or the hyper floor
    (`portico-worker-N`, `floor-worker-N`, of its one process) or each of `pids` (nginx's worker
    processes, the simulator)."""
    ticks = {}
    if len(pids) == 1:
        for tid in os.listdir(f"/proc/{pids[0]}/task"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{pids[0]}/task/{tid}/comm") as f:
                    if not f.read().startswith(("portico-worker", "floor-worker")):
                        continue
                ticks[tid] = sum(stat_ticks(f"/proc/{pids[0]}/task/{tid}/stat"))
    return ticks or {pid: sum(cpu_ticks([pid])) for pid in pids}


def child_pids(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry))
    return kids


def same_json(a, b):
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return False


def nginx_string(text):
    """`text` as a single-quoted nginx string: `\\` and `'` escaped, and `$` (which nginx would
    read as a variable) written as `${dollar}`, a variable holding "$" (see `start_front`)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("$", "${dollar}") + "'"


def start_nginx_process(lab, name, http_conf, health_port, workers="auto", wrap=()):
    """An nginx of its own (master and workers) in the foreground: the master is ours to stop and
    its workers are the processes whose CPU is counted. Returns the worker pids. With `wrap`
    (instructions: valgrind), one process without a master, run under that program."""
    conf_dir = os.path.join(lab.workdir, name)
    os.makedirs(os.path.join(conf_dir, "tmp"), exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""  # the workers read this private folder
    conf = f"""{user}
daemon off;
{"master_process off;" if wrap else ""}
worker_processes {1 if wrap else workers};
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  client_body_temp_path {conf_dir}/tmp/body; proxy_temp_path {conf_dir}/tmp/proxy;
  fastcgi_temp_path {conf_dir}/tmp/fastcgi; uwsgi_temp_path {conf_dir}/tmp/uwsgi; scgi_temp_path {conf_dir}/tmp/scgi;
  keepalive_requests {ENDLESS_KEEPALIVE};
{http_conf}
}}
"""
    path = os.path.join(conf_dir, "nginx.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(conf)
    proc = lab.procs.start(name, [*wrap, "nginx", "-p", conf_dir, "-c", path, "-e", f"{conf_dir}/error.log"])
    wait_ready(lab.procs, proc, health_port, "/nginx-health")
    if wrap:
        return [proc.pid]
    workers = wait_for(5, lambda: f"{name}'s worker processes", lambda: child_pids(proc.pid))
    return workers


def start_front(lab, body):
    """The fast upstream: an nginx that answers `GET ROUTED` with `body` itself and proxies
    everything else (the sign-in's calls, other methods on that path) to the master simulator.
    No access log: it stands for an upstream that costs as little as possible."""
    port = free_port()
    proxy = (f"proxy_pass http://manager; proxy_http_version 1.1; proxy_set_header Connection \"\"; "
             f"proxy_set_header Host $http_host;")
    conf = f"""  access_log off;
  geo $dollar {{ default "$"; }}
  upstream manager {{ server 127.0.0.1:{lab.master_port}; keepalive 32; keepalive_requests {ENDLESS_KEEPALIVE}; }}
  server {{
    listen 127.0.0.1:{port};
    location = /nginx-health {{ return 200 "ok"; }}
    location = {UPLOAD} {{ default_type application/json; return 200 "{{}}"; }}
    location = {ROUTED} {{
      error_page 418 = @manager;
      if ($request_method != GET) {{ return 418; }}
      default_type application/json;
      return 200 {nginx_string(body.decode())};
    }}
    location / {{ {proxy} }}
    location @manager {{ {proxy} }}
  }}"""
    return port, start_nginx_process(lab, "nginx-upstream", conf, port)


def start_nginx(lab, sim_session, upstreams, wrap=(), name="nginx"):
    """The reference: nginx `proxy_pass` with upstream keep-alive, adding the manager session
    cookie itself, one server (port) per upstream in one nginx. Returns ({case: port}, workers)."""
    conf_dir = os.path.join(lab.workdir, name)
    ports = {case: free_port() for case in upstreams}
    conf = [f"  access_log {conf_dir}/access.log;"]
    for case, upstream_port in upstreams.items():
        conf.append(f"""  upstream {case} {{ server 127.0.0.1:{upstream_port}; keepalive 32; keepalive_requests {ENDLESS_KEEPALIVE}; }}
  server {{
    listen 127.0.0.1:{ports[case]};
    location /nginx-health {{ return 200 "ok"; }}
    location {BASE_PATH}/ {{
      proxy_pass http://{case};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Cookie "{SIM_COOKIE}={sim_session}";
    }}
  }}""")
    first = next(iter(ports.values()))
    return ports, start_nginx_process(lab, name, "\n".join(conf), first, lab.proxy_workers or "auto", wrap)


def bench_instructions(lab, args):
    """Instructions per routed call in Portico's process and in nginx `proxy_pass`'s, one worker
    each, fast upstream, counted by callgrind over a wrk run: the user-space work per call, which
    a shared machine does not disturb the way it disturbs CPU time. Two calls: the routed GET, and
    a PUT with a 1 KiB body (the request body's way to the manager)."""
    sim_session = lab.manager_session()
    _, _, body = http_call(lab.master_port, "GET", ROUTED, headers={"Cookie": f"{SIM_COOKIE}={sim_session}"})
    front_port, _ = start_front(lab, body)
    settings = ["-t1", "-c32", f"-d{args.instruction_seconds}s"]
    out = os.path.join(lab.workdir, "callgrind")
    wrap = lambda name: ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.{name}.%p"]
    data, rows = {"wrk": " ".join(settings)}, []
    workers, lab.proxy_workers = lab.proxy_workers, 1
    try:
        ports, pids = start_nginx(lab, sim_session, {"fast": front_port}, wrap("nginx"), name="nginx-callgrind")
        base = f"http://127.0.0.1:{ports['fast']}"
        data["nginx"] = counted_calls(base + ROUTED, None, pids[0], f"{out}.nginx", settings, "nginx")
        data["nginx_put"] = counted_calls(base + UPLOAD, None, pids[0], f"{out}.nginx", settings, "nginx-put",
                                          upload_script(lab, "nginx", None))
        floor_port = free_port()
        floor = lab.procs.start("floor-callgrind", [*wrap("floor"), FLOOR, str(floor_port), str(front_port),
                                                    f"{SIM_COOKIE}={sim_session}", "1"])
        wait_ready(lab.procs, floor, floor_port, "/nginx-health")
        base = f"http://127.0.0.1:{floor_port}"
        data["floor"] = counted_calls(base + ROUTED, None, floor.pid, f"{out}.floor", settings, "floor")
        data["floor_put"] = counted_calls(base + UPLOAD, None, floor.pid, f"{out}.floor", settings, "floor-put",
                                          upload_script(lab, "floor", None))
        lab.procs.stop(floor)
        with lab.portico(1, master_url=f"http://127.0.0.1:{front_port}", name="portico-callgrind",
                         wrap=wrap("portico")) as (port, pid):
            _, cookie = timed_sign_ins(port, 1)
            base = f"http://127.0.0.1:{port}"
            data["portico"] = counted_calls(base + ROUTED, cookie, pid, f"{out}.portico", settings, "portico",
                                            redis=lab.redis)
            data["portico_put"] = counted_calls(base + UPLOAD, cookie, pid, f"{out}.portico", settings, "portico-put",
                                                upload_script(lab, "portico", csrf_token(port, cookie)))
        # The same GET asking Redis at every request: the difference is what the per-request store
        # question costs in user space (its part of the shared read, the question's task, the
        # Redis connection's command and answer).
        with lab.portico(1, master_url=f"http://127.0.0.1:{front_port}", name="portico-asking-callgrind",
                         wrap=wrap("portico-asking"),
                         session=[f'revocation_window = "{ROUTING_ASKING}"']) as (port, pid):
            _, cookie = timed_sign_ins(port, 1)
            data["portico_asking"] = counted_calls(f"http://127.0.0.1:{port}" + ROUTED, cookie, pid,
                                                   f"{out}.portico-asking", settings, "portico-asking",
                                                   redis=lab.redis)
    finally:  # the nginx instances serve this benchmark only
        lab.proxy_workers = workers
        for proc in [p for p in lab.procs.running if p.bench_name in ("nginx-callgrind", "nginx-upstream")]:
            lab.procs.stop(proc)
    floor = "hyper floor (`examples/proxy_floor.rs`)"
    asking = f"Portico, `revocation_window = \"{ROUTING_ASKING}\"`"
    for key, name in (("portico", "Portico"), ("portico_asking", asking), ("floor", floor), ("nginx", "nginx proxy_pass"),
                      ("portico_put", "Portico"), ("floor_put", floor), ("nginx_put", "nginx proxy_pass")):
        r = data[key]
        call = f"`PUT` {UPLOAD_BYTES:,} bytes" if key.endswith("_put") else "`GET`"
        rows.append([call, name, f"{r['requests']:,}", f"{r['per_call']:,.0f}", f"{r['per_call_without_memset']:,.0f}",
                     f"{r['memset_share']:.0%}"])
    for suffix in ("", "_put"):
        p, n = data["portico" + suffix], data["nginx" + suffix]
        data["ratio" + suffix] = round(p["per_call"] / n["per_call"], 2)
        data["ratio_without_memset" + suffix] = round(p["per_call_without_memset"] / n["per_call_without_memset"], 2)
        f = data["floor" + suffix]
        data["floor_ratio" + suffix] = round(f["per_call"] / n["per_call"], 2)
        data["beyond_floor" + suffix] = p["per_call"] - f["per_call"]
    data["question"] = data["portico_asking"]["per_call"] - data["portico"]["per_call"]
    text = (f"`GET {ROUTED}`, and `PUT {UPLOAD}` with a {UPLOAD_BYTES:,}-byte body, through each proxy with one "
            f"worker (nginx: one process, no master), against the fast upstream (which answers both itself), each "
            f"under `valgrind --tool=callgrind` with instrumentation switched "
            f"on for the measured run only: a `wrk -t1 -c32 -d3s` warm-up, then `wrk {' '.join(settings)}` "
            f"(`--instruction-seconds N`); instructions of the proxy's process ÷ the calls wrk completed. "
            f"User space only: the kernel's share (the TCP work: about half of Portico's CPU per call and "
            f"three quarters of nginx's on the machine these figures were first taken on) is not counted. glibc's `memset` is also shown apart, because valgrind counts `rep stosb` per byte "
            f"(actix-http zeroes a 3 KiB header index for each request it parses, about 1% of real CPU). "
            f"The *hyper floor* is a proxy built like Portico's listener (a current-thread runtime per worker, "
            f"hyper's HTTP/1 server with the same timer, hyper's HTTP/1 client on kept-alive connections per "
            f"thread) that does nothing but add the manager cookie: what the stack itself costs per call, so "
            f"that Portico's own work is the difference. The GET is counted once more through a Portico with "
            f"`session.revocation_window = \"{ROUTING_ASKING}\"`, which asks Redis at every request where the "
            f"default serves a copy confirmed within its window: the difference is what the per-request session "
            f"question costs in user space "
            f"(under callgrind a question is shared by more calls than at full speed: the Redis commands per call "
            f"of each are given). "
            f"The dumps stay in `target/bench/callgrind.*.out` for `callgrind_annotate`.\n\n"
            + table(["call", "through", "calls", "instructions / call", "without memset", "memset"], rows)
            + f"\n\n**Portico / nginx instructions per call: GET {data['ratio']:.2f} ({data['ratio_without_memset']:.2f} "
              f"without memset), PUT {data['ratio_put']:.2f} ({data['ratio_without_memset_put']:.2f}); "
              f"hyper floor / nginx: GET {data['floor_ratio']:.2f}, PUT {data['floor_ratio_put']:.2f}; "
              f"Portico's own work beyond the floor: GET {data['beyond_floor']:,} instructions per call, "
              f"PUT {data['beyond_floor_put']:,}; the store question of each call (asking at every request, against "
              f"the default): GET {data['question']:,} instructions, with {data['portico_asking']['redis_per_call']} "
              f"Redis commands per call under callgrind against {data['portico']['redis_per_call']}.**")
    return data, text


def bench_profile(lab, args):
    """Where Portico's CPU goes on a routed call: `perf record` (sampling, no call graphs) of its
    process while wrk sends the routed GET through it to the fast upstream, default workers, then
    the same for the hyper floor (the reference: the stack alone). The shares by object (kernel,
    the binary, libc…) of each, and Portico's user-space symbols above `--profile-limit` percent of
    its samples; the `perf.data` files stay in target/bench/ for `perf report`. perf samples
    `cycles` where the machine exposes hardware counters and `cpu-clock` where it does not (most
    virtual machines): the report names the event."""
    sim_session = lab.manager_session()
    _, _, body = http_call(lab.master_port, "GET", ROUTED, headers={"Cookie": f"{SIM_COOKIE}={sim_session}"})
    front_port, _ = start_front(lab, body)
    os.makedirs(OUT, exist_ok=True)
    data = {"seconds": args.profile_seconds}
    try:
        with lab.portico(1, master_url=f"http://127.0.0.1:{front_port}", name="portico-profile") as (port, pid):
            _, cookie = timed_sign_ins(port, 1)
            data["portico"] = profiled(f"http://127.0.0.1:{port}{ROUTED}", cookie, pid, "portico", args)
        floor = start_floor(lab, front_port, sim_session)
        try:
            floor.check(body)
            data["floor"] = profiled(floor.proxy.url, None, floor.proc.pid, "floor", args)
        finally:
            lab.procs.stop(floor.proc)
    finally:  # the front nginx serves this benchmark only
        for proc in [p for p in lab.procs.running if p.bench_name == "nginx-upstream"]:
            lab.procs.stop(proc)
    p, f = data["portico"], data["floor"]
    names = list(dict.fromkeys(name for name, _ in [*p["objects"], *f["objects"]]))
    share = lambda of, name: next((s for n, s in of["objects"] if n == name), 0.0)
    us = lambda of, name: share(of, name) / 100 * of["cpu_us_per_request"]
    rows = [[f"`{name}`", f"{share(p, name):.1f}%", f"{us(p, name):.1f}", f"{share(f, name):.1f}%", f"{us(f, name):.1f}"]
            for name in names if max(share(p, name), share(f, name)) >= 0.1]
    rows.append(["all", "100%", f"{p['cpu_us_per_request']:.1f}", "100%", f"{f['cpu_us_per_request']:.1f}"])
    per_call = [["context switches of the proxy, voluntary", p["voluntary_switches_per_request"], f["voluntary_switches_per_request"]],
                ["context switches of the proxy, involuntary", p["involuntary_switches_per_request"], f["involuntary_switches_per_request"]],
                ["the whole machine's CPU µs (wrk, proxy, upstream, Redis)", p["machine_cpu_us_per_request"], f["machine_cpu_us_per_request"]],
                *[[f"threads woken by the proxy: {name}", p["woken_per_request"][name], f["woken_per_request"][name]]
                  for name in p["woken_per_request"]]]
    symbol_rows = [[f"{s:.2f}%", f"`{name.replace('|', '/')[:140]}`"] for name, s in p["user_symbols"]]
    text = (f"`perf record -F 999` of the proxy's process for {args.profile_seconds} s (`--profile-seconds N`) "
            f"while `wrk {' '.join(p['wrk'].split())}` sends `GET {ROUTED}` through it to the fast upstream (as in "
            f"**routing**), default workers: Portico ({p['rps']:,.0f} req/s under the sampling), then the hyper "
            f"floor ({f['rps']:,.0f} req/s); event `{p['event']}`. Shares of each one's samples by object, and "
            f"what they come to in CPU µs per call (the process's user+sys from `/proc/PID/stat` over the run "
            f"÷ its calls, as in **routing**, times the share); then "
            f"Portico's user-space symbols above {args.profile_limit}% (`--profile-limit N`) by self time. "
            f"`perf report -i target/bench/perf.portico.data` (or `perf.floor.data`) for more.\n\n"
            + table(["object", "Portico", "µs / call", "hyper floor", "µs / call"], rows) + "\n\n"
            + "Per call, over the same runs (`/proc/PID/task/*/status`, and `/proc/stat` for the machine: "
            "every core's busy time, perf's own included), and the wakeups made while the proxy's threads "
            "run, by who was woken (`perf record -e sched:sched_wakeup` over a second run of the same load; "
            "a socket write that wakes its reader counts for the writer):\n\n"
            + table(["per call", "Portico", "hyper floor"], per_call) + "\n\n"
            + table(["Portico, self", "object and symbol"], symbol_rows))
    return data, text


def profiled(url, cookie, pid, label, args):
    """`perf record` of `pid` while wrk calls `url`: the event, req/s, shares by object and the
    user-space symbols above `--profile-limit`; the data is kept as target/bench/perf.{label}.data."""
    out = os.path.join(OUT, f"perf.{label}.data")
    seconds = args.profile_seconds
    # (wrk runs a second longer on each side of the recording, so it samples the steady load.)
    settings = ["-t2", "-c32", f"-d{seconds + 2}s"]
    wrk(url, cookie, WARMUP_WRK)
    with perf_recording(["-F", "999"], pid, out, seconds, label):
        user, system = cpu_ticks([pid])
        switches, machine = context_switches(pid), machine_ticks()
        run = wrk(url, cookie, settings)
        user_after, system_after = cpu_ticks([pid])
        switches_after, machine_after = context_switches(pid), machine_ticks()
    all_answered(run, label, "while profiling")
    event, objects = perf_shares(out, ["--sort", "dso"])
    _, symbols = perf_shares(out, ["--sort", "dso,sym", "--percent-limit", str(args.profile_limit)])
    cpu_s = (user_after - user + system_after - system) / CLOCK_TICKS
    per_call = lambda after, before: round((after - before) / run["requests"], 3)
    return {"wrk": " ".join(settings), "event": event, "rps": run["rps"],
            "cpu_us_per_request": round(cpu_s * 1e6 / run["requests"], 2), "objects": objects,
            "voluntary_switches_per_request": per_call(switches_after[0], switches[0]),
            "involuntary_switches_per_request": per_call(switches_after[1], switches[1]),
            "machine_cpu_us_per_request": round((machine_after - machine) / CLOCK_TICKS * 1e6 / run["requests"], 2),
            "user_symbols": [(name, s) for name, s in symbols if "[.]" in name],
            "woken_per_request": woken(url, cookie, pid, label, settings, seconds)}


@contextlib.contextmanager
def perf_recording(options, pid, out, seconds, what):
    """`perf record` with `options` of `pid` into `out`, for `seconds` from one second into the
    block: a wrk run inside that lasts two seconds longer is recorded in its steady middle."""
    record = ["perf", "record", *options, "-p", str(pid), "-o", out, "--", "sleep", str(seconds)]
    perf = subprocess.Popen(["sh", "-c", 'sleep 1 && exec "$@"', "sh", *record],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield
    finally:
        _, err = perf.communicate(timeout=60)
    if perf.returncode != 0:
        raise BenchError(f"perf record of {what} failed ({perf.returncode}): {err.strip()[-400:]}")


def all_answered(run, label, doing):
    """A measured run stands only when every routed call was answered."""
    if run["non_2xx"] or run["requests"] == 0:
        raise BenchError(f"{label}: {run['non_2xx']} non-2xx of {run['requests']} routed calls {doing}")


# Who a proxy's wakeups reach, by the woken thread's name (`comm`).
WOKEN = [("the load generator (wrk)", ("wrk",)), ("the upstream (nginx)", ("nginx",)),
         ("Redis", ("redis-server",)), ("the proxy's own threads", ("portico", "tokio", "floor", "sqlx"))]
WOKEN_OTHER = "anything else (kernel threads, other services)"


def woken(url, cookie, pid, label, settings, seconds):
    """Wakeups made while `pid`'s threads run, per call, by who was woken: `perf record -e
    sched:sched_wakeup` over a second run of the same load (the tracepoint fires in the waker's
    context, so a socket write that wakes its reader counts for the writer). A sleeping thread
    woken on another core costs an interrupt to that core, which virtual machines pay dearly;
    a proxy that wakes its peers more often per call is charged that in kernel time."""
    out = os.path.join(OUT, f"wakeups.{label}.data")
    with perf_recording(["-e", "sched:sched_wakeup"], pid, out, seconds, f"{label}'s wakeups"):
        run = wrk(url, cookie, settings)
    all_answered(run, label, "while counting wakeups")
    trace = subprocess.run(["perf", "script", "-i", out, "-F", "trace"], capture_output=True, text=True,
                           timeout=600).stdout
    os.remove(out)
    counts = dict.fromkeys([name for name, _ in WOKEN] + [WOKEN_OTHER], 0)
    for comm in re.findall(r"comm=(\S+)", trace):
        counts[next((name for name, prefixes in WOKEN if comm.startswith(prefixes)), WOKEN_OTHER)] += 1
    # (The recording covers `seconds` of the steady load in the middle of the run.)
    calls = run["rps"] * seconds
    return {name: round(count / calls, 3) for name, count in counts.items()}


def context_switches(pid):
    """(voluntary, involuntary) context switches of all of `pid`'s threads so far."""
    voluntary = involuntary = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            with open(status) as f:
                text = f.read()
        except FileNotFoundError:  # (a thread that ended meanwhile)
            continue
        voluntary += int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", text, re.M).group(1))
        involuntary += int(re.search(r"^nonvoluntary_ctxt_switches:\s+(\d+)", text, re.M).group(1))
    return voluntary, involuntary


def machine_ticks():
    """Clock ticks every core of the machine spent busy so far (`/proc/stat`: all but idle and
    iowait): the CPU of the whole routed call — load generator, proxy, upstream, Redis."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def perf_shares(data_file, sort):
    """`perf report`'s self shares of `data_file` under `sort`: (event, [(name, percent)])."""
    argv = ["perf", "report", "-i", data_file, "--stdio", "--no-children", "-g", "none", *sort]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600).stdout
    event = re.search(r"of event '([^']+)'", out)
    shares = [(" ".join(m.group(2).split()), float(m.group(1)))
              for m in re.finditer(r"^\s+([\d.]+)%\s+(.+?)\s*$", out, re.M)]
    if not shares:
        raise BenchError(f"perf report printed no samples for {data_file}")
    return (event.group(1) if event else "?"), shares


def csrf_token(port, cookie):
    """The portal session's CSRF token, from a page's form (as a browser client reads it)."""
    status, _, page = http_call(port, "GET", "/environments", headers={"Cookie": cookie})
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    if status != 200 or not token:
        raise BenchError(f"GET /environments answered {status} without a CSRF token")
    return token.group(1).decode()


def upload_script(lab, name, csrf):
    """A wrk script that sends each call as a PUT with an UPLOAD_BYTES body (and the portal's
    CSRF header when given)."""
    path = os.path.join(lab.workdir, f"upload-{name}.lua")
    lines = ['wrk.method = "PUT"', f'wrk.body = string.rep("x", {UPLOAD_BYTES})',
             'wrk.headers["Content-Type"] = "application/octet-stream"']
    if csrf:
        lines.append(f'wrk.headers["X-CSRF-Token"] = "{csrf}"')
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def counted_calls(url, cookie, pid, out_prefix, settings, label, script=None, redis=None):
    """Callgrind's count of the instructions `pid` runs while wrk calls `url` (as `script` says),
    per call; the dump is kept as `target/bench/callgrind.{label}.out`. With `redis`, also that
    server's commands per call over the counted run."""
    wrk(url, cookie, ["-t1", "-c32", "-d3s"], script)
    control = lambda *argv: subprocess.run(["callgrind_control", *argv, str(pid)], capture_output=True, timeout=60)
    control("--zero")
    control("--instr=on")
    commands_before = redis.command_calls() if redis else {}
    run = wrk(url, cookie, settings, script)
    commands = sum(command_delta(commands_before, redis.command_calls()).values()) if redis else None
    control("--instr=off")
    before = set(glob.glob(f"{out_prefix}.{pid}.*"))
    control("--dump")
    dump = wait_for(10, lambda: "the callgrind dump", lambda: sorted(set(glob.glob(f"{out_prefix}.{pid}.*")) - before))[-1]
    total = wait_for(10, lambda: "the callgrind dump's totals", lambda: callgrind_totals(dump))
    annotated = subprocess.run(["callgrind_annotate", dump], capture_output=True, text=True, timeout=120).stdout
    # Kept for a closer look: `callgrind_annotate --inclusive=yes target/bench/callgrind.portico.out`.
    os.makedirs(OUT, exist_ok=True)
    shutil.copyfile(dump, os.path.join(OUT, f"callgrind.{label}.out"))
    memset = sum(int(line.split()[0].replace(",", "")) for line in annotated.splitlines()
                 if "memset" in line and line.strip()[:1].isdigit())
    calls = max(run["requests"], 1)
    all_answered(run, url, "under callgrind")
    return {"requests": run["requests"], "instructions": total, "memset": memset,
            "per_call": round(total / calls), "per_call_without_memset": round((total - memset) / calls),
            "memset_share": memset / total if total else 0.0,
            "redis_per_call": None if commands is None else round(commands / calls, 3)}


def callgrind_totals(path):
    """The `totals:` line of a callgrind dump, or None while it is being written."""
    with contextlib.suppress(OSError), open(path) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    return None


def bench_memory(lab, args):
    results, rows = [], []
    for n in SLAVE_COUNTS:
        with lab.portico(n) as (port, pid):
            rss_idle = rss_kib(pid)
            before, calls = int(lab.redis.info("memory")["used_memory"]), lab.redis.command_calls()
            _, cookie = timed_sign_ins(port, args.sessions)
            r = {"slaves": n, "environments": n + 1, "rss_idle_kib": rss_idle, "rss_after_signins_kib": rss_kib(pid),
                 **redis_per_session(lab, before, calls, args.sessions)}
            if n == SLAVE_COUNTS[0]:
                r.update(load_rss(lab, port, pid, cookie))
            results.append(r)
            rows.append([n, r["sessions"], r["memory_usage_per_session_bytes"], r["used_memory_delta_per_session_bytes"],
                         r["value_bytes_per_session"], r["index_bytes_per_session"], r["redis_cmds_per_signin"],
                         mib(r["rss_idle_kib"]), mib(r["rss_after_signins_kib"]), mib(r.get("rss_under_load_kib")),
                         mib(r.get("rss_after_load_kib"))])
    first = results[0]
    text = (f"{args.sessions} sign-ins (undelayed managers) on a flushed Redis per setup (N slaves: N + 1 "
            f"environments joined). Per session: `MEMORY USAGE` of the session keys (mean; key, value and "
            f"Redis's own overhead), the `used_memory` delta / {args.sessions} (everything a sign-in adds: the "
            f"session, its entries in the session indexes and the user's list, the shared caches), the sealed "
            f"value's length (`STRLEN`) and `MEMORY USAGE` of the index keys / sessions. Redis commands per "
            f"sign-in (`INFO commandstats` delta, GET and POST /login). Portico's RSS (VmRSS): at start, after "
            f"the sign-ins, peak under load (first setup only: {first['load']}, {first['load_rps']:,.0f} req/s, "
            f"{first['load_non_2xx']} non-2xx, {first['load_redis_cmds_per_request']} Redis commands per request) "
            f"and after it.\n\n"
            + table(["slaves", "session keys", "bytes / session (MEMORY USAGE)", "bytes / session (used_memory Δ)",
                     "sealed value bytes", "index bytes / session", "Redis cmds / sign-in", "RSS idle MiB",
                     "RSS after sign-ins MiB", "RSS under load MiB", "RSS after load MiB"], rows))
    data = {"sessions_per_setup": args.sessions, "results": results}
    if args.many_sessions > 0:
        many = many_sessions(lab, args)
        data["many"] = many
        text += ("\n\n" + f"{many['signins']:,} sessions with {many['slaves']} slaves ({many['slaves'] + 1} "
                 f"environments), signed in through the real sign-in (GET and POST /login) by "
                 f"{many['clients']} concurrent clients, each on a keep-alive connection (fewer than login "
                 f"protection's 5 attempts of one user counted at once), after one sign-in that fills the "
                 f"shared caches (its session is among the keys, not in the deltas): {many['elapsed_s']} s, "
                 f"{many['signins_per_s']} sign-ins/s.\n\n"
                 + table(["session keys", "bytes / session (MEMORY USAGE)", "bytes / session (used_memory Δ)",
                          "sealed value bytes", "index bytes / session", "Redis cmds / sign-in",
                          "Portico RSS before MiB", "Portico RSS after MiB", "RSS Δ / session bytes"],
                         [[many["sessions"], many["memory_usage_per_session_bytes"],
                           many["used_memory_delta_per_session_bytes"], many["value_bytes_per_session"],
                           many["index_bytes_per_session"], many["redis_cmds_per_signin"],
                           mib(many["rss_before_kib"]), mib(many["rss_after_kib"]), many["rss_delta_per_session_bytes"]]]))
    return data, text


def redis_per_session(lab, used_before, calls_before, signins):
    """What the sign-ins since `used_before` / `calls_before` left in Redis, per session."""
    used_delta = int(lab.redis.info("memory")["used_memory"]) - used_before
    redis_cmds = sum(command_delta(calls_before, lab.redis.command_calls()).values()) / max(signins, 1)
    keys = lab.redis.keys("*")
    session_keys = [k for k in keys if ":session:" in k]
    index_keys = [k for k in keys if ":index:session" in k]
    usage = lab.redis.pipeline([("MEMORY", "USAGE", k, "SAMPLES", "0") for k in session_keys])
    lengths = lab.redis.pipeline([("STRLEN", k) for k in session_keys])
    index_usage = lab.redis.pipeline([("MEMORY", "USAGE", k, "SAMPLES", "0") for k in index_keys])
    mean = lambda values: round(statistics.fmean(values)) if values else None
    return {"sessions": len(session_keys),
            "memory_usage_per_session_bytes": mean(usage),
            "used_memory_delta_per_session_bytes": round(used_delta / max(signins, 1)),
            "value_bytes_per_session": mean(lengths),
            "index_bytes_per_session": round(sum(index_usage) / max(len(session_keys), 1)),
            "redis_cmds_per_signin": round(redis_cmds, 2)}


def many_sessions(lab, args):
    """`--many-sessions` sign-ins with the most slaves, `--many-clients` at a time."""
    n = max(SLAVE_COUNTS)
    with lab.portico(n) as (port, pid):
        # One sign-in first: the shared caches (organizations, …) are filled before the baseline.
        timed_sign_ins(port, 1)
        rss_before = rss_kib(pid)
        before, calls = int(lab.redis.info("memory")["used_memory"]), lab.redis.command_calls()
        left, lock, failures = [args.many_sessions], threading.Lock(), []

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                while True:
                    with lock:
                        if left[0] <= 0 or failures:
                            return
                        left[0] -= 1
                    sign_in(conn)
            except (BenchError, OSError, http.client.HTTPException) as e:
                with lock:
                    failures.append(str(e))
            finally:
                conn.close()

        start = time.monotonic()
        threads = [threading.Thread(target=client, daemon=True) for _ in range(args.many_clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        if failures:
            raise BenchError(f"a sign-in of the {args.many_sessions:,}-session run failed: {failures[0]}")
        rss_after = rss_kib(pid)
        r = redis_per_session(lab, before, calls, args.many_sessions)
        return {"slaves": n, "signins": args.many_sessions, "clients": args.many_clients, "elapsed_s": round(elapsed, 1),
                "signins_per_s": round(args.many_sessions / elapsed), **r,
                "rss_before_kib": rss_before, "rss_after_kib": rss_after,
                "rss_delta_per_session_bytes": round((rss_after - rss_before) * 1024 / args.many_sessions)}


def load_rss(lab, port, pid, cookie):
    status = http_call(port, "GET", ROUTED, headers={"Cookie": cookie})[0]
    path, load = (ROUTED, f"wrk {' '.join(WRK)} on the routed GET {ROUTED}") if status == 200 else \
        ("/environments", f"routing endpoint not available ({status}): wrk {' '.join(WRK)} on GET /environments instead")
    if (status := http_call(port, "GET", path, headers={"Cookie": cookie})[0]) != 200:
        raise BenchError(f"GET {path} answered {status} to a signed-in user")
    lab.sim(lab.master_port, "DELETE", "requests")
    before = lab.redis.command_calls()
    run, peak = wrk_with_rss(f"http://127.0.0.1:{port}{path}", cookie, pid)
    redis_cmds = sum(command_delta(before, lab.redis.command_calls()).values()) / max(run["requests"], 1)
    lab.sim(lab.master_port, "DELETE", "requests")
    return {"load": load, "load_rps": run["rps"], "load_non_2xx": run["non_2xx"],
            "load_redis_cmds_per_request": round(redis_cmds, 3),
            "rss_under_load_kib": peak, "rss_after_load_kib": rss_kib(pid)}


def mib(kib):
    return None if kib is None else round(kib / 1024, 1)


# ---------------------------------------------------------------- Redis topologies and failover


def per_call(by_name, count, top=10):
    """`evalsha 2.00, get 1.00` — the commands per call, most frequent first."""
    ranked = sorted(by_name.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    per = lambda calls: calls / max(count, 1)
    return ", ".join(f"{name} {per(calls):.2f}" if per(calls) >= 0.01 else f"{name} {per(calls):.4f}"
                     for name, calls in ranked) or "none"


def start_topologies(lab):
    """The lab's single server, a Sentinel group and a Cluster, all running for the whole
    benchmark (so each measurement shares the machine with the same processes)."""
    topologies = [lab.single]
    try:
        for cls in (SentinelTopology, ClusterTopology):
            print(f"   starting Redis {cls.kind} …", file=sys.stderr, flush=True)
            topologies.append(cls(lab))
    except BaseException:
        stop_topologies(topologies)
        raise
    return topologies


def stop_topologies(topologies):
    for topology in reversed(topologies):
        topology.stop()


def bench_topologies(lab, args):
    topologies = start_topologies(lab)
    slave = lab.ensure_slaves(1)[0]
    try:
        with contextlib.ExitStack() as stack:
            ports = {t.kind: stack.enter_context(lab.portico(1, t, name=f"portico-{t.kind}"))[0] for t in topologies}
            routed = topology_routed(lab, topologies, ports, args)
            lab.sim(slave, "DELETE", "faults")
            lab.sim(slave, "POST", "faults", {"operation": "login", "latency_ms": LOGIN_DELAY_MS})
            try:
                signins = topology_signins(lab, topologies, ports, slave, args)
            finally:
                lab.sim(slave, "DELETE", "faults")
    finally:
        stop_topologies(topologies)

    base_rps, base_mean = routed["single"]["rps"], signins["single"]["mean_ms"]
    base_overhead = base_mean - LOGIN_DELAY_MS
    routed_rows, signin_rows = [], []
    for t in topologies:
        r, s = routed[t.kind], signins[t.kind]
        r["ratio_to_single"] = round(r["rps"] / base_rps, 3)
        s["overhead_mean_ms"] = round(s["mean_ms"] - LOGIN_DELAY_MS, 1)
        s["ratio_to_single"] = round(s["mean_ms"] / base_mean, 3)
        s["overhead_ratio_to_single"] = round(s["overhead_mean_ms"] / base_overhead, 3) if base_overhead > 0 else None
        routed_rows.append([t.kind, r["rps"], " / ".join(f"{x:,.0f}" for x in r["rps_rounds"]), r["ratio_to_single"],
                            r["p50_ms"], r["p99_ms"], f"{r['redis_cmds_per_call']:.4f}", r["redis_cmds_text"],
                            f"{r['non_2xx']} non-2xx" + (f", socket errors {r['socket_errors']}" if r["socket_errors"] else "")])
        signin_rows.append([t.kind, s["n"], s["mean_ms"], s["p95_ms"], s["overhead_mean_ms"], s["ratio_to_single"],
                            s["overhead_ratio_to_single"], s["redis_cmds_per_signin"], s["redis_cmds_text"]])
    wrk_args = f"wrk -t2 -c32 -d{args.topology_seconds}s"
    text = (f"One Portico per Redis topology, all running at once on the same master and slave simulators: "
            f"the lab's single `redis-server`; Sentinel (master, replica, 3 sentinels; Portico finds the master "
            f"through the sentinels); Cluster (3 masters, 3 replicas). Routed calls: `GET {ROUTED}` with a "
            f"signed-in cookie, `{wrk_args}` per topology and round after a 1 s warm-up, {args.rounds} rounds "
            f"interleaved (req/s is the mean of the rounds). Sign-ins: as the signin benchmark with 1 slave "
            f"(its login delayed {LOGIN_DELAY_MS} ms), {args.warmup} warm-up then {signins['single']['n']} timed "
            f"per topology, interleaved in the same rounds. Redis commands: `INFO commandstats` deltas summed "
            f"over the masters (Cluster: all three; Sentinel: the master), without info, ping and replconf "
            f"(replicas' acknowledgements) and, on Sentinel, without the sentinels' hello PUBLISHes (counted "
            f"by a subscriber).\n\n"
            + table(["Redis", "routed req/s", "rounds", "/ single", "p50 ms", "p99 ms", "Redis cmds / call",
                     "commands / call", "notes"], routed_rows)
            + "\n\n"
            + table(["Redis", "sign-ins", "mean ms", "p95 ms", f"mean − {LOGIN_DELAY_MS} ms", "mean / single",
                     f"(mean − {LOGIN_DELAY_MS}) / single's", "Redis cmds / sign-in", "commands / sign-in"], signin_rows))
    return {"path": ROUTED, "wrk": wrk_args, "rounds": args.rounds, "login_delay_ms": LOGIN_DELAY_MS,
            "routed": routed, "signins": signins}, text


def topology_routed(lab, topologies, ports, args):
    settings = ["-t2", "-c32", f"-d{args.topology_seconds}s"]
    cookies, runs = {}, {t.kind: [] for t in topologies}
    for t in topologies:
        _, cookies[t.kind] = timed_sign_ins(ports[t.kind], 1)
        status = http_call(ports[t.kind], "GET", ROUTED, headers={"Cookie": cookies[t.kind]})[0]
        if status != 200:
            raise BenchError(f"Portico on {t.kind} answered {status} to a routed call")
        wrk(f"http://127.0.0.1:{ports[t.kind]}{ROUTED}", cookies[t.kind], ["-t2", "-c32", "-d1s"])
    for _ in range(args.rounds):
        for t in topologies:
            lab.sim(lab.master_port, "DELETE", "requests")  # the simulator's request log grows per call
            with PorticoCommands(t) as commands:
                run = wrk(f"http://127.0.0.1:{ports[t.kind]}{ROUTED}", cookies[t.kind], settings)
            run["redis_cmds"], run["redis_cmds_by_name"] = commands.total, commands.by_name
            runs[t.kind].append(run)
    lab.sim(lab.master_port, "DELETE", "requests")
    result = {}
    for kind, rounds in runs.items():
        requests = sum(r["requests"] for r in rounds)
        by_name = {}
        for r in rounds:
            for name, calls in r["redis_cmds_by_name"].items():
                by_name[name] = by_name.get(name, 0) + calls
        result[kind] = {
            "requests": requests, "rps": round(statistics.fmean(r["rps"] for r in rounds), 2),
            "rps_rounds": [r["rps"] for r in rounds],
            "p50_ms": round(statistics.median(r["p50_ms"] for r in rounds), 3),
            "p99_ms": round(max(r["p99_ms"] for r in rounds), 3),
            "non_2xx": sum(r["non_2xx"] for r in rounds),
            "socket_errors": "; ".join(r["socket_errors"] for r in rounds if r["socket_errors"]) or None,
            "redis_cmds_per_call": round(sum(by_name.values()) / max(requests, 1), 4),
            "redis_cmds_by_name": by_name, "redis_cmds_text": per_call(by_name, requests)}
    return result


def topology_signins(lab, topologies, ports, slave, args):
    for t in topologies:
        timed_sign_ins(ports[t.kind], args.warmup)
    per_round = max(1, math.ceil(args.signins / args.rounds))
    times, by_name = {t.kind: [] for t in topologies}, {t.kind: {} for t in topologies}
    for _ in range(args.rounds):
        for t in topologies:
            lab.sim(slave, "DELETE", "requests")
            with PorticoCommands(t) as commands:
                chunk, _ = timed_sign_ins(ports[t.kind], per_round)
            joined = sum(1 for r in lab.sim(slave, "GET", "requests")
                         if r["method"] == "POST" and r["path"].endswith("/login") and r["status"] == 303)
            if joined < len(chunk):
                raise BenchError(f"on {t.kind} only {joined} of {len(chunk)} sign-ins joined the slave")
            times[t.kind] += chunk
            for name, calls in commands.by_name.items():
                by_name[t.kind][name] = by_name[t.kind].get(name, 0) + calls
    return {kind: {**summary(times[kind]),
                   "redis_cmds_per_signin": round(sum(by_name[kind].values()) / len(times[kind]), 2),
                   "redis_cmds_by_name": by_name[kind], "redis_cmds_text": per_call(by_name[kind], len(times[kind]))}
            for kind in times}


FAILOVER_CALL_INTERVAL_S = 0.01  # the drill's stream: one routed call every 10 ms (or right after a slower one)
FAILOVER_CALL_TIMEOUT_S = 15  # longer than any timeout of Portico's, so that a hang would show
FAILOVER_BEFORE_S = 1.5  # calls before the kill
FAILOVER_AFTER_S = 3  # calls after the promotion; also 2 s without a failure


class CallStream(threading.Thread):
    """Sequential routed calls with one cookie on a keep-alive connection (a new one after an
    error): (start, end, status or the error's name) per call, monotonic times."""

    def __init__(self, port, cookie):
        super().__init__(daemon=True)
        self.port, self.cookie, self.records, self.halt = port, cookie, [], threading.Event()

    def run(self):
        conn = None
        while not self.halt.is_set():
            start = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=FAILOVER_CALL_TIMEOUT_S)
                conn.request("GET", ROUTED, headers={"Cookie": self.cookie})
                res = conn.getresponse()
                res.read()
                outcome = res.status
                if res.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                outcome = type(e).__name__
                if conn is not None:
                    conn.close()
                conn = None
            end = time.monotonic()
            self.records.append((start, end, outcome))
            self.halt.wait(max(0.0, FAILOVER_CALL_INTERVAL_S - (end - start)))
        if conn is not None:
            conn.close()

    def stop(self):
        self.halt.set()
        self.join()


def session_key(topology):
    """The one portal session's key and the master holding it."""
    found = []
    for master in topology.masters():
        conn = Redis(master, timeout=5)
        try:
            found += [(master, k) for k in conn.keys("*session:*") if "index:" not in k]
        finally:
            conn.close()
    if len(found) != 1:
        raise BenchError(f"expected one session key on {topology.kind}, found {found}")
    return found[0]


def replica_has(port, key, cluster):
    conn = None
    try:
        conn = Redis(port, timeout=2)
        if cluster:
            conn("READONLY")
        return conn("EXISTS", key) == 1
    except (OSError, BenchError):
        return False
    finally:
        if conn is not None:
            conn.close()


def bench_failover(lab, args):
    results, rows = {}, []
    lab.ensure_slaves(1)
    for cls in (SentinelTopology, ClusterTopology):
        print(f"   {cls.kind}: starting Redis …", file=sys.stderr, flush=True)
        topology = cls(lab, name=f"failover-{cls.kind}")
        try:
            r = results[cls.kind] = failover_drill(lab, topology)
        finally:
            topology.stop()
        failed = ", ".join(f"{n} × {status}" for status, n in r["failed_by_status"].items()) or "none"
        rows.append([cls.kind, r["promoted_s"], r["calls_after_kill"], r["ok_before_first_failure"], failed,
                     r["first_failure_s"], r["recovered_s"], round(r["longest_call_s"] * 1000, 1),
                     r["slow_calls"],
                     f"{r['same_cookie_after']}" + ("" if r["session_on_new_master"] else " (session key gone)"),
                     r["new_signin_after"], r["readyz_after"]])
    text = (f"Per topology: a fresh Sentinel group or Cluster as in the topologies benchmark, Portico on it "
            f"with 1 slave, one sign-in, then a stream of sequential routed calls (`GET {ROUTED}`, the "
            f"session cookie, one call every {FAILOVER_CALL_INTERVAL_S * 1000:.0f} ms on a keep-alive "
            f"connection, {FAILOVER_CALL_TIMEOUT_S} s client timeout). {FAILOVER_BEFORE_S} s in, the master is "
            f"SIGKILLed (Sentinel: the master; Cluster: the master owning the session key's slot); the stream "
            f"runs until {FAILOVER_AFTER_S} s after Redis has promoted the replica and 2 s have passed without a "
            f"failed call. Times are seconds after the kill. Portico keeps an in-process copy of a session "
            f"for 1 s, so calls in the first second after the kill may be answered without Redis. "
            f"\"same cookie after\" is a routed call with the first cookie {SESSION_COPY_WAIT_S} s after the "
            f"stream stopped (past the copy's window, so the session is read from the new master).\n\n"
            + table(["Redis", "promoted at s", "calls after kill", "OK before 1st failure", "failed (by status)",
                     "1st failure at s", "1st OK after last failure at s", "longest call ms",
                     f"calls > {SLOW_CALL_S * 1000:.0f} ms", "same cookie after",
                     "new sign-in after", "/readyz after"], rows))
    return results, text


SESSION_COPY_WAIT_S = 1.2
SLOW_CALL_S = 0.1


def failover_drill(lab, topology):
    cluster = topology.kind == "cluster"
    with lab.portico(1, topology, name=f"portico-failover-{topology.kind}") as (port, _):
        _, cookie = timed_sign_ins(port, 1)
        if (status := http_call(port, "GET", ROUTED, headers={"Cookie": cookie})[0]) != 200:
            raise BenchError(f"Portico on {topology.kind} answered {status} to a routed call")
        master, key = session_key(topology)
        replicas = topology.replicas_of(master)
        on_replica = bool(replicas) and bool(wait_for_quiet(5, lambda: any(replica_has(p, key, cluster) for p in replicas)))
        stream = CallStream(port, cookie)
        stream.start()
        try:
            time.sleep(FAILOVER_BEFORE_S)
            killed, t_kill = topology.kill_master(key)
            print(f"   {topology.kind}: killed master {killed}", file=sys.stderr, flush=True)
            new_master = wait_for(30, lambda: f"the {topology.kind} failover of {killed}:\n{topology.describe()}",
                                  topology.failed_over, interval=0.02)
            t_promoted = time.monotonic()
            while time.monotonic() < t_kill + 30:
                now = time.monotonic()
                last_failure = max((e for s, e, o in list(stream.records) if o != 200 and e >= t_kill), default=None)
                if now >= t_promoted + FAILOVER_AFTER_S and (last_failure is None or now - last_failure >= 2):
                    break
                time.sleep(0.1)
        finally:
            stream.stop()
        time.sleep(SESSION_COPY_WAIT_S)
        after = http_call(port, "GET", ROUTED, headers={"Cookie": cookie}, timeout=FAILOVER_CALL_TIMEOUT_S)[0]
        on_new_master = query(new_master, "EXISTS", key) == 1
        readyz = http_call(port, "GET", "/readyz", timeout=FAILOVER_CALL_TIMEOUT_S)[0]
        try:
            timed_sign_ins(port, 1)
            new_signin = "ok"
        except (BenchError, OSError, http.client.HTTPException) as e:
            new_signin = f"failed: {e}"

    records = stream.records
    during = [r for r in records if r[1] >= t_kill]  # in flight at the kill or started after it
    failures = [r for r in during if r[2] != 200]
    first_failure = min((r[0] for r in failures), default=None)
    last_failure = max((r[0] for r in failures), default=None)
    recovered = min((r[1] for r in during if r[2] == 200 and last_failure is not None and r[0] > last_failure),
                    default=None)
    switch_end = max(t_promoted, recovered or t_promoted)
    longest = max((r[1] - r[0] for r in during if r[0] <= switch_end), default=None)
    switch = [r for r in during if r[0] <= switch_end]
    by_status = {}
    for _, _, outcome in failures:
        by_status[str(outcome)] = by_status.get(str(outcome), 0) + 1
    rel = lambda t: None if t is None else round(t - t_kill, 3)
    return {
        "killed_master": killed, "new_master": new_master, "session_key": key,
        "session_on_replica_before_kill": on_replica, "promoted_s": rel(t_promoted),
        "calls_before_kill": sum(1 for r in records if r[1] < t_kill), "calls_after_kill": len(during),
        "ok_before_first_failure": sum(1 for r in during if r[2] == 200 and (first_failure is None or r[0] < first_failure)),
        "failed": len(failures), "failed_by_status": by_status,
        "first_failure_s": rel(first_failure), "last_failure_s": rel(last_failure), "recovered_s": rel(recovered),
        "longest_call_s": None if longest is None else round(longest, 3),
        "slow_calls": sum(1 for r in switch if r[1] - r[0] > SLOW_CALL_S),
        # The calls of the switch that failed or were slow: [start s after the kill, duration s, outcome].
        "switch_timeline": [[rel(r[0]), round(r[1] - r[0], 3), r[2]] for r in switch
                            if r[2] != 200 or r[1] - r[0] > SLOW_CALL_S][:200],
        "same_cookie_after": after, "session_on_new_master": on_new_master,
        "new_signin_after": new_signin, "readyz_after": readyz,
    }


def wait_for_quiet(timeout, probe):
    """`wait_for` that answers False instead of failing."""
    try:
        return wait_for(timeout, lambda: "", probe)
    except BenchError:
        return False


# ---------------------------------------------------------------- main


BENCHES = {"signin": ("Sign-in time against the number of slaves", bench_signin),
           "routing": ("Routed calls: Portico against nginx proxy_pass", bench_routing),
           "memory": ("Memory: Redis per session, Portico RSS", bench_memory),
           "topologies": ("Redis topologies: single node, Sentinel, Cluster", bench_topologies),
           "failover": ("Failover drill: a Redis master killed under routed calls", bench_failover),
           "instructions": ("Instructions per routed call: Portico against nginx proxy_pass", bench_instructions),
           "profile": ("Where Portico's CPU goes on a routed call (perf)", bench_profile)}
DEFAULT_BENCHES = ("signin", "routing", "memory")  # `all` adds topologies and failover


def environment():
    git = lambda *a: subprocess.run(["git", "-C", ROOT, *a], capture_output=True, text=True).stdout.strip()
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": git("rev-parse", "--short", "HEAD") + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else ""),
            "cpus": os.cpu_count(), "cpu": cpu, "loadavg_start": loadavg(),
            "portico_built": datetime.datetime.fromtimestamp(os.path.getmtime(PORTICO)).isoformat(timespec="seconds")}


def loadavg():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def on_signal(signum, _frame):
    raise SystemExit(f"stopped by signal {signum}; cleaning up")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benches", nargs="*", metavar="|".join([*BENCHES, "all"]),
                        help=f"default: {' '.join(DEFAULT_BENCHES)}; all: every one")
    parser.add_argument("--signins", type=int, default=30, help="timed sign-ins per slave count (topologies: per topology)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up sign-ins per slave count (topologies: per topology)")
    parser.add_argument("--sessions", type=int, default=200, help="sessions for the memory figures")
    parser.add_argument("--many-sessions", type=int, default=10_000,
                        help="sessions of the memory benchmark's large run, with 10 slaves (0: none)")
    parser.add_argument("--many-clients", type=int, default=4,
                        help="concurrent sign-ins of the large run (login protection admits 5 attempts of one user at once)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the topologies benchmark")
    parser.add_argument("--topology-seconds", type=int, default=3,
                        help="seconds of wrk per topology and round (topologies)")
    parser.add_argument("--routing-rounds", type=int, default=3,
                        help="paired rounds (Portico, nginx) per upstream (routing)")
    parser.add_argument("--routing-seconds", type=int, default=5,
                        help="seconds of wrk per proxy and round (routing)")
    parser.add_argument("--routing-sessions", type=int, default=1,
                        help="signed-in sessions Portico's calls take turns with (routing; 1: every call with one)")
    parser.add_argument("--instruction-seconds", type=int, default=10,
                        help="seconds of wrk under callgrind per proxy (instructions)")
    parser.add_argument("--profile-seconds", type=int, default=8, help="seconds of perf sampling (profile)")
    parser.add_argument("--profile-limit", type=float, default=0.5,
                        help="smallest share of all samples, in percent, of a symbol listed (profile)")
    parser.add_argument("--proxy-workers", type=int, default=0,
                        help="Portico's worker threads and the reference nginx's worker processes (routing; "
                             "default: each one's own, one per core)")
    args = parser.parse_args()
    chosen = args.benches or list(DEFAULT_BENCHES)
    if "all" in chosen:
        chosen = [b for b in chosen if b != "all"] + [b for b in BENCHES if b not in chosen]
    if unknown := [b for b in chosen if b not in BENCHES]:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}, all")
    if args.routing_sessions < 1:
        parser.error("--routing-sessions must be at least 1")
    if not os.access(PORTICO, os.X_OK):
        sys.exit(f"error: {PORTICO} is missing: run `cargo build --release` first")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, on_signal)
    signal.alarm(DEADLINE_S)  # the whole run is bounded in time

    workdir = tempfile.mkdtemp(prefix="portico-bench-")
    procs = Processes(workdir)
    report = {"environment": environment(), "benchmarks": {}}
    sections = []
    failed = False
    try:
        lab = Lab(procs, workdir)
        lab.proxy_workers = args.proxy_workers
        for name in chosen:
            title, run = BENCHES[name]
            print(f"== {name}: {title} …", file=sys.stderr, flush=True)
            try:
                data, text = run(lab, args)
            except (BenchError, OSError, http.client.HTTPException, subprocess.TimeoutExpired) as e:
                failed, data, text = True, {"error": str(e)}, f"**Not measured:** {e}"
            report["benchmarks"][name] = data
            sections.append(f"## {title}\n\n{text}")
    except BenchError as e:
        sys.exit(f"error: {e}")
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    env = report["environment"]
    env["loadavg_end"] = loadavg()
    sections.insert(0, f"# Portico benchmarks\n\n{env['date']} · commit {env['commit']} · {env['cpus']} × "
                       f"{env['cpu']} · release build of {env['portico_built']} · load average (1/5/15 min) "
                       f"{env['loadavg_start']} at the start, {env['loadavg_end']} at the end. Everything on "
                       f"127.0.0.1 on this machine, so the load generator, Portico, the managers and Redis share "
                       f"its cores: compare ratios, not absolute figures across machines.")
    os.makedirs(OUT, exist_ok=True)
    markdown = "\n\n".join(sections) + "\n"
    with open(os.path.join(OUT, "report.md"), "w") as f:
        f.write(markdown)
    with open(os.path.join(OUT, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(markdown)
    print(f"written: {os.path.relpath(OUT, ROOT)}/report.md and report.json", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
