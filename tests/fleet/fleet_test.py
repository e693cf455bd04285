"""Fault tests of the fleet: the real hostlocator-coordinator and
hostlocator-worker daemons, started here on loopback ports chosen here (or in
network namespaces created here), probing the sandbox internet.

Work is submitted with `fleet_tool seed` (the store API, while the
coordinator is down or beside it) or through the coordinator's HTTP API
(`hostlocator submit --server`, ApiTest), and progress read with
`fleet_tool status` (a read-only store open beside the serving coordinator).
Every process a test starts is killed and every namespace it creates is
deleted when it ends, pass or fail.

A missing prerequisite (binary, knotd, nginx, `ip netns`) is a failure,
never a skip."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("HL_SOURCE_DIR",
                                 Path(__file__).resolve().parents[2]))
BINARY_DIR = Path(os.environ.get("HL_BINARY_DIR", SOURCE_DIR / "build"))
sys.path.insert(0, str(SOURCE_DIR / "scripts"))
sys.dont_write_bytecode = True
import sandbox  # noqa: E402

HOSTLOCATOR = os.environ.get("HL_HOSTLOCATOR", str(BINARY_DIR / "cli" / "hostlocator"))
COORDINATOR = os.environ.get(
    "HL_COORDINATOR", str(BINARY_DIR / "coordinator" / "hostlocator-coordinator"))
WORKER = os.environ.get("HL_WORKER",
                        str(BINARY_DIR / "worker" / "hostlocator-worker"))
FLEET_TOOL = os.environ.get("HL_FLEET_TOOL",
                            str(BINARY_DIR / "tests" / "fleet" / "fleet_tool"))

# Heartbeats in these tests: a silent peer is dead after 100 ms x 5.
HEARTBEAT_MS = 100
LIVENESS = 5




class Fleet:
    """A temporary folder, optionally a sandbox, and every process started
    through it; close() kills what is left and removes the folder."""

    def __init__(self, tag: str, with_sandbox: bool = True) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"hl-fleet-{tag}-"))
        self.procs: list[subprocess.Popen] = []
        self.logs: dict[str, Path] = {}
        self.sb = None
        self.data = str(self.tmp / "data")
        if with_sandbox:
            self.sb = sandbox.start(str(self.tmp / "sandbox"),
                                    hostlocator=HOSTLOCATOR,
                                    die_with_parent=True)
            if not self.sb.geo_ready:
                raise AssertionError(f"sandbox MMDBs not built: {self.sb.geo_error}")

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            with contextlib.suppress(Exception):
                p.wait(timeout=10)
        if self.sb is not None:
            sandbox.stop(self.sb.dir)
        if os.environ.get("HL_FLEET_KEEP"):  # debugging: logs stay
            print(f"kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def config(self, name: str, extra: str, base: str | None = None) -> str:
        """A configuration file: the sandbox's (or `base`) plus `extra`."""
        text = Path(base or self.sb.config).read_text(encoding="utf-8") \
            if (base or self.sb) else ""
        path = self.tmp / f"{name}.toml"
        # These tests put a whole batch on one host to keep every worker
        # busy; the fleet-wide politeness caps (tested on their own in
        # FleetPolitenessEndToEnd) would hold most of it back.
        no_fleet_caps = ("\n[politeness]\nfleet_max_per_host = 0\n"
                         "fleet_max_per_domain = 0\nfleet_max_per_address = 0\n")
        path.write_text(text + "\n" + extra + no_fleet_caps, encoding="utf-8")
        return str(path)

    def slow_urls(self, prefix: str, n: int) -> str:
        """n URLs on the sandbox host that answers after 1 s."""
        path = self.tmp / f"{prefix}.txt"
        path.write_text("".join(
            self.sb.url("slow.sandbox-jp.test", f"/{prefix}/{i}") + "\n"
            for i in range(n)), encoding="utf-8")
        return str(path)

    def seed(self, urls: str) -> int:
        out = subprocess.run([FLEET_TOOL, "seed", self.data, urls],
                             capture_output=True, text=True, timeout=60,
                             check=True).stdout
        return int(re.search(r"seeded (\d+) jobs", out).group(1))

    def status(self) -> dict:
        out = subprocess.run([FLEET_TOOL, "status", self.data],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            return {"jobs": 0, "states": {}, "checks": {}}
        return json.loads(out.stdout)

    def done(self) -> int:
        return self.status()["states"].get("JOB_STATE_DONE", 0)

    def start(self, name: str, cmd: list[str],
              prefix: list[str] | None = None) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        self.logs[name] = log
        f = open(log, "ab")
        p = subprocess.Popen((prefix or []) + cmd, stdout=f,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        f.close()
        self.procs.append(p)
        return p

    def coordinator(self, config: str, endpoint: str, name: str = "coordinator",
                    prefix: list[str] | None = None) -> subprocess.Popen:
        p = self.start(name, [COORDINATOR, "--config", config, "--data",
                              self.data, "--listen", endpoint,
                              "--log-level", "info"], prefix)
        sandbox.wait_until(lambda: p.poll() is not None or "listening on" in self.log(name),
                   20, f"{name} to listen")
        if p.poll() is not None:
            raise AssertionError(f"{name} ended: {self.log(name)}")
        return p

    def worker(self, config: str, endpoint: str, name: str, in_flight: int = 4,
               prefix: list[str] | None = None) -> subprocess.Popen:
        return self.start(name, [WORKER, "--config", config, "--connect",
                                 endpoint, "--threads", "1", "--in-flight",
                                 str(in_flight), "--name", name,
                                 "--log-level", "info"], prefix)

    def log(self, name: str) -> str:
        return self.logs[name].read_text(encoding="utf-8", errors="replace")

    def stop(self, p: subprocess.Popen, timeout: float = 20) -> int:
        p.send_signal(signal.SIGTERM)
        return p.wait(timeout=timeout)


def counters(log: str) -> dict[str, int]:
    """The counters of the coordinator's last "coordinator stopped" line."""
    lines = [l for l in log.splitlines() if "coordinator stopped:" in l]
    if not lines:
        raise AssertionError(f"no final counters in the log:\n{log}")
    return {k.strip(): int(v) for v, k in
            ((m.group(2), m.group(1)) for m in
             re.finditer(r"([a-z -]+?) (\d+)", lines[-1].split(":", 3)[-1]))}


def heartbeat_toml(extra: str = "", interval_ms: int = HEARTBEAT_MS) -> str:
    return (f"[coordinator]\nheartbeat_interval_ms = {interval_ms}\n"
            f"heartbeat_liveness = {LIVENESS}\n{extra}")


class FleetCase(unittest.TestCase):
    with_sandbox = True

    def setUp(self) -> None:
        self.fleet = Fleet(self.id().split(".")[-2], self.with_sandbox)
        self.addCleanup(self.fleet.close)

    def assert_all_done_once(self, jobs: int) -> None:
        st = self.fleet.status()
        self.assertEqual(st["jobs"], jobs, st)
        self.assertEqual(st["states"], {"JOB_STATE_DONE": jobs}, st)
        self.assertEqual(st["checks"], {"1": jobs},
                         f"every job has exactly one result: {st}")


class WorkerKillTest(FleetCase):
    """kill -9 of one worker and a frozen one (SIGSTOP past the liveness,
    then SIGCONT) in the middle of a batch: every job ends with exactly one
    result; the frozen worker's late results are dropped and counted."""

    def test_batch_survives_killed_and_frozen_workers(self) -> None:
        f = self.fleet
        n = 36
        self.assertEqual(f.seed(f.slow_urls("kill", n)), n)
        config = f.config("fleet", heartbeat_toml())
        endpoint = f"tcp://127.0.0.1:{sandbox.free_port()}"
        coordinator = f.coordinator(config, endpoint)
        killed = f.worker(config, endpoint, "killed")
        frozen = f.worker(config, endpoint, "frozen")
        f.worker(config, endpoint, "steady")
        # Every worker holds leases: 12 jobs in flight, 1 s each.
        sandbox.wait_until(lambda: f.status()["states"].get("JOB_STATE_LEASED", 0) >= 12,
                   20, "12 leased jobs")
        # No core dump of a daemon could hold what a site sent.
        for daemon in (coordinator, killed, frozen):
            sandbox.assert_no_core_dumps(self, daemon.pid)
        time.sleep(0.3)
        killed.kill()
        frozen.send_signal(signal.SIGSTOP)
        # Past its liveness (and past the 1 s its probes take).
        time.sleep(1.5)
        frozen.send_signal(signal.SIGCONT)
        sandbox.wait_until(lambda: f.done() == n, 60, "every job done")
        self.assertEqual(f.stop(coordinator), 0)
        self.assert_all_done_once(n)
        c = counters(f.log("coordinator"))
        self.assertGreaterEqual(c["workers lost"], 2, c)
        self.assertGreaterEqual(c["duplicate results dropped"], 1, c)
        self.assertEqual(c["results"], n, c)
        self.assertIn("reconnecting", f.log("frozen"))


class CoordinatorKillTest(FleetCase):
    """kill -9 of the coordinator in the middle of a batch, more URLs
    acknowledged while it is down, then a restart: every acknowledged URL
    completes, none is lost, each has one result."""

    def test_restart_resumes_every_acknowledged_url(self) -> None:
        f = self.fleet
        first, later = 30, 8
        self.assertEqual(f.seed(f.slow_urls("crash", first)), first)
        config = f.config("fleet", heartbeat_toml())
        endpoint = f"tcp://127.0.0.1:{sandbox.free_port()}"
        coordinator = f.coordinator(config, endpoint)
        workers = [f.worker(config, endpoint, f"w{i}") for i in (1, 2)]
        sandbox.wait_until(lambda: f.done() >= 8, 30, "8 results")
        coordinator.kill()
        coordinator.wait(timeout=10)
        # Acknowledged while the coordinator is down (synced ingest).
        self.assertEqual(f.seed(f.slow_urls("later", later)), later)
        coordinator = f.coordinator(config, endpoint, "coordinator-2")
        self.assertRegex(f.log("coordinator-2"),
                         r"re-queued \d+ jobs leased by the previous process")
        sandbox.wait_until(lambda: f.done() == first + later, 60, "every job done")
        self.assertEqual(f.stop(coordinator), 0)
        self.assert_all_done_once(first + later)
        for w in workers:
            self.assertIsNone(w.poll(), "a worker gave up on the coordinator")
        self.assertRegex(f.log("w1") + f.log("w2"),
                         r"coordinator silent|coordinator is stopping")


class GarbageTest(FleetCase):
    """Malformed, truncated, oversized and multi-frame messages on the
    worker socket: the coordinator counts them and keeps serving."""
    with_sandbox = False

    def test_coordinator_survives_garbage(self) -> None:
        f = self.fleet
        config = f.config("fleet", heartbeat_toml(), base=os.devnull)
        endpoint = f"tcp://127.0.0.1:{sandbox.free_port()}"
        coordinator = f.coordinator(config, endpoint)
        for _ in range(2):
            out = subprocess.run([FLEET_TOOL, "garbage", endpoint],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIsNone(coordinator.poll(), f.log("coordinator"))
        self.assertEqual(f.stop(coordinator), 0)
        c = counters(f.log("coordinator"))
        # Per round: empty (version 0), undecodable, truncated, 3 frames;
        # the oversized one never reaches the broker.
        self.assertGreaterEqual(c["refused messages"], 8, c)


class VersionTest(FleetCase):
    """Another protocol version is refused with a clear message on both
    sides: the coordinator answers DISCONNECT naming both versions and logs
    it; the worker prints it and exits 3 without reconnecting."""
    with_sandbox = True

    def test_coordinator_refuses_a_foreign_worker(self) -> None:
        f = self.fleet
        config = f.config("fleet", heartbeat_toml())
        endpoint = f"tcp://127.0.0.1:{sandbox.free_port()}"
        coordinator = f.coordinator(config, endpoint)
        out = subprocess.run([FLEET_TOOL, "foreign-worker", endpoint],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        foreign_version = self.assertNamesBothVersions(out.stdout)
        self.assertEqual(f.stop(coordinator), 0)
        self.assertRegex(f.log("coordinator"),
                         r"refused a worker message: peer speaks protocol "
                         rf"version {foreign_version}\b")

    def test_worker_refuses_a_foreign_coordinator(self) -> None:
        f = self.fleet
        config = f.config("fleet", heartbeat_toml())
        endpoint = f"tcp://127.0.0.1:{sandbox.free_port()}"
        foreign = f.start("foreign", [FLEET_TOOL, "foreign-coordinator",
                                      endpoint])
        time.sleep(0.2)
        worker = f.worker(config, endpoint, "w1")
        self.assertEqual(worker.wait(timeout=20), 3, f.log("w1"))
        self.assertEqual(foreign.wait(timeout=20), 0, f.log("foreign"))
        self.assertIn("cannot serve worker w1: peer speaks", f.log("w1"))
        self.assertNamesBothVersions(f.log("w1"))
        self.assertNotIn("reconnecting", f.log("w1"))

    def assertNamesBothVersions(self, text: str) -> int:
        """The refusal names the foreign version, one above this side's
        (what the fleet tool speaks); returns the foreign one."""
        found = re.search(r"peer speaks protocol version (\d+), this side "
                          r"speaks version (\d+)", text)
        self.assertIsNotNone(found, text)
        foreign, own = int(found.group(1)), int(found.group(2))
        self.assertEqual(foreign, own + 1, text)
        return foreign


def generate_keys(out: Path, name: str) -> None:
    subprocess.run([HOSTLOCATOR, "keys", "generate", "--out", str(out),
                    "--name", name], check=True, capture_output=True,
                   timeout=30)


def curve_configs(f: Fleet, keys: Path, authorised: list[str],
                  workers: list[str], base: str | None = None,
                  interval_ms: int = HEARTBEAT_MS) -> tuple[str, dict]:
    """The coordinator's configuration (CURVE, `authorised` worker keys)
    and one per worker name, over `base` (default: the sandbox's)."""
    auth = keys / "authorised"
    auth.mkdir(exist_ok=True)
    for name in authorised:
        shutil.copy(keys / f"{name}.pub", auth / f"{name}.pub")
    coordinator = f.config("coordinator", heartbeat_toml(
        f'secret_key_file = "{keys}/coordinator.key"\n'
        f'authorized_keys = ["{auth}"]\n', interval_ms), base)
    per_worker = {
        name: f.config(name, heartbeat_toml("", interval_ms) + "[worker]\n"
                       f'secret_key_file = "{keys}/{name}.key"\n'
                       f'coordinator_public_key_file = "{keys}/coordinator.pub"\n',
                       base)
        for name in workers}
    return coordinator, per_worker


class WrongKeyTest(FleetCase):
    """CURVE on TCP: a worker whose key the coordinator does not list is
    refused (no job reaches it, the coordinator logs the refusal with the
    key's fingerprint, the worker says so and exits 3); a listed one
    completes the batch."""

    def test_only_authorised_keys_get_jobs(self) -> None:
        f = self.fleet
        keys = f.tmp / "keys"
        for name in ("coordinator", "good", "intruder"):
            generate_keys(keys, name)
        n = 6
        urls = f.tmp / "urls.txt"
        urls.write_text("".join(f.sb.url("shop.sandbox-de.test", f"/k/{i}") + "\n"
                                for i in range(n)), encoding="utf-8")
        self.assertEqual(f.seed(str(urls)), n)
        coordinator_config, configs = curve_configs(
            f, keys, ["good"], ["good", "intruder"])
        # Not loopback: allowed only because CURVE is on.
        endpoint = f"tcp://0.0.0.0:{sandbox.free_port()}"
        connect = endpoint.replace("0.0.0.0", "127.0.0.1")
        coordinator = f.coordinator(coordinator_config, endpoint)
        intruder = f.worker(configs["intruder"], connect, "intruder")
        self.assertEqual(intruder.wait(timeout=20), 3, f.log("intruder"))
        self.assertIn("refused this worker's CURVE key", f.log("intruder"))
        intruder_fp = re.search(r"worker key ([0-9a-f]{16})",
                                f.log("intruder")).group(1)
        self.assertRegex(f.log("coordinator"),
                         rf"refused a worker from 127\.0\.0\.1: key not "
                         rf"authorised \(CURVE key fingerprint {intruder_fp}\)")
        self.assertEqual(f.status()["states"], {"JOB_STATE_PENDING": n})

        f.worker(configs["good"], connect, "good")
        sandbox.wait_until(lambda: f.done() == n, 30, "every job done")
        self.assertEqual(f.stop(coordinator), 0)
        self.assert_all_done_once(n)
        c = counters(f.log("coordinator"))
        self.assertEqual(c["refused worker keys"], 1, c)
        self.assertNotIn("intruder", f.log("coordinator"))
        for secret in keys.glob("*.key"):
            self.assertNotIn(secret.read_text().strip(),
                             f.log("coordinator") + f.log("good"))

    def test_plain_text_off_the_host_is_refused(self) -> None:
        f = self.fleet
        config = f.config("plain", heartbeat_toml())
        p = f.start("plain", [COORDINATOR, "--config", config, "--data",
                              f.data, "--listen", f"tcp://0.0.0.0:{sandbox.free_port()}"])
        self.assertEqual(p.wait(timeout=20), 2)
        self.assertIn("coordinator.allow_plaintext", f.log("plain"))


# ------------------------------------------------------- network namespaces

NS_PREFIX = "hlf"
_namespaces: list[str] = []


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True,
                          timeout=30, check=check)


def delete_namespaces() -> None:
    while _namespaces:
        sh("ip", "netns", "del", _namespaces.pop(), check=False)


def sweep_stale_namespaces() -> None:
    """Namespaces of earlier runs whose process is gone (a SIGKILLed run
    has no chance to clean up)."""
    listing = sh("ip", "netns", "list", check=False).stdout
    for m in re.finditer(rf"^({NS_PREFIX}(\d+)x\w+)", listing, re.M):
        if not os.path.exists(f"/proc/{m.group(2)}"):
            sh("ip", "netns", "del", m.group(1), check=False)


atexit.register(delete_namespaces)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

DELAY_SERVER = r"""
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        time.sleep(float(sys.argv[2]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


class NetnsTest(FleetCase):
    """The coordinator and three workers each in their own network
    namespace, linked by veth pairs, over TCP with CURVE; one worker's link
    goes down mid-batch: its leases move to the others and the batch
    completes. Heartbeat 200 ms x liveness 5 = 1 s."""

    def make_namespaces(self, workers: int) -> tuple[str, list[str]]:
        sweep_stale_namespaces()
        tag = f"{NS_PREFIX}{os.getpid()}x{random.randrange(16**4):04x}"
        names = [f"{tag}c"] + [f"{tag}w{i}" for i in range(1, workers + 1)]
        for ns in names:
            r = sh("ip", "netns", "add", ns, check=False)
            if r.returncode != 0:
                raise AssertionError(f"cannot create network namespace {ns}: "
                                     f"{r.stderr.strip()} (run as root)")
            _namespaces.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        self.addCleanup(delete_namespaces)
        coordinator_ns = names[0]
        for i, ns in enumerate(names[1:], start=1):
            sh("ip", "link", "add", f"c{i}", "netns", coordinator_ns, "type",
               "veth", "peer", "name", "w0", "netns", ns)
            sh("ip", "-n", coordinator_ns, "addr", "add", f"10.231.{i}.1/30",
               "dev", f"c{i}")
            sh("ip", "-n", ns, "addr", "add", f"10.231.{i}.2/30", "dev", "w0")
            sh("ip", "-n", coordinator_ns, "link", "set", f"c{i}", "up")
            sh("ip", "-n", ns, "link", "set", "w0", "up")
        return coordinator_ns, names[1:]

    def test_link_down_moves_leases(self) -> None:
        f = self.fleet
        coordinator_ns, worker_ns = self.make_namespaces(3)
        http_port = sandbox.free_port()
        # Each worker namespace has its own web server on its own loopback.
        for i, ns in enumerate(worker_ns, start=1):
            f.start(f"web{i}", [sys.executable, "-c", DELAY_SERVER,
                                str(http_port), "0.5"],
                    ["ip", "netns", "exec", ns])
        n = 80
        urls = f.tmp / "urls.txt"
        urls.write_text("".join(f"http://127.0.0.1:{http_port}/ns/{i}\n"
                                for i in range(n)), encoding="utf-8")
        self.assertEqual(f.seed(str(urls)), n)
        keys = f.tmp / "keys"
        names = ["w1", "w2", "w3"]
        for name in ["coordinator"] + names:
            generate_keys(keys, name)
        geo = (f'[geo]\ncountry = ["{f.sb.geo_country_mmdb}"]\n'
               f'asn = ["{f.sb.geo_asn_mmdb}"]\n')
        base = f.tmp / "base.toml"
        base.write_text(
            "[resolver]\nservers = [\"127.0.0.1:9\"]\ntimeout_ms = 200\n"
            "tries = 1\n[http]\nconnect_timeout_ms = 1000\ntimeout_ms = 3000\n"
            "[safety]\nallow_cidrs = [\"127.0.0.1/32\"]\n" + geo,
            encoding="utf-8")
        coordinator_config, configs = curve_configs(
            f, keys, names, names, base=str(base), interval_ms=200)
        port = sandbox.free_port()
        coordinator = f.coordinator(coordinator_config, f"tcp://0.0.0.0:{port}",
                                    prefix=["ip", "netns", "exec",
                                            coordinator_ns])
        for i, (name, ns) in enumerate(zip(names, worker_ns), start=1):
            f.worker(configs[name], f"tcp://10.231.{i}.1:{port}", name,
                     prefix=["ip", "netns", "exec", ns])
        sandbox.wait_until(lambda: f.log("coordinator").count("ready, capacity") == 3,
                   20, "three workers registered")
        sandbox.wait_until(lambda: f.done() >= 12, 30, "12 results")
        sh("ip", "-n", coordinator_ns, "link", "set", "c3", "down")
        sandbox.wait_until(lambda: f.done() == n, 60, "every job done")
        self.assertEqual(f.stop(coordinator), 0)
        self.assert_all_done_once(n)
        log = f.log("coordinator")
        m = re.search(r"worker w3 silent for \d+ ms: re-queuing its (\d+) jobs",
                      log)
        self.assertIsNotNone(m, log)
        self.assertGreater(int(m.group(1)), 0, "w3 held no lease")
        self.assertEqual(log.count("refused"), log.count("refused messages 0") +
                         log.count("refused worker keys 0"), log)


class ApiTest(FleetCase):
    """The coordinator daemon with its HTTP API: a batch submitted with
    `hostlocator submit --server` is acknowledged (its rejected lines named
    by number), the coordinator is killed with -9 right after the
    acknowledgement and restarted, and every acknowledged URL completes;
    `status`, `results` and /metrics answer through the same API."""

    def api_config(self, port: int) -> str:
        f = self.fleet
        tokens = f.tmp / "tokens"
        secret = subprocess.run(
            [HOSTLOCATOR, "tokens", "add", "analyst", "--roles",
             "submit,read,export", "--file", str(tokens)],
            capture_output=True, text=True, timeout=30, check=True).stdout
        token_file = f.tmp / "analyst.token"
        token_file.write_text(secret.strip() + "\n", encoding="utf-8")
        token_file.chmod(0o600)
        self.token_file = str(token_file)
        return f.config("api", heartbeat_toml() +
                        f"\n[api]\nport = {port}\ntokens_file = \"{tokens}\"\n")

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([HOSTLOCATOR, *args, "--token-file",
                               self.token_file], capture_output=True,
                              text=True, timeout=timeout)

    def test_acknowledged_batch_survives_a_coordinator_crash(self) -> None:
        f = self.fleet
        n = 24
        urls = Path(f.slow_urls("api", n))
        urls.write_text(urls.read_text(encoding="utf-8") +
                        "ftp://files.example/a.zip\nnot a url\n",
                        encoding="utf-8")
        port = sandbox.free_port()
        server = f"http://127.0.0.1:{port}"
        config = self.api_config(port)
        endpoint = f"tcp://127.0.0.1:{sandbox.free_port()}"
        coordinator = f.coordinator(config, endpoint)
        self.assertIn(f"API on http://127.0.0.1:{port}", f.log("coordinator"))
        submitted = self.cli("submit", str(urls), "--server", server,
                             "--case", "CASE-1", "--no-wait")
        self.assertEqual(submitted.returncode, 0, submitted.stderr)
        out = submitted.stdout
        self.assertRegex(out, rf"line {n + 1}\b.*unsupported scheme")
        self.assertRegex(out, rf"line {n + 2}\b.*missing scheme")
        # Acknowledged means durable: kill -9 before any worker took a job.
        coordinator.kill()
        coordinator.wait(timeout=10)
        self.assertEqual(f.status()["jobs"], n)
        coordinator = f.coordinator(config, endpoint, "coordinator-2")
        f.worker(config, endpoint, "w1", in_flight=12)
        f.worker(config, endpoint, "w2", in_flight=12)
        waited = self.cli("submit", str(urls), "--server", server,
                          timeout=120)
        self.assertEqual(waited.returncode, 0, waited.stderr)
        sandbox.wait_until(lambda: f.done() == n, 60, "every job done")
        status = self.cli("status", "1", "--server", server)
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertIn(str(n), status.stdout)
        results = self.cli("results", "--batch", "1", "--server", server)
        self.assertEqual(results.returncode, 0, results.stderr)
        located = [line for line in results.stdout.splitlines()
                   if '"status":"located"' in line]
        self.assertEqual(len(located), n, results.stdout[-2000:])
        request = urllib.request.Request(
            f"{server}/metrics", headers={
                "Authorization": "Bearer " +
                Path(self.token_file).read_text(encoding="utf-8").strip()})

        def scrape() -> str:
            return urllib.request.urlopen(request, timeout=10).read().decode()

        def reported(metrics: str, family: str) -> dict[str, float]:
            return {m.group(1): float(m.group(2)) for m in re.finditer(
                rf'^{family}{{worker="([^"]+)"}} (\S+)$', metrics, re.M)}

        # Each worker's own figures reach /metrics through its heartbeats.
        sandbox.wait_until(lambda: sum(reported(scrape(),
                                        "hostlocator_worker_completed_total")
                               .values()) == n, 10,
                   "the workers' heartbeats to report every probe")
        metrics = scrape()
        completed = reported(metrics, "hostlocator_worker_completed_total")
        self.assertEqual(set(completed), {"w1", "w2"}, metrics)
        self.assertTrue(all(v > 0 for v in completed.values()), completed)
        self.assertEqual(reported(metrics, "hostlocator_worker_up"),
                         {"w1": 1, "w2": 1})
        for family in ("hostlocator_worker_resident_bytes",
                       "hostlocator_worker_threads"):
            values = reported(metrics, family)
            self.assertEqual(set(values), {"w1", "w2"}, family)
            self.assertTrue(all(v > 0 for v in values.values()), values)
        self.assertEqual(reported(metrics,
                                  "hostlocator_worker_probes_in_flight"),
                         {"w1": 0, "w2": 0})
        probes = sum(float(m.group(1)) for m in re.finditer(
            r'^hostlocator_worker_stage_duration_seconds_count'
            r'{worker="w[12]",stage="probe"} (\S+)$', metrics, re.M))
        self.assertEqual(probes, n, metrics)
        self.assertIn("hostlocator_", metrics)
        self.assertNotIn("sandbox", metrics, "a host name in /metrics")
        self.assertEqual(f.stop(coordinator), 0)
        self.assert_all_done_once(n)
        self.assertNotIn("slow.sandbox-jp.test", f.log("coordinator") +
                         f.log("coordinator-2"), "a host name in the log")



class StoreCommandsTest(FleetCase):
    """`hostlocator backup`, `restore` and `purge` on the data folder of
    real runs, a folder of an unknown schema version refused, and the
    coordinator daemon applying retention_days at start."""

    def hl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([HOSTLOCATOR, *args], capture_output=True,
                              text=True, timeout=120)

    def run_batch(self, data: str, name: str, urls: list[str]) -> None:
        f = self.fleet
        path = f.tmp / f"{name}.txt"
        path.write_text("".join(u + "\n" for u in urls), encoding="utf-8")
        ran = self.hl("run", "--config", f.sb.config, "--threads", "1",
                      "--data", data, "--out", str(f.tmp / f"out-{name}"),
                      str(path))
        self.assertEqual(ran.returncode, 0, ran.stdout + ran.stderr)

    def results(self, data: str, batch: str) -> list[str]:
        out = self.hl("results", "--batch", batch, "--data", data)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout.splitlines()

    def test_backup_restore_purge_and_schema(self) -> None:
        f = self.fleet
        data, copy = str(f.tmp / "data1"), str(f.tmp / "data2")
        backup = str(f.tmp / "backup")
        self.run_batch(data, "first", [f.sb.url("shop.sandbox-de.test", "/a"),
                                       f.sb.url("shop.sandbox-de.test", "/b")])
        first_done = time.time()
        original = self.results(data, "1")
        self.assertEqual(len(original), 2, original)

        done = self.hl("backup", "--data", data, "--to", backup)
        self.assertEqual(done.returncode, 0, done.stderr)
        done = self.hl("restore", "--from", backup, "--data", copy)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.results(copy, "1"), original)
        refused = self.hl("restore", "--from", backup, "--data", data)
        self.assertEqual(refused.returncode, 2, refused.stderr)
        self.assertIn("is not empty; restore into a new or empty",
                      refused.stderr)

        # A second batch a few seconds later; purge what is older than it.
        time.sleep(max(0.0, first_done + 4 - time.time()))
        second_start = time.time()
        self.run_batch(copy, "second",
                       [f.sb.url("shop.sandbox-de.test", "/c")])
        older = int(time.time() - second_start) + 2
        purged = self.hl("purge", "--data", copy, "--older-than", f"{older}s")
        self.assertEqual(purged.returncode, 0, purged.stderr)
        self.assertIn("purged 1 batches, 2 lines", purged.stdout)
        gone = self.hl("status", "1", "--data", copy)
        self.assertNotEqual(gone.returncode, 0, gone.stdout)
        self.assertEqual(len(self.results(copy, "2")), 1)
        self.assertEqual(self.results(data, "1"), original, "source touched")

        # The daemon applies retention_days when it starts (hourly after).
        config = f.config("retention", "[coordinator]\nretention_days = 1\n")
        coordinator = f.start("coordinator", [
            COORDINATOR, "--config", config, "--data", copy, "--listen",
            f"tcp://127.0.0.1:{sandbox.free_port()}"])
        sandbox.wait_until(lambda: "retention: purged" in f.log("coordinator"), 20,
                   "the coordinator's purge")
        self.assertEqual(f.stop(coordinator), 0)
        self.assertRegex(f.log("coordinator"),
                         r"retention: purged 0 batches, 0 lines, \d+ results, "
                         r"0 URLs older than 1 days")
        self.assertEqual(len(self.results(copy, "2")), 1)

        set_schema = subprocess.run([FLEET_TOOL, "set-schema", data, "99"],
                                    capture_output=True, text=True, timeout=30)
        self.assertEqual(set_schema.returncode, 0, set_schema.stderr)
        for args in (["results", "--batch", "1", "--data", data],
                     ["backup", "--data", data, "--to", str(f.tmp / "b2")],
                     ["purge", "--data", data, "--older-than", "1d"]):
            refused = self.hl(*args)
            self.assertNotEqual(refused.returncode, 0, args)
            self.assertIn("written with store schema version 99",
                          refused.stderr, args)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + sys.argv[1:], verbosity=2)
