#!/usr/bin/env python3
"""The sandbox internet at scale, for the benchmarks (bench/README.md).

One zone `scale.test` with N hostnames h0000000.scale.test ... spread round
robin over M loopback addresses 127.S.x.y (S chosen at run time, x from 10,
y 1..250), and the reverse zone S.127.in-addr.arpa (a PTR record per
address, naming its first host), served by knotd; one nginx listening on
each of those addresses on three ports:

- HTTP  : 200 to everything, at once;
- HTTPS : the same over TLS, an ECDSA P-256 certificate for *.scale.test
          signed by the sandbox CA (tls/ca.pem);
- slow  : HTTP, every answer after 200 ms (echo module, `echo_sleep 0.2`);
          absent when libnginx-mod-http-echo is not installed.

Also written: geo/country.mmdb and geo/asn.mmdb covering the addresses (built
with `hostlocator geodb build`), hostlocator.toml (allowlists 127.S.0.0/16,
trusts the sandbox CA, one worker thread, the DNS and HTTP in-flight limits
given, politeness caps too high to throttle; see _toml), URL lists
urls-http.txt, urls-https.txt, urls-slow.txt (one URL per host, or --urls of
them: beyond N the hosts repeat with distinct paths, so every URL is a
distinct job), names.txt (dnsperf input: per host the four questions the
worker asks for it, "NAME A", "NAME AAAA", "scale.test NS" and the PTR of
its address) and scale.json (the ScaleSandbox dataclass).

It reuses sandbox.py's pieces (process handling, TLS, geo build, DNS client);
`sandbox.py stop --dir D` and `sandbox.stop(D)` stop it too.

    sandbox_scale.py start --dir D [--hosts 100000] [--addresses 1000]
                     [--urls N] [--cpu 0] [--hostlocator PATH]
                     [--dns-in-flight 256] [--http-in-flight 1000]
    sandbox_scale.py stop --dir D
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sandbox  # noqa: E402  (the sibling module)

ZONE = "scale.test"
FIRST_THIRD = 10          # addresses start at 127.S.10.1
PER_THIRD = 250           # 127.S.x.1 .. 127.S.x.250
SLOW_SECONDS = 0.2
STATE_FILE = "scale.json"
READY_TIMEOUT_S = 60.0
# The largest politeness caps hostlocator accepts (common/config.cc).
POLITENESS_MAX_PER_HOST = 1000
POLITENESS_MAX_PER_ADDRESS = 10000
# Countries the address blocks are assigned to, in turn (per /24).
COUNTRIES = [(cc, asn, org) for _, (cc, asn, org) in
             sorted(sandbox.GEO_RANGES.items())]


@dataclasses.dataclass
class ScaleSandbox:
    """A running scale sandbox; also stored as DIR/scale.json."""

    dir: str
    config: str
    subnet_octet: int
    subnet: str
    dns_address: str
    dns_port: int
    http_port: int
    https_port: int
    slow_port: int          # 0 when the echo module is missing
    hosts: int
    addresses: int
    urls: dict[str, str]    # "http" | "https" | "slow" -> URL list file
    url_count: int
    names: str              # dnsperf input
    ca_cert: str
    country_mmdb: str
    asn_mmdb: str
    geo_error: str
    pids: dict[str, int]
    generate_seconds: float
    start_seconds: float

    @property
    def dns_server(self) -> str:
        return f"{self.dns_address}:{self.dns_port}"


def load(dir: str | os.PathLike) -> ScaleSandbox:
    with open(Path(dir) / STATE_FILE, encoding="utf-8") as f:
        return ScaleSandbox(**json.load(f))


def address(n: int, i: int) -> str:
    """The i-th web address of subnet n (0-based)."""
    return f"127.{n}.{FIRST_THIRD + i // PER_THIRD}.{1 + i % PER_THIRD}"


def host(i: int) -> str:
    return f"h{i:07d}.{ZONE}"


def reverse_zone(n: int) -> str:
    return f"{n}.127.in-addr.arpa"


def reverse_name(ip: str) -> str:
    """The name of the PTR record of an IPv4 address."""
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


# ------------------------------------------------------------- generation


def _zone_file(path: Path, n: int, hosts: int, addresses: int) -> None:
    dns = f"127.{n}.0.53"
    lines = [f"$ORIGIN {ZONE}.", "$TTL 300",
             f"@ 300 IN SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 300",
             f"@ 300 IN NS ns.{ZONE}.", f"ns 300 IN A {dns}"]
    addrs = [address(n, i) for i in range(addresses)]
    lines += [f"h{i:07d} IN A {addrs[i % addresses]}" for i in range(hosts)]
    path.write_text("\n".join(lines) + "\n")


def _reverse_zone_file(path: Path, n: int, hosts: int, addresses: int
                       ) -> None:
    """A PTR record for every address that carries a host, naming the first
    one (address i's first host is host i)."""
    rev = reverse_zone(n)
    lines = [f"$ORIGIN {rev}.", "$TTL 300",
             f"@ 300 IN SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 300",
             f"@ 300 IN NS ns.{ZONE}."]
    lines += [f"{reverse_name(address(n, i))}. IN PTR {host(i)}."
              for i in range(min(hosts, addresses))]
    path.write_text("\n".join(lines) + "\n")


def _dnsperf_names(path: Path, n: int, hosts: int, addresses: int) -> None:
    """dnsperf input: per host the questions the worker asks for one of its
    URLs (A and AAAA of the host, NS of its registrable domain, PTR of its
    one address), so the ceiling is measured on the same mix."""
    with open(path, "w", encoding="ascii") as f:
        for i in range(hosts):
            f.write(f"{host(i)} A\n{host(i)} AAAA\n{ZONE} NS\n"
                    f"{reverse_name(address(n, i % addresses))} PTR\n")


def _nginx_conf(d: Path, addrs: list[str], http: int, https: int, slow: int,
                echo: str | None) -> str:
    ng = d / "nginx"
    # Every listening socket takes a connection slot in the worker.
    conns = 3 * len(addrs) + 8192
    out = ["# nginx configuration of the hostlocator scale sandbox"]
    if echo:
        out.append(f"load_module {echo};")
    out += [
        "worker_processes 1;",
        f"worker_rlimit_nofile {conns + 1024};",
        "daemon off;",
        f"pid {ng}/nginx.pid;",
        f"error_log {ng}/error.log warn;",
        f"events {{ worker_connections {conns}; multi_accept on; }}",
        "http {",
        *sandbox.nginx_temp_paths(ng),
        "  access_log off;",
        "  server_tokens off;",
        "  default_type text/html;",
        "  keepalive_timeout 5s;",
        "  ssl_protocols TLSv1.2 TLSv1.3;",
        "  ssl_session_cache off;",
        "  ssl_session_tickets off;",
        '  add_header X-Sandbox-Address "$server_addr" always;',
    ]
    body = "<html><body>scale sandbox</body></html>\\n"

    def server(port: int, extra: str, location: str) -> None:
        out.append("  server {")
        out.extend(f"    listen {a}:{port}{extra};" for a in addrs)
        out.append("    server_name _;")
        if "ssl" in extra:
            out.append(f"    ssl_certificate {d}/tls/scale.pem;")
            out.append(f"    ssl_certificate_key {d}/tls/scale.key;")
        out.append(f"    location / {{ {location} }}")
        out.append("  }")

    server(http, " default_server backlog=4096", f'return 200 "{body}";')
    server(https, " ssl default_server backlog=4096", f'return 200 "{body}";')
    if slow:
        server(slow, " default_server backlog=4096",
               f'echo_sleep {SLOW_SECONDS}; echo "{body}";')
    out.append("}")
    return "\n".join(out) + "\n"


def _geo_csvs(d: Path, n: int, addresses: int) -> tuple[Path, Path]:
    geo = d / "geo"
    geo.mkdir(parents=True, exist_ok=True)
    country, asn = [], []
    last_third = FIRST_THIRD + (addresses - 1) // PER_THIRD
    for k, third in enumerate(range(FIRST_THIRD, last_third + 1)):
        cc, num, org = COUNTRIES[k % len(COUNTRIES)]
        first, last = f"127.{n}.{third}.0", f"127.{n}.{third}.255"
        country.append(f"{first},{last},{cc}")
        asn.append(f'{first},{last},{num},"{org}"')
    return sandbox._write_geo_csvs(geo, country, asn)


def _url_lists(d: Path, hosts: int, urls: int, ports: dict[str, int]
               ) -> dict[str, str]:
    out = {}
    for kind, port in ports.items():
        if not port:
            continue
        scheme = "https" if kind == "https" else "http"
        lines = []
        for j in range(urls):
            i = j % hosts
            path = "/" if j < hosts else f"/r{j // hosts}"
            lines.append(f"{scheme}://{host(i)}:{port}{path}")
        path = d / f"urls-{kind}.txt"
        path.write_text("\n".join(lines) + "\n")
        out[kind] = str(path)
    return out


def _toml(d: Path, dns: str, subnet: str, dns_in_flight: int,
          http_in_flight: int) -> str:
    """hostlocator's configuration for the benchmark: one worker thread, the
    reference's DNS in-flight limit, HTTP and politeness limits that never
    bind (the benchmark measures the engine's speed; politeness has its own
    tests), the URLs in flight left to `run --in-flight`."""
    s = sandbox._toml_str
    return f"""# hostlocator configuration for the scale sandbox in {d}
# Generated by scripts/sandbox_scale.py; addresses and ports are this run's.

[resolver]
servers = [{s(dns)}]
timeout_ms = {sandbox.RESOLVER_TIMEOUT_MS}
tries = 2
max_in_flight = {dns_in_flight}

[http]
connect_timeout_ms = {sandbox.HTTP_CONNECT_TIMEOUT_MS}
timeout_ms = {sandbox.HTTP_TIMEOUT_MS}
ca_file = {s(str(d / "tls" / "ca.pem"))}
max_in_flight = {http_in_flight}

# The benchmark measures the engine's speed, not politeness (tested
# elsewhere): the worker's caps at their maxima and no interval. The
# fleet-wide per-host and per-address caps are the defaults (they never
# bind on these lists; bench/README.md "Fleet caps with a hot host"); no
# per-domain cap, which would throttle the lists, whose hosts all share
# the registrable domain {ZONE}.
[politeness]
max_per_host = {POLITENESS_MAX_PER_HOST}
max_per_address = {POLITENESS_MAX_PER_ADDRESS}
min_host_interval_ms = 0
fleet_max_per_host = 8
fleet_max_per_domain = 0
fleet_max_per_address = 64

[safety]
allow_cidrs = [{s(subnet)}]

[geo]
country = [{s(str(d / "geo" / "country.mmdb"))}]
asn = [{s(str(d / "geo" / "asn.mmdb"))}]

[worker]
threads = 1

[run]
data_dir = {s(str(d / "data"))}
output_dir = {s(str(d / "out"))}
"""


class _TlsPlan:
    """What sandbox._make_tls needs: certificate stem -> names."""
    tls_names = {"scale": [f"*.{ZONE}", ZONE]}


# ------------------------------------------------------------------ start


def _pinned(cmd: list[str], cpu: int | None) -> list[str]:
    return cmd if cpu is None else ["taskset", "-c", str(cpu), *cmd]


def _wait_ready(d: Path, dns: str, dns_port: int, addrs: list[str],
                ports: list[int], procs: dict, deadline: float) -> None:
    sample = sorted({addrs[0], addrs[len(addrs) // 2], addrs[-1]})
    nginx_pid = d / "nginx" / "nginx.pid"
    problem = "starting"
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise sandbox.SandboxError(
                    f"{name} exited with {proc.returncode} during start-up; "
                    f"see {sandbox._log_hint(d, name)}")
        try:
            bound = int(nginx_pid.read_text().strip()) == procs["nginx"].pid
        except (OSError, ValueError):
            bound = False
        if not bound:
            problem = "nginx has not bound its sockets"
            time.sleep(0.05)
            continue
        try:
            unready = ""  # a question of each zone, answered with authority
            for name, qtype in ((host(0), "A"),
                                (reverse_name(addrs[0]), "PTR")):
                r = sandbox.dns_query(dns, dns_port, name, qtype, timeout=0.3)
                if r.rcode != "NOERROR" or not r.aa:
                    unready = f"{name} {qtype}: {r.rcode}"
                    break
            if unready:
                problem = unready
                time.sleep(0.05)
                continue
        except OSError as ex:
            problem = f"DNS: {ex}"
            time.sleep(0.05)
            continue
        try:
            for a in sample:
                for p in ports:
                    socket.create_connection((a, p), timeout=0.5).close()
        except OSError as ex:
            problem = f"nginx: {ex}"
            time.sleep(0.05)
            continue
        return
    raise sandbox.SandboxError(f"not ready within {READY_TIMEOUT_S:.0f} s: "
                               f"{problem}")


def start(dir: str | os.PathLike, hosts: int = 100_000,
          addresses: int = 1_000, urls: int = 0,
          hostlocator: str | os.PathLike | None = None,
          cpu: int | None = None, subnet_octet: int = 0,
          die_with_parent: bool = False, quiet: bool = True,
          dns_in_flight: int = 256, http_in_flight: int = 1000
          ) -> ScaleSandbox:
    """Generates and starts the scale sandbox in DIR (stopping one already
    there) and returns it once knotd answers and nginx accepts. With `cpu`
    knotd and nginx run pinned to that CPU. `urls` (default: hosts) is the
    length of each URL list. `dns_in_flight` and `http_in_flight` become
    hostlocator.toml's resolver.max_in_flight and http.max_in_flight.
    Raises SandboxError; never leaves daemons running on failure."""
    if not 1 <= addresses <= 240 * PER_THIRD or hosts < 1:
        raise sandbox.SandboxError("need 1 <= addresses <= 60000, hosts >= 1")
    t0 = time.monotonic()
    sandbox._check_tools()
    d = Path(dir).resolve()
    d.mkdir(parents=True, exist_ok=True)
    sandbox.stop(d)
    try:
        return _start(d, t0, hosts, addresses, urls or hosts, hostlocator,
                      cpu, subnet_octet, die_with_parent, quiet,
                      dns_in_flight, http_in_flight)
    except BaseException:
        sandbox.stop(d)
        raise


def _start(d: Path, t0: float, hosts: int, addresses: int, urls: int,
           hostlocator, cpu, subnet_octet: int, die_with_parent: bool,
           quiet: bool, dns_in_flight: int, http_in_flight: int
           ) -> ScaleSandbox:
    for sub in ("knot", "nginx", "run", "geo", "tls", "data", "out"):
        shutil.rmtree(d / sub, ignore_errors=True)
    for sub in ("knot/zones", "knot/db", "knot/run", "nginx/tmp", "run"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    echo = sandbox._find_echo_module()
    binary = Path(hostlocator) if hostlocator else sandbox.DEFAULT_HOSTLOCATOR
    control = str(d / "knot" / "run" / "knot.sock")
    if len(control.encode()) > 100:  # sun_path limit
        import tempfile
        control = os.path.join(tempfile.mkdtemp(prefix="hl-knot-"), "knot.sock")

    for attempt in range(4):
        n = subnet_octet or random.choice(
            [i for i in range(16, 251) if i != sandbox.REFUSED_OCTET])
        addrs = [address(n, i) for i in range(addresses)]
        dns = f"127.{n}.0.53"
        try:
            dns_port = sandbox._free_port([dns], udp_too=True)
            http = sandbox._free_port(addrs)
            https = sandbox._free_port(addrs, avoid={http})
            slow = sandbox._free_port(addrs, avoid={http, https}) if echo else 0
        except sandbox.SandboxError:
            if subnet_octet or attempt == 3:
                raise
            continue
        break
    tg = time.monotonic()
    if not (d / "tls" / "scale.pem").exists():
        sandbox._make_tls(d, _TlsPlan)
    zones = d / "knot" / "zones"
    _zone_file(zones / f"{ZONE}.zone", n, hosts, addresses)
    _reverse_zone_file(zones / f"{reverse_zone(n)}.zone", n, hosts, addresses)
    (d / "knot" / "knot.conf").write_text(sandbox.knot_conf(
        d, dns, dns_port, control, [ZONE, reverse_zone(n)],
        semantic_checks=False))
    (d / "nginx" / "nginx.conf").write_text(
        _nginx_conf(d, addrs, http, https, slow, echo))
    ports = {"http": http, "https": https, "slow": slow}
    url_files = _url_lists(d, hosts, urls, ports)
    _dnsperf_names(d / "names.txt", n, hosts, addresses)
    geo_error = sandbox._build_geo(d, binary, _geo_csvs(d, n, addresses))
    subnet = f"127.{n}.0.0/16"
    (d / "hostlocator.toml").write_text(_toml(
        d, f"{dns}:{dns_port}", subnet, dns_in_flight, http_in_flight))
    generate_s = time.monotonic() - tg

    procs = {
        "knotd": sandbox._spawn(
            "knotd", _pinned(["knotd", "-c", str(d / "knot" / "knot.conf")],
                             cpu),
            d / "knot" / "knotd.out", d / "run" / "knotd.pid",
            die_with_parent),
        "nginx": sandbox._spawn(
            "nginx", _pinned(["nginx", "-p", f"{d}/nginx/", "-c",
                              str(d / "nginx" / "nginx.conf"), "-e",
                              str(d / "nginx" / "error.log")], cpu),
            d / "nginx" / "nginx.out", d / "run" / "nginx.pid",
            die_with_parent),
    }
    _wait_ready(d, dns, dns_port, addrs, [p for p in ports.values() if p],
                procs, time.monotonic() + READY_TIMEOUT_S)
    sb = ScaleSandbox(
        dir=str(d), config=str(d / "hostlocator.toml"), subnet_octet=n,
        subnet=subnet, dns_address=dns, dns_port=dns_port, http_port=http,
        https_port=https, slow_port=slow, hosts=hosts, addresses=addresses,
        urls=url_files, url_count=urls, names=str(d / "names.txt"),
        ca_cert=str(d / "tls" / "ca.pem"),
        country_mmdb=str(d / "geo" / "country.mmdb"),
        asn_mmdb=str(d / "geo" / "asn.mmdb"), geo_error=geo_error,
        pids={k: p.pid for k, p in procs.items()},
        generate_seconds=round(generate_s, 3),
        start_seconds=round(time.monotonic() - t0, 3))
    (d / STATE_FILE).write_text(json.dumps(dataclasses.asdict(sb), indent=2)
                                + "\n")
    if not quiet:
        print(summary(sb))
    return sb


def summary(sb: ScaleSandbox) -> str:
    geo = "built" if not sb.geo_error else f"NOT built: {sb.geo_error}"
    return "\n".join([
        f"scale sandbox running in {sb.dir} (generated in "
        f"{sb.generate_seconds:.2f} s, ready in {sb.start_seconds:.2f} s)",
        f"  names      {sb.hosts} in {ZONE} over {sb.addresses} addresses "
        f"{address(sb.subnet_octet, 0)}..{address(sb.subnet_octet, sb.addresses - 1)}",
        f"  DNS        {sb.dns_server}; web ports http {sb.http_port}, "
        f"https {sb.https_port}, slow {sb.slow_port or 'n/a (no echo module)'}",
        f"  geo        {geo}",
        f"  config     {sb.config}",
        "  urls       " + ", ".join(f"{k} {v}" for k, v in sb.urls.items())
        + f" ({sb.url_count} each)",
        f"  stop       {Path(__file__).resolve()} stop --dir {sb.dir}",
    ])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sandbox_scale.py",
                                 description="The sandbox internet at scale.")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("start", help="generate and start, leave running")
    p.add_argument("--dir", required=True)
    p.add_argument("--hosts", type=int, default=100_000)
    p.add_argument("--addresses", type=int, default=1_000)
    p.add_argument("--urls", type=int, default=0,
                   help="URLs per list (default: one per host)")
    p.add_argument("--cpu", type=int, default=None,
                   help="pin knotd and nginx to this CPU")
    p.add_argument("--subnet-octet", type=int, default=0)
    p.add_argument("--hostlocator", default=None)
    p.add_argument("--dns-in-flight", type=int, default=256,
                   help="resolver.max_in_flight of hostlocator.toml")
    p.add_argument("--http-in-flight", type=int, default=1000,
                   help="http.max_in_flight of hostlocator.toml")
    p = sub.add_parser("stop", help="stop (idempotent)")
    p.add_argument("--dir", required=True)
    args = ap.parse_args(argv)
    try:
        if args.command == "start":
            start(args.dir, args.hosts, args.addresses, args.urls,
                  args.hostlocator, args.cpu, args.subnet_octet, quiet=False,
                  dns_in_flight=args.dns_in_flight,
                  http_in_flight=args.http_in_flight)
            return 0
        return 1 if sandbox.stop(args.dir, quiet=False) else 0
    except sandbox.SandboxError as ex:
        print(f"sandbox_scale.py: error: {ex}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
