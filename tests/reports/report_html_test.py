"""Referral packages in headless Chromium.

A fixture data folder (report_fixture: every kind of package line, and
hostile values from reported sites) is exported with `hostlocator export
--by jurisdiction`; each HTML page is then loaded from file:// by the Debian
chromium with its network log and console on: no request of the page may
leave file:/data:, no console message may appear, the DOM has one row per
URL line and names the referral target, and values from reported sites are
text, never markup. A control page (no CSP, a loopback image and a console
call) proves that the checks see what they look for. Screenshots go to
HL_ARTIFACTS.

Needs chromium (scripts/install-deps.sh); a missing browser is a failure.
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import unittest

FIXTURE = os.environ["HL_REPORT_FIXTURE"]
HOSTLOCATOR = os.environ["HL_HOSTLOCATOR"]
ARTIFACTS = os.environ.get("HL_ARTIFACTS", "")
CHROMIUM = shutil.which("chromium")
WINDOW = (1280, 1600)


class Dom(html.parser.HTMLParser):
    """Tags, attributes and text of a serialised DOM."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data) -> None:
        self.text.append(data)

    def all_text(self) -> str:
        return "".join(self.text)

    def with_class(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags
                if t == tag and cls in a.get("class", "").split()]


def chromium(tmp: str, page: str, *mode: str) -> tuple[str, str, list[str]]:
    """Loads `page` in headless Chromium: (stdout, stderr, the URLs the page
    requested). Host names resolve nowhere, so the browser's own background
    requests cannot leave the machine either."""
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    netlog = os.path.join(profile, "net.json")
    cmd = [CHROMIUM, "--headless", "--no-sandbox",
           "--disable-background-networking", "--disable-gpu",
           "--disable-component-update", "--no-first-run",
           "--disable-default-apps", "--disable-sync",
           f"--user-data-dir={profile}",
           "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
           f"--log-net-log={netlog}", "--enable-logging=stderr", "--v=0",
           f"--window-size={WINDOW[0]},{WINDOW[1]}", *mode,
           "file://" + page]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                       cwd=profile)
    if r.returncode != 0:
        raise AssertionError(f"chromium exit {r.returncode}: {r.stderr[-2000:]}")
    return r.stdout, r.stderr, page_requests(netlog)


def page_requests(netlog: str) -> list[str]:
    """URLs of the requests that a page (not the browser itself) started:
    URL_REQUEST_START_JOB events whose isolation key is the file:// page."""
    with open(netlog, encoding="utf-8") as f:
        text = f.read()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # a log cut short at exit
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params", {})
        if (event["type"] == start_job and
                params.get("network_isolation_key", "").startswith("file://")):
            urls.append(params["url"])
    return urls


def console_messages(stderr: str) -> list[str]:
    return [l for l in stderr.splitlines() if ":CONSOLE" in l]


def png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


class ReferralPackageHtmlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        if CHROMIUM is None:
            raise AssertionError("chromium not found: run scripts/install-deps.sh")
        cls.tmp = tempfile.mkdtemp(prefix="hl-report-html-")
        cls.doms: dict[str, tuple[str, str, list[str]]] = {}
        cls.data = os.path.join(cls.tmp, "data")
        r = subprocess.run([FIXTURE, cls.data], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        cls.out = os.path.join(cls.tmp, "packages")
        cls.export = cls.run_export("--out", cls.out)
        with open(os.path.join(cls.out, "index.json"), encoding="utf-8") as f:
            cls.index = json.load(f)

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def run_export(cls, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [HOSTLOCATOR, "export", "--data", cls.data, "--by", "jurisdiction",
             *args], capture_output=True, text=True, timeout=60)

    def package(self, key: str, out: str | None = None) -> dict:
        with open(os.path.join(out or self.out, key, f"{key}.json"),
                  encoding="utf-8") as f:
            return json.load(f)

    def test_packages_group_lines_by_primary_jurisdiction(self) -> None:
        self.assertEqual(self.export.returncode, 0, self.export.stderr)
        self.assertIn("7 of 7 lines in 4 referral packages", self.export.stdout)
        lines = {p["key"]: p["lines"] for p in self.index["packages"]}
        # DE: shop twice, hostile, multi; NL: multi; US: the CDN's country
        # (origin hidden); unattributed: the rejected line and NXDOMAIN.
        self.assertEqual(lines, {"DE": 4, "NL": 1, "US": 1, "unattributed": 2})
        de = self.package("DE")
        self.assertEqual([r["line"] for r in de["records"]], [1, 3, 6, 7])
        self.assertEqual(de["summary"]["urls"], 3)
        self.assertEqual(
            [t["name"] for t in de["summary"]["referral_targets"]],
            ["eco Beschwerdestelle", "FSM Beschwerdestelle"])
        self.assertTrue(de["summary"]["directory_unverified"])
        self.assertIn("abuse@registrar.fixture.test (RDAP)",
                      " ".join(de["summary"]["abuse_contacts"]))
        us = self.package("US")
        self.assertEqual([t["name"] for t in us["summary"]["referral_targets"]],
                         ["NCMEC CyberTipline", "CDN Provider"])
        self.assertEqual(
            [t["name"] for t in us["summary"]["secondary_referrals"]],
            ["Offlimits"])
        for p in self.index["packages"]:
            for f in p["files"]:
                path = os.path.join(self.out, f["path"])
                self.assertEqual(os.path.getsize(path), f["bytes"], f)

    def verify(self, path: str, manifest: str | None = None
               ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [HOSTLOCATOR, "verify", path, "--pubkey",
             os.path.join(self.data, "signing.pub"),
             *(["--manifest", manifest] if manifest else [])],
            capture_output=True, text=True, timeout=30)

    def test_packages_are_signed_and_verify(self) -> None:
        self.assertIn("signed manifest:", self.export.stdout)
        with open(os.path.join(self.out, "packages.manifest"), "rb") as f:
            manifest = json.loads(f.read().rsplit(b"\n", 2)[0])
        # The data sources the records cite, the tool version, every file.
        self.assertIn("5eed" + "0" * 58 + "f1",
                      [d.get("sha256") for d in manifest["data_sources"]])
        self.assertTrue(manifest["tool_version"])
        names = {f["name"] for f in manifest["files"]}
        self.assertEqual(len(names), 2 + 3 * len(self.index["packages"]))
        for name in ["index.json", "index.html", "DE/DE.csv", "DE/DE.json",
                     "DE/DE.html", "unattributed/unattributed.csv"]:
            self.assertIn(name, names)
            self.assertTrue(os.path.exists(os.path.join(self.out,
                                                        name + ".chain")))
            # The manifest is found from the file's folder.
            r = self.verify(os.path.join(self.out, name))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith("OK "), r.stdout)
        r = self.verify(self.out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(f"OK {self.out}: {len(names)} "
                                            "files"), r.stdout)

    def test_every_tamper_of_a_package_file_fails_verify(self) -> None:
        def edit_lines(path: str, change) -> None:
            with open(path, "rb") as f:
                lines = f.read().split(b"\n")[:-1]
            with open(path, "wb") as f:
                f.write(b"".join(x + b"\n" for x in change(lines)))

        def cut(path: str) -> None:
            with open(path, "rb+") as f:
                f.truncate(os.path.getsize(path) - 7)

        def resign(path: str) -> None:
            with open(path, "rb") as f:
                text = f.read()
            with open(path, "wb") as f:
                f.write(text.replace(b'"by=jurisdiction"', b'"by=country"'))

        csv = os.path.join("DE", "DE.csv")
        html = os.path.join("DE", "DE.html")
        cases = [
            # name, file, change, message of `verify FOLDER`
            ("changed", html,
             lambda p: edit_lines(p, lambda ls: [
                 x.replace(b"eco Beschwerdestelle", b"eco Beschwerdestele")
                 for x in ls]), "DE/DE.html: line "),
            ("removed", csv, lambda p: edit_lines(p, lambda ls: ls[:2] + ls[3:]),
             "DE/DE.csv: line 3: differs"),
            ("reordered", csv,
             lambda p: edit_lines(p, lambda ls: [ls[0], ls[2], ls[1]] + ls[3:]),
             "DE/DE.csv: line 2: differs"),
            ("appended", csv,
             lambda p: edit_lines(p, lambda ls: ls + [b"9,appended"]),
             "DE/DE.csv: line 6: appended after the 5 signed lines"),
            ("truncated", csv, cut, "DE/DE.csv: line 5: cut short"),
            ("file removed", csv, os.remove, "DE/DE.csv: missing"),
            ("bad signature", "packages.manifest", resign, "bad signature"),
        ]
        for name, file, change, message in cases:
            with self.subTest(tamper=name):
                tampered = os.path.join(self.tmp, "tampered-" +
                                        name.replace(" ", "-"))
                shutil.copytree(self.out, tampered)
                change(os.path.join(tampered, file))
                r = self.verify(tampered)
                self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
                self.assertIn(message, r.stderr)
                if file != "packages.manifest" and name != "file removed":
                    r = self.verify(os.path.join(tampered, file))
                    self.assertEqual(r.returncode, 3, r.stdout + r.stderr)

    def test_stale_data_banner(self) -> None:
        de = self.package("DE")
        self.assertEqual(de["summary"]["stale_data"]["country"]["lines"], 2)
        self.assertEqual(
            de["summary"]["stale_data"]["country"]["oldest_age_days"], 49)
        self.assertEqual(self.package("US")["summary"]["stale_data"], {})
        for page, lines in ((os.path.join(self.out, "DE", "DE.html"),
                             "2 of 4 lines"),
                            (os.path.join(self.out, "index.html"),
                             "2 of 7 lines")):
            dom = self.check_page(page)
            banners = dom.with_class("div", "stale-data")
            self.assertEqual(len(banners), 1, page)
            text = dom.all_text()
            self.assertIn("Stale data.", text)
            self.assertIn("geolocation data (country) was 49 days old at the "
                          "check (limit 30 days)", text)
            self.assertIn(lines, text)
        us = self.check_page(os.path.join(self.out, "US", "US.html"))
        self.assertEqual(us.with_class("div", "stale-data"), [])

    def test_filters(self) -> None:
        out = os.path.join(self.tmp, "de-located")
        r = self.run_export("--out", out, "--country", "DE", "--status",
                            "located")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(os.listdir(out)),
                         ["DE", "index.html", "index.html.chain", "index.json",
                          "index.json.chain", "packages.manifest"])
        self.assertEqual(len(self.package("DE", out)["records"]), 4)

        out = os.path.join(self.tmp, "recent")
        r = self.run_export("--out", out, "--from", "2026-11-25")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "unattributed")))

        out = os.path.join(self.tmp, "older")
        r = self.run_export("--out", out, "--to", "2026-11-20")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(os.listdir(out)),
                         ["index.html", "index.html.chain", "index.json",
                          "index.json.chain", "packages.manifest",
                          "unattributed"])
        self.assertEqual(
            [x["url"] for x in self.package("unattributed", out)["records"]],
            ["http://gone.fixture.test/"])

        r = self.run_export("--out", os.path.join(self.tmp, "bad"), "--from",
                            "20.11.2026")
        self.assertEqual(r.returncode, 2)
        self.assertIn("YYYY-MM-DD", r.stderr)
        r = self.run_export("--out", self.out)
        self.assertEqual(r.returncode, 2)
        self.assertIn("not empty", r.stderr)

    def check_page(self, path: str) -> Dom:
        """The page's DOM after the checks every page must pass (each page
        is loaded once per test run)."""
        if path not in self.doms:
            self.doms[path] = chromium(self.tmp, path, "--dump-dom")
        dom_text, stderr, requests = self.doms[path]
        self.assertEqual([u for u in requests
                          if not u.startswith(("file:", "data:"))], [],
                         f"{path} made requests")
        self.assertEqual(console_messages(stderr), [], path)
        dom = Dom(dom_text)
        tags = {t for t, _ in dom.tags}
        for forbidden in ("script", "img", "iframe", "object", "embed",
                          "link", "form", "marquee", "base"):
            self.assertNotIn(forbidden, tags, path)
        self.assertEqual(len([t for t, _ in dom.tags if t == "style"]), 1)
        for tag, attrs in dom.tags:
            for name, value in attrs.items():
                self.assertFalse(name.startswith("on"), (path, tag, attrs))
                if name in ("href", "src"):
                    self.assertNotRegex(value, r"^[a-z]+:", (path, tag, attrs))
        csp = [a for t, a in dom.tags if t == "meta" and
               a.get("http-equiv") == "Content-Security-Policy"]
        self.assertEqual(len(csp), 1)
        self.assertTrue(csp[0]["content"].startswith("default-src 'none';"))
        return dom

    def test_every_page_in_chromium(self) -> None:
        for p in self.index["packages"]:
            key = p["key"]
            with self.subTest(package=key):
                dom = self.check_page(os.path.join(self.out, key, f"{key}.html"))
                package = self.package(key)
                rows = dom.with_class("tr", "url-row")
                self.assertEqual(
                    [r["id"] for r in rows],
                    [f"line-{r['line']}" for r in package["records"]])
                self.assertEqual(len(dom.with_class("article", "evidence")),
                                 len(package["records"]))
                text = dom.all_text()
                for target in package["summary"]["referral_targets"]:
                    self.assertIn(target["name"], text)
                    self.assertIn(target["website"], text)
                self.assertIn("Referral directory not verified", text)
                self.assertEqual(len(dom.with_class("svg", "chart")), 1)
        dom = self.check_page(os.path.join(self.out, "index.html"))
        self.assertEqual(len(dom.with_class("tr", "package")),
                         len(self.index["packages"]))

    def test_hostile_values_are_text(self) -> None:
        dom = self.check_page(os.path.join(self.out, "DE", "DE.html"))
        text = dom.all_text()
        for shown in (
                "hxxp://hostile[.]fixture[.]test/<script>alert(1)</script>\"'"
                "[U+202E]gpj.exe",
                "<b>Bold</b> \"Hosting\" & <script>alert(3)</script>",
                "<script>alert(4)</script>",
                "[U+202E]\u05e9\u05dc\u05d5\u05dd \"'><iframe src=//x>",
                "javascript:alert(5)//\"><a href=x>",
                "CN=<svg onload=alert(6)>",
                "<img src=x onerror=alert(2)>[.]test",
                "<style>*{display:none}</style>",
                "<marquee>hostile</marquee>",
                "CASE-2026-<42>",
                "analyst <a@b>"):
            self.assertIn(shown, text)
        self.assertNotIn("\u202e", text)
        unattributed = self.check_page(
            os.path.join(self.out, "unattributed", "unattributed.html"))
        self.assertIn("\"><script>alert('line')</script>",
                      unattributed.all_text())

    def test_screenshots(self) -> None:
        self.assertTrue(ARTIFACTS, "HL_ARTIFACTS not set")
        os.makedirs(ARTIFACTS, exist_ok=True)
        for name, page in (("DE.png", os.path.join(self.out, "DE", "DE.html")),
                           ("index.png", os.path.join(self.out, "index.html"))):
            shot = os.path.join(ARTIFACTS, name)
            if os.path.exists(shot):
                os.remove(shot)
            _, stderr, requests = chromium(self.tmp, page,
                                           f"--screenshot={shot}")
            self.assertEqual(console_messages(stderr), [])
            self.assertEqual(png_size(shot), WINDOW)
            self.assertGreater(os.path.getsize(shot), 20_000)

    def test_the_checks_see_requests_and_console_messages(self) -> None:
        """A page without the policy that loads a loopback image and logs:
        both are caught, so the checks above can fail."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        control = os.path.join(self.tmp, "control.html")
        with open(control, "w", encoding="utf-8") as f:
            f.write(f'<!DOCTYPE html><p>control</p><img src="http://127.0.0.1:'
                    f'{port}/x.png"><script>console.error("control")</script>')
        _, stderr, requests = chromium(self.tmp, control, "--dump-dom")
        self.assertIn(f"http://127.0.0.1:{port}/x.png", requests)
        self.assertTrue(any('"control"' in m for m in console_messages(stderr)),
                        stderr[-2000:])


if __name__ == "__main__":
    unittest.main()
