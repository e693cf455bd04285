#!/usr/bin/env python3
"""The analyst web UI end to end in headless Chromium.

A real hostlocator-coordinator (API with a tokens file) and a worker run
against the sandbox internet on loopback ports chosen here; the Debian
chromium is driven through the Chrome DevTools Protocol over
--remote-debugging-pipe (file descriptors 3 and 4, NUL-separated JSON),
from the standard library only. Steps, as an analyst takes them: sign in
(the role shown), submit pasted lines with good, bad and hostile ones (the
rejected lines shown by number at once), watch the batch complete, look at
the hosting chart, filter and sort the table, open a line's detail, copy a
URL defanged, re-check the URL, download a referral package and check it,
sign out. Throughout: no request leaves loopback (every URL the page asks
for is http://127.x, data: or blob:), no console message, CSP violation,
exception or dialog. A screenshot of each step goes to HL_ARTIFACTS.

Needs chromium, knotd and nginx (scripts/install-deps.sh); a missing one is
a failure, not a skip.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.error
import urllib.request
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("HL_SOURCE_DIR",
                                 Path(__file__).resolve().parents[2]))
BINARY_DIR = Path(os.environ.get("HL_BINARY_DIR", SOURCE_DIR / "build"))
sys.path.insert(0, str(SOURCE_DIR / "scripts"))
sys.dont_write_bytecode = True
import sandbox  # noqa: E402

HOSTLOCATOR = os.environ.get("HL_HOSTLOCATOR",
                             str(BINARY_DIR / "cli" / "hostlocator"))
COORDINATOR = os.environ.get(
    "HL_COORDINATOR", str(BINARY_DIR / "coordinator" / "hostlocator-coordinator"))
WORKER = os.environ.get("HL_WORKER",
                        str(BINARY_DIR / "worker" / "hostlocator-worker"))
ARTIFACTS = Path(os.environ.get("HL_ARTIFACTS",
                                BINARY_DIR / "test-artifacts" / "webui"))
CHROMIUM = shutil.which("chromium")
VIEWPORT = (1366, 768)  # a laptop screen
HOSTILE = '"><img src=x onerror=alert(1)>'




class Browser:
    """Headless Chromium over the DevTools pipe: commands with an id, events
    collected by a reader thread."""

    def __init__(self, profile: Path, downloads: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def child_fds() -> None:
            # The pipe ends may already sit on 3 or 4: move them up first.
            high_r = os.dup(to_chrome_r)
            high_w = os.dup(from_chrome_w)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        log = open(profile.parent / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--remote-debugging-pipe",
             "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--no-first-run",
             "--disable-features=Translate,MediaRouter,OptimizationHints",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             f"--user-data-dir={profile}",
             f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=log,
            # Python's own descriptors are not inherited (PEP 446); only
            # the two dup2'ed ones reach the browser.
            preexec_fn=child_fds, close_fds=False)
        log.close()
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self._lock = threading.Lock()
        self._answers: dict[int, queue.Queue] = {}
        self.events: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        self.send("Browser.setDownloadBehavior", behavior="allow",
                  downloadPath=str(downloads), eventsEnabled=True)
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.page(f"{domain}.enable")
        self.page("Emulation.setDeviceMetricsOverride", width=VIEWPORT[0],
                  height=VIEWPORT[1], deviceScaleFactor=1, mobile=False)

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        answer = self._answers.get(message["id"])
                    if answer is not None:
                        answer.put(message)
                else:
                    self.events.append(message)

    def send(self, method: str, session: str | None = None,
             timeout: float = 30, **params) -> dict:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            self._answers[ident] = queue.Queue()
        message = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        answer = self._answers[ident].get(timeout=timeout)
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def page(self, method: str, **params) -> dict:
        return self.send(method, self.session, **params)

    def js(self, expression: str):
        """The value of `expression` (awaited when it is a promise)."""
        r = self.page("Runtime.evaluate", expression=expression,
                      returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 20):
        """Polls until `expression` is truthy in the page."""
        return sandbox.wait_until(lambda: self.js(f"Boolean({expression})"), timeout,
                          what)

    def key(self, key: str, code: str, vk: int) -> None:
        for kind in ("rawKeyDown", "char", "keyUp"):
            params = {"type": kind, "key": key, "code": code,
                      "windowsVirtualKeyCode": vk}
            if kind == "char":
                params["text"] = "\r" if key == "Enter" else key
            self.page("Input.dispatchKeyEvent", **params)

    def screenshot(self, name: str) -> Path:
        data = self.page("Page.captureScreenshot", format="png")["data"]
        path = ARTIFACTS / f"{name}.png"
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=5)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self._to_chrome)
        os.close(self._from_chrome)


class WebUiEndToEndTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls) -> None:
        if CHROMIUM is None:
            raise AssertionError("chromium not found: run scripts/install-deps.sh")
        cls.tmp = Path(tempfile.mkdtemp(prefix="hl-webui-"))
        cls.procs: list[subprocess.Popen] = []
        cls.browser = None
        try:
            cls.start_servers()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_servers(cls) -> None:
        cls.sb = sandbox.start(str(cls.tmp / "sandbox"), hostlocator=HOSTLOCATOR,
                               die_with_parent=True)
        if not cls.sb.geo_ready:
            raise AssertionError(f"sandbox MMDBs not built: {cls.sb.geo_error}")
        tokens = cls.tmp / "tokens"
        cls.secret = subprocess.run(
            [HOSTLOCATOR, "tokens", "add", "analyst", "--roles",
             "submit,read,export", "--file", str(tokens)],
            capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
        port = sandbox.free_port()
        cls.server = f"http://127.0.0.1:{port}"
        config = cls.tmp / "webui.toml"
        config.write_text(
            Path(cls.sb.config).read_text(encoding="utf-8") +
            f"\n[api]\nport = {port}\ntokens_file = \"{tokens}\"\n"
            "\n[coordinator]\nmax_result_age_s = 0\n", encoding="utf-8")
        endpoint = f"tcp://127.0.0.1:{sandbox.free_port()}"
        cls.log = cls.tmp / "coordinator.log"
        cls.start("coordinator", [COORDINATOR, "--config", str(config),
                                  "--data", str(cls.tmp / "data"),
                                  "--listen", endpoint, "--log-level", "info"])
        sandbox.wait_until(lambda: "API on" in cls.log.read_text(errors="replace") or
                   cls.procs[0].poll() is not None, 20, "the coordinator's API")
        if cls.procs[0].poll() is not None:
            raise AssertionError(cls.log.read_text(errors="replace"))
        # The UI's endpoints (docs/api.md: session, batches list, rows, line,
        # re-check) must be there, or every step below fails less clearly.
        try:
            urllib.request.urlopen(urllib.request.Request(
                cls.server + "/api/v1/session",
                headers={"Authorization": "Bearer " + cls.secret}), timeout=10)
        except urllib.error.HTTPError as e:
            raise AssertionError(
                f"GET /api/v1/session answered {e.code}: this coordinator "
                "lacks the web UI's API endpoints (docs/api.md)") from e
        cls.start("worker", [WORKER, "--config", str(config), "--connect",
                             endpoint, "--threads", "1", "--in-flight", "16",
                             "--name", "w1", "--log-level", "info"])
        cls.downloads = cls.tmp / "downloads"
        cls.downloads.mkdir()
        profile = cls.tmp / "profile"
        profile.mkdir()
        cls.browser = Browser(profile, cls.downloads)

    @classmethod
    def start(cls, name: str, cmd: list[str]) -> None:
        with open(cls.tmp / f"{name}.log", "wb") as log:
            cls.procs.append(subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL))

    @classmethod
    def tearDownClass(cls) -> None:
        if cls.browser is not None:
            cls.browser.close()
        for p in cls.procs:
            if p.poll() is None:
                p.terminate()
        for p in cls.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        if getattr(cls, "sb", None) is not None:
            sandbox.stop(cls.sb.dir)
        if os.environ.get("HL_WEBUI_KEEP"):
            print(f"kept {cls.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def api(self, path: str) -> dict:
        request = urllib.request.Request(
            self.server + "/api/v1" + path,
            headers={"Authorization": "Bearer " + self.secret})
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.load(r)

    def shot(self, name: str) -> None:
        path = self.browser.screenshot(name)
        self.assertGreater(path.stat().st_size, 10_000, path)

    def submitted_lines(self) -> list[str]:
        u = self.sb.url
        return [
            u("shop.sandbox-de.test"),                       # 1 DE
            u("blog.sandbox-fr.test", "/2024/03/post.html"),  # 2 FR
            u("files.sandbox-nl.test", "/a/b.html?c=d&e=f"),  # 3 NL
            u("app.sandbox-us.test"),                        # 4 US
            "ftp://files.sandbox-de.test/report.zip",        # 5 rejected
            u("media.sandbox-fr.test", "/img/1.jpg"),        # 6 behind a CDN
            u("old.sandbox-de.test", "/old"),                # 7 301 to shop
            "not a url at all",                              # 8 rejected
            u("does-not-exist.sandbox-nl.test"),             # 9 NXDOMAIN
            u("www.sandbox-de.test", "/" + HOSTILE),         # 10 DE, hostile
        ]

    def test_analyst_session(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob("*.png"):
            old.unlink()
        b = self.browser
        b.page("Page.navigate", url=self.server + "/")
        b.wait_for("document.querySelector('#token') !== null", "sign-in form")
        self.assertEqual(b.js("location.pathname"), "/ui/")
        self.shot("01-sign-in")
        # Control: an inline script is refused by the policy, and the
        # refusal is seen by the checks at the end (which skip only it).
        seen = len(b.events)
        b.js("document.head.append(Object.assign(document.createElement("
             "'script'), {textContent: 'window.inlineRan = true'}))")
        self.control = sandbox.wait_until(lambda: [
            e for e in b.events[seen:] if "Content Security Policy" in
            json.dumps(e)], 10, "the refused inline script")
        self.assertIsNone(b.js("window.inlineRan"))

        # Sign in with the keyboard: the token typed, Enter submits.
        b.js("document.querySelector('#token').focus()")
        b.page("Input.insertText", text=self.secret)
        b.key("Enter", "Enter", 13)
        b.wait_for("document.querySelector('#who') && "
                   "!document.querySelector('#who').hidden", "signed in")
        self.assertEqual(
            b.js("document.querySelector('#who').textContent"),
            "Signed in as analyst (roles: submit, read, export)")
        self.assertEqual(b.js("sessionStorage.length"), 1)
        self.assertEqual(b.js("document.cookie"), "")
        self.assertNotIn(self.secret, b.js("location.href"))

        # Submit: pasted lines, a case reference, a maximum age.
        b.js("location.hash = '#/submit'")
        b.wait_for("document.querySelector('#urls') !== null", "submit form")
        lines = self.submitted_lines()
        b.js(f"document.querySelector('#urls').value = {json.dumps(chr(10).join(lines))}")
        b.js("document.querySelector('#case').value = 'CASE-<7>'")
        b.js("document.querySelector('#max-age').value = '0'")
        b.js("document.querySelector('form.card button[type=submit]').click()")
        b.wait_for("document.querySelector('table.rejections') !== null",
                   "the rejected lines")
        rejected = b.js("""[...document.querySelectorAll(
            'table.rejections tbody tr')].map(r => [...r.cells].map(
            c => c.textContent))""")
        self.assertEqual([(r[0], r[1]) for r in rejected],
                         [("5", lines[4]), ("8", lines[7])])
        self.assertIn("unsupported scheme", rejected[0][2])
        self.assertIn("missing scheme", rejected[1][2])
        self.shot("02-submitted")
        batch = b.js("document.querySelector('#submit-answer h2').textContent")
        batch_id = int(batch.split()[-1])

        # Watch it complete.
        b.js("document.querySelector('#submit-answer a').click()")
        b.wait_for("document.querySelector('#progress-text') !== null",
                   "the batch view")
        self.shot("03-batch-running")
        b.wait_for("document.querySelector('#progress-text').textContent"
                   ".startsWith('Complete')", "the batch to complete", 40)
        self.assertEqual(self.api(f"/batches/{batch_id}")["complete"], True)
        b.wait_for("document.querySelectorAll('#results tbody tr').length == 10",
                   "every line in the table")
        counts = b.js("""Object.fromEntries([...document.querySelectorAll(
            'dl.counts .count')].map(c => [c.querySelector('dt').textContent,
            Number(c.querySelector('dd').textContent)]))""")
        self.assertEqual(counts["Rejected"], 2, counts)
        self.assertEqual(counts["Queued"] + counts["In flight"], 0, counts)
        self.assertEqual(counts["Located"] + counts["Unresolved"] +
                         counts["Error"], 8, counts)
        self.assertGreaterEqual(counts["Unresolved"], 1, counts)
        # The rows (and the chart) are fetched after the status that says
        # complete.
        b.wait_for("document.querySelectorAll('figure.chart rect').length >= 4",
                   "bars of DE, FR, NL and US at least")
        # Lines 1, 7 (redirected to line 1's host) and 10 are in DE; the
        # last rows arrive once the server's table settled after the end.
        b.wait_for("document.querySelector('figure.chart svg')"
                   ".getAttribute('aria-label').includes('DE: 3')",
                   "the chart's final DE count")
        # The hostile URL is text: no element came from it, no dialog.
        self.assertIn(HOSTILE, b.js("document.querySelector('#results').textContent")
                      .replace("%22", '"').replace("%3E", ">").replace("%3C", "<")
                      .replace("%20", " "))
        self.assertEqual(b.js("document.querySelectorAll('img').length"), 0)
        self.assertEqual(b.js("document.querySelectorAll('#results a').length"),
                         10)  # only the links to the line details
        self.assertEqual(b.js("""[...document.querySelectorAll('#results a')]
            .filter(a => !a.getAttribute('href').startsWith('#/batch/'))
            .length"""), 0)
        self.shot("04-batch-complete")

        # Filter by country (a server-side filter).
        b.js("""(() => { const s = document.querySelector('#f-country');
            s.value = 'DE'; s.dispatchEvent(new Event('change')); })()""")
        b.wait_for("document.querySelector('#results caption').textContent"
                   ".includes('matching') && [...document.querySelectorAll("
                   "'#results tbody tr')].every(r => r.cells[3].textContent"
                   ".includes('DE'))", "rows of DE only")
        de_rows = b.js("document.querySelectorAll('#results tbody tr').length")
        self.assertGreaterEqual(de_rows, 2)
        self.assertLess(de_rows, 10)
        self.assertIn("country=DE", b.js("location.hash"))
        self.shot("05-filter-de")
        b.js("""(() => { const s = document.querySelector('#f-country');
            s.value = ''; s.dispatchEvent(new Event('change')); })()""")
        b.wait_for("document.querySelectorAll('#results tbody tr').length == 10",
                   "the filter cleared")

        # Sort by URL with the keyboard (the header is a button), then back.
        b.js("document.querySelector('th[data-sort=url] button').focus()")
        b.key("Enter", "Enter", 13)
        b.wait_for("document.querySelector('th[data-sort=url]')"
                   ".getAttribute('aria-sort') == 'ascending'", "sorted by URL")
        urls = b.js("""[...document.querySelectorAll('#results tbody tr')]
            .map(r => r.querySelector('.url-text')?.textContent ?? '')""")
        shown = [u for u in urls if u]
        self.assertEqual(shown, sorted(shown))
        b.js("document.querySelector('th[data-sort=url] button').click()")
        b.wait_for("document.querySelector('th[data-sort=url]')"
                   ".getAttribute('aria-sort') == 'descending'", "descending")
        urls = b.js("""[...document.querySelectorAll('#results tbody tr')]
            .map(r => r.querySelector('.url-text')?.textContent ?? '')""")
        shown = [u for u in urls if u]
        self.assertEqual(shown, sorted(shown, reverse=True))
        self.shot("06-sorted-by-url")

        # The referral package of DE, downloaded and read.
        b.wait_for("document.querySelector('button[data-file=\"DE.csv\"]')",
                   "the DE package", 20)
        b.js("document.querySelector('button[data-file=\"DE.csv\"]').click()")
        saved = self.downloads / f"batch-{batch_id}-DE.csv"
        sandbox.wait_until(lambda: saved.exists() and saved.stat().st_size > 0, 20,
                   "the downloaded package")
        text = saved.read_text(encoding="utf-8")
        rows = list(csv.DictReader(io.StringIO(text)))
        self.assertGreaterEqual(len(rows), 2, text[:2000])
        self.assertIn("shop.sandbox-de.test", text)
        self.assertNotIn("sandbox-fr.test/2024", text)
        self.assertEqual(b.js("document.querySelectorAll('iframe, object, embed')"
                              ".length"), 0)
        b.js("document.querySelector('#packages-h').scrollIntoView()")
        self.shot("07-packages")

        # The signed export and its manifest, saved side by side, verify.
        b.js("[...document.querySelectorAll('.actions button')].find(x => "
             "x.textContent.endsWith('(CSV)')).click()")
        export = self.downloads / f"batch-{batch_id}.csv"
        manifest = self.downloads / f"batch-{batch_id}.csv.manifest"
        sandbox.wait_until(lambda: export.exists() and manifest.exists() and
                   manifest.stat().st_size > 0, 20, "the export and manifest")
        verified = subprocess.run(
            [HOSTLOCATOR, "verify", str(export), "--manifest", str(manifest),
             "--pubkey", str(self.tmp / "data" / "signing.pub")],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        self.assertEqual(len(list(csv.DictReader(io.StringIO(
            export.read_text(encoding="utf-8"))))), 10)

        # One line's detail: the whole observation.
        b.js("location.hash = '#/batch/%d/line/1'" % batch_id)
        b.wait_for("document.querySelector('#s-dns') !== null", "the detail view")
        sections = b.js("[...document.querySelectorAll('section.detail h2')]"
                        ".map(h => h.textContent)")
        for name in ("Verdict", "DNS", "Addresses", "Redirects", "HTTP",
                     "TLS certificate", "Headers", "Providers and CDNs",
                     "Referral", "Registration and RDAP", "History of checks"):
            self.assertIn(name, sections)
        detail = b.js("document.querySelector('main').textContent")
        self.assertIn(self.sb.dns_server, detail)  # the resolver asked
        self.assertIn(self.sb.hosts["shop.sandbox-de.test"][0], detail)
        self.assertIn("NOERROR", detail)
        self.shot("08-detail")

        # Copy defanged: the announced text is the defanged URL.
        b.js("document.querySelector('.url-head button.copy').click()")
        b.wait_for("document.querySelector('#announce').textContent"
                   ".startsWith('Copied')", "the copy")
        port = self.sb.http_port
        self.assertEqual(b.js("document.querySelector('#announce').textContent"),
                         f"Copied hxxp://shop[.]sandbox-de[.]test:{port}/")

        # Re-check this URL: a second check appears in its history.
        before = len(self.api(f"/batches/{batch_id}/lines/1")["history"]["checks"])
        b.js("[...document.querySelectorAll('.actions button')].find(x => "
             "x.textContent.startsWith('Re-check')).click()")
        b.wait_for("document.querySelector('#announce').textContent"
                   ".includes('queued')", "the re-check")
        sandbox.wait_until(lambda: len(self.api(f"/batches/{batch_id}/lines/1")
                               ["history"]["checks"]) > before,
                   30, "the second check")
        b.js("window.beforeReload = true; location.reload()")
        history = "document.querySelector('section[aria-labelledby=" \
                  "s-history-of-checks]')"
        b.wait_for(f"!window.beforeReload && {history} !== null",
                   "the detail view again")
        self.assertEqual(b.js(f"{history}.querySelector('table tbody').rows"
                              ".length"), before + 1)
        b.js(f"{history}.scrollIntoView()")
        self.shot("09-rechecked")

        # Re-check the whole batch: every URL queued, the page polls again
        # until the batch is complete once more.
        b.js("location.hash = '#/batch/%d'" % batch_id)
        b.wait_for("document.querySelector('#progress-text') !== null",
                   "the batch view")
        b.js("[...document.querySelectorAll('.actions button')].find(x => "
             "x.textContent.startsWith('Re-check')).click()")
        b.wait_for("document.querySelector('#announce').textContent"
                   ".startsWith('Re-check queued')", "the batch re-check")
        self.assertRegex(b.js("document.querySelector('#announce').textContent"),
                         r"^Re-check queued for \d+ URLs")
        sandbox.wait_until(lambda: self.api(f"/batches/{batch_id}")["complete"], 30,
                   "the re-checked batch to complete")
        b.wait_for("document.querySelector('#progress-text').textContent"
                   ".startsWith('Complete')", "the page to show it complete")

        # Upload a CSV file (url, referer, user_agent): line numbers are
        # the file's physical lines, the header being line 1.
        upload = self.tmp / "upload.csv"
        upload.write_text(
            "url,referer,user_agent\n"
            f"{self.sb.url('app.sandbox-us.test', '/upload')},"
            "https://referer.example/,Analyst-Browser/1.0\n"
            "javascript:alert(1),,\n", encoding="utf-8")
        b.js("location.hash = '#/submit'")
        b.wait_for("document.querySelector('#file') !== null", "submit form")
        node = b.page("DOM.querySelector", selector="#file", nodeId=b.page(
            "DOM.getDocument")["root"]["nodeId"])["nodeId"]
        b.page("DOM.setFileInputFiles", files=[str(upload)], nodeId=node)
        b.js("document.querySelector('form.card button[type=submit]').click()")
        b.wait_for("document.querySelector('table.rejections') !== null",
                   "the upload's rejected line")
        rejected = b.js("""[...document.querySelectorAll(
            'table.rejections tbody tr')].map(r => r.cells[0].textContent)""")
        self.assertEqual(rejected, ["3"])
        self.assertIn("1 accepted", b.js(
            "document.querySelector('#submit-answer').textContent"))
        self.shot("10-uploaded")

        # Sign out: the token is gone from the tab.
        b.js("document.querySelector('#signout').click()")
        b.wait_for("document.querySelector('#token') !== null", "signed out")
        self.assertEqual(b.js("sessionStorage.length"), 0)
        self.shot("11-signed-out")

        self.check_browser_log()

    def check_browser_log(self) -> None:
        events = [e for e in self.browser.events if e not in self.control]
        documents = [e["params"]["response"] for e in events
                     if e.get("method") == "Network.responseReceived" and
                     e["params"]["type"] == "Document"]
        self.assertTrue(documents)
        for response in documents:
            headers = {k.lower(): v for k, v in response["headers"].items()}
            self.assertTrue(headers["content-security-policy"].startswith(
                "default-src 'none'; script-src 'self'"), headers)
        requested = [e["params"]["request"]["url"] for e in events
                     if e.get("method") == "Network.requestWillBeSent"]
        self.assertTrue(any("/rows?" in u for u in requested), requested)
        self.assertEqual([u for u in requested if not u.startswith(
            ("http://127.", "data:", "blob:"))], [])
        problems = [e for e in events if e.get("method") in (
            "Runtime.exceptionThrown", "Page.javascriptDialogOpening")]
        problems += [e for e in events if e.get("method") ==
                     "Runtime.consoleAPICalled"]
        problems += [e for e in events if e.get("method") == "Log.entryAdded"
                     and e["params"]["entry"]["level"] in ("error", "warning")
                     # a 401 answer to the refused token is no problem
                     and "401" not in e["params"]["entry"].get("text", "")]
        self.assertEqual(problems, [])


if __name__ == "__main__":
    sandbox.exit_unless_installed(["knotd", "nginx"])
    unittest.main()
