#!/usr/bin/env python3
"""Portico's benchmarks (SPEC §9), run by `scripts/bench [signin|routing|memory]`.

Speed is reported as ratios against a reference measured in the same run, never asserted.
Everything listens on 127.0.0.1 only: a private redis-server, simulated managers
(`portico simulate-manager`), `portico serve` from a generated config, and nginx. Every process
is started and stopped here (also on Ctrl-C, SIGTERM, or if this script dies), and the whole run
has a deadline. The report goes to stdout and target/bench/report.md (+ report.json).
"""

import argparse
import contextlib
import ctypes
import datetime
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
OUT = os.path.join(TARGET, "bench")
BASE_PATH = "/api/portal/v1.3"
ROUTED = BASE_PATH + "/discovery/apis"
SLAVE_COUNTS = (1, 5, 10)
LOGIN_DELAY_MS = 100
USER, PASSWORD = "alice", "alice-password"
SIM_COOKIE = "APIMANAGERSESSION"
WRK = ["-t2", "-c32", "-d10s"]
WARMUP_WRK = ["-t2", "-c32", "-d2s"]
DEADLINE_S = 900


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
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = self.sock.makefile("rb")

    def __call__(self, *args):
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in map(str, args):
            parts.append(f"${len(arg.encode())}\r\n{arg}\r\n".encode())
        self.sock.sendall(b"".join(parts))
        return self._read()

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
        """Calls per command (INFO commandstats), without our own INFO calls nor the PINGs with
        which Portico keeps its connections alive."""
        calls = {}
        for key, value in self.info("commandstats").items():
            name = key.removeprefix("cmdstat_")
            if name not in ("info", "ping"):
                calls[name] = int(re.search(r"calls=(\d+)", value).group(1))
        return calls

    def keys(self, pattern):
        cursor, found = "0", []
        while True:
            cursor, batch = self("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            found += batch
            if cursor == "0":
                return found


def command_delta(before, after):
    return {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}


# ---------------------------------------------------------------- the lab: Redis, managers, Portico


class Lab:
    def __init__(self, procs, workdir):
        self.procs, self.workdir, self.slaves = procs, workdir, []
        self.redis_port = free_port()
        proc = procs.start("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--dir", workdir])
        self.redis = self._connect_redis(proc)
        # The caller's PORTICO_* overrides and RUST_LOG would change what is measured.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTICO_", "RUST_LOG"))}
        self.env.update(PORTICO_SESSION_SECRET=secrets.token_urlsafe(48),
                        PORTICO_REDIS_URL=f"redis://127.0.0.1:{self.redis_port}")
        self.master_port = self._simulator("master", [])

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
    def portico(self, slave_count):
        """`portico serve` with the master and the first `slave_count` slaves, on a flushed Redis."""
        self.redis("FLUSHALL")
        port = free_port()
        lines = [
            "[server]", f'listen = "127.0.0.1:{port}"', f'public_url = "http://127.0.0.1:{port}"',
            "[session]", 'secret = { env = "PORTICO_SESSION_SECRET" }',
            "[redis]", 'url = { env = "PORTICO_REDIS_URL" }',
            "[database]", f'url = "sqlite://{self.workdir}/portico-{slave_count}.db"',
            "[master]", f'url = "http://127.0.0.1:{self.master_port}"',
            "[log]", 'level = "info"',
        ]
        for i, slave_port in enumerate(self.ensure_slaves(slave_count), 1):
            lines += ["[[slaves]]", f'id = "slave-{i}"', f'name = "Slave {i}"', f'url = "http://127.0.0.1:{slave_port}"']
        config = os.path.join(self.workdir, f"portico-{slave_count}.toml")
        with open(config, "w") as f:
            f.write("\n".join(lines) + "\n")
        proc = self.procs.start(f"portico-{slave_count}", [PORTICO, "serve", "--config", config], env=self.env)
        try:
            wait_ready(self.procs, proc, port, "/healthz")
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


def wrk(url, cookie=None, settings=WRK):
    argv = ["wrk", *settings, "--latency", "--timeout", "5s", url]
    if cookie:
        argv[1:1] = ["-H", f"Cookie: {cookie}"]
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


def bench_routing(lab, args):
    sim_session = lab.manager_session()
    nginx_port = start_nginx(lab, sim_session)
    direct = http_call(lab.master_port, "GET", ROUTED, headers={"Cookie": f"{SIM_COOKIE}={sim_session}"})
    via_nginx = http_call(nginx_port, "GET", ROUTED)
    if direct[0] != 200 or via_nginx[2] != direct[2]:
        raise BenchError(f"reference check failed: direct {direct[0]}, via nginx {via_nginx[0]}")
    result, rows = {"path": ROUTED, "wrk": " ".join(WRK)}, []
    with lab.portico(1) as (port, pid):
        _, cookie = timed_sign_ins(port, 1)
        status, _, body = http_call(port, "GET", ROUTED, headers={"Cookie": cookie})
        portico_ok = status == 200 and same_json(body, direct[2])
        if status == 404:
            result["portico"] = "routing endpoint not available (404)"
        elif not portico_ok:
            result["portico"] = f"routing answered {status}, not the manager's answer: not measured"
        runs = [("direct", "direct to the manager (context)", lab.master_port, f"{SIM_COOKIE}={sim_session}"),
                ("nginx", "nginx proxy_pass (reference)", nginx_port, None),
                ("portico", "Portico", port, cookie)]
        for key, name, target, hdr in runs:
            if key == "portico" and not portico_ok:
                rows.append([name, None, None, None, None, result["portico"]])
                continue
            lab.sim(lab.master_port, "DELETE", "requests")  # the simulator's request log grows per call
            url = f"http://127.0.0.1:{target}{ROUTED}"
            wrk(url, hdr, WARMUP_WRK)
            before = lab.redis.command_calls()
            run = wrk(url, hdr)
            delta = command_delta(before, lab.redis.command_calls())
            run["redis_cmds_per_request"] = round(sum(delta.values()) / max(run["requests"], 1), 3)
            run["redis_cmds_by_name"] = {k: round(v / max(run["requests"], 1), 3) for k, v in delta.items()}
            result[key] = run
            rows.append([name, run["rps"], run["p50_ms"], run["p99_ms"], run["redis_cmds_per_request"],
                         f"{run['non_2xx']} non-2xx" + (f", socket errors {run['socket_errors']}" if run["socket_errors"] else "")])
    lab.sim(lab.master_port, "DELETE", "requests")
    if isinstance(result.get("portico"), dict):
        result["throughput_ratio"] = round(result["portico"]["rps"] / result["nginx"]["rps"], 3)
        verdict = f"**Portico / nginx throughput: {result['throughput_ratio']:.2f}** (target ≥ 0.70)."
    else:
        verdict = f"**Portico: {result['portico']}** — only the nginx reference was measured."
    text = (f"`GET {ROUTED}` as `{USER}` to the master simulator, `wrk {' '.join(WRK)}` after a "
            f"`{' '.join(WARMUP_WRK)}` warm-up: through Portico (session cookie) and through nginx "
            f"`proxy_pass` that adds the manager session cookie itself (upstream keep-alive); the direct "
            f"run shows what the simulated manager serves alone on this machine. "
            f"Redis commands are `INFO commandstats` totals over the measured run / requests.\n\n"
            + table(["through", "req/s", "p50 ms", "p99 ms", "Redis cmds / req", "notes"], rows)
            + "\n\n" + verdict)
    return result, text


def same_json(a, b):
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return False


def start_nginx(lab, sim_session):
    conf_dir = os.path.join(lab.workdir, "nginx")
    os.makedirs(os.path.join(conf_dir, "tmp"), exist_ok=True)
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""  # the workers read this private folder
    conf = f"""{user}
daemon off;
worker_processes auto;
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log {conf_dir}/access.log;
  client_body_temp_path {conf_dir}/tmp/body; proxy_temp_path {conf_dir}/tmp/proxy;
  fastcgi_temp_path {conf_dir}/tmp/fastcgi; uwsgi_temp_path {conf_dir}/tmp/uwsgi; scgi_temp_path {conf_dir}/tmp/scgi;
  upstream manager {{ server 127.0.0.1:{lab.master_port}; keepalive 32; }}
  server {{
    listen 127.0.0.1:{port};
    location /nginx-health {{ return 200 "ok"; }}
    location {BASE_PATH}/ {{
      proxy_pass http://manager;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Cookie "{SIM_COOKIE}={sim_session}";
    }}
  }}
}}
"""
    path = os.path.join(conf_dir, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    proc = lab.procs.start("nginx", ["nginx", "-p", conf_dir, "-c", path, "-e", f"{conf_dir}/error.log"])
    wait_ready(lab.procs, proc, port, "/nginx-health")
    return port


def bench_memory(lab, args):
    results, rows = [], []
    for n in SLAVE_COUNTS:
        with lab.portico(n) as (port, pid):
            rss_idle = rss_kib(pid)
            before = int(lab.redis.info("memory")["used_memory"])
            _, cookie = timed_sign_ins(port, args.sessions)
            used_delta = int(lab.redis.info("memory")["used_memory"]) - before
            session_keys = [k for k in lab.redis.keys("*") if ":session:" in k]
            usage = [lab.redis("MEMORY", "USAGE", k, "SAMPLES", "0") for k in session_keys]
            r = {"slaves": n, "sessions": len(session_keys),
                 "memory_usage_per_session_bytes": round(statistics.fmean(usage)) if usage else None,
                 "used_memory_delta_per_session_bytes": round(used_delta / args.sessions),
                 "rss_idle_kib": rss_idle, "rss_after_signins_kib": rss_kib(pid)}
            if n == SLAVE_COUNTS[0]:
                r.update(load_rss(lab, port, pid, cookie))
            results.append(r)
            rows.append([n, r["sessions"], r["memory_usage_per_session_bytes"], r["used_memory_delta_per_session_bytes"],
                         mib(r["rss_idle_kib"]), mib(r["rss_after_signins_kib"]), mib(r.get("rss_under_load_kib")),
                         mib(r.get("rss_after_load_kib"))])
    first = results[0]
    text = (f"{args.sessions} sign-ins (undelayed managers) on a flushed Redis per setup. Per session: "
            f"`MEMORY USAGE` of the session keys (mean) and the `used_memory` delta / {args.sessions} "
            f"(includes the shared caches). Portico's RSS (VmRSS): at start, after the sign-ins, peak "
            f"under load (first setup only: {first['load']}, {first['load_rps']:,.0f} req/s, "
            f"{first['load_non_2xx']} non-2xx, {first['load_redis_cmds_per_request']} Redis commands "
            f"per request) and after it.\n\n"
            + table(["slaves", "session keys", "bytes / session (MEMORY USAGE)", "bytes / session (used_memory Δ)",
                     "RSS idle MiB", "RSS after sign-ins MiB", "RSS under load MiB", "RSS after load MiB"], rows))
    return {"sessions_per_setup": args.sessions, "results": results}, text


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


# ---------------------------------------------------------------- main


BENCHES = {"signin": ("Sign-in time against the number of slaves", bench_signin),
           "routing": ("Routed calls: Portico against nginx proxy_pass", bench_routing),
           "memory": ("Memory: Redis per session, Portico RSS", bench_memory)}


def environment():
    git = lambda *a: subprocess.run(["git", "-C", ROOT, *a], capture_output=True, text=True).stdout.strip()
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": git("rev-parse", "--short", "HEAD") + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else ""),
            "cpus": os.cpu_count(), "cpu": cpu,
            "portico_built": datetime.datetime.fromtimestamp(os.path.getmtime(PORTICO)).isoformat(timespec="seconds")}


def on_signal(signum, _frame):
    raise SystemExit(f"stopped by signal {signum}; cleaning up")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benches", nargs="*", metavar="|".join(BENCHES), help="default: all three")
    parser.add_argument("--signins", type=int, default=30, help="timed sign-ins per slave count")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up sign-ins per slave count")
    parser.add_argument("--sessions", type=int, default=200, help="sessions for the memory figures")
    args = parser.parse_args()
    chosen = args.benches or list(BENCHES)
    if unknown := [b for b in chosen if b not in BENCHES]:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    if not os.access(PORTICO, os.X_OK):
        sys.exit(f"error: {PORTICO} is missing: run `cargo build --release` first")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, on_signal)
    signal.alarm(DEADLINE_S)  # the whole run is bounded in time

    workdir = tempfile.mkdtemp(prefix="portico-bench-")
    procs = Processes(workdir)
    report = {"environment": environment(), "benchmarks": {}}
    sections = [f"# Portico benchmarks\n\n{report['environment']['date']} · commit {report['environment']['commit']}"
                f" · {report['environment']['cpus']} × {report['environment']['cpu']} · release build of "
                f"{report['environment']['portico_built']}. Everything on 127.0.0.1 on this machine, so the "
                f"load generator, Portico, the managers and Redis share its cores: compare ratios, not "
                f"absolute figures across machines."]
    failed = False
    try:
        lab = Lab(procs, workdir)
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
