#!/usr/bin/env python3
"""hostlocator speed benchmark (issue 3, "Speed"); see bench/README.md.

Starts the scale sandbox (scripts/sandbox_scale.py) with knotd and nginx
pinned to CPU 0, then for each mode runs, pinned to CPU 1 and on the same URL
list:

- `hostlocator run --workers 1 --capacity K --quiet` with a fresh data
  folder (end to end: ingest, probes, reports), and
- bench's reference pipeline (hl_reference_pipeline) with the same in-flight
  limit K,

and prints URLs/s, p50/p99 per stage, peak RSS and the ratio
hostlocator/reference. Modes: http, https (ECDSA, a full handshake each),
dns (the reference only resolves; hostlocator has no DNS-only mode yet, so
"n/a"; dnsperf measures the DNS server's ceiling when installed) and slow
(every answer after 200 ms).

Every run is bounded in URL count and time (--run-timeout); all traffic goes
to 127.0.0.0/8. Exit status: 0 when every run finished, 1 when one failed or
timed out, 77 (skip) in --smoke when the sandbox cannot be built here.
"""

from __future__ import annotations

import argparse
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
    "dns": ">= 0.8x dnsperf ceiling (queries/s)",
    "slow": ">= 3000 URLs/s",
}


def _default_binary(*candidates: str) -> str:
    for c in candidates:
        if (REPO / c).is_file():
            return str(REPO / c)
    return str(REPO / candidates[-1])


# ------------------------------------------------------------ measuring


def measure(cmd: list[str], timeout: float, cwd: str | None = None
            ) -> dict:
    """Runs cmd in its own process group; returns wall seconds, peak RSS
    (ru_maxrss of the child, KB), exit status, stdout, stderr and whether it
    was killed at `timeout`."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    timed_out = False
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        if time.monotonic() - t0 > timeout:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.01)
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    return {"wall_s": wall, "peak_rss_kb": ru.ru_maxrss,
            "rc": proc.returncode, "timed_out": timed_out,
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace")}


def _pct(values: list[float]) -> dict | None:
    if not values:
        return None
    values.sort()
    n = len(values)

    def at(q: float) -> float:
        return values[min(n - 1, max(0, int(q * n + 0.999999) - 1))]
    return {"n": n, "p50_ms": round(at(0.5), 3), "p99_ms": round(at(0.99), 3)}


def hostlocator_stages(results: Path) -> dict:
    """p50/p99 per stage from hostlocator's results.jsonl: dns (slowest of
    a URL's queries), connect, tls (handshake after connect), http (the
    probe's total). Per-URL end-to-end times are not recorded."""
    dns, conn, tls, http = [], [], [], []
    statuses: dict[str, int] = {}
    try:
        f = open(results, encoding="utf-8")
    except OSError:
        return {}
    with f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            statuses[r.get("status", "?")] = statuses.get(r.get("status", "?"), 0) + 1
            qs = (r.get("dns") or {}).get("queries") or []
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
    return {"stages": stages, "statuses": statuses}


def run_hostlocator(args, sb, mode: str, urls: Path, work: Path,
                    n: int) -> dict:
    data, out = work / f"hl-{mode}-data", work / f"hl-{mode}-out"
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    cmd = ["taskset", "-c", str(CLIENT_CPU), args.hostlocator, "run",
           "-c", sb.config, "--data", str(data), "--out", str(out),
           "--workers", "1", "--capacity", str(args.capacity_for(mode)),
           "--quiet", str(urls)]
    m = measure(cmd, args.run_timeout)
    res = {"command": " ".join(cmd), "urls": n, "wall_s": round(m["wall_s"], 3),
           "peak_rss_mb": round(m["peak_rss_kb"] / 1024, 1), "rc": m["rc"],
           "timed_out": m["timed_out"]}
    if m["rc"] != 0 or m["timed_out"]:
        tail = (m["stderr"] or m["stdout"]).strip().splitlines()[-3:]
        res["error"] = ("timed out" if m["timed_out"] else f"exit {m['rc']}") \
            + (": " + " | ".join(tail) if tail else "")
        return res
    res["urls_per_s"] = round(n / m["wall_s"], 1)
    found = sorted(out.glob("run-*/results.jsonl"))
    if found:
        res.update(hostlocator_stages(found[-1]))
    return res


def run_reference(args, sb, mode: str, urls: Path, work: Path) -> dict:
    db = work / f"ref-{mode}-db"
    shutil.rmtree(db, ignore_errors=True)
    cmd = ["taskset", "-c", str(CLIENT_CPU), args.reference,
           "--urls", str(urls), "--dns", sb.dns_server,
           "--mmdb", sb.country_mmdb, "--db", str(db),
           "--inflight", str(args.capacity_for(mode)),
           "--dns-inflight", str(args.dns_inflight),
           "--dns-timeout-ms", str(sandbox.RESOLVER_TIMEOUT_MS),
           "--connect-timeout-ms", str(sandbox.HTTP_CONNECT_TIMEOUT_MS),
           "--timeout-ms", str(sandbox.HTTP_TIMEOUT_MS), "--json"]
    if mode == "https":
        cmd += ["--ca-file", sb.ca_cert]
    if mode == "dns":
        cmd += ["--dns-only"]
    m = measure(cmd, args.run_timeout)
    res = {"command": " ".join(cmd), "wall_s": round(m["wall_s"], 3),
           "peak_rss_mb": round(m["peak_rss_kb"] / 1024, 1), "rc": m["rc"],
           "timed_out": m["timed_out"]}
    try:
        rep = json.loads(m["stdout"].strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (m["stderr"] or m["stdout"]).strip().splitlines()[-3:]
        res["error"] = ("timed out" if m["timed_out"] else f"exit {m['rc']}") \
            + (": " + " | ".join(tail) if tail else "")
        return res
    res.update({k: rep[k] for k in ("urls", "urls_per_s", "ok", "dns_errors",
                                    "http_errors", "dns_queries_per_s",
                                    "stages", "first_error")})
    return res


def run_dnsperf(args, sb, work: Path) -> dict:
    if not shutil.which("dnsperf"):
        return {"error": "dnsperf not installed (apt-get install dnsperf)"}
    cmd = ["taskset", "-c", str(CLIENT_CPU), "dnsperf", "-s", sb.dns_address,
           "-p", str(sb.dns_port), "-d", sb.names, "-n", "1",
           "-l", str(args.dnsperf_seconds), "-q", str(args.dns_inflight),
           "-c", "1", "-T", "1", "-t", "1"]
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


# ------------------------------------------------------------- printing


def _fmt_stages(stages: dict | None) -> str:
    if not stages:
        return "-"
    return "  ".join(f"{k} {v['p50_ms']:.2f}/{v['p99_ms']:.2f}"
                     for k, v in stages.items() if k != "geo" and k != "store"
                     ) or "-"


def print_table(report: dict) -> None:
    print()
    print(f"hostlocator benchmark: {report['sandbox']['hosts']} names over "
          f"{report['sandbox']['addresses']} addresses; sandbox on CPU "
          f"{SANDBOX_CPU}, clients on CPU {CLIENT_CPU}; "
          f"hostlocator {report['hostlocator']}")
    hdr = (f"{'mode':<6} {'URLs':>8} {'in flight':>9} | {'hostlocator':>12} "
           f"{'RSS MB':>7} | {'reference':>10} {'RSS MB':>7} | {'ratio':>6} | target")
    print(hdr)
    print("-" * len(hdr))
    for mode, r in report["modes"].items():
        hl, ref = r["hostlocator"], r["reference"]
        if mode == "dns":
            hl_rate, hl_rss, ratio = "n/a", "n/a", "n/a"
        elif "error" in hl:
            hl_rate, hl_rss, ratio = "FAILED", f"{hl['peak_rss_mb']:.0f}", "-"
        else:
            hl_rate, hl_rss = f"{hl['urls_per_s']:.0f}/s", f"{hl['peak_rss_mb']:.0f}"
            ratio = (f"{hl['urls_per_s'] / ref['urls_per_s']:.2f}x"
                     if ref.get("urls_per_s") else "-")
        ref_rate = ("FAILED" if "error" in ref else f"{ref['urls_per_s']:.0f}/s")
        ref_rss = f"{ref['peak_rss_mb']:.0f}"
        print(f"{mode:<6} {r['urls']:>8} {r['in_flight']:>9} | {hl_rate:>12} "
              f"{hl_rss:>7} | {ref_rate:>10} {ref_rss:>7} | {ratio:>6} | "
              f"{TARGETS[mode]}")
    print()
    print("p50/p99 per stage, ms (hostlocator from results.jsonl; "
          "reference measured in-process):")
    for mode, r in report["modes"].items():
        hl, ref = r["hostlocator"], r["reference"]
        if mode != "dns":
            print(f"  {mode:<6} hostlocator  {_fmt_stages(hl.get('stages'))}")
        print(f"  {mode:<6} reference    {_fmt_stages(ref.get('stages'))}")
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
    if "dns" in report["modes"]:
        d = report["modes"]["dns"]
        ref, perf = d["reference"], d.get("dnsperf", {})
        line = f"DNS: reference {ref.get('dns_queries_per_s', 0):.0f} queries/s"
        if "queries_per_s" in perf:
            line += (f"; dnsperf ceiling {perf['queries_per_s']:.0f} queries/s "
                     f"({perf.get('queries_lost')} lost); reference/dnsperf "
                     f"{ref.get('dns_queries_per_s', 0) / perf['queries_per_s']:.2f}x"
                     "; hostlocator n/a (no DNS-only mode yet)")
        else:
            line += f"; dnsperf: {perf.get('error', 'not run')}"
        print(line)
    if report.get("flat"):
        f = report["flat"]
        print(f"RSS flatness (http): {f['small_urls']} URLs {f['small_mb']:.0f} MB, "
              f"{f['large_urls']} URLs {f['large_mb']:.0f} MB: "
              f"{f['growth_pct']:+.1f}% (target within 10%)")


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
    ap.add_argument("--capacity", type=int, default=256,
                    help="URLs in flight (hostlocator --capacity, reference "
                         "--inflight) for http, https and dns")
    ap.add_argument("--slow-capacity", type=int, default=1000,
                    help="URLs in flight for the slow mode (200 ms x "
                         "3000 URLs/s = 600 needed)")
    ap.add_argument("--dns-inflight", type=int, default=128,
                    help="DNS queries in flight (reference, dnsperf -q)")
    ap.add_argument("--dnsperf-seconds", type=int, default=5)
    ap.add_argument("--run-timeout", type=float, default=0,
                    help="seconds before a run is killed (default 180, "
                         "--full 1800)")
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
                    help="CTest: the reference over 50 URLs of a small "
                         "sandbox, checked; nothing printed but errors")
    args = ap.parse_args(argv)
    if args.full:
        args.urls = 100_000
    args.run_timeout = args.run_timeout or (1800 if args.full else 180)
    args.modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in args.modes if m not in MODES]
    if bad:
        ap.error(f"unknown mode(s) {bad}")
    args.capacity_for = (lambda mode: args.slow_capacity if mode == "slow"
                         else args.capacity)
    return args


def smoke(args) -> int:
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
            r = run_reference(args, sb, "http", Path(sb.urls["http"]), Path(tmp))
            if r.get("ok") != 50:
                print(f"reference pipeline failed: {json.dumps(r)}")
                return 1
            print(f"ok: 50 URLs, {r['urls_per_s']:.0f} URLs/s")
            return 0
        finally:
            sandbox.stop(tmp)


def main(argv=None) -> int:
    args = parse_args(argv)
    for b in (args.reference,) + (() if args.smoke else (args.hostlocator,)):
        if not os.access(b, os.X_OK):
            print(f"run_bench.py: {b} not built", file=sys.stderr)
            return 77 if args.smoke else 1
    if args.smoke:
        return smoke(args)
    if len(os.sched_getaffinity(0)) < 2 or not shutil.which("taskset"):
        print("run_bench.py: needs 2 CPUs and taskset", file=sys.stderr)
        return 1
    work = Path(args.dir or tempfile.mkdtemp(prefix="hl-bench-")).resolve()
    largest = max(args.urls, 1_000_000 if args.full else 0)
    log = (lambda *a: print(*a, file=sys.stderr, flush=True))
    report = {"hostlocator": args.hostlocator, "reference": args.reference,
              "modes": {}}
    failed = False
    try:
        t0 = time.monotonic()
        sb = sandbox_scale.start(work / "sandbox", hosts=args.hosts,
                                 addresses=args.addresses, urls=largest,
                                 hostlocator=args.hostlocator,
                                 cpu=SANDBOX_CPU, die_with_parent=True)
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
            urls = url_list(mode, args.urls)
            entry = {"urls": args.urls, "in_flight": args.capacity_for(mode)}
            if mode == "dns":
                entry["hostlocator"] = {
                    "note": "no DNS-only mode in hostlocator yet"}
                if shutil.which("dnsperf"):
                    log("dns: dnsperf ceiling ...")
                entry["dnsperf"] = run_dnsperf(args, sb, work)
            else:
                log(f"{mode}: hostlocator, {args.urls} URLs ...")
                entry["hostlocator"] = run_hostlocator(args, sb, mode, urls, work,
                                                       args.urls)
            log(f"{mode}: reference, {args.urls} URLs ...")
            entry["reference"] = run_reference(args, sb, mode, urls, work)
            failed |= any("error" in entry[w] for w in ("hostlocator", "reference"))
            report["modes"][mode] = entry
        if args.full and "http" in args.modes:
            log(f"http: hostlocator, {largest} URLs (RSS flatness) ...")
            big = run_hostlocator(args, sb, "http-large",
                                  url_list("http", largest), work, largest)
            small = report["modes"]["http"]["hostlocator"]
            report["http_large"] = big
            if "error" not in big and "error" not in small:
                report["flat"] = {
                    "small_urls": args.urls, "small_mb": small["peak_rss_mb"],
                    "large_urls": largest, "large_mb": big["peak_rss_mb"],
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
