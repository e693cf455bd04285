#!/usr/bin/env python3
"""Smoke test of the sandbox internet (scripts/sandbox.py).

Starts a sandbox in a temporary directory and checks that the real servers
behave as expected.json says: DNS (CNAME chains, NXDOMAIN, SERVFAIL, REFUSED,
round robin, PTR), HEAD to name-based virtual hosts, redirects, TLS with the
sandbox CA, the hostile servers; that ports and the subnet are chosen at run
time; that two sandboxes run side by side; and that stop (and `run`, even
when signalled) leaves no process behind.

Environment: HL_SOURCE_DIR (repository root; default: two levels up),
HL_BINARY_DIR (build directory, for build/cli/hostlocator; optional).
Select classes by name on the command line (unittest syntax); without
arguments everything runs. Exit status: 0 passed, 1 failed. A missing
program (knotd, nginx, kdig, curl, mmdblookup: scripts/install-deps.sh
installs them all) or an unbuilt hostlocator is a failure, never a skip.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import unittest
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("HL_SOURCE_DIR",
                                 Path(__file__).resolve().parents[2]))
BINARY_DIR = Path(os.environ.get("HL_BINARY_DIR", SOURCE_DIR / "build"))
SCRIPT = SOURCE_DIR / "scripts" / "sandbox.py"
sys.path.insert(0, str(SCRIPT.parent))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import sandbox  # noqa: E402

HOSTLOCATOR = BINARY_DIR / "cli" / "hostlocator"
DIG = shutil.which("kdig") or shutil.which("dig")
CURL = shutil.which("curl")


def _tmpdir(tag: str) -> str:
    return tempfile.mkdtemp(prefix=f"hl-sandbox-{tag}-")


class SandboxTest(unittest.TestCase):
    """One sandbox shared by the checks of its contents."""

    sb: sandbox.Sandbox
    doc: dict

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = _tmpdir("smoke")
        try:
            cls.sb = sandbox.start(cls.tmp, hostlocator=HOSTLOCATOR,
                                   die_with_parent=True)
        except BaseException:
            sandbox.stop(cls.tmp)
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        with open(cls.sb.expected, encoding="utf-8") as f:
            cls.doc = json.load(f)
        print(f"\n{sandbox.summary(cls.sb, cls.doc)}", file=sys.stderr)

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            left = sandbox.stop(cls.tmp)
            assert not left, f"processes survived stop: {left}"
            assert not sandbox.processes_of(cls.tmp), "sandbox processes left"
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- helpers
    def dig(self, *args: str) -> str:
        retry = "+retry=0" if DIG.endswith("kdig") else "+tries=1"
        r = subprocess.run([DIG, f"@{self.sb.dns_address}", "-p",
                            str(self.sb.dns_port), "+time=2", retry,
                            *args], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def curl(self, name: str, url: str, *extra: str) -> subprocess.CompletedProcess:
        scheme = url.split(":", 1)[0]
        return subprocess.run(
            [CURL, "-sS", "-I", "--max-time", "5", "--connect-to",
             self.sb.connect_to(name, scheme), *extra, url],
            capture_output=True, text=True, timeout=20)

    def outcomes(self) -> dict[str, dict]:
        return self.doc["outcomes"]

    # -- layout and configuration
    def test_ports_and_subnet_are_chosen_at_run_time(self) -> None:
        sb = self.sb
        ports = {sb.dns_port, sb.http_port, sb.https_port}
        self.assertEqual(len(ports), 3, ports)
        for p in ports:
            self.assertGreaterEqual(p, 1024)
        self.assertNotEqual(sb.subnet_octet, sandbox.REFUSED_OCTET)
        self.assertNotEqual(sb.subnet_octet, 0)
        self.assertEqual(sb.subnet, f"127.{sb.subnet_octet}.0.0/16")
        net = ipaddress.ip_network(sb.subnet)
        self.assertIn(ipaddress.ip_address(sb.dns_address), net)
        self.assertIn(ipaddress.ip_address(sb.hosts["shop.sandbox-de.test"][0]), net)
        self.assertEqual(sandbox.load(sb.dir), sb)
        for name in ("knotd", "nginx", "hostile"):
            pid = int(Path(sb.dir, "run", f"{name}.pid").read_text())
            self.assertEqual(pid, sb.pids[name])
            self.assertTrue(sandbox._alive(pid), name)

    def test_rdap_server_and_bootstrap(self) -> None:
        """The bootstrap in DIR/rdap sends the sandbox's numbers and domains
        to its RDAP server, which answers as RDAP_* in sandbox.py say."""
        import urllib.error
        import urllib.request
        with open(self.sb.config, "rb") as f:
            cfg = tomllib.load(f)
        self.assertEqual(cfg["rdap"]["bootstrap_dir"], self.sb.rdap_bootstrap_dir)
        ipv4 = json.loads((Path(self.sb.rdap_bootstrap_dir) / "ipv4.json")
                          .read_text())
        self.assertEqual(ipv4["services"][0][0], [self.sb.subnet])

        def get(path: str) -> tuple[int, str]:
            try:
                with urllib.request.urlopen(self.sb.rdap_url + path,
                                            timeout=5) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()
        shop = self.sb.hosts["shop.sandbox-de.test"][0]
        status, body = get(f"rir/ip/{shop}")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["country"], "DE")
        self.assertEqual(get(f"busy/ip/{shop}")[0], 429)
        self.assertEqual(json.loads(get("rir/autnum/64505")[1])["country"], "SG")
        self.assertEqual(get("registry/domain/hoster.example")[0], 404)

    def test_hostlocator_toml(self) -> None:
        with open(self.sb.config, "rb") as f:
            cfg = tomllib.load(f)
        # Keys are the field names of common/config.h.
        allowed = {
            "resolver": {"servers", "timeout_ms", "tries", "mode",
                         "max_in_flight"},
            "http": {"connect_timeout_ms", "timeout_ms", "user_agent",
                     "max_header_bytes", "max_redirects", "ca_file",
                     "max_in_flight", "proxy", "require_proxy"},
            "safety": {"allow_cidrs"},
            "politeness": {"max_per_host", "max_per_address",
                           "min_host_interval_ms"},
            "geo": {"country", "asn", "city"},
            "coordinator": {"lease_timeout_ms", "heartbeat_interval_ms",
                            "heartbeat_liveness", "max_attempts"},
            "worker": {"threads", "max_in_flight", "dns_only",
                       "probe_timeout_ms"},
            "rdap": {"enabled", "bootstrap_dir", "cache_ttl_s",
                     "negative_cache_ttl_s", "timeout_ms", "min_interval_ms",
                     "max_wait_s"},
            "run": {"data_dir", "output_dir"},
        }
        for section, keys in cfg.items():
            self.assertIn(section, allowed)
            self.assertLessEqual(set(keys), allowed[section], section)
        self.assertEqual(cfg["resolver"]["servers"], [self.sb.dns_server])
        self.assertEqual(cfg["safety"]["allow_cidrs"], [self.sb.subnet])
        self.assertEqual(cfg["geo"]["country"], [self.sb.geo_country_mmdb])
        self.assertEqual(cfg["geo"]["asn"], [self.sb.geo_asn_mmdb])
        for key in ("data_dir", "output_dir"):
            self.assertTrue(Path(cfg["run"][key]).is_absolute())
            self.assertTrue(cfg["run"][key].startswith(self.sb.dir))
        private = ipaddress.ip_address(self.sb.hosts["private.sandbox-us.test"][0])
        self.assertNotIn(private, ipaddress.ip_network(self.sb.subnet))

    def test_urls_and_expected_agree(self) -> None:
        text = Path(self.sb.urls).read_text(encoding="utf-8").splitlines()
        counts = self.doc["counts"]
        self.assertEqual(len(text), counts["lines"])
        self.assertGreaterEqual(counts["urls"], 30)
        self.assertGreaterEqual(counts["duplicates"], 4)
        self.assertGreaterEqual(counts["rejected"], 3)
        for n in self.doc["skipped_lines"]:
            line = text[n - 1]
            self.assertTrue(line == "" or line.startswith("#"), line)
        for rec in self.doc["lines"]:
            self.assertEqual(text[rec["line"] - 1], rec["input"])
            if rec["kind"] == "url":
                self.assertIn(rec["normalized"], self.outcomes())
            elif rec["kind"] == "duplicate":
                first = self.doc["lines"][[r["line"] for r in self.doc["lines"]]
                                          .index(rec["duplicate_of_line"])]
                self.assertEqual(first["normalized"], rec["normalized"])
        statuses = {o["status"] for o in self.outcomes().values()}
        self.assertEqual(statuses, {"located", "unresolved", "error"})
        countries = {c for o in self.outcomes().values()
                     for c in o["hosting_countries"]}
        self.assertGreaterEqual(len(countries), 5, countries)
        classes = {o[k] for o in self.outcomes().values()
                   for k in ("error_class", "dns_error_class", "http_error_class")}
        for c in ("nxdomain", "servfail", "dns_refused", "no_address",
                  "connection_refused", "refused_private_target",
                  "http_timeout", "header_timeout", "header_too_large",
                  "http_error",
                  "not_attributable"):
            self.assertIn(c, classes)
        for o in self.outcomes().values():  # result-format.md invariants
            self.assertEqual(o["status"] == "located",
                             bool(o["hosting_countries"]), o["url"])
            self.assertEqual(o["status"] == "located",
                             o["error_class"] is None, o["url"])

    # -- DNS
    def test_cname_chain_with_dig(self) -> None:
        out = self.dig("media.sandbox-fr.test", "A", "+noall", "+answer")
        lines = [l.split() for l in out.splitlines() if "\tIN\t" in l or " IN " in l]
        chain = [(l[0], l[3], l[4]) for l in lines]
        edge = self.sb.hosts["edge1.sandbox-fr.test"][0]
        self.assertEqual(chain, [
            ("media.sandbox-fr.test.", "CNAME", "media-cdn.sandbox-fr.test."),
            ("media-cdn.sandbox-fr.test.", "CNAME", "edge1.sandbox-fr.test."),
            ("edge1.sandbox-fr.test.", "A", edge)])

    def test_nxdomain_with_dig(self) -> None:
        for name in ("does-not-exist.sandbox-nl.test", "dangling.sandbox-nl.test"):
            out = self.dig(name, "A", "+tcp")
            self.assertIn("status: NXDOMAIN", out, name)
        self.assertIn("status: SERVFAIL", self.dig("www.sandbox-broken.test", "A"))
        self.assertIn("status: REFUSED", self.dig("www.not-served.test", "A"))

    def test_dns_matches_expected(self) -> None:
        sb = self.sb
        checked = 0
        for url, e in self.outcomes().items():
            if e["dns_rcode"] is None:
                continue
            got = sandbox.resolve(sb.dns_address, sb.dns_port, e["host"])
            self.assertEqual(got["rcode"], e["dns_rcode"], url)
            self.assertEqual(got["cname_chain"], e["cname_chain"], url)
            self.assertEqual(
                sorted((t, ip, ttl) for t, ip, ttl in got["addresses"]),
                sorted((a["type"], a["ip"], a["ttl"]) for a in e["addresses"]),
                url)
            for a in e["addresses"]:
                if a.get("ptr"):
                    rev = ipaddress.ip_address(a["ip"]).reverse_pointer
                    r = sandbox.dns_query(sb.dns_address, sb.dns_port, rev, "PTR")
                    self.assertEqual([d for _, t, _, d in r.answers if t == "PTR"],
                                     [a["ptr"]], a["ip"])
            checked += 1
        self.assertGreaterEqual(checked, 25)
        # NS of a registrable domain, answered authoritatively, over TCP.
        r = sandbox.dns_query(sb.dns_address, sb.dns_port, "sandbox-jp.test",
                              "NS", tcp=True)
        self.assertTrue(r.aa)
        self.assertEqual([d for _, t, _, d in r.answers], ["ns1.sandbox-jp.test"])
        # Round robin: knotd answers in canonical order, whatever the zone file.
        r = sandbox.dns_query(sb.dns_address, sb.dns_port,
                              "mirror.sandbox-de.test", "A")
        self.assertEqual([d for _, _, _, d in r.answers],
                         sb.hosts["mirror.sandbox-de.test"])

    # -- HTTP
    def test_head_to_vhosts_with_curl(self) -> None:
        for name in ("shop.sandbox-de.test", "blog.sandbox-fr.test",
                     "files.sandbox-nl.test", "files.hoster.example"):
            r = self.curl(name, self.sb.url(name))
            self.assertEqual(r.returncode, 0, r.stderr)
            headers = r.stdout.lower()
            self.assertTrue(headers.startswith("http/1.1 200"), r.stdout)
            self.assertIn(f"x-sandbox-host: {name}", headers)
        # The two files.* names share an address; the vhost decides.
        self.assertEqual(self.sb.hosts["files.sandbox-nl.test"],
                         self.sb.hosts["files.hoster.example"])

    def test_redirect_301_with_curl(self) -> None:
        name = "old.sandbox-de.test"
        r = self.curl(name, self.sb.url(name, "/old"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("HTTP/1.1 301"), r.stdout)
        self.assertIn("Location: " + self.sb.url("shop.sandbox-de.test",
                                                 "/moved?from=old"), r.stdout)

    def test_https_with_curl(self) -> None:
        name = "secure.sandbox-fr.test"
        r = self.curl(name, self.sb.url(name, "/", "https"), "--cacert",
                      self.sb.ca_cert)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^HTTP/(2|1\.1) 200")
        name = "badtls.sandbox-jp.test"
        r = self.curl(name, self.sb.url(name, "/", "https"), "--cacert",
                      self.sb.ca_cert)
        self.assertEqual(r.returncode, 60, r.stderr)  # peer certificate
        r = self.curl(name, self.sb.url(name, "/", "https"), "--insecure")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_http_matches_expected(self) -> None:
        """Every outcome with a pinned sandbox address, probed for real."""
        sb = self.sb
        timeout = self.doc["sandbox"]["http_timeout_ms"] / 1000
        net = ipaddress.ip_network(sb.subnet)
        jobs = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            for url, e in self.outcomes().items():
                if not e["pinned_ip"] or \
                        ipaddress.ip_address(e["pinned_ip"]) not in net:
                    continue
                parts, _ = sandbox.normalize(url)
                for pin in e["pinned_ip_one_of"]:
                    jobs[(url, pin)] = pool.submit(
                        sandbox.head, pin, parts["port"], parts["host"],
                        parts["path_query"], tls=parts["scheme"] == "https",
                        cafile=sb.ca_cert, timeout=timeout,
                        max_header_bytes=self.doc["sandbox"]["max_header_bytes"])
            for (url, pin), fut in jobs.items():
                e = self.outcomes()[url]
                got = fut.result()
                with self.subTest(url=url, pinned=pin):
                    self.assertEqual(got["error_class"] or None,
                                     e["http_error_class"], got)
                    self.assertEqual(got["status"] or None, e["http_status"], got)
                    for k, v in e["http_headers"].items():
                        self.assertEqual(got["headers"].get(k), v, k)
                    if e["http_location"]:
                        self.assertEqual(got["headers"]["location"],
                                         e["http_location"])
                    if e["tls_verify"]:
                        self.assertTrue(got["tls_verify"].lower().startswith(
                            e["tls_verify"]), got["tls_verify"])
        self.assertGreaterEqual(len(jobs), 25)

    def test_access_logs_count_requests(self) -> None:
        sb = self.sb
        name = "app.sandbox-us.test"
        before = Path(sb.nginx_access_log).read_text().count(f" {name} HEAD ")
        for _ in range(3):
            r = sandbox.head(sb.hosts[name][0], sb.http_port, name)
            self.assertEqual(r["status"], 200)
        log = Path(sb.nginx_access_log)
        deadline = time.monotonic() + 5
        while log.read_text().count(f" {name} HEAD ") < before + 3:
            self.assertLess(time.monotonic(), deadline, "access log not written")
            time.sleep(0.05)
        line = [l for l in log.read_text().splitlines() if f" {name} HEAD " in l][-1]
        self.assertTrue(line.startswith("127."), line)
        name = "body.sandbox-se.test"
        sandbox.head(sb.hosts[name][0], sb.http_port, name)
        deadline = time.monotonic() + 5
        while f" {name}:{sb.http_port} HEAD body_on_head" not in \
                Path(sb.hostile_access_log).read_text():
            self.assertLess(time.monotonic(), deadline, "hostile log not written")
            time.sleep(0.05)

    def test_body_host_sends_the_marker_to_head(self) -> None:
        # What makes the no-body checks of the run tests meaningful.
        name = "body.sandbox-se.test"
        with socket.create_connection((self.sb.hosts[name][0],
                                       self.sb.http_port), timeout=5) as s:
            s.sendall(f"HEAD / HTTP/1.1\r\nHost: {name}\r\n"
                      "Connection: close\r\n\r\n".encode())
            received = b""
            while chunk := s.recv(65536):
                received += chunk
        self.assertIn(sandbox.BODY_MARKER.encode(),
                      received.split(b"\r\n\r\n", 1)[1])

    # -- geolocation
    def test_geo_fixtures(self) -> None:
        sb = self.sb
        n = sb.subnet_octet
        country = Path(sb.dir, "geo", "country.csv").read_text(encoding="utf-8")
        asn = Path(sb.dir, "geo", "asn.csv").read_text(encoding="utf-8")
        self.assertIn(f"127.{n}.1.0,127.{n}.1.255,DE\n", country)
        self.assertIn(f'127.{n}.4.0,127.{n}.4.255,64504,"Sandbox Cloud US, Inc."\n', asn)
        self.assertIn("2001:db8:de::,", country)
        self.assertTrue(sb.geo_ready, f"MMDBs not built: {sb.geo_error}")
        self.assertTrue(shutil.which("mmdblookup"), "mmdblookup not installed")
        for url, e in self.outcomes().items():
            for a in e["addresses"]:
                for path, want in ((sb.geo_country_mmdb, a["country"]),
                                   (sb.geo_asn_mmdb, str(a["asn"]))):
                    r = subprocess.run(["mmdblookup", "--file", path, "--ip",
                                        a["ip"]], capture_output=True,
                                       text=True, timeout=10)
                    if a["country"]:
                        self.assertEqual(r.returncode, 0, (a, r.stderr))
                        self.assertIn(want, r.stdout, (path, a))
                    else:
                        self.assertNotIn('"', r.stdout, (path, a))


class LifecycleTest(unittest.TestCase):
    """Start/stop behaviour; each test starts its own sandboxes."""

    def setUp(self) -> None:
        self.dirs: list[str] = []

    def tearDown(self) -> None:
        for d in self.dirs:
            sandbox.stop(d)
            shutil.rmtree(d, ignore_errors=True)

    def new_dir(self, tag: str) -> str:
        d = _tmpdir(tag)
        self.dirs.append(d)
        return d

    def test_two_sandboxes_side_by_side_and_stop_is_clean(self) -> None:
        a_dir, b_dir = self.new_dir("a"), self.new_dir("b")
        t0 = time.monotonic()
        a = sandbox.start(a_dir, hostlocator=HOSTLOCATOR, die_with_parent=True)
        b = sandbox.start(b_dir, hostlocator=HOSTLOCATOR, die_with_parent=True)
        started = time.monotonic() - t0
        self.assertNotEqual((a.subnet_octet, a.http_port),
                            (b.subnet_octet, b.http_port))
        for sb in (a, b):  # each answers with its own DNS and nginx
            r = sandbox.dns_query(sb.dns_address, sb.dns_port,
                                  "shop.sandbox-de.test", "A")
            self.assertEqual([d for _, _, _, d in r.answers],
                             [f"127.{sb.subnet_octet}.1.10"])
            got = sandbox.head(sb.hosts["shop.sandbox-de.test"][0],
                               sb.http_port, "shop.sandbox-de.test")
            self.assertEqual(got["status"], 200)
        procs = sandbox.processes_of(a_dir)
        self.assertGreaterEqual(len(procs), 4, procs)  # knotd, nginx x2, hostile
        t0 = time.monotonic()
        self.assertEqual(sandbox.stop(a_dir), [])
        stopped = time.monotonic() - t0
        print(f"\ntwo starts {started:.2f} s, one stop {stopped:.2f} s",
              file=sys.stderr)
        self.assertEqual(sandbox.processes_of(a_dir), [])
        for pid in procs:
            self.assertFalse(sandbox._alive(pid), pid)
        self.assertEqual(sandbox.stop(a_dir), [])  # idempotent
        self.assertEqual(sandbox.head(b.hosts["shop.sandbox-de.test"][0],
                                      b.http_port, "shop.sandbox-de.test")["status"], 200)
        with self.assertRaises(ConnectionRefusedError):
            sandbox.dns_query(a.dns_address, a.dns_port, "sandbox-de.test",
                              "SOA", tcp=True)
        self.assertEqual(sandbox.stop(b_dir), [])
        self.assertEqual(sandbox.processes_of(b_dir), [])

    def test_cli_start_stop_leaves_nothing(self) -> None:
        d = self.new_dir("cli")
        r = subprocess.run([sys.executable, str(SCRIPT), "start", "--dir", d,
                            "--hostlocator", str(HOSTLOCATOR)],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sandbox internet running", r.stdout)
        # The daemons outlive the command that started them.
        procs = sandbox.processes_of(d)
        self.assertGreaterEqual(len(procs), 4, procs)
        for f in ("hostlocator.toml", "urls.txt", "expected.json", "sandbox.json"):
            self.assertTrue(Path(d, f).is_file(), f)
        for _ in range(2):  # the second stop has nothing to do
            r = subprocess.run([sys.executable, str(SCRIPT), "stop", "--dir", d],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(sandbox.processes_of(d), [])
        for pid in procs:
            self.assertFalse(sandbox._alive(pid), pid)

    def test_run_passes_env_and_exit_code(self) -> None:
        d = self.new_dir("run")
        probe = ("import os, sys; "
                 "assert os.path.isfile(os.environ['HL_SANDBOX_CONFIG']); "
                 "assert os.environ['HL_SANDBOX_DIR'] == sys.argv[1]; "
                 "sys.exit(7)")
        r = subprocess.run([sys.executable, str(SCRIPT), "run", "--dir", d,
                            "--hostlocator", str(HOSTLOCATOR), "--",
                            sys.executable, "-c", probe, str(Path(d).resolve())],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 7, r.stderr)
        self.assertEqual(sandbox.processes_of(d), [])

    def test_run_stops_on_signal(self) -> None:
        d = self.new_dir("sig")
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "run", "--dir", d, "--hostlocator",
             str(HOSTLOCATOR), "--", "sleep", "60"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:  # stderr is read only once the process has exited
            deadline = time.monotonic() + 30
            while not Path(d, "sandbox.json").exists() or \
                    not any("sleep" in sandbox._cmdline(p)
                            for p in _children(proc.pid)):
                if proc.poll() is not None:
                    self.fail(f"run exited {proc.returncode}: {proc.stderr.read()}")
                self.assertLess(time.monotonic(), deadline, "run did not start")
                time.sleep(0.05)
            self.assertTrue(sandbox.processes_of(d))
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=30)
            self.assertEqual(rc, 128 + signal.SIGTERM, proc.stderr.read())
            self.assertEqual(sandbox.processes_of(d), [])
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()


class LookupEndToEndTest(unittest.TestCase):
    """`hostlocator lookup` on every line of urls.txt, checked against
    expected.json: the whole pipeline (URL normalisation, DNS, geolocation,
    pinned HEAD, verdict) against the sandbox. Skipped until the binary has
    `lookup` and `geodb build` (the MMDBs)."""

    @classmethod
    def setUpClass(cls) -> None:
        if not os.access(HOSTLOCATOR, os.X_OK):
            raise AssertionError(f"{HOSTLOCATOR} not built")
        r = subprocess.run([str(HOSTLOCATOR), "lookup", "--help"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0 or "lookup" not in r.stdout + r.stderr:
            raise AssertionError("hostlocator has no lookup command")
        cls.tmp = _tmpdir("e2e")
        try:
            cls.sb = sandbox.start(cls.tmp, hostlocator=HOSTLOCATOR,
                                   die_with_parent=True)
            if not cls.sb.geo_ready:
                raise AssertionError(f"MMDBs not built: {cls.sb.geo_error}")
        except BaseException:
            sandbox.stop(cls.tmp)
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        with open(cls.sb.expected, encoding="utf-8") as f:
            cls.doc = json.load(f)

    @classmethod
    def tearDownClass(cls) -> None:
        sandbox.stop(cls.tmp)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def lookup(self, url: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(HOSTLOCATOR), "lookup", "-c", self.sb.config,
                               url], capture_output=True, text=True, timeout=60)

    def test_every_line_of_urls_txt(self) -> None:
        lines = self.doc["lines"]
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda rec: self.lookup(rec["input"]), lines))
        for rec, r in zip(lines, results):
            with self.subTest(line=rec["line"], input=rec["input"]):
                if rec["kind"] == "rejected":
                    self.assertEqual(r.returncode, 2, r.stdout)
                    self.assertIn(f"rejected ({rec['rejection']})", r.stderr)
                    continue
                self.assertEqual(r.returncode, 0, r.stderr)
                record = json.loads(r.stdout)
                self.assertEqual(record["url"], rec["normalized"])
                outcome = self.doc["outcomes"][rec["normalized"]]
                self.assertEqual(sandbox.check_record(outcome, record), [],
                                 json.dumps(record, indent=1)[:3000])


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.append(int(entry))
    return out


if __name__ == "__main__":
    sandbox.exit_unless_installed(["knotd", "nginx", "kdig", "curl", "mmdblookup"])
    unittest.main(verbosity=2)
