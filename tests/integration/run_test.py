"""`hostlocator run` end to end against the sandbox internet: coordinator
and 2 workers in one process over inproc://, RocksDB in a temporary data
folder, every line of the sandbox's urls.txt checked against expected.json;
resuming after kill -9; the streamed validation of a million lines.

Needs the built binary (HL_BINARY_DIR/cli/hostlocator), knotd and nginx. A
missing prerequisite is a failure, not a skip."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("HL_SOURCE_DIR",
                                 Path(__file__).resolve().parents[2]))
BINARY_DIR = Path(os.environ.get("HL_BINARY_DIR", SOURCE_DIR / "build"))
sys.path.insert(0, str(SOURCE_DIR / "scripts"))
sys.dont_write_bytecode = True
import sandbox  # noqa: E402

HOSTLOCATOR = str(BINARY_DIR / "cli" / "hostlocator")
STORE_GREP = os.environ.get(
    "HL_STORE_GREP", str(BINARY_DIR / "tests" / "integration" / "store_grep"))


def start_sandbox(tmp: str) -> sandbox.Sandbox:
    sb = sandbox.start(os.path.join(tmp, "sandbox"), hostlocator=HOSTLOCATOR,
                       die_with_parent=True)
    if not sb.geo_ready:
        sandbox.stop(sb.dir)
        raise AssertionError(f"sandbox MMDBs not built: {sb.geo_error}")
    return sb


class PacketCounter:
    """UDP and TCP listeners on `address` at each of `ports` that can be
    bound (`ports` lists those), counting datagrams and connections as
    (protocol, port) pairs in `received`; nothing is answered."""

    def __init__(self, address: str, ports: list[int]) -> None:
        self.sockets: list[socket.socket] = []
        for port in ports:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((address, port))
                except OSError:  # 53 without root, or held by a server
                    s.close()
                    continue
                if kind == socket.SOCK_STREAM:
                    s.listen(64)
                self.sockets.append(s)
        self.ports = sorted({s.getsockname()[1] for s in self.sockets})
        self.received: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select(self.sockets, [], [], 0.1)
            for s in ready:
                port = s.getsockname()[1]
                if s.type == socket.SOCK_DGRAM:
                    s.recvfrom(65536)
                    self.received.append(("udp", port))
                else:
                    conn, _ = s.accept()
                    conn.close()
                    self.received.append(("tcp", port))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for s in self.sockets:
            s.close()


def query_resolvers(value) -> list[str]:
    """The resolver of every DNS query in a result record (dns.queries and
    each redirect hop's)."""
    if isinstance(value, list):
        return [r for v in value for r in query_resolvers(v)]
    if not isinstance(value, dict):
        return []
    if "rcode" in value and "resolver" in value:
        return [value["resolver"]]
    return [r for v in value.values() for r in query_resolvers(v)]


class RunEndToEndTest(unittest.TestCase):
    """Every line of urls.txt through `hostlocator run --threads 2`."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp(prefix="hl-run-e2e-")
        cls.unconfigured = None
        try:
            cls.sb = start_sandbox(cls.tmp)
            # The name server hoster.example names besides the configured
            # one, at the port a resolver following its glue would use and
            # at the configured server's.
            cls.unconfigured = PacketCounter(
                cls.sb.hosts[sandbox.UNCONFIGURED_NS][0],
                [53, cls.sb.dns_port])
            cls.out = os.path.join(cls.tmp, "out")
            # Logs at debug level: the no-body test reads them too.
            cls.proc = subprocess.run(
                [HOSTLOCATOR, "--log-level", "debug", "run", "--config",
                 cls.sb.config, "--threads", "2", "--data", os.path.join(cls.tmp, "data"), "--out",
                 cls.out, cls.sb.urls],
                capture_output=True, text=True, timeout=240)
        except BaseException:
            cls.tearDownClass()
            raise
        with open(cls.sb.expected, encoding="utf-8") as f:
            cls.doc = json.load(f)
        cls.run_dir = os.path.join(cls.out, "run-1")

    @classmethod
    def tearDownClass(cls) -> None:
        if cls.unconfigured:
            cls.unconfigured.close()
        sandbox.stop(os.path.join(cls.tmp, "sandbox"))
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def records(self) -> list[dict]:
        with open(os.path.join(self.run_dir, "results.jsonl"),
                  encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def test_exit_code_and_summary(self) -> None:
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        counts = self.doc["counts"]
        self.assertIn(f"{counts['urls']} new URLs to probe", self.proc.stdout)
        self.assertIn(f"{counts['rejected']} rejected", self.proc.stdout)
        self.assertIn("hosting countries:", self.proc.stdout)
        self.assertIn("results.jsonl", self.proc.stdout)

    def test_one_verdict_line_per_probed_url(self) -> None:
        verdicts = [l for l in self.proc.stdout.splitlines()
                    if re.match(r"^\[\s*\d+/\d+\] ", l)]
        self.assertEqual(len(verdicts), self.doc["counts"]["urls"])

    def test_rejections_printed_with_line_numbers(self) -> None:
        for rec in self.doc["lines"]:
            if rec["kind"] == "rejected":
                self.assertIn(f"line {rec['line']}: rejected "
                              f"({rec['rejection']})", self.proc.stdout)

    def test_every_line_has_its_expected_outcome(self) -> None:
        records = {r["line"]: r for r in self.records()}
        expected_lines = {rec["line"] for rec in self.doc["lines"]}
        self.assertEqual(set(records), expected_lines,
                         "lines missing or extra in results.jsonl")
        for rec in self.doc["lines"]:
            record = records[rec["line"]]
            with self.subTest(line=rec["line"], input=rec["input"]):
                self.assertEqual(record["input"], rec["input"])
                if rec["kind"] == "rejected":
                    self.assertEqual(record["status"], "rejected")
                    self.assertEqual(record["reason"], rec["rejection"])
                    continue
                self.assertEqual(record["url"], rec["normalized"])
                outcome = self.doc["outcomes"][rec["normalized"]]
                self.assertEqual(sandbox.check_record(outcome, record), [],
                                 json.dumps(record, indent=1)[:3000])

    def test_rdap_facts_and_confidence(self) -> None:
        """The coordinator's RDAP enrichment: the sandbox RDAP server's
        facts are in the records and decide the confidence (high where
        geolocation, the network record and the AS registry agree; medium
        with the disagreement named where the JP AS is registered in SG)."""
        records = {r["url"]: r for r in self.records() if r.get("url")}
        self.assertNotIn("still wait for enrichment", self.proc.stdout)
        shop = records[self.sb.url("shop.sandbox-de.test")]
        rdap = shop["rdap"]
        self.assertEqual(rdap["state"], "complete", json.dumps(rdap))
        self.assertEqual(rdap["notes"], [])
        pinned = [n for n in rdap["networks"] if n["ip"] == shop["pinned_ip"]]
        self.assertEqual(len(pinned), 1, json.dumps(rdap))
        self.assertEqual(pinned[0]["country"], "DE")
        self.assertEqual(pinned[0]["registry_country"], "DE")
        self.assertEqual(pinned[0]["abuse_email"], "abuse@net-de.sandbox.test")
        self.assertEqual(pinned[0]["start_address"],
                         f"127.{self.sb.subnet_octet}.1.0")
        self.assertTrue(pinned[0]["source"].startswith(self.sb.rdap_url))
        self.assertEqual(shop["registration"]["registrar"],
                         "Sandbox Registrar DE")
        self.assertEqual(shop["registration"]["domain"], "sandbox-de.test")
        answering = [a for a in shop["addresses"] if a["ip"] == shop["pinned_ip"]]
        self.assertEqual(answering[0]["rdap_country"], "DE")
        self.assertEqual(answering[0]["registry_country"], "DE")
        j = shop["verdict"]["jurisdiction"]
        self.assertEqual(j["confidence"], "high")
        self.assertEqual(j["disagreements"], [])
        self.assertEqual(j["registrar"], "Sandbox Registrar DE")
        self.assertIn("jurisdiction: hosted DE (confidence high)",
                      shop["verdict"]["reasons"])
        for host, country in (("blog.sandbox-fr.test", "FR"),
                              ("app.sandbox-us.test", "US")):
            with self.subTest(host=host):
                r = [rec for url, rec in records.items()
                     if rec["host"] == host][0]
                self.assertEqual(r["verdict"]["jurisdiction"]["confidence"],
                                 "high", json.dumps(r["rdap"]))
                self.assertEqual(r["verdict"]["jurisdiction"]
                                 ["primary_countries"], [country])

        jp = records[self.sb.url("www.sandbox-jp.test")]
        j = jp["verdict"]["jurisdiction"]
        self.assertEqual(j["confidence"], "medium", json.dumps(jp["rdap"]))
        self.assertTrue(any("the ASN registry says SG" in d
                            for d in j["disagreements"]), j["disagreements"])
        self.assertTrue(any(r.startswith("disagreement: ")
                            for r in jp["verdict"]["reasons"]))

    def test_rdap_failures_never_fail_a_result(self) -> None:
        """429 (the SE network server), 404 (an address in no RDAP
        network) and a malformed answer (sandbox-nl.test's registration)
        are notes on the result, which keeps its status."""
        records = {r["url"]: r for r in self.records() if r.get("url")}
        for rec in records.values():
            with self.subTest(url=rec["url"]):
                self.assertIn(rec["rdap"]["state"],
                              ("complete", "partial", "unavailable"))
                outcome = self.doc["outcomes"][rec["url"]]
                self.assertEqual(rec["status"], outcome["status"])
        body = [r for r in records.values()
                if r["host"] == "body.sandbox-se.test"][0]
        self.assertEqual(body["rdap"]["state"], "partial")
        self.assertTrue(any("429" in n for n in body["rdap"]["notes"]),
                        body["rdap"]["notes"])
        files = records[self.sb.url("files.sandbox-nl.test", "/a/b.html?c=d&e=f")]
        self.assertEqual(files["status"], "located")
        self.assertEqual(files["rdap"]["state"], "partial")
        self.assertTrue(any("registration of sandbox-nl.test unavailable" in n
                            and "malformed" in n
                            for n in files["rdap"]["notes"]),
                        files["rdap"]["notes"])
        self.assertIsNone(files["registration"])
        self.assertEqual(files["verdict"]["jurisdiction"]["confidence"], "high")
        nowhere = records[self.sb.url("nowhere.sandbox-nl.test")]
        net = nowhere["rdap"]["networks"][0]
        self.assertIsNone(net["country"])  # 404: no record, not a failure
        self.assertFalse(any("network of" in n
                             for n in nowhere["rdap"]["notes"]))

    def test_certificates_recorded_not_enforced(self) -> None:
        """http.tls holds the certificate nginx sent (its SHA-256 is one of
        the sandbox's leaf files); a certificate for another name is
        recorded, never an HTTP error; plain HTTP has no tls."""
        tls_dir = Path(self.sb.dir) / "tls"
        leaves = {
            hashlib.sha256(ssl.PEM_cert_to_DER_cert(
                pem.read_text(encoding="ascii"))).hexdigest(): pem.name
            for pem in tls_dir.glob("*.pem") if pem.name != "ca.pem"}
        records = {r["url"]: r for r in self.records() if r.get("http")}
        checked = 0
        for url, outcome in self.doc["outcomes"].items():
            http = (records.get(url) or {}).get("http")
            if http is None:
                continue
            with self.subTest(url=url):
                if url.startswith("http:"):
                    self.assertIsNone(http["tls"])
                    self.assertIsNone(http["timings"]["tls_ms"])
                    continue
                if outcome["tls_verify"] is None:
                    continue
                tls = http["tls"]
                self.assertIsNotNone(tls, json.dumps(http)[:2000])
                self.assertIsNone(http["error"])
                self.assertIn(tls["sha256"], leaves)
                self.assertEqual(tls["chain"][0]["sha256"], tls["sha256"])
                self.assertTrue(tls["protocol"].startswith("TLSv1."))
                self.assertEqual(tls["name_matched"],
                                 outcome["tls_verify"] == "ok", tls)
                t = http["timings"]
                self.assertLessEqual(t["connect_ms"], t["tls_ms"])
                self.assertLessEqual(t["tls_ms"], t["first_byte_ms"])
                checked += 1
        self.assertGreaterEqual(checked, 2, "no https probe was checked")

    def test_duplicates_were_probed_once(self) -> None:
        # access log: client host method "uri" status server_addr:port time
        seen: dict[tuple[str, str, str], int] = {}
        with open(self.sb.nginx_access_log, encoding="utf-8") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 5 and fields[2] == "HEAD":
                    key = (fields[1], fields[3], fields[5])  # host, uri, port
                    seen[key] = seen.get(key, 0) + 1
        self.assertTrue(seen, "nginx saw no HEAD at all")
        self.assertEqual({k: n for k, n in seen.items() if n > 1}, {},
                         "URLs probed more than once")

    def test_per_country_reports(self) -> None:
        with open(os.path.join(self.run_dir, "countries.csv"),
                  encoding="utf-8") as f:
            rows = {r["country"]: r for r in csv.DictReader(f)}
        expected_lines: dict[str, int] = {}
        for rec in self.doc["lines"]:
            if rec["kind"] == "rejected":
                continue
            for c in self.doc["outcomes"][rec["normalized"]]["hosting_countries"]:
                expected_lines[c] = expected_lines.get(c, 0) + 1
        self.assertEqual({c: int(r["lines"]) for c, r in rows.items()},
                         expected_lines)
        # The referral packages: one per primary jurisdiction, each line of
        # the run in at least one (unattributed when it has none).
        with open(os.path.join(self.run_dir, "referrals", "index.json"),
                  encoding="utf-8") as f:
            index = json.load(f)
        self.assertEqual(index["lines_seen"], len(self.doc["lines"]))
        self.assertEqual(index["lines_selected"], len(self.doc["lines"]))
        for package in index["packages"]:
            key = package["key"]
            with open(os.path.join(self.run_dir, "referrals", key,
                                   f"{key}.csv"), encoding="utf-8") as f:
                self.assertEqual(len(list(csv.DictReader(f))),
                                 package["lines"], key)
            for name in ("json", "html"):
                self.assertTrue(os.path.exists(os.path.join(
                    self.run_dir, "referrals", key, f"{key}.{name}")))
        expected_packages: dict[str, int] = {}
        for record in self.records():
            verdict = record.get("verdict") or {}
            keys = (verdict.get("jurisdiction") or {}).get(
                "primary_countries") or ["unattributed"]
            for key in keys:
                expected_packages[key] = expected_packages.get(key, 0) + 1
        self.assertEqual({p["key"]: p["lines"] for p in index["packages"]},
                         expected_packages)
        # Signed as one set with the data folder's key, every file chained.
        referrals = os.path.join(self.run_dir, "referrals")
        r = subprocess.run(
            [HOSTLOCATOR, "verify", referrals, "--pubkey",
             os.path.join(self.tmp, "data", "signing.pub")],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(r.stdout.startswith(f"OK {referrals}: "), r.stdout)
        self.assertTrue(os.path.exists(os.path.join(referrals,
                                                    "index.html.chain")))
        with open(os.path.join(self.run_dir, "ATTRIBUTION.txt"),
                  encoding="utf-8") as f:
            self.assertIn("synthetic", f.read())

    def test_name_servers_and_reverse_names(self) -> None:
        shop = next(r for r in self.records()
                    if r.get("host") == "shop.sandbox-de.test")
        dns = shop["dns"]
        self.assertEqual(dns["ns_domain"], "sandbox-de.test")
        self.assertEqual(dns["ns"], ["ns1.sandbox-de.test"])
        first = dns["ptr"][0]
        self.assertEqual(first["ip"], shop["addresses"][0]["ip"])
        self.assertEqual(first["names"], ["shop.sandbox-de.test"])
        types = [q["type"] for q in dns["queries"]]
        self.assertEqual(types[:3], ["A", "AAAA", "NS"])
        self.assertIn("PTR", types)

    def test_dns_goes_only_to_the_configured_resolver(self) -> None:
        # hostlocator learnt of the other name server of hoster.example ...
        files = next(r for r in self.records()
                     if r.get("host") == "files.hoster.example")
        self.assertIn(sandbox.UNCONFIGURED_NS, files["dns"]["ns"])
        # ... and sent it nothing, over UDP or TCP, on either port.
        self.assertIn(self.sb.dns_port, self.unconfigured.ports)
        self.assertEqual(self.unconfigured.received, [])
        # Every query sent (a null resolver: never sent) went to it.
        resolvers = set(query_resolvers(self.records())) - {None}
        self.assertEqual(resolvers, {self.sb.dns_server})
        # The listener counts what reaches it.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\0" * 12, (self.sb.hosts[sandbox.UNCONFIGURED_NS][0],
                                  self.sb.dns_port))
        sandbox.wait_until(lambda: self.unconfigured.received, 5,
                           "the listener's own check")
        self.assertEqual(self.unconfigured.received,
                         [("udp", self.sb.dns_port)])

    def test_no_body_byte_anywhere(self) -> None:
        # The body host sends a marked body even to HEAD (hard rule 1).
        records = [r for r in self.records() if "body.sandbox-se" in r["input"]]
        self.assertTrue(records)
        self.assertTrue(all(r["http"]["body_bytes"] == 0 for r in records))
        marker = sandbox.BODY_MARKER.encode()
        for root in (self.out, os.path.join(self.tmp, "data")):
            for folder, _, files in os.walk(root):
                for name in files:
                    with open(os.path.join(folder, name), "rb") as f:
                        self.assertNotIn(marker, f.read(),
                                         os.path.join(folder, name))
        # Through RocksDB too: a compressed block could hide it from the
        # scan of the raw files above.
        grep = subprocess.run(
            [STORE_GREP, os.path.join(self.tmp, "data"), sandbox.BODY_MARKER],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(grep.returncode, 0, grep.stderr)
        self.assertRegex(grep.stdout, r"\Aread [1-9]\d* entries\n\Z")
        for fmt in ("jsonl", "csv"):
            exported = subprocess.run(
                [HOSTLOCATOR, "export", "--data",
                 os.path.join(self.tmp, "data"), "--format", fmt],
                capture_output=True, timeout=60)
            self.assertEqual(exported.returncode, 0)
            self.assertNotIn(marker, exported.stdout)
        self.assertNotIn(sandbox.BODY_MARKER, self.proc.stdout)
        self.assertIn("leaves", self.proc.stderr)  # debug logging was on
        self.assertNotIn(sandbox.BODY_MARKER, self.proc.stderr)
        # libcurl's verbose output ("* ", "> ", "< " lines) never reaches
        # the logs, not even at debug level.
        self.assertNotRegex(self.proc.stderr, r"(?m)^[*<>] ")

    def test_every_request_is_a_head(self) -> None:
        # HEAD only (there is no GET fallback): every probe nginx and the
        # hostile server saw in the run; the method is the third field of
        # both access logs ("rdap GET ..." lines are the coordinator's RDAP
        # lookups, not probes).
        for log in (self.sb.nginx_access_log, self.sb.hostile_access_log):
            with open(log, encoding="utf-8") as f:
                methods = {line.split()[2] for line in f
                           if len(line.split()) > 2
                           and not line.startswith("rdap ")}
            self.assertEqual(methods, {"HEAD"}, log)

    def test_export_matches_the_run_output(self) -> None:
        exported = subprocess.run(
            [HOSTLOCATOR, "export", "--data", os.path.join(self.tmp, "data"),
             "--format", "jsonl"], capture_output=True, text=True, timeout=60)
        self.assertEqual(exported.returncode, 0, exported.stderr)
        with open(os.path.join(self.run_dir, "results.jsonl"),
                  encoding="utf-8") as f:
            self.assertEqual(exported.stdout, f.read())


VERDICT_LINE = re.compile(r"^\[\s*\d+/\d+\] \S+\s+\S+\s+(\S+)")


@contextlib.contextmanager
def sandbox_session(tag: str):
    """A temporary folder with a running sandbox in it; both gone after."""
    tmp = tempfile.mkdtemp(prefix=f"hl-run-{tag}-")
    try:
        yield tmp, start_sandbox(tmp)
    finally:
        sandbox.stop(os.path.join(tmp, "sandbox"))
        shutil.rmtree(tmp, ignore_errors=True)


def slow_run_command(tmp: str, sb: sandbox.Sandbox, prefix: str,
                     n: int) -> list[str]:
    """`hostlocator run` over n URLs on the sandbox host that answers after
    1 s, with 4 probes in flight, so a run lasts long enough to interrupt."""
    urls = os.path.join(tmp, "slow.txt")
    with open(urls, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(sb.url("slow.sandbox-jp.test", f"/{prefix}/{i}") + "\n")
    return [HOSTLOCATOR, "run", "--config", sb.config, "--threads", "2",
            "--in-flight", "2", "--data", os.path.join(tmp, "data"),
            "--out", os.path.join(tmp, "out"), urls]


def read_verdict_urls(proc: subprocess.Popen, count: int) -> list[str]:
    """The URLs of the first `count` verdict lines a running `run` prints."""
    urls: list[str] = []
    deadline = time.monotonic() + 60
    while len(urls) < count and time.monotonic() < deadline:
        m = VERDICT_LINE.match(proc.stdout.readline())
        if m:
            urls.append(m.group(1))
    return urls


def requests_per_path(sb: sandbox.Sandbox, prefix: str) -> dict[str, int]:
    """How often nginx saw each /prefix/N path."""
    counts: dict[str, int] = {}
    with open(sb.nginx_access_log, encoding="utf-8") as f:
        for line in f:
            m = re.search(rf'"(/{prefix}/\d+)"', line)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


class RdapUnreachableTest(unittest.TestCase):
    """An RDAP server that does not answer (nothing listens) fails no
    probe: every result is stored, its rdap.state "unavailable" with a
    note per lookup, and the run ends normally."""

    def test_unreachable_rdap_fails_nothing(self) -> None:
        tmp = tempfile.mkdtemp(prefix="hl-run-rdap-")
        try:
            sb = start_sandbox(tmp)
            # A bootstrap pointing at a closed loopback port.
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                closed = s.getsockname()[1]
            dead = Path(tmp) / "dead-rdap"
            dead.mkdir()
            for name in ("ipv4", "ipv6", "asn", "dns"):
                doc = json.loads((Path(sb.rdap_bootstrap_dir) /
                                  f"{name}.json").read_text())
                for service in doc["services"]:
                    service[1] = [f"http://127.0.0.1:{closed}/"]
                (dead / f"{name}.json").write_text(json.dumps(doc))
            config = Path(tmp) / "dead.toml"
            config.write_text(Path(sb.config).read_text().replace(
                json.dumps(sb.rdap_bootstrap_dir), json.dumps(str(dead))))
            urls = Path(tmp) / "urls.txt"
            urls.write_text(sb.url("shop.sandbox-de.test") + "\n" +
                            sb.url("www.sandbox-jp.test") + "\n")
            out = os.path.join(tmp, "out")
            proc = subprocess.run(
                [HOSTLOCATOR, "run", "--config", str(config), "--data",
                 os.path.join(tmp, "data"), "--out", out, str(urls)],
                capture_output=True, text=True, timeout=120)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            with open(os.path.join(out, "run-1", "results.jsonl"),
                      encoding="utf-8") as f:
                records = [json.loads(line) for line in f]
            self.assertEqual(len(records), 2)
            for r in records:
                with self.subTest(url=r["url"]):
                    self.assertEqual(r["status"], "located")
                    self.assertEqual(r["rdap"]["state"], "unavailable")
                    # each address's network and AS entry, the registration
                    asked = sum(1 + (1 if n["asn"] else 0)
                                for n in r["rdap"]["networks"]) + 1
                    self.assertEqual(len(r["rdap"]["notes"]), asked,
                                     r["rdap"]["notes"])
                    self.assertTrue(all("unavailable: RDAP request to" in n
                                        for n in r["rdap"]["notes"]))
                    self.assertEqual(
                        r["verdict"]["jurisdiction"]["confidence"], "low")
        finally:
            sandbox.stop(os.path.join(tmp, "sandbox"))
            shutil.rmtree(tmp, ignore_errors=True)


class ResumeAfterKillTest(unittest.TestCase):
    """kill -9 in the middle of a run; the same command again finishes the
    list without probing again what was done."""

    def test_resume_probes_only_what_is_not_done(self) -> None:
        n = 40
        with sandbox_session("resume") as (tmp, sb):
            cmd = slow_run_command(tmp, sb, "item", n)
            first = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            done_before_kill = read_verdict_urls(first, 8)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            first.stdout.close()
            self.assertEqual(len(done_before_kill), 8)
            # The reports were being written: only as run-1.partial.
            self.assertNotIn("run-1", os.listdir(os.path.join(tmp, "out")))

            second = subprocess.run(cmd, capture_output=True, text=True,
                                    timeout=120)
            self.assertEqual(second.returncode, 0, second.stderr)
            m = re.search(r"(\d+) new URLs to probe, (\d+) already known",
                          second.stdout)
            self.assertIsNotNone(m, second.stdout)
            self.assertEqual(int(m.group(1)), 0)
            self.assertEqual(int(m.group(2)), n)

            with open(os.path.join(tmp, "out", "run-2", "results.jsonl"),
                      encoding="utf-8") as f:
                records = [json.loads(l) for l in f]
            self.assertEqual(len(records), n)
            self.assertTrue(all(r["status"] == "located" for r in records),
                            [r["status"] for r in records])
            self.assertNotIn("run-2.partial",
                             os.listdir(os.path.join(tmp, "out")))

            requests = requests_per_path(sb, "item")
            for url in done_before_kill:
                path = url[url.index("/item/"):]
                self.assertEqual(requests.get(path), 1,
                                 f"{path} probed again after resume")
            self.assertEqual(len(requests), n)


class InterruptTest(unittest.TestCase):
    """Ctrl-C: the probes under way finish and are kept, exit 130, and the
    rerun probes only the rest: no URL is ever probed twice."""

    def test_sigint_keeps_probes_under_way(self) -> None:
        n = 24
        with sandbox_session("sigint") as (tmp, sb):
            cmd = slow_run_command(tmp, sb, "int", n)
            first = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            self.assertEqual(len(read_verdict_urls(first, 4)), 4)
            sandbox.assert_no_core_dumps(self, first.pid)
            first.send_signal(signal.SIGINT)
            out, _ = first.communicate(timeout=60)
            self.assertEqual(first.returncode, 130, out)
            self.assertRegex(out, rf"interrupted after \d+ of {n} probes")
            # No report of the interrupted run, not even a partial one
            # (the reports are written while the probes run).
            out_dir = os.path.join(tmp, "out")
            self.assertEqual(os.listdir(out_dir) if os.path.isdir(out_dir)
                             else [], [])

            second = subprocess.run(cmd, capture_output=True, text=True,
                                    timeout=120)
            self.assertEqual(second.returncode, 0, second.stderr)
            self.assertEqual(sorted(os.listdir(out_dir)), ["run-2"])
            with open(os.path.join(out_dir, "run-2", "results.jsonl"),
                      encoding="utf-8") as f:
                self.assertEqual(sum(1 for _ in f), n)
            requests = requests_per_path(sb, "int")
            self.assertEqual(len(requests), n)
            self.assertEqual({p: c for p, c in requests.items() if c != 1}, {},
                             "probed twice")


class StdinCsvTest(unittest.TestCase):
    """A CSV list with a `url` column, read from standard input."""

    def test_csv_from_stdin(self) -> None:
        with sandbox_session("csv") as (tmp, sb):
            shop = sb.url("shop.sandbox-de.test")
            rows = [
                "case,url,note,referer",
                f"A-1,{shop},first,",
                f"A-2,{shop.replace('shop.', 'SHOP.')},\"same, other case\",",
                "A-3,ftp://files.example/,rejected,",
                f"A-4,\"{sb.url('blog.sandbox-fr.test', '/a?b=1,2')}\",quoted,",
                f"A-5,{shop},from a forum,HTTP://Forum.Example/t/1",
                f"A-6,{shop},bad referer,javascript:alert(1)",
            ]
            r = subprocess.run(
                [HOSTLOCATOR, "run", "--config", sb.config, "--data",
                 os.path.join(tmp, "data"), "--out", os.path.join(tmp, "out"),
                 "-"], input="\n".join(rows) + "\n", capture_output=True,
                text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            # shop without and with a referer are two jobs (request context)
            self.assertIn("3 new URLs to probe", r.stdout)
            with open(os.path.join(tmp, "out", "run-1", "results.jsonl"),
                      encoding="utf-8") as f:
                records = [json.loads(l) for l in f]
            self.assertEqual([x["line"] for x in records], [2, 3, 4, 5, 6, 7])
            self.assertEqual([x["status"] for x in records],
                             ["located", "located", "rejected", "located",
                              "located", "rejected"])
            self.assertIsNone(records[0]["context"])
            self.assertEqual(records[4]["context"],
                             {"referer": "http://forum.example/t/1",
                              "user_agent": None})
            self.assertEqual(records[5]["reason"], "invalid referer")
            self.assertEqual(records[0]["url"], records[1]["url"])
            self.assertEqual(records[2]["reason"], "unsupported scheme")
            self.assertTrue(records[3]["url"].endswith("/a?b=1,2"))
            self.assertEqual(records[3]["verdict"]["hosting_countries"], ["FR"])


class ValidateOnlyTest(unittest.TestCase):
    """--validate-only streams: a million lines in bounded memory."""

    def test_million_lines_under_200_mb(self) -> None:
        tmp = tempfile.mkdtemp(prefix="hl-validate-")
        try:
            path = os.path.join(tmp, "million.txt")
            n = 1_000_000
            with open(path, "w", encoding="utf-8") as f:
                for i in range(n):
                    if i % 1000 == 999:
                        f.write(f"ftp://bad{i}.example/\n")
                    else:
                        f.write(f"https://host{i % 5000}.example-{i}.org/"
                                f"path/{i}?q={i}\n")
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            r = subprocess.run([HOSTLOCATOR, "run", "--validate-only", path],
                               capture_output=True, text=True, timeout=600)
            peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(f"validated {n} URL lines: {n - 1000} accepted, "
                          f"1000 rejected", r.stdout)
            self.assertIn("line 1000: rejected (unsupported scheme)", r.stdout)
            self.assertGreaterEqual(peak_kib, before)
            print(f"validate-only: {n} lines, peak RSS {peak_kib / 1024:.1f} MiB",
                  file=sys.stderr)
            if os.environ.get("HL_SANITIZED") != "1":
                # AddressSanitizer's quarantine and shadow memory make RSS
                # meaningless; the bound is checked on the normal build.
                self.assertLess(peak_kib, 200 * 1024)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
