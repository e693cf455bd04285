#!/usr/bin/env python3
"""hostlocator speed benchmark (issue 3, "Speed"); see bench/README.md.

Starts the scale sandbox (scripts/sandbox_scale.py) with knotd and nginx
pinned to CPU 0, then for each mode runs, pinned to CPU 1 and on the same URL
list:

- `hostlocator run --threads 1 --in-flight K --quiet` (plus `--dns-only` in
  the dns mode) with a fresh data folder (end to end: ingest, probes,
  reports), its configuration allowing Q DNS messages in flight, and
- bench's reference pipeline (hl_reference_pipeline) with the same limits:
  K URLs and Q DNS questions in flight, the same questions per URL,

and prints URLs/s, p50/p99 per stage, peak RSS and the ratio
hostlocator/reference. Modes: http, https (ECDSA, a full handshake each),
dns (no HTTP: DNS queries/s of both sides against the DNS server's ceiling,
measured by dnsperf when installed) and slow (every answer after 200 ms).

Every run is bounded in URL count and time (--run-timeout); all traffic goes
to 127.0.0.0/8. Exit status: 0 when every run finished, 1 when one failed or
timed out, 77 (skip) in --smoke when the sandbox cannot be built here (on
one CPU the smoke runs with nothing pinned).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import sandbox  # noqa: E402
import sandbox_scale  # noqa: E402

SANDBOX_CPU = 0
CLIENT_CPU = 1
MODES = ("http", "https", "dns", "slow")
# Targets of issue 3 (one worker thread), by mode.
TARGETS = {
    "http": ">= 5000 URLs/s and >= 0.9x reference",
    "https": ">= 600 URLs/s",
    "dns": ">= 0.8x dnsperf queries/s (DNS line)",
    "slow": ">= 3000 URLs/s",
}
DNS_TARGET = 0.8  # hostlocator's DNS queries/s / dnsperf's, dns mode


def _default_binary(*candidates: str) -> str:
    for c in candidates:
        if (REPO / c).is_file():
            return str(REPO / c)
    return str(REPO / candidates[-1])


# ------------------------------------------------------------ measuring


# GNU time reports the peak RSS of the command alone. wait4's ru_maxrss
# would not: a child forked from this process inherits its high-water mark
# across exec, so every figure would be at least the harness's own peak.
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


def _rss_kb(pid: int) -> int | None:
    """VmRSS of `pid` in KB; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _leaf(pid: int) -> int:
    """The innermost single-child descendant of `pid` (GNU time ->
    taskset's exec -> the measured program)."""
    while True:
        try:
            with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
                children = f.read().split()
        except OSError:
            return pid
        if len(children) != 1:
            return pid
        pid = int(children[0])


def measure(cmd: list[str], timeout: float, cwd: str | None = None,
            sample_rss: bool = False) -> dict:
    """Runs cmd in its own process group; returns wall seconds, peak RSS
    (KB) and CPU seconds (user + system) from GNU time (None without it or
    when the command was killed), exit status, stdout, stderr and whether
    it was killed at `timeout`. With `sample_rss`, its resident set is also
    sampled every 0.2 s: `rss_samples` holds (seconds from the start, KB)
    pairs and `start_unix_s` the wall-clock time of the start."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    rss = tempfile.NamedTemporaryFile(mode="r", prefix="hl-bench-rss-")
    if GNU_TIME:
        cmd = [GNU_TIME, "-f", "%M %U %S", "-o", rss.name, *cmd]
    start_unix_s = time.time()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    samples: list[tuple[float, int]] = []
    try:
        deadline = t0 + timeout
        while sample_rss and proc.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(cmd, timeout)
            kb = _rss_kb(_leaf(proc.pid))
            if kb is not None:
                samples.append((time.monotonic() - t0, kb))
            time.sleep(0.2)
        proc.wait(max(0.0, deadline - time.monotonic()))
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    wall = time.monotonic() - t0
    out.seek(0)
    err.seek(0)
    with rss:
        # The last line; GNU time puts "Command exited with non-zero
        # status N" before it.
        last = (rss.read().strip().splitlines() or [""])[-1].split()
    timed = len(last) == 3 and last[0].isdigit()
    return {"wall_s": wall,
            "peak_rss_kb": int(last[0]) if timed else None,
            "cpu_s": float(last[1]) + float(last[2]) if timed else None,
            "rss_samples": samples, "start_unix_s": start_unix_s,
            "rc": proc.returncode, "timed_out": timed_out,
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace")}


def _mb(kb: int | None) -> float | None:
    return round(kb / 1024, 1) if kb is not None else None


def _pct(values: list[float]) -> dict | None:
    if not values:
        return None
    values.sort()
    n = len(values)

    def at(q: float) -> float:
        return values[min(n - 1, max(0, int(q * n + 0.999999) - 1))]
    return {"n": n, "p50_ms": round(at(0.5), 3), "p99_ms": round(at(0.99), 3)}


def hostlocator_results(results: Path) -> dict:
    """From hostlocator's results.jsonl: p50/p99 per stage (dns: slowest of
    a URL's DNS queries; connect; tls: handshake after connect; http: the
    probe's total; per-URL end-to-end times are not recorded), the count of
    each status and `dns_queries`, the DNS messages sent (every attempt of
    every question, the redirect hops' included)."""
    dns, conn, tls, http = [], [], [], []
    statuses: dict[str, int] = {}
    queries = 0
    last_finished = ""
    with open(results, encoding="utf-8") as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            statuses[r.get("status", "?")] = statuses.get(r.get("status", "?"), 0) + 1
            last_finished = max(last_finished, r.get("finished_at") or "")
            for hop in r.get("redirects") or []:
                queries += len((hop.get("dns") or {}).get("queries") or [])
            qs = (r.get("dns") or {}).get("queries") or []
            queries += len(qs)
            if qs:
                dns.append(max(q.get("elapsed_ms") or 0 for q in qs))
            t = ((r.get("http") or {}).get("timings")) or {}
            if t.get("connect_ms") is not None:
                conn.append(t["connect_ms"])
            if t.get("tls_ms") is not None and t.get("connect_ms") is not None:
                tls.append(t["tls_ms"] - t["connect_ms"])
            if t.get("total_ms") is not None:
                http.append(t["total_ms"])
    stages = {k: v for k, v in (("dns", _pct(dns)), ("connect", _pct(conn)),
                                ("tls", _pct(tls)), ("http", _pct(http)))
              if v}
    last = (datetime.datetime.fromisoformat(last_finished.replace("Z", "+00:00"))
            .timestamp() if last_finished else None)
    return {"stages": stages, "statuses": statuses, "dns_queries": queries,
            "last_probe_unix_s": last}


def client(args, cmd: list[str]) -> list[str]:
    """`cmd` pinned to the clients' CPU; as it is when args.pin is off (the
    smoke on one CPU, where the sandbox is not pinned either)."""
    return ["taskset", "-c", str(CLIENT_CPU), *cmd] if args.pin else cmd


def run_hostlocator(args, sb, mode: str, urls: Path, work: Path,
                    n: int) -> dict:
    data, out = work / f"hl-{mode}-data", work / f"hl-{mode}-out"
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    cmd = client(args, [
        args.hostlocator, "run", "-c", sb.config, "--data", str(data),
        "--out", str(out), "--threads", "1",
        "--in-flight", str(args.in_flight_for(mode)), "--quiet"])
    if mode == "dns":
        cmd += ["--dns-only"]
    cmd += [str(urls)]
    m = measure(cmd, args.run_timeout, sample_rss=True)
    res = {"command": " ".join(cmd), "urls": n, "wall_s": round(m["wall_s"], 3),
           "peak_rss_mb": _mb(m["peak_rss_kb"]), "rc": m["rc"],
           "timed_out": m["timed_out"]}
    if m["rc"] != 0 or m["timed_out"]:
        tail = (m["stderr"] or m["stdout"]).strip().splitlines()[-3:]
        res["error"] = ("timed out" if m["timed_out"] else f"exit {m['rc']}") \
            + (": " + " | ".join(tail) if tail else "")
        return res
    res["urls_per_s"] = round(n / m["wall_s"], 1)
    if m["cpu_s"] is not None:
        res["cpu_s"] = round(m["cpu_s"], 2)
        res["cpu_us_per_url"] = round(1e6 * m["cpu_s"] / n, 1)
    found = sorted(out.glob("run-*/results.jsonl"))
    if not found:
        res["error"] = f"no run-*/results.jsonl in {out}"
        return res
    try:
        res.update(hostlocator_results(found[-1]))
    except OSError as ex:
        res["error"] = f"{found[-1]}: {ex}"
        return res
    # Start, ingest and probes end with the last probe's finished_at (the
    # run writes its reports while it probes; what it still writes after
    # the last probe, and signs, takes the rest of the wall time).
    last = res.pop("last_probe_unix_s")
    if last is not None:
        probed = min(m["wall_s"], max(0.0, last - m["start_unix_s"]))
        res["probe_phase_s"] = round(probed, 3)
        res["probe_urls_per_s"] = round(n / probed, 1) if probed else None
        res["reports_s"] = round(m["wall_s"] - probed, 3)
        phases: dict[str, int] = {}
        for t, kb in m["rss_samples"]:
            name = "ingest+probe" if t <= probed else "reports"
            phases[name] = max(phases.get(name, 0), kb)
        res["phase_peak_rss_mb"] = {k: _mb(v) for k, v in phases.items()}
    res["dns_queries_per_s"] = round(res["dns_queries"] / m["wall_s"], 1)
    return res


def run_reference(args, sb, mode: str, urls: Path, work: Path) -> dict:
    db = work / f"ref-{mode}-db"
    shutil.rmtree(db, ignore_errors=True)
    cmd = client(args, [
        args.reference, "--urls", str(urls), "--dns", sb.dns_server,
        "--mmdb", sb.country_mmdb, "--db", str(db),
        "--inflight", str(args.in_flight_for(mode)),
        "--dns-inflight", str(args.dns_inflight),
        "--dns-timeout-ms", str(sandbox.RESOLVER_TIMEOUT_MS),
        "--connect-timeout-ms", str(sandbox.HTTP_CONNECT_TIMEOUT_MS),
        "--timeout-ms", str(sandbox.HTTP_TIMEOUT_MS), "--json"])
    if mode == "https":
        cmd += ["--ca-file", sb.ca_cert]
    if mode == "dns":
        cmd += ["--dns-only"]
    m = measure(cmd, args.run_timeout)
    res = {"command": " ".join(cmd), "wall_s": round(m["wall_s"], 3),
           "peak_rss_mb": _mb(m["peak_rss_kb"]), "rc": m["rc"],
           "timed_out": m["timed_out"]}
    try:
        rep = json.loads(m["stdout"].strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (m["stderr"] or m["stdout"]).strip().splitlines()[-3:]
        res["error"] = ("timed out" if m["timed_out"] else f"exit {m['rc']}") \
            + (": " + " | ".join(tail) if tail else "")
        return res
    res.update({k: rep[k] for k in ("urls", "urls_per_s", "ok", "dns_errors",
                                    "http_errors", "ns_ptr_errors",
                                    "dns_queries", "dns_queries_per_s",
                                    "stages", "first_error")})
    return res


def run_dnsperf(args, sb, work: Path) -> dict:
    if not shutil.which("dnsperf"):
        return {"error": "dnsperf not installed (apt-get install dnsperf)"}
    cmd = client(args, [
        "dnsperf", "-s", sb.dns_address, "-p", str(sb.dns_port),
        "-d", sb.names, "-n", "1", "-l", str(args.dnsperf_seconds),
        "-q", str(args.dns_inflight), "-c", "1", "-T", "1", "-t", "1"])
    m = measure(cmd, args.dnsperf_seconds + 30)
    res = {"command": " ".join(cmd), "rc": m["rc"]}
    qps = re.search(r"Queries per second:\s+([\d.]+)", m["stdout"])
    lost = re.search(r"Queries lost:\s+(\d+)", m["stdout"])
    if not qps:
        res["error"] = (m["stderr"] or m["stdout"]).strip()[-300:]
        return res
    res["queries_per_s"] = float(qps.group(1))
    res["queries_lost"] = int(lost.group(1)) if lost else None
    return res


def run_mode(args, sb, mode: str, urls: Path, work: Path, log) -> dict:
    """One mode's entry of the report: hostlocator and the reference on
    `urls` (args.urls lines), and dnsperf's ceiling in the dns mode."""
    entry = {"urls": args.urls, "in_flight": args.in_flight_for(mode),
             "dns_in_flight": args.dns_inflight}
    if mode == "dns":
        if shutil.which("dnsperf"):
            log("dns: dnsperf ceiling ...")
        entry["dnsperf"] = run_dnsperf(args, sb, work)
    log(f"{mode}: hostlocator, {args.urls} URLs ...")
    entry["hostlocator"] = run_hostlocator(args, sb, mode, urls, work,
                                           args.urls)
    log(f"{mode}: reference, {args.urls} URLs ...")
    entry["reference"] = run_reference(args, sb, mode, urls, work)
    return entry


# ------------------------------------------------------------- printing


def _fmt_stages(stages: dict | None) -> str:
    if not stages:
        return "-"
    return "  ".join(f"{k} {v['p50_ms']:.2f}/{v['p99_ms']:.2f}"
                     for k, v in stages.items() if k != "geo" and k != "store"
                     ) or "-"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def _fmt_mb(mb: float | None) -> str:
    return "?" if mb is None else f"{mb:.0f}"


def _dns_line(d: dict) -> list[str]:
    """The dns mode's queries/s: hostlocator, the reference, dnsperf's
    ceiling and hostlocator's ratio to it against the target."""
    hl, ref, perf = d["hostlocator"], d["reference"], d.get("dnsperf", {})

    def rate(x: dict) -> str:
        if "error" in x or "dns_queries_per_s" not in x:
            return "FAILED"
        return (f"{x['dns_queries_per_s']:.0f} ({x['dns_queries'] / d['urls']:.1f}"
                " per URL)")
    ceiling = perf.get("queries_per_s")
    lines = [f"DNS queries/s (dns mode, {d['dns_in_flight']} in flight): "
             f"hostlocator {rate(hl)}, reference {rate(ref)}, dnsperf "
             + (f"{ceiling:.0f} ({perf.get('queries_lost')} lost)" if ceiling
                else perf.get("error", "not run"))]
    if ceiling:
        lines.append(
            f"  hostlocator/dnsperf {_ratio(hl.get('dns_queries_per_s'), ceiling)}"
            f" (target >= {DNS_TARGET}x); reference/dnsperf "
            f"{_ratio(ref.get('dns_queries_per_s'), ceiling)}")
    return lines


def print_table(report: dict) -> None:
    print()
    placed = (f"sandbox on CPU {SANDBOX_CPU}, clients on CPU {CLIENT_CPU}"
              if report.get("pinned", True)
              else f"{report.get('unpinned')}, nothing pinned")
    print(f"hostlocator benchmark: {report['sandbox']['hosts']} names over "
          f"{report['sandbox']['addresses']} addresses; {placed}; "
          f"hostlocator {report['hostlocator']}")
    hdr = (f"{'mode':<6} {'URLs':>8} {'in flight':>9} | {'hostlocator':>12} "
           f"{'RSS MB':>7} | {'reference':>10} {'RSS MB':>7} | {'ratio':>6} | target")
    print(hdr)
    print("-" * len(hdr))
    for mode, r in report["modes"].items():
        hl, ref = r["hostlocator"], r["reference"]
        hl_rate = "FAILED" if "error" in hl else f"{hl['urls_per_s']:.0f}/s"
        ref_rate = "FAILED" if "error" in ref else f"{ref['urls_per_s']:.0f}/s"
        ratio = ("-" if "error" in hl or "error" in ref else
                 _ratio(hl["urls_per_s"], ref["urls_per_s"]))
        print(f"{mode:<6} {r['urls']:>8} {r['in_flight']:>9} | {hl_rate:>12} "
              f"{_fmt_mb(hl['peak_rss_mb']):>7} | {ref_rate:>10} "
              f"{_fmt_mb(ref['peak_rss_mb']):>7} | {ratio:>6} | "
              f"{TARGETS[mode]}")
    print("hostlocator's end-to-end rate (judged against the target) beside "
          "its rate until the last probe ended (start, ingest, probes, and "
          "the reports written meanwhile) and the share of the wall time "
          "after it (the rest of the reports, signing):")
    for mode, r in report["modes"].items():
        hl = r["hostlocator"]
        if "error" in hl:
            continue
        line = f"  {mode:<6} end to end {hl['urls_per_s']:.0f}/s"
        if hl.get("probe_urls_per_s"):
            line += (f", until the last probe {hl['probe_urls_per_s']:.0f}/s "
                     f"({hl['probe_phase_s']:.1f} s), after it "
                     f"{hl['reports_s']:.1f} s "
                     f"({100 * hl['reports_s'] / hl['wall_s']:.0f}%)")
        if hl.get("cpu_s") is not None:
            line += (f"; CPU {hl['cpu_s']:.1f} s = {hl['cpu_us_per_url']:.0f} "
                     f"us/URL, {hl['cpu_s'] / hl['wall_s']:.2f} of the wall "
                     "time")
        print(line)
    if not GNU_TIME:
        print("RSS ?: peak RSS and CPU need GNU time (apt-get install time)")
    if "dns" in report["modes"]:
        print(*_dns_line(report["modes"]["dns"]), sep="\n")
    print()
    print("p50/p99 per stage, ms (hostlocator from results.jsonl; "
          "reference measured in-process):")
    for mode, r in report["modes"].items():
        for who in ("hostlocator", "reference"):
            print(f"  {mode:<6} {who:<12} {_fmt_stages(r[who].get('stages'))}")
    for mode, r in report["modes"].items():
        for who in ("hostlocator", "reference"):
            x = r[who]
            if "error" in x:
                print(f"  ! {mode} {who}: {x['error']}")
            elif x.get("first_error"):
                print(f"  ! {mode} {who}: {x['ok']} ok, {x['dns_errors']} dns "
                      f"errors, {x['http_errors']} http errors; first: "
                      f"{x['first_error']}")
            elif who == "hostlocator" and x.get("statuses") and \
                    set(x["statuses"]) != {"located"}:
                print(f"  ! {mode} hostlocator statuses: {x['statuses']}")
            if x.get("ns_ptr_errors"):
                print(f"  ! {mode} {who}: {x['ns_ptr_errors']} NS/PTR "
                      "questions without an answer")
    if report.get("flat"):
        f = report["flat"]
        print(f"RSS flatness (http): {f['small_urls']} URLs {f['small_mb']:.0f} MB, "
              f"{f['large_urls']} URLs {f['large_mb']:.0f} MB: "
              f"{f['growth_pct']:+.1f}% (target within 10%)")
        for key in ("small_phases", "large_phases"):
            print(f"  peak RSS per phase, {key.split('_')[0]} run (sampled "
                  "every 0.2 s): " + ", ".join(
                      f"{k} {v:.0f} MB" for k, v in f[key].items()))


# ----------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--urls", type=int, default=5000,
                    help="URLs per mode (default 5000)")
    ap.add_argument("--full", action="store_true",
                    help="100,000 URLs per mode, then 1,000,000 plain HTTP "
                         "URLs through hostlocator for the RSS flatness figure")
    ap.add_argument("--hosts", type=int, default=100_000)
    ap.add_argument("--addresses", type=int, default=1_000)
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma-separated subset of " + ",".join(MODES))
    ap.add_argument("--in-flight", type=int, default=256,
                    help="URLs in flight (hostlocator --in-flight, reference "
                         "--inflight) for http, https and dns")
    ap.add_argument("--slow-in-flight", type=int, default=1000,
                    help="URLs in flight for the slow mode (200 ms x "
                         "3000 URLs/s = 600 needed)")
    ap.add_argument("--dns-inflight", type=int, default=128,
                    help="DNS queries in flight (hostlocator "
                         "resolver.max_in_flight, reference --dns-inflight, "
                         "dnsperf -q)")
    ap.add_argument("--dnsperf-seconds", type=int, default=5)
    ap.add_argument("--run-timeout", type=float, default=0,
                    help="seconds before a run is killed (default: 60 + "
                         "URLs / 250, at least 180)")
    ap.add_argument("--hostlocator", default=_default_binary(
        "build-bench/cli/hostlocator", "build/cli/hostlocator"))
    ap.add_argument("--reference", default=_default_binary(
        "build-bench/bench/hl_reference_pipeline",
        "build/bench/hl_reference_pipeline"))
    ap.add_argument("--dir", default=None,
                    help="work directory (default: a temporary one, removed)")
    ap.add_argument("--json", action="store_true",
                    help="print the report as JSON instead of the table")
    ap.add_argument("--smoke", action="store_true",
                    help="CTest: the http mode over 50 URLs of a small "
                         "sandbox, the table checked; nothing printed but "
                         "errors")
    ap.add_argument("--one-cpu", action="store_true",
                    help="with --smoke: run it, and all it starts, on the "
                         "first CPU this process may use (nothing pinned), "
                         "and fail unless it did")
    args = ap.parse_args(argv)
    if args.one_cpu and not args.smoke:
        ap.error("--one-cpu goes with --smoke")
    if args.full:
        args.urls = 100_000
    # Long enough for the slowest mode (https, ≈ 600 URLs/s) on a slow
    # phase of a shared machine, at 250 URLs/s plus start and reports.
    args.largest = max(args.urls, 1_000_000 if args.full else 0)
    args.run_timeout = args.run_timeout or max(180, 60 + args.largest / 250)
    args.modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in args.modes if m not in MODES]
    if bad:
        ap.error(f"unknown mode(s) {bad}")
    args.in_flight_for = (lambda mode: args.slow_in_flight if mode == "slow"
                          else args.in_flight)
    return args


# The http mode's lines of the table, each figure issue 3 asks for present:
# URLs/s and peak RSS of both sides and their ratio; p50/p99 of the DNS,
# connect and HTTP stages of each side.
SMOKE_SHAPE = (
    r"(?m)^http\s+50\s+\d+ \|\s+\d+/s\s+\d+ \|\s+\d+/s\s+\d+ \|\s+"
    r"[\d.]+x \| >= 5000",
    r"(?m)^p50/p99 per stage",
    r"(?m)^  http\s+hostlocator\s+dns [\d.]+/[\d.]+  connect [\d.]+/[\d.]+"
    r".*  http [\d.]+/[\d.]+",
    r"(?m)^  http\s+reference\s+dns [\d.]+/[\d.]+  connect [\d.]+/[\d.]+"
    r".*  http [\d.]+/[\d.]+",
)


def smoke(args) -> int:
    """The http mode over 50 URLs of a small sandbox: the reference's
    questions checked, and the table printed with every figure. On one CPU
    (args.pin off) the same checks run with nothing pinned; with --one-cpu
    only there. 0 only after the "ok: ..." line."""
    if args.one_cpu and args.unpinned != "one CPU":
        print(f"not on one CPU: {sorted(os.sched_getaffinity(0))}")
        return 1
    with tempfile.TemporaryDirectory(prefix="hl-bench-smoke-") as tmp:
        try:
            sb = sandbox_scale.start(tmp, hosts=50, addresses=5,
                                     hostlocator=args.hostlocator,
                                     die_with_parent=True)
        except sandbox.SandboxError as ex:
            print(f"skipped: sandbox: {ex}")
            return 77
        try:
            if sb.geo_error:
                print(f"skipped: geo: {sb.geo_error}")
                return 77
            args.urls = 50
            entry = run_mode(args, sb, "http", Path(sb.urls["http"]),
                             Path(tmp), lambda *a: None)
            r = entry["reference"]
            # Per URL: A and AAAA of the host, NS of scale.test, one PTR.
            if r.get("ok") != 50 or r.get("dns_queries") != 4 * 50 or \
                    r.get("ns_ptr_errors") != 0:
                print(f"reference pipeline failed: {json.dumps(r)}")
                return 1
            table = io.StringIO()
            with contextlib.redirect_stdout(table):
                print_table({"hostlocator": args.hostlocator,
                             "reference": args.reference,
                             "sandbox": {"hosts": 50, "addresses": 5},
                             "pinned": args.pin,
                             "unpinned": args.unpinned,
                             "modes": {"http": entry}})
            missing = [p for p in SMOKE_SHAPE
                       if not re.search(p, table.getvalue())]
            if missing:
                print(f"table without {missing}:\n{table.getvalue()}")
                return 1
            print(f"ok: 50 URLs, {r['urls_per_s']:.0f} URLs/s"
                  + ("" if args.pin
                     else f", {args.unpinned}, nothing pinned"))
            return 0
        finally:
            sandbox.stop(tmp)


def main(argv=None) -> int:
    args = parse_args(argv)
    for b in (args.reference, args.hostlocator):
        if not os.access(b, os.X_OK):
            print(f"run_bench.py: {b} not built", file=sys.stderr)
            return 77 if args.smoke else 1
    # The smoke checks the harness, not speed: it runs on one CPU too. The
    # first allowed one, as CPU 0 need not be (containers, cgroups).
    if args.one_cpu:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    args.unpinned = ("one CPU" if len(os.sched_getaffinity(0)) < 2
                     else "no taskset" if shutil.which("taskset") is None
                     else "")
    args.pin = not args.unpinned
    if args.smoke:
        return smoke(args)
    if not args.pin:
        print("run_bench.py: needs 2 CPUs and taskset", file=sys.stderr)
        return 1
    work = Path(args.dir or tempfile.mkdtemp(prefix="hl-bench-")).resolve()
    largest = args.largest
    log = (lambda *a: print(*a, file=sys.stderr, flush=True))
    report = {"hostlocator": args.hostlocator, "reference": args.reference,
              "modes": {}}
    failed = False
    try:
        t0 = time.monotonic()
        sb = sandbox_scale.start(work / "sandbox", hosts=args.hosts,
                                 addresses=args.addresses, urls=largest,
                                 hostlocator=args.hostlocator,
                                 cpu=SANDBOX_CPU, die_with_parent=True,
                                 dns_in_flight=args.dns_inflight,
                                 http_in_flight=max(
                                     map(args.in_flight_for, args.modes),
                                     default=args.in_flight))
        if sb.geo_error:
            raise sandbox.SandboxError(f"geo: {sb.geo_error}")
        log(f"scale sandbox ready in {time.monotonic() - t0:.1f} s "
            f"(generated in {sb.generate_seconds:.1f} s) in {sb.dir}")
        report["sandbox"] = {k: getattr(sb, k) for k in (
            "hosts", "addresses", "dns_port", "http_port", "https_port",
            "slow_port", "generate_seconds", "start_seconds")}
        lists = work / "lists"
        lists.mkdir(exist_ok=True)

        def url_list(mode: str, n: int) -> Path:
            src = sb.urls["slow" if mode == "slow" else
                          ("https" if mode == "https" else "http")]
            dst = lists / f"{mode}-{n}.txt"
            with open(src, encoding="utf-8") as f, open(dst, "w") as o:
                for i, line in enumerate(f):
                    if i >= n:
                        break
                    o.write(line)
            return dst

        for mode in args.modes:
            if mode == "slow" and not sb.slow_port:
                log("slow mode skipped: nginx echo module missing")
                continue
            entry = run_mode(args, sb, mode, url_list(mode, args.urls), work,
                             log)
            failed |= any("error" in entry[w] for w in ("hostlocator", "reference"))
            report["modes"][mode] = entry
        if args.full and "http" in args.modes:
            log(f"http: hostlocator, {largest} URLs (RSS flatness) ...")
            big = run_hostlocator(args, sb, "http-large",
                                  url_list("http", largest), work, largest)
            small = report["modes"]["http"]["hostlocator"]
            report["http_large"] = big
            if not ("error" in big or "error" in small) and \
                    big["peak_rss_mb"] and small["peak_rss_mb"]:
                report["flat"] = {
                    "small_urls": args.urls, "small_mb": small["peak_rss_mb"],
                    "large_urls": largest, "large_mb": big["peak_rss_mb"],
                    "small_phases": small.get("phase_peak_rss_mb", {}),
                    "large_phases": big.get("phase_peak_rss_mb", {}),
                    "growth_pct": 100.0 * (big["peak_rss_mb"] /
                                           small["peak_rss_mb"] - 1)}
            failed |= "error" in big
    except sandbox.SandboxError as ex:
        print(f"run_bench.py: sandbox: {ex}", file=sys.stderr)
        return 1
    finally:
        sandbox.stop(work / "sandbox")
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
