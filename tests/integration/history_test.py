#!/usr/bin/env python3
"""A URL's history end to end against the sandbox internet: the URL is
located, then its zone moves it to an address in another country, then the
name is removed (NXDOMAIN); a re-check follows each change (`hostlocator
run` over the same data folder with coordinator.max_result_age_s = 0, so a
known URL is probed again). `hostlocator history`, `results --event/--state`,
`export` and `takedown` must then show online -> moved -> down with the
check times. Needs the built binary (HL_BINARY_DIR/cli/hostlocator), knotd,
knotc, kdig and nginx; a missing one is a failure, not a skip."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
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
HOST = "blog.sandbox-fr.test"             # FR, 127.N.2.10
NEW_HOME = "xn--bcher-kva.sandbox-de.test"  # DE: its address serves any name
ZONE = "sandbox-fr.test"


class HistoryEndToEndTest(unittest.TestCase):

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="hl-history-"))
        self.sb = sandbox.start(str(self.tmp / "sandbox"),
                                hostlocator=HOSTLOCATOR, die_with_parent=True)
        self.assertTrue(self.sb.geo_ready, self.sb.geo_error)
        self.config = self.tmp / "history.toml"
        self.config.write_text(Path(self.sb.config).read_text() +
                               "\n[coordinator]\nmax_result_age_s = 0\n")
        self.data = self.tmp / "data"
        self.url = self.sb.url(HOST)
        self.urls = self.tmp / "urls.txt"
        self.urls.write_text(self.url + "\n")

    def tearDown(self) -> None:
        try:
            sandbox.stop(self.sb.dir)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def cli(self, *args: str) -> str:
        r = subprocess.run([HOSTLOCATOR, *args], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, f"{args}: {r.stdout}{r.stderr}")
        return r.stdout

    def check(self) -> None:
        self.cli("run", "--config", str(self.config), "--threads", "1",
                 "--quiet", "--data", str(self.data), "--out",
                 str(self.tmp / "out"), str(self.urls))

    def dig(self) -> str:
        r = subprocess.run(
            ["kdig", f"@{self.sb.dns_address}", "-p", str(self.sb.dns_port),
             "+time=2", "+retry=0", HOST, "A"],
            capture_output=True, text=True, timeout=20)
        return r.stdout

    def change_zone(self, new_line: str | None, expect: str) -> None:
        """Replaces the host's A record (None: removes it), bumps the SOA
        serial, reloads the zone and waits until DNS answers `expect`."""
        zone = Path(self.sb.dir) / "knot" / "zones" / f"{ZONE}.zone"
        text = zone.read_text()
        pattern = re.compile(rf"^{re.escape(HOST)}\.\t\d+\tIN\tA\t.*$", re.M)
        self.assertRegex(text, pattern)
        text = pattern.sub(new_line or "", text)
        serial = re.search(r" (\d{10}) 3600 600 ", text).group(1)
        text = text.replace(f" {serial} ", f" {int(serial) + 1} ", 1)
        zone.write_text(text)
        r = subprocess.run(
            ["knotc", "-c", str(Path(self.sb.dir) / "knot" / "knot.conf"),
             "zone-reload", f"{ZONE}."],
            capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        deadline = time.monotonic() + 10
        while expect not in self.dig():
            self.assertLess(time.monotonic(), deadline,
                            f"DNS never answered {expect}: {self.dig()}")
            time.sleep(0.05)

    def test_moved_then_down(self) -> None:
        self.check()
        new_ip = self.sb.hosts[NEW_HOME][0]
        self.change_zone(f"{HOST}.\t60\tIN\tA\t{new_ip}", new_ip)
        self.check()
        self.change_zone(None, "NXDOMAIN")
        self.check()

        h = json.loads(self.cli("history", self.url, "--data", str(self.data),
                                "-c", str(self.config), "--json"))
        self.assertEqual([c["state"] for c in h["checks"]],
                         ["online", "online", "down"], h["checks"])
        self.assertEqual(h["checks"][0]["countries"], ["FR"])
        self.assertEqual(h["checks"][1]["countries"], ["DE"])
        self.assertEqual(h["checks"][2]["reason"], "nxdomain")
        kinds = [e["kind"] for e in h["events"]]
        self.assertEqual(kinds, ["online", "moved", "down"], h["events"])
        online, moved, down = h["events"]
        self.assertIn({"what": "country", "from": "FR", "to": "DE"},
                      moved["changes"])
        self.assertEqual(down["reason"], "nxdomain")
        times = [c["checked_at"] for c in h["checks"]]
        self.assertEqual(times, sorted(times))
        self.assertEqual([online["at"], moved["at"], down["at"]], times)
        s = h["summary"]
        self.assertEqual((s["state"], s["moved"], s["down"], s["checks"]),
                         ("down", 1, 1, 3))
        self.assertEqual(s["down_since"], down["at"])
        self.assertGreater(s["time_to_takedown_ms"], 0)
        self.assertEqual(s["time_to_takedown_ms"], s["online_ms"])

        text = self.cli("history", self.url, "--data", str(self.data))
        self.assertIn("moved: country FR -> DE", text)
        self.assertIn("down (nxdomain)", text)

        def results(*filters: str) -> list[dict]:
            out = self.cli("results", "--data", str(self.data), *filters)
            return [json.loads(line) for line in out.splitlines()]

        latest = results("--batch", "3", "--event", "moved")
        self.assertEqual(len(latest), 1)
        self.assertEqual(latest[0]["history"]["state"], "down")
        self.assertEqual(len(results("--batch", "3", "--state", "down")), 1)
        self.assertEqual(results("--batch", "3", "--event", "back_up"), [])
        # Batch 1 was exported before anything changed; its line now
        # shows the job's whole history as well.
        self.assertEqual(len(results("--batch", "1", "--state", "online")), 0)

        rows = list(csv.DictReader(io.StringIO(self.cli(
            "export", "--data", str(self.data), "--format", "csv"))))
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows[0]["checks"], rows[0]["history_state"],
                          rows[0]["moved"], rows[0]["down"]),
                         ("3", "down", "1", "1"))

        t = json.loads(self.cli("takedown", "--batch", "3", "--data",
                                str(self.data), "--json"))
        self.assertEqual(t["urls"], 1)
        self.assertEqual(len(t["providers"]), 1)
        self.assertEqual(t["providers"][0]["taken_down"], 1)
        self.assertEqual(t["providers"][0]["median_ms"],
                         s["time_to_takedown_ms"])


if __name__ == "__main__":
    sandbox.exit_unless_installed(["knotd", "knotc", "nginx", "kdig"])
    unittest.main()
