#!/usr/bin/env python3
"""The sandbox internet: real DNS and HTTP(S) servers on loopback.

hostlocator runs end to end against it with no internet and no mocks (see
"Sandbox internet" in the design document and tests/integration/README.md):

- knotd serves generated zones (authoritative, UDP and TCP) on 127.N.0.53;
- nginx serves name-based virtual hosts on many 127.N.x.y addresses (HTTP,
  HTTPS with a sandbox CA, redirects, slow hosts via the echo module);
- a small stdlib server (this file, `_hostile`) plays the hosts nginx cannot:
  a CDN edge with its own Server header, a server that sends a body to HEAD,
  trickled, endless, silent, empty and non-HTTP answers;
- geolocation fixtures map the 127.N.x.0/24 ranges to fake countries and
  private-use ASNs; `hostlocator geodb build` turns them into MMDB files.

N (the second octet) and every port are chosen at run time, so several
sandboxes can run at once. Every address is loopback.

Command line:
    sandbox.py start --dir DIR [--hostlocator PATH]
    sandbox.py stop --dir DIR
    sandbox.py status --dir DIR
    sandbox.py run [--dir DIR] -- CMD...

From Python (tests):
    import sandbox
    sb = sandbox.start("/tmp/x", die_with_parent=True)
    ...
    sandbox.stop("/tmp/x")

Files written under DIR: hostlocator.toml, urls.txt, expected.json,
sandbox.json (the Sandbox dataclass), knot/, nginx/, hostile/, tls/, geo/,
run/*.pid, data/ and out/ (hostlocator's data and output directories).
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOSTLOCATOR = REPO_ROOT / "build" / "cli" / "hostlocator"
ECHO_MODULE_PATHS = [
    "/usr/lib/nginx/modules/ngx_http_echo_module.so",
    "/usr/share/nginx/modules/ngx_http_echo_module.so",
]

# Second octet of the address outside the allowlisted range that
# private.sandbox-us.test points to; never used as a sandbox subnet.
REFUSED_OCTET = 66
# A name server of hoster.example (glue 127.N.0.54) that is in no
# configuration: no sandbox daemon serves there, and no hostlocator query
# may go there.
UNCONFIGURED_NS = "ns2.hoster.example"
STATE_FILE = "sandbox.json"
READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0

# Values written into hostlocator.toml; the expected outcomes depend on them.
HTTP_TIMEOUT_MS = 3000
# In every response body the sandbox sends (also to HEAD, from the hostile
# body host): a test finding it in any output proves a body byte leaked.
BODY_MARKER = "HOSTLOCATOR-SANDBOX-BODY-MARKER-7f3a9c"
HTTP_CONNECT_TIMEOUT_MS = 2000
MAX_HEADER_BYTES = 65536
RESOLVER_TIMEOUT_MS = 1000

# Geolocation of the sandbox: third octet -> (country, ASN, AS organisation).
# Ranges not listed here (127.N.0.0/24, 127.N.200.0/24, ...) are in no
# database. The commas and the non-ASCII letter test the CSV/MMDB path.
GEO_RANGES: dict[int, tuple[str, int, str]] = {
    1: ("DE", 64501, "Sandbox Hosting DE GmbH"),
    2: ("FR", 64502, "Hébergement Sandbox FR SAS"),
    3: ("NL", 64503, "Sandbox Hosting NL B.V."),
    4: ("US", 64504, "Sandbox Cloud US, Inc."),
    5: ("JP", 64505, "Sandbox Hosting JP K.K."),
    6: ("SE", 64506, "Sandbox Bulletproof SE AB"),
    9: ("US", 64509, "Sandbox CDN, Inc."),
}
# An IPv6 documentation prefix, for the AAAA record of a dual-stack host.
GEO_V6 = ("2001:db8:de::/48", "DE", 64501, "Sandbox Hosting DE GmbH")

# RDAP facts the sandbox's RDAP server gives (served by the hostile-server
# process; the bootstrap in DIR/rdap points there). Third octet -> the
# network record's country; AS number -> its registry entry's country.
# With GEO_RANGES: DE, FR, NL and US agree (confidence "high"); JP's AS is
# registered in SG (confidence "medium", one disagreement).
RDAP_NETWORK_COUNTRY: dict[int, str] = {1: "DE", 2: "FR", 3: "NL", 4: "US",
                                        5: "JP", 9: "US"}
RDAP_REGISTRY_COUNTRY: dict[int, str] = {64501: "DE", 64502: "FR",
                                         64503: "NL", 64504: "US",
                                         64505: "SG", 64506: "SE",
                                         64509: "US"}
# The network server of 127.N.6.0/24 (SE) answers 429 with Retry-After;
# addresses in no listed range get 404; the registration of
# sandbox-nl.test is malformed JSON; of hoster.example 404. Every other
# sandbox-XX.test domain is registered with "Sandbox Registrar XX".
RDAP_BUSY_OCTET = 6
RDAP_MALFORMED_DOMAIN = "sandbox-nl.test"

ONION_HOST = ("hlsandboxonionservicefordemo" + "a" * 56)[:55] + "d.onion"


class SandboxError(Exception):
    """A sandbox could not be generated, started or stopped."""


# ------------------------------------------------------------------ results


@dataclasses.dataclass
class Sandbox:
    """A running (or last started) sandbox; also stored as DIR/sandbox.json."""

    dir: str
    config: str            # hostlocator.toml
    urls: str              # urls.txt
    expected: str          # expected.json
    subnet_octet: int      # N in 127.N.0.0/16
    subnet: str            # "127.N.0.0/16", the allowlisted range
    dns_address: str
    dns_port: int
    http_port: int
    https_port: int
    ca_cert: str           # PEM of the sandbox CA
    nginx_access_log: str
    hostile_access_log: str
    hosts: dict[str, list[str]]   # name -> addresses (A then AAAA)
    pids: dict[str, int]          # "knotd" | "nginx" | "hostile" -> pid
    geo_ready: bool               # country.mmdb and asn.mmdb were built
    geo_error: str
    geo_country_mmdb: str
    geo_asn_mmdb: str
    rdap_url: str                 # base URL of the sandbox RDAP server
    rdap_bootstrap_dir: str
    start_seconds: float
    started_unix: float

    @property
    def dns_server(self) -> str:
        return f"{self.dns_address}:{self.dns_port}"

    def port_for(self, scheme: str) -> int:
        return self.https_port if scheme == "https" else self.http_port

    def url(self, host: str, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://{host}{_port_suffix(scheme, self.port_for(scheme))}{path}"

    def connect_to(self, host: str, scheme: str = "http") -> str:
        """A curl --connect-to argument pinning `host` to its first address."""
        port = self.port_for(scheme)
        return f"{host}:{port}:{self.hosts[host][0]}:{port}"

    def env(self) -> dict[str, str]:
        return {
            "HL_SANDBOX_DIR": self.dir,
            "HL_SANDBOX_CONFIG": self.config,
            "HL_SANDBOX_URLS": self.urls,
            "HL_SANDBOX_EXPECTED": self.expected,
            "HL_SANDBOX_CA": self.ca_cert,
            "HL_SANDBOX_DNS": self.dns_server,
        }


def load(dir: str | os.PathLike) -> Sandbox:
    """Reads DIR/sandbox.json written by start()."""
    with open(Path(dir) / STATE_FILE, encoding="utf-8") as f:
        return Sandbox(**json.load(f))


def _port_suffix(scheme: str, port: int) -> str:
    default = 443 if scheme == "https" else 80
    return "" if port == default else f":{port}"


# -------------------------------------------------------------------- plan
#
# The plan is the single description of the sandbox: zones, virtual hosts,
# hostile endpoints and URL cases. Files, servers and expected.json are all
# generated from it, and the expected outcomes are derived from it by
# `expect()` following the rules of common/verdict.h and worker/prober.h.


@dataclasses.dataclass
class Endpoint:
    """One listening address:port and what answers there."""

    address: str
    port: int
    scheme: str                  # "http" | "https"
    server: str                  # "nginx" | "hostile"
    # vhost name -> behaviour; the first vhost is the default server.
    vhosts: dict[str, dict[str, Any]]


@dataclasses.dataclass
class UrlCase:
    input: str
    comment: str = ""


class Plan:
    def __init__(self, n: int, http_port: int, https_port: int, dns_port: int,
                 echo_module: bool):
        self.n = n
        self.http_port = http_port
        self.https_port = https_port
        self.dns_port = dns_port
        self.echo_module = echo_module
        self.dns_address = f"127.{n}.0.53"
        self.subnet = ipaddress.ip_network(f"127.{n}.0.0/16")
        # zone name -> list of (owner fqdn, ttl, type, rdata)
        self.zones: dict[str, list[tuple[str, int, str, str]]] = {}
        self.broken_zones: list[str] = []  # configured, no zone file: SERVFAIL
        self.endpoints: dict[tuple[str, int], Endpoint] = {}
        self.down_addresses: list[str] = []   # nothing listens there
        self.tls_names: dict[str, list[str]] = {}  # cert file stem -> SANs
        self.lines: list[UrlCase | str] = []       # str = comment/blank line

    # -- DNS
    def add_zone(self, zone: str) -> None:
        recs = self.zones.setdefault(zone, [])
        ns = f"ns1.{zone}"
        recs.append((zone, 3600, "SOA",
                     f"{ns}. hostmaster.{zone}. 2026010101 3600 600 86400 300"))
        recs.append((zone, 3600, "NS", f"{ns}."))
        recs.append((ns, 3600, "A", self.dns_address))

    def zone_of(self, name: str) -> str | None:
        best = None
        for z in list(self.zones) + self.broken_zones:
            if name == z or name.endswith("." + z):
                if best is None or len(z) > len(best):
                    best = z
        return best

    def rr(self, name: str, rtype: str, rdata: str, ttl: int = 300) -> None:
        zone = self.zone_of(name)
        assert zone is not None and zone in self.zones, name
        self.zones[zone].append((name, ttl, rtype, rdata))

    def records(self, name: str, rtype: str) -> list[tuple[int, str]]:
        zone = self.zone_of(name)
        if zone is None or zone not in self.zones:
            return []
        return [(ttl, data) for owner, ttl, t, data in self.zones[zone]
                if owner == name and t == rtype]

    def name_exists(self, name: str) -> bool:
        zone = self.zone_of(name)
        return any(owner == name or owner.endswith("." + name)
                   for owner, _, _, _ in self.zones.get(zone, []))

    # -- HTTP
    def serve(self, name: str, address: str, behaviour: dict[str, Any],
              scheme: str = "http", server: str = "nginx") -> None:
        port = self.https_port if scheme == "https" else self.http_port
        ep = self.endpoints.get((address, port))
        if ep is None:
            ep = Endpoint(address, port, scheme, server, {})
            self.endpoints[(address, port)] = ep
        assert ep.server == server and ep.scheme == scheme, (name, address)
        ep.vhosts[name] = behaviour

    def url(self, host: str, path: str = "/", scheme: str = "http") -> str:
        port = self.https_port if scheme == "https" else self.http_port
        return f"{scheme}://{host}{_port_suffix(scheme, port)}{path}"

    def line(self, text: str, comment: str = "") -> None:
        self.lines.append(UrlCase(text, comment))

    def note(self, text: str = "") -> None:
        self.lines.append(text)

    def host_addresses(self) -> dict[str, list[str]]:
        """Every name with addresses -> its A then AAAA addresses."""
        out: dict[str, list[str]] = {}
        for recs in self.zones.values():
            for owner, _, t, data in recs:
                if t in ("A", "AAAA"):
                    out.setdefault(owner, []).append((t, data))
        # The order knotd answers in: canonical (sorted) within a type.
        return {k: [d for _, d in sorted(
                    v, key=lambda x: (x[0] != "A", ipaddress.ip_address(x[1])))]
                for k, v in sorted(out.items())}


def build_plan(n: int, http_port: int, https_port: int, dns_port: int,
               echo_module: bool = True) -> Plan:
    p = Plan(n, http_port, https_port, dns_port, echo_module)
    net = f"127.{n}"

    def ip(third: int, last: int) -> str:
        return f"{net}.{third}.{last}"

    for z in ["sandbox-de.test", "sandbox-fr.test", "sandbox-nl.test",
              "sandbox-us.test", "sandbox-jp.test", "sandbox-se.test",
              "hoster.example", f"{n}.127.in-addr.arpa"]:
        p.add_zone(z)
    p.broken_zones.append("sandbox-broken.test")

    def ok(name: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
        return {"status": 200, "kind": "page", "headers": extra or {}}

    def redirect(status: int, location: str) -> dict[str, Any]:
        return {"status": status, "kind": "redirect", "location": location}

    # DE: plain host (dual stack), IDN host, 301, round robin, nothing there.
    p.rr("shop.sandbox-de.test", "A", ip(1, 10), ttl=60)
    p.rr("shop.sandbox-de.test", "AAAA", "2001:db8:de::10", ttl=60)
    p.serve("shop.sandbox-de.test", ip(1, 10), ok("shop"))
    p.rr("www.sandbox-de.test", "CNAME", "shop.sandbox-de.test.")
    p.rr("xn--bcher-kva.sandbox-de.test", "A", ip(1, 11))
    p.serve("xn--bcher-kva.sandbox-de.test", ip(1, 11), ok("idn"))
    p.rr("old.sandbox-de.test", "A", ip(1, 12))
    p.serve("old.sandbox-de.test", ip(1, 12),
            redirect(301, p.url("shop.sandbox-de.test", "/moved?from=old")))
    p.rr("mirror.sandbox-de.test", "A", ip(3, 20), ttl=30)
    p.rr("mirror.sandbox-de.test", "A", ip(1, 20), ttl=30)
    p.serve("mirror.sandbox-de.test", ip(1, 20), ok("mirror"))
    p.serve("mirror.sandbox-de.test", ip(3, 20), ok("mirror"))
    p.rr("down.sandbox-de.test", "A", ip(1, 99))
    p.down_addresses.append(ip(1, 99))
    p.rr("files.sandbox-de.test", "A", ip(1, 10))  # for the ftp:// line
    p.rr("sandbox-de.test", "TXT", '"hostlocator sandbox zone"')

    # FR: blog, CNAME chain to a CDN edge, HTTPS, redirect loop.
    p.rr("blog.sandbox-fr.test", "A", ip(2, 10))
    p.serve("blog.sandbox-fr.test", ip(2, 10), ok("blog"))
    p.rr("media.sandbox-fr.test", "CNAME", "media-cdn.sandbox-fr.test.")
    p.rr("media-cdn.sandbox-fr.test", "CNAME", "edge1.sandbox-fr.test.")
    p.rr("edge1.sandbox-fr.test", "A", ip(9, 10))
    p.serve("edge1.sandbox-fr.test", ip(9, 10),
            {"status": 200, "kind": "cdn",
             "headers": {"server": "cloudflare", "cf-cache-status": "HIT"}},
            server="hostile")
    p.rr("loop.sandbox-fr.test", "A", ip(2, 11))
    p.serve("loop.sandbox-fr.test", ip(2, 11),
            redirect(302, p.url("loop.sandbox-fr.test", "/")))
    p.rr("secure.sandbox-fr.test", "A", ip(2, 20))
    p.serve("secure.sandbox-fr.test", ip(2, 20),
            {"status": 200, "kind": "page", "headers": {}, "cert": "secure",
             "http2": True}, scheme="https")
    p.serve("secure.sandbox-fr.test", ip(2, 20),
            redirect(301, p.url("secure.sandbox-fr.test", "/login",
                                scheme="https")))
    p.tls_names["secure"] = ["secure.sandbox-fr.test"]

    # NL: files (default server of its address, shared with a vhost of
    # hoster.example), the other half of the mirror, NXDOMAIN cases,
    # a name without addresses, round robin where nothing listens, a host
    # in no geolocation database.
    p.rr("files.sandbox-nl.test", "A", ip(3, 10))
    p.serve("files.sandbox-nl.test", ip(3, 10), ok("files"))
    p.rr("dangling.sandbox-nl.test", "CNAME", "gone.sandbox-nl.test.")
    p.rr("mailonly.sandbox-nl.test", "MX", "10 mx.sandbox-nl.test.")
    p.rr("mailonly.sandbox-nl.test", "TXT", '"v=spf1 -all"')
    p.rr("mx.sandbox-nl.test", "A", ip(3, 25))
    p.rr("down-rr.sandbox-nl.test", "A", ip(1, 98))
    p.rr("down-rr.sandbox-nl.test", "A", ip(3, 98))
    p.down_addresses += [ip(1, 98), ip(3, 98)]
    p.rr("nowhere.sandbox-nl.test", "A", ip(200, 10))
    p.serve("nowhere.sandbox-nl.test", ip(200, 10), ok("nowhere"))

    # US: a plain host and targets the safety policy must refuse.
    p.rr("app.sandbox-us.test", "A", ip(4, 10))
    p.serve("app.sandbox-us.test", ip(4, 10), ok("app"))
    p.rr("private.sandbox-us.test", "A", f"127.{REFUSED_OCTET}.0.66")
    p.rr("metadata.sandbox-us.test", "A", "169.254.169.254")
    p.rr("v6only.sandbox-us.test", "AAAA", "::1")

    # JP: plain, slow (1 s), stalled (longer than the HTTP timeout), TLS
    # with a certificate for another name.
    p.rr("www.sandbox-jp.test", "A", ip(5, 10))
    p.serve("www.sandbox-jp.test", ip(5, 10), ok("www"))
    slow_server = "nginx" if echo_module else "hostile"
    p.rr("slow.sandbox-jp.test", "A", ip(5, 11))
    p.serve("slow.sandbox-jp.test", ip(5, 11),
            {"status": 200, "kind": "sleep", "sleep_s": 1}, server=slow_server)
    p.rr("stall.sandbox-jp.test", "A", ip(5, 12))
    p.serve("stall.sandbox-jp.test", ip(5, 12),
            {"status": 200, "kind": "sleep", "sleep_s": 30,
             "error_class": "http_timeout"}, server=slow_server)
    p.rr("badtls.sandbox-jp.test", "A", ip(5, 20))
    p.serve("badtls.sandbox-jp.test", ip(5, 20),
            {"status": 200, "kind": "page", "headers": {}, "cert": "wrongname",
             "tls_verify": "hostname mismatch"}, scheme="https")
    p.tls_names["wrongname"] = ["wrong-name.sandbox-jp.test"]

    # SE: hostile servers (the stdlib server of this file).
    hostile = [
        ("body", 10, {"status": 200, "kind": "body_on_head"}),
        ("trickle", 11, {"kind": "trickle", "error_class": "header_timeout",
                         "note": "the status line arrives, the header block "
                                 "never ends: no response (http_status null)"}),
        ("silent", 12, {"kind": "silent", "error_class": "http_timeout"}),
        ("huge", 13, {"kind": "huge_headers",
                      "error_class": "header_too_large",
                      "note": "the status line arrives, the header block "
                              "never ends: no response (http_status null)"}),
        ("garbage", 14, {"kind": "garbage", "error_class": "http_error"}),
        ("empty", 15, {"kind": "empty", "error_class": "http_error"}),
    ]
    for label, last, behaviour in hostile:
        name = f"{label}.sandbox-se.test"
        p.rr(name, "A", ip(6, last))
        p.serve(name, ip(6, last), behaviour, server="hostile")

    # hoster.example: a CNAME into another zone (the resolver must chase
    # it: an authoritative server does not), a vhost sharing an address.
    p.rr("www.hoster.example", "CNAME", "www.sandbox-jp.test.")
    p.rr("files.hoster.example", "A", ip(3, 10))
    p.serve("files.hoster.example", ip(3, 10), ok("files"))
    # hoster.example also names a second name server, with glue, that no
    # configuration names and where nothing serves: hostlocator asks only
    # its configured resolvers, so that address never gets a packet
    # (run_test.py listens there and counts them).
    p.rr("hoster.example", "NS", f"{UNCONFIGURED_NS}.", ttl=3600)
    p.rr(UNCONFIGURED_NS, "A", ip(0, 54), ttl=3600)

    # Reverse zone for every sandbox address (the first name defined wins).
    seen: set[str] = set()
    rev = f"{n}.127.in-addr.arpa"
    for recs in list(p.zones.values()):
        for name, _, t, a in list(recs):
            if (t != "A" or a in seen or ipaddress.ip_address(a) not in p.subnet
                    or (name.startswith("ns1.") and name != "ns1.sandbox-de.test")):
                continue
            seen.add(a)
            o = a.split(".")
            p.rr(f"{o[3]}.{o[2]}.{rev}", "PTR", f"{name}.")

    _build_url_lines(p, ip)
    return p


def _build_url_lines(p: Plan, ip) -> None:
    P = p.http_port
    u = p.url
    p.note("# hostlocator sandbox demo URLs, generated by scripts/sandbox.py.")
    p.note("# Ports and the 127.N.x.y subnet are this run's; expected.json "
           "has the expected outcome of every line.")
    p.note("")
    p.note("# Located: plain hosts in five countries")
    p.line(u("shop.sandbox-de.test"), "DE, dual stack (A pinned, AAAA recorded)")
    p.line(u("blog.sandbox-fr.test", "/2024/03/post.html"), "FR")
    p.line(u("files.sandbox-nl.test", "/a/b.html?c=d&e=f"), "NL")
    p.line(u("app.sandbox-us.test"), "US")
    p.line(u("www.sandbox-jp.test"), "JP")
    p.line(u("bücher.sandbox-de.test", "/katalog"), "IDN host, DE")
    p.line(u("www.sandbox-de.test", "/"), "one CNAME hop, DE")
    p.line(u("media.sandbox-fr.test", "/img/1.jpg"),
           "CNAME chain of two hops to a CDN edge (US, cloudflare-like headers)")
    p.line(u("www.hoster.example"), "CNAME into another zone -> JP")
    p.line(u("files.hoster.example", "/x"), "shares an address with files.sandbox-nl.test")
    p.line(u("mirror.sandbox-de.test"), "round robin, DE and NL")
    p.line(f"http://{ip(3, 10)}:{P}/ip-literal", "IP literal, NL")
    p.line(u("secure.sandbox-fr.test", "/", "https"), "HTTPS, sandbox CA, h2")
    p.line(u("badtls.sandbox-jp.test", "/", "https"),
           "HTTPS, certificate for another name")
    p.line(u("old.sandbox-de.test", "/old"), "301 to shop.sandbox-de.test")
    p.line(u("secure.sandbox-fr.test", "/login"), "301 to https")
    p.line(u("loop.sandbox-fr.test"), "302 to itself")
    p.line(u("slow.sandbox-jp.test"), "answers after 1 s")
    p.line(u("nowhere.sandbox-nl.test"), "address in no geolocation database")
    p.note("")
    p.note("# Failures that are results")
    p.line(u("down.sandbox-de.test"), "nothing listens: connection refused")
    p.line(u("down-rr.sandbox-nl.test"), "round robin DE+NL, nothing listens")
    p.line(u("stall.sandbox-jp.test"), "answers after 30 s: timeout")
    p.line(u("does-not-exist.sandbox-nl.test"), "NXDOMAIN")
    p.line(u("dangling.sandbox-nl.test"), "CNAME to a name that does not exist")
    p.line(u("mailonly.sandbox-nl.test"), "exists, no address (MX and TXT only)")
    p.line(u("www.sandbox-broken.test"), "zone fails to load: SERVFAIL")
    p.line(u("www.not-served.test"), "zone not served: REFUSED")
    p.line(f"http://private.sandbox-us.test/", f"127.{REFUSED_OCTET}.0.66, outside the allowlist")
    p.line("http://metadata.sandbox-us.test/latest/meta-data/", "169.254.169.254")
    p.line(u("v6only.sandbox-us.test"), "AAAA ::1 only")
    p.line(f"http://[0:0:0:0:0:0:0:1]:{P}/", "IPv6 literal ::1")
    p.line(f"http://{ONION_HOST}/", "onion service: not attributable")
    p.note("")
    p.note("# Hostile servers")
    p.line(u("body.sandbox-se.test"), "sends a body to HEAD")
    p.line(u("trickle.sandbox-se.test"), "trickles header bytes forever")
    p.line(u("silent.sandbox-se.test"), "accepts, never answers")
    p.line(u("huge.sandbox-se.test"), "endless header block")
    p.line(u("garbage.sandbox-se.test"), "answers something that is not HTTP")
    p.line(u("empty.sandbox-se.test"), "closes without answering")
    p.note("")
    p.note("# Duplicates (same normalised URL as a line above)")
    p.line(f"http://SHOP.Sandbox-DE.test:{P}/", "upper case")
    p.line(f"http://shop.sandbox-de.test.:{P}", "trailing dot, empty path")
    p.line(f"http://analyst:secret@shop.sandbox-de.test:{P}/#top",
           "userinfo and fragment")
    p.line(f"http://{int(ipaddress.ip_address(ip(3, 10)))}:{P}/ip-literal",
           "IPv4 as one decimal number")
    p.line("http://PRIVATE.sandbox-us.test:80/", "default port written out")
    p.note("")
    p.note("# Rejected lines")
    p.line("ftp://files.sandbox-de.test/report.zip", "unsupported scheme")
    p.line("shop.sandbox-de.test/no-scheme", "missing scheme")
    p.line("not a url at all", "missing scheme")
    p.line(f"http://shop.sandbox-de.test:99999/", "invalid port")


# ------------------------------------------------------ expected outcomes


def normalize(url: str) -> tuple[dict[str, Any] | None, str]:
    """The sandbox's model of NormalizeUrl (common/net/url.h), enough for the
    lines it writes. Returns (parts, "") or (None, rejection reason)."""
    if not url.strip():
        return None, "empty"
    if "://" not in url:
        return None, "missing scheme"
    scheme = url.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        return None, "unsupported scheme"
    s = urllib.parse.urlsplit(url)
    try:
        port = s.port
    except ValueError:
        return None, "invalid port"
    host = s.hostname or ""
    if not host:
        return None, "invalid host"
    host = host.rstrip(".")
    kind = "domain"
    if host.isdigit():
        host = str(ipaddress.IPv4Address(int(host)))
    try:
        addr = ipaddress.ip_address(host)
        kind = "ipv4" if addr.version == 4 else "ipv6"
        host = str(addr)
    except ValueError:
        host = host.encode("idna").decode("ascii").lower()
        if host.endswith(".onion"):
            kind = "onion"
    default = 443 if scheme == "https" else 80
    port = port or default
    path = s.path or "/"
    if s.query:
        path += "?" + s.query
    shown = f"[{host}]" if kind == "ipv6" else host
    norm = f"{scheme}://{shown}{'' if port == default else f':{port}'}{path}"
    return {"url": norm, "scheme": scheme, "host": host, "port": port,
            "path_query": path, "host_kind": kind}, ""


def geo_of(plan: Plan, address: str) -> dict[str, Any]:
    a = ipaddress.ip_address(address)
    if a.version == 6:
        net = ipaddress.ip_network(GEO_V6[0])
        if a in net:
            return {"country": GEO_V6[1], "asn": GEO_V6[2], "as_org": GEO_V6[3],
                    "network": str(net)}
    elif a in plan.subnet:
        third = int(address.split(".")[2])
        if third in GEO_RANGES:
            c, asn, org = GEO_RANGES[third]
            return {"country": c, "asn": asn, "as_org": org,
                    "network": f"127.{plan.n}.{third}.0/24"}
    return {"country": "", "asn": 0, "as_org": "", "network": ""}


def resolve_in_plan(plan: Plan, host: str) -> dict[str, Any]:
    """What the sandbox's DNS answers for `host`, with CNAMEs chased across
    zones: {error_class, rcode, cname_chain, addresses[(type, ip, ttl)]}."""
    chain = [host]
    name = host
    for _ in range(10):
        zone = plan.zone_of(name)
        if zone is None:
            return {"error_class": "dns_refused", "rcode": "REFUSED",
                    "cname_chain": chain, "addresses": []}
        if zone in plan.broken_zones:
            return {"error_class": "servfail", "rcode": "SERVFAIL",
                    "cname_chain": chain, "addresses": []}
        cname = plan.records(name, "CNAME")
        if cname:
            name = cname[0][1].rstrip(".")
            chain.append(name)
            continue
        if not plan.name_exists(name):
            return {"error_class": "nxdomain", "rcode": "NXDOMAIN",
                    "cname_chain": chain, "addresses": []}
        addrs = [("A", d, ttl) for ttl, d in
                 sorted(plan.records(name, "A"),
                        key=lambda r: ipaddress.ip_address(r[1]))]
        addrs += [("AAAA", d, ttl) for ttl, d in
                  sorted(plan.records(name, "AAAA"),
                         key=lambda r: ipaddress.ip_address(r[1]))]
        if not addrs:
            return {"error_class": "no_address", "rcode": "NOERROR",
                    "cname_chain": chain, "addresses": []}
        return {"error_class": "", "rcode": "NOERROR", "cname_chain": chain,
                "addresses": addrs}
    raise SandboxError(f"CNAME loop at {host}")


def _ptr_of(plan: Plan, address: str) -> str:
    a = ipaddress.ip_address(address)
    if a.version != 4 or a not in plan.subnet:
        return ""
    o = address.split(".")
    recs = plan.records(f"{o[3]}.{o[2]}.{plan.n}.127.in-addr.arpa", "PTR")
    return recs[0][1].rstrip(".") if recs else ""


def expect(plan: Plan, parts: dict[str, Any]) -> dict[str, Any]:
    """Expected outcome for one normalised URL, in the terms of the result
    record (docs/result-format.md): null where the record has null."""
    e: dict[str, Any] = {
        "url": parts["url"], "host": parts["host"], "status": None,
        "hosting_countries": [],
        "error_class": None,       # the record's error.class
        "dns_rcode": None,         # rcode of the A answer; null: no DNS
        "dns_error_class": None,   # dns.error.class
        "cname_chain": None,       # dns.cname_chain; null: no DNS
        "addresses": [],
        "pinned_ip": None, "pinned_ip_one_of": [],
        "http_probed": False,      # the record's http is not null
        "http_status": None, "http_error_class": None,
        "http_location": None, "http_headers": {}, "tls_verify": None,
        "body_bytes": 0, "notes": [],
    }
    kind = parts["host_kind"]
    if kind == "onion":
        e.update(status="unresolved", error_class="not_attributable")
        e["notes"].append("onion service: no DNS, no probe")
        return e
    if kind in ("ipv4", "ipv6"):
        addrs = [("A" if kind == "ipv4" else "AAAA", parts["host"], 0)]
        e["notes"].append("IP literal: no DNS query")
    else:
        dns = resolve_in_plan(plan, parts["host"])
        e["dns_rcode"] = dns["rcode"]
        e["cname_chain"] = dns["cname_chain"]
        if len({plan.zone_of(n) for n in dns["cname_chain"]}) > 1:
            e["notes"].append("CNAME crosses zones: the resolver must ask "
                              "for the target itself")
        if dns["error_class"]:
            e.update(status="unresolved", error_class=dns["error_class"],
                     dns_error_class=dns["error_class"])
            return e
        addrs = dns["addresses"]
    for t, a, ttl in addrs:
        g = geo_of(plan, a)
        info = {"ip": a, "type": t, "country": g["country"] or None,
                "asn": g["asn"] or None, "as_org": g["as_org"] or None,
                "network": g["network"] or None}
        if kind == "domain":
            info["ttl"] = ttl
            info["ptr"] = _ptr_of(plan, a) or None
        e["addresses"].append(info)
    a_records = [a for t, a, _ in addrs if t == "A"]
    pinned = a_records[0] if a_records else addrs[0][1]
    e["pinned_ip"] = pinned
    e["pinned_ip_one_of"] = a_records if len(a_records) > 1 else [pinned]
    if len(a_records) > 1:
        e["notes"].append("round robin: the first A in answer order is "
                          "pinned; knotd answers in canonical (sorted) order")

    e["http_probed"] = True
    pin = ipaddress.ip_address(pinned)
    ep = plan.endpoints.get((pinned, parts["port"]))
    if pin not in plan.subnet:
        e["http_error_class"] = "refused_private_target"
    elif ep is None or ep.scheme != parts["scheme"]:
        e["http_error_class"] = "connection_refused"
    else:
        vhost = parts["host"] if parts["host"] in ep.vhosts else next(iter(ep.vhosts))
        b = ep.vhosts[vhost]
        if b.get("error_class"):
            e["http_error_class"] = b["error_class"]
            if b.get("note"):
                e["notes"].append(b["note"])
        else:
            e["http_status"] = b["status"]
            e["http_location"] = b.get("location")
            if ep.scheme == "https":
                e["tls_verify"] = b.get("tls_verify", "ok")
            headers = {}
            if ep.server == "nginx":
                headers = {"server": "nginx", "x-sandbox-host": vhost}
            elif b["kind"] in ("cdn", "body_on_head"):
                headers = {"x-sandbox-host": vhost}
            headers.update(b.get("headers", {}))
            e["http_headers"] = headers
            if b["kind"] == "body_on_head":
                e["notes"].append("the server sends a body to HEAD; no byte of "
                                  "it may be accepted")
            if b["kind"] == "cdn":
                e["notes"].append("CDN edge: server: cloudflare, cf-ray, via")
            if e["tls_verify"] not in (None, "ok"):
                e["notes"].append("the certificate does not verify (recorded, "
                                  "not an error): " + e["tls_verify"])

    # Verdict (common/verdict.h).
    if e["http_status"] is not None:
        c = geo_of(plan, pinned)["country"]
        e["hosting_countries"] = [c] if c else []
        if 300 <= e["http_status"] < 400:
            e["notes"].append("redirect not followed")
    else:
        e["hosting_countries"] = sorted({a["country"] for a in e["addresses"]
                                         if a["country"]})
        e["notes"].append("HTTP did not confirm the location")
    if e["hosting_countries"]:
        e["status"] = "located"
    else:
        e["status"] = "error"
        e["error_class"] = e["http_error_class"] or "not_attributable"
    return e


def expected_document(plan: Plan) -> tuple[str, dict[str, Any]]:
    """urls.txt text and the expected.json document."""
    text_lines: list[str] = []
    lines: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    outcomes: dict[str, dict[str, Any]] = {}
    skipped: list[int] = []
    for i, item in enumerate(plan.lines, start=1):
        if isinstance(item, str):
            text_lines.append(item)
            skipped.append(i)
            continue
        text_lines.append(item.input)
        parts, rejection = normalize(item.input)
        rec: dict[str, Any] = {"line": i, "input": item.input,
                               "comment": item.comment}
        if parts is None:
            rec.update(kind="rejected", rejection=rejection)
        elif parts["url"] in first_line:
            rec.update(kind="duplicate", normalized=parts["url"],
                       duplicate_of_line=first_line[parts["url"]])
        else:
            first_line[parts["url"]] = i
            rec.update(kind="url", normalized=parts["url"])
            outcomes[parts["url"]] = expect(plan, parts)
        lines.append(rec)
    doc = {
        "schema": 1,
        "about": (
            "Expected outcome of every line of urls.txt. lines[].kind is "
            "url (first occurrence of a normalised URL), duplicate (same "
            "normalised URL as duplicate_of_line) or rejected (rejection is "
            "the reason string of common/net/url.h). outcomes is keyed by "
            "normalised URL; its fields follow docs/result-format.md: "
            "error_class is the record's error.class (null when located, "
            "also when HTTP failed), dns_error_class and http_error_class "
            "those of dns.error and http.error, cname_chain and dns_rcode "
            "are null when no DNS lookup is made (IP literal, .onion), "
            "http_probed says whether the record has an http object, "
            "http_status is null when no response came. addresses: A first "
            "then AAAA, each in canonical order (compare as sets if the "
            "resolver may reorder); ttl and ptr only for names. "
            "pinned_ip_one_of lists every address a round robin may pin. "
            "http_headers are a subset (lower-case names) that must be in "
            "the response. Comment and blank lines are listed in "
            "skipped_lines: they are neither jobs nor rejections."),
        "sandbox": {
            "subnet": str(plan.subnet), "dns": f"{plan.dns_address}:{plan.dns_port}",
            "http_port": plan.http_port, "https_port": plan.https_port,
            "http_timeout_ms": HTTP_TIMEOUT_MS,
            "max_header_bytes": MAX_HEADER_BYTES,
        },
        "counts": {
            "lines": len(plan.lines),
            "skipped": len(skipped),
            "urls": len(outcomes),
            "duplicates": sum(1 for r in lines if r["kind"] == "duplicate"),
            "rejected": sum(1 for r in lines if r["kind"] == "rejected"),
        },
        "skipped_lines": skipped,
        "lines": lines,
        "outcomes": outcomes,
    }
    return "\n".join(text_lines) + "\n", doc


def check_record(outcome: dict[str, Any], record: dict[str, Any]) -> list[str]:
    """Differences between an expected outcome (expected.json) and a result
    record or `hostlocator lookup` observation (docs/result-format.md);
    empty when they agree. Addresses compare as sets."""
    dns = record.get("dns") or {}
    http = record.get("http") or {}
    headers = {k.lower(): v for k, v in http.get("headers") or []}
    tls = http.get("tls")

    def addr_key(a: dict[str, Any]) -> tuple:
        return (a["ip"], a.get("country"), a.get("asn"), a.get("as_org"),
                a.get("network"))
    got = {
        "url": record.get("url"),
        "status": record.get("status"),
        "hosting_countries": (record.get("verdict") or {}).get("hosting_countries"),
        "error_class": (record.get("error") or {}).get("class"),
        "dns_error_class": (dns.get("error") or {}).get("class"),
        "cname_chain": dns.get("cname_chain") if record.get("dns") else None,
        "addresses": sorted(addr_key(a) for a in record.get("addresses") or []),
        "http_probed": record.get("http") is not None,
        "http_status": http.get("status"),
        "http_error_class": (http.get("error") or {}).get("class"),
        "http_location": headers.get("location"),
        "body_bytes": http.get("body_bytes", 0),
        "tls_verify": (("ok" if tls["verified"] else tls["verify_error"])
                       if tls else None),
    }
    want = {k: outcome[k] for k in got if k != "addresses"}
    want["addresses"] = sorted(addr_key(a) for a in outcome["addresses"])
    diffs = [f"{k}: expected {want[k]!r}, got {got[k]!r}"
             for k in got if want[k] != got[k]]
    if record.get("pinned_ip") not in (outcome["pinned_ip_one_of"] or [None]):
        diffs.append(f"pinned_ip: expected one of {outcome['pinned_ip_one_of']!r}, "
                     f"got {record.get('pinned_ip')!r}")
    server = outcome["http_headers"].get("server")
    if server and headers.get("server") != server:
        diffs.append(f"server header: expected {server!r}, got {headers.get('server')!r}")
    return diffs


# ------------------------------------------------------------ generation


def _zone_text(zone: str, recs: list[tuple[str, int, str, str]]) -> str:
    out = [f"; generated by scripts/sandbox.py", f"$ORIGIN {zone}.", "$TTL 300"]
    for owner, ttl, t, data in recs:
        out.append(f"{owner}.\t{ttl}\tIN\t{t}\t{data}")
    return "\n".join(out) + "\n"


def knot_conf(d: Path, address: str, port: int, control_socket: str,
              zones: list[str], semantic_checks: bool = True) -> str:
    """knotd configuration serving `zones` (without the trailing dot) from
    DIR/knot/zones on address@port, one worker per kind. Large generated
    zones (the scale sandbox) turn semantic checks off to load fast."""
    zone_lines = "\n".join(f"  - domain: {z}." for z in zones)
    checks = "on" if semantic_checks else "off"
    return f"""# knotd configuration of the hostlocator sandbox (scripts/sandbox.py)
server:
    rundir: "{d}/knot/run"
    pidfile: "{d}/knot/run/knot.pid"
    listen: [ "{address}@{port}" ]
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    answer-rotation: off

control:
    listen: "{control_socket}"

log:
  - target: "{d}/knot/knot.log"
    any: {"info" if semantic_checks else "notice"}

database:
    storage: "{d}/knot/db"

template:
  - id: default
    storage: "{d}/knot/zones"
    file: "%s.zone"
    semantic-checks: {checks}
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none

zone:
{zone_lines}
"""


def nginx_temp_paths(ng: Path) -> list[str]:
    """nginx http-block lines that keep every temporary file under `ng`
    (never in the system's /var/lib/nginx)."""
    return [f"  {kind}_temp_path {ng}/tmp/{name};" for kind, name in
            (("client_body", "body"), ("proxy", "proxy"),
             ("fastcgi", "fastcgi"), ("uwsgi", "uwsgi"), ("scgi", "scgi"))]


def _nginx_conf(d: Path, plan: Plan, echo_module: str | None,
                workers: int) -> str:
    ng = d / "nginx"
    out = ["# nginx configuration of the hostlocator sandbox (scripts/sandbox.py)"]
    if echo_module:
        out.append(f"load_module {echo_module};")
    out += [
        f"worker_processes {workers};",
        "daemon off;",
        f"pid {ng}/nginx.pid;",
        f"error_log {ng}/error.log notice;",
        "events { worker_connections 4096; }",
        "http {",
        *nginx_temp_paths(ng),
        "  log_format sandbox '$remote_addr $host $request_method "
        "\"$request_uri\" $status $server_addr:$server_port $request_time';",
        f"  access_log {ng}/access.log sandbox;",
        "  server_tokens off;",
        "  default_type text/html;",
        "  keepalive_timeout 5s;",
        "  ssl_protocols TLSv1.2 TLSv1.3;",
    ]
    for (addr, port), ep in sorted(plan.endpoints.items()):
        if ep.server != "nginx":
            continue
        for i, (name, b) in enumerate(ep.vhosts.items()):
            listen = f"{addr}:{port}"
            if ep.scheme == "https":
                listen += " ssl"
                if any(v.get("http2") for v in ep.vhosts.values()):
                    listen += " http2"
            if i == 0:
                listen += " default_server"
            out.append("  server {")
            out.append(f"    listen {listen};")
            out.append(f"    server_name {name};")
            if ep.scheme == "https":
                out.append(f"    ssl_certificate {d}/tls/{b['cert']}.pem;")
                out.append(f"    ssl_certificate_key {d}/tls/{b['cert']}.key;")
            country = geo_of(plan, addr)["country"] or "??"
            hdrs = {"X-Sandbox-Host": name, "X-Sandbox-Country": country,
                    "X-Sandbox-Address": "$server_addr"}
            hdrs.update({k: v for k, v in b.get("headers", {}).items()
                         if k != "server"})
            for k, v in hdrs.items():
                out.append(f'    add_header {k} "{v}" always;')
            body = f"<html><body>sandbox page of {name}</body></html>\\n"
            if b["kind"] == "redirect":
                out.append(f"    location / {{ return {b['status']} {b['location']}; }}")
            elif b["kind"] == "sleep":
                out.append(f"    location / {{ echo_sleep {b['sleep_s']}; "
                           f'echo "{body}"; }}')
            else:
                out.append(f'    location / {{ return 200 "{body}"; }}')
            out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _make_tls(d: Path, plan: Plan) -> None:
    tls = d / "tls"
    tls.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        r = subprocess.run(["openssl", *args], cwd=tls, capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise SandboxError(f"openssl {args[0]} failed: {r.stderr.strip()}")

    run("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out",
        "ca.pem", "-days", "3650", "-sha256", "-subj",
        "/O=hostlocator sandbox/CN=hostlocator sandbox CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for stem, names in plan.tls_names.items():
        (tls / f"{stem}.ext").write_text(
            "subjectAltName=" + ",".join(f"DNS:{n}" for n in names) + "\n"
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth\n"
            "authorityKeyIdentifier=keyid\n")
        run("req", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{stem}.key",
            "-out", f"{stem}.csr", "-subj", f"/O=hostlocator sandbox/CN={names[0]}")
        run("x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.pem", "-CAkey",
            "ca.key", "-set_serial", "0x" + os.urandom(8).hex(), "-days", "825",
            "-sha256", "-extfile", f"{stem}.ext", "-out", f"{stem}.pem")


def _geo_csvs(d: Path, plan: Plan) -> tuple[Path, Path]:
    geo = d / "geo"
    geo.mkdir(parents=True, exist_ok=True)
    country, asn = [], []
    for third, (cc, num, org) in sorted(GEO_RANGES.items()):
        first, last = f"127.{plan.n}.{third}.0", f"127.{plan.n}.{third}.255"
        country.append(f"{first},{last},{cc}")
        asn.append(f'{first},{last},{num},"{org}"')
    net = ipaddress.ip_network(GEO_V6[0])
    first, last = str(net[0]), str(net[-1])
    country.append(f"{first},{last},{GEO_V6[1]}")
    asn.append(f'{first},{last},{GEO_V6[2]},"{GEO_V6[3]}"')
    return _write_geo_csvs(geo, country, asn)


def _write_geo_csvs(geo: Path, country: list[str], asn: list[str]
                    ) -> tuple[Path, Path]:
    """geo/country.csv and geo/asn.csv in the @ip-location-db layout that
    `hostlocator geodb build` reads, one row per item."""
    cpath, apath = geo / "country.csv", geo / "asn.csv"
    cpath.write_text("\n".join(country) + "\n", encoding="utf-8")
    apath.write_text("\n".join(asn) + "\n", encoding="utf-8")
    return cpath, apath


def _build_geo(d: Path, binary: Path, csvs: tuple[Path, Path]) -> str:
    """Builds the MMDBs with `hostlocator geodb build`; returns "" or why not."""
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return f"{binary} not found (build hostlocator to get the MMDBs)"
    for kind, csv in (("country", csvs[0]), ("asn", csvs[1])):
        out = d / "geo" / f"{kind}.mmdb"
        out.unlink(missing_ok=True)
        cmd = [str(binary), "geodb", "build", "--kind", kind, "--type",
               f"hostlocator-sandbox-{kind}", "--out", str(out), str(csv)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as ex:
            return f"{' '.join(cmd)}: {ex}"
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).strip().splitlines()
            return (f"`{' '.join(cmd[1:4])} ...` exited {r.returncode}: "
                    + (msg[-1] if msg else "no message"))
        if not out.is_file() or out.stat().st_size == 0:
            return f"`hostlocator geodb build --kind {kind}` exited 0 but wrote no {out.name}"
    return ""


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _hostlocator_toml(d: Path, plan: Plan) -> str:
    return f"""# hostlocator configuration for the sandbox internet in {d}
# Generated by scripts/sandbox.py; addresses and ports are this run's.
# Key names are the fields of common/config.h.

[resolver]
servers = [{_toml_str(f"{plan.dns_address}:{plan.dns_port}")}]
timeout_ms = {RESOLVER_TIMEOUT_MS}
tries = 2

[http]
connect_timeout_ms = {HTTP_CONNECT_TIMEOUT_MS}
timeout_ms = {HTTP_TIMEOUT_MS}
max_header_bytes = {MAX_HEADER_BYTES}
ca_file = {_toml_str(str(d / "tls" / "ca.pem"))}

[safety]
# The sandbox range only: private.sandbox-us.test (127.{REFUSED_OCTET}.0.66) must stay refused.
allow_cidrs = [{_toml_str(str(plan.subnet))}]

[geo]
country = [{_toml_str(str(d / "geo" / "country.mmdb"))}]
asn = [{_toml_str(str(d / "geo" / "asn.mmdb"))}]

[rdap]
# The sandbox's RDAP server (see RDAP_* in scripts/sandbox.py).
bootstrap_dir = {_toml_str(str(d / "rdap"))}
timeout_ms = 2000
min_interval_ms = 0
max_wait_s = 60

[run]
data_dir = {_toml_str(str(d / "data"))}
output_dir = {_toml_str(str(d / "out"))}
"""


def _rdap_bootstrap(d: Path, plan: Plan, base: str) -> None:
    """DIR/rdap/{ipv4,ipv6,asn,dns}.json in IANA's format, pointing at the
    sandbox RDAP server: /rir/ for numbers, /busy/ for the 429 range,
    /registry/ for domains."""
    rdap = d / "rdap"
    rdap.mkdir(parents=True, exist_ok=True)

    def registry(services: list) -> str:
        return json.dumps({"description": "hostlocator sandbox",
                           "publication": "2026-01-01T00:00:00Z",
                           "services": services, "version": "1.0"}, indent=1)
    files = {
        "ipv4": [[[str(plan.subnet)], [base + "rir/"]],
                 [[f"127.{plan.n}.{RDAP_BUSY_OCTET}.0/24"], [base + "busy/"]]],
        "ipv6": [[[GEO_V6[0]], [base + "rir/"]]],
        "asn": [[[f"{min(RDAP_REGISTRY_COUNTRY)}-{max(RDAP_REGISTRY_COUNTRY)}"],
                 [base + "rir/"]]],
        "dns": [[["test", "example"], [base + "registry/"]]],
    }
    for name, services in files.items():
        (rdap / f"{name}.json").write_text(registry(services) + "\n")


def _vcard(fn: str, email: str = "", cc: str = "") -> list:
    props: list = [["version", {}, "text", "4.0"], ["fn", {}, "text", fn]]
    if email:
        props.append(["email", {}, "text", email])
    if cc:
        props.append(["adr", {"cc": cc}, "text", ["", "", "", "", "", "", ""]])
    return ["vcard", props]


def rdap_answer(n: int, path: str) -> tuple[int, str]:
    """(HTTP status, body) of the sandbox RDAP server for a request path."""
    parts = path.strip("/").split("/")
    if len(parts) != 3:
        return 404, json.dumps({"errorCode": 404})
    base, kind, key = parts
    if base == "busy":
        return 429, json.dumps({"errorCode": 429})
    if base == "rir" and kind == "ip":
        try:
            ip = ipaddress.ip_address(key)
        except ValueError:
            return 400, json.dumps({"errorCode": 400})
        if ip in ipaddress.ip_network(GEO_V6[0]):
            net, cc = ipaddress.ip_network(GEO_V6[0]), GEO_V6[1]
        else:
            third = int(key.split(".")[2]) if ip.version == 4 else -1
            cc = RDAP_NETWORK_COUNTRY.get(third)
            if ip.version != 4 or not key.startswith(f"127.{n}.") or cc is None:
                return 404, json.dumps({"errorCode": 404})
            net = ipaddress.ip_network(f"127.{n}.{third}.0/24")
        label = cc.lower()
        return 200, json.dumps({
            "objectClassName": "ip network", "handle": f"SANDBOX-{cc}-NET",
            "startAddress": str(net[0]), "endAddress": str(net[-1]),
            "name": f"SANDBOX-{cc}", "country": cc,
            "entities": [
                {"objectClassName": "entity", "roles": ["registrant"],
                 "vcardArray": _vcard(f"Sandbox Network {cc}")},
                {"objectClassName": "entity", "roles": ["abuse"],
                 "vcardArray": _vcard("Abuse", f"abuse@net-{label}.sandbox.test")}]})
    if base == "rir" and kind == "autnum" and key.isdigit():
        cc = RDAP_REGISTRY_COUNTRY.get(int(key))
        if cc is None:
            return 404, json.dumps({"errorCode": 404})
        return 200, json.dumps({"objectClassName": "autnum",
                                "handle": f"AS{key}", "name": f"SANDBOX-AS{key}",
                                "country": cc})
    if base == "registry" and kind == "domain":
        if key == RDAP_MALFORMED_DOMAIN:
            return 200, "{not json"
        label = key.split(".")[0]
        if not (label.startswith("sandbox-") and key.endswith(".test")):
            return 404, json.dumps({"errorCode": 404})
        cc = label[len("sandbox-"):].upper()
        return 200, json.dumps({
            "objectClassName": "domain", "ldhName": key,
            "entities": [{"objectClassName": "entity", "roles": ["registrar"],
                          "vcardArray": _vcard(f"Sandbox Registrar {cc}", cc=cc),
                          "entities": [{"objectClassName": "entity",
                                        "roles": ["abuse"],
                                        "vcardArray": _vcard(
                                            "Abuse", "abuse@registrar.sandbox.test")}]}]})
    return 404, json.dumps({"errorCode": 404})


# --------------------------------------------------------------- processes


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, pgrp) of a process, None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[2])


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def assert_no_core_dumps(test, pid: int) -> None:
    """For the tests (`test` a unittest.TestCase): running hostlocator
    process `pid` (the CLI or a daemon) has RLIMIT_CORE 0/0 and is not
    dumpable (common/process.h), which makes the kernel give its /proc/PID
    to root (only telling when the tests run as another user)."""
    with open(f"/proc/{pid}/limits", encoding="ascii") as f:
        limits = f.read()
    test.assertRegex(limits, r"(?m)^Max core file size\s+0\s+0\s+bytes",
                     limits)
    test.assertEqual(os.stat(f"/proc/{pid}").st_uid, 0)


def _group_members(pgid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _proc_stat(int(entry))
            if st and st[1] == pgid and st[0] not in ("Z", "X"):
                out.append(int(entry))
    return out


def processes_of(dir: str | os.PathLike) -> list[int]:
    """Live processes that belong to the sandbox in DIR: the daemons (their
    command lines name DIR's config files) and their process groups."""
    d = str(Path(dir).resolve())
    markers = [f"{d}/knot/knot.conf", f"{d}/nginx/nginx.conf",
               f"{d}/hostile/spec.json"]
    me = os.getpid()
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        cmd = _cmdline(pid)
        if any(m in cmd for m in markers) and _alive(pid):
            st = _proc_stat(pid)
            found.add(pid)
            if st and st[1] == pid:  # group leader: add its group
                found.update(_group_members(pid))
    return sorted(found)


# Popen objects of daemons started by this process, reaped on stop().
_CHILDREN: dict[int, subprocess.Popen] = {}


def _pdeathsig() -> None:
    # PR_SET_PDEATHSIG: the daemon gets SIGTERM when the starting thread dies.
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


def _spawn(name: str, cmd: list[str], log: Path, pidfile: Path,
           die_with_parent: bool) -> subprocess.Popen:
    logf = open(log, "ab")
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
            start_new_session=True, close_fds=True,
            preexec_fn=_pdeathsig if die_with_parent else None)
    except OSError as ex:
        raise SandboxError(f"cannot start {name}: {ex}") from ex
    finally:
        logf.close()
    _CHILDREN[proc.pid] = proc
    pidfile.write_text(f"{proc.pid}\n")
    return proc


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _reap() -> None:
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            del _CHILDREN[pid]


def _terminate(pgids: list[int], timeout: float) -> list[int]:
    """SIGTERM the groups, SIGKILL what is left after `timeout`; returns the
    pids still alive at the end (should be none)."""
    for g in pgids:
        _signal_group(g, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        _reap()
        left = [p for g in pgids for p in _group_members(g)]
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    if left:
        for g in pgids:
            _signal_group(g, signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            _reap()
            left = [p for g in pgids for p in _group_members(g)]
            if not left:
                break
            time.sleep(0.02)
    return left


def stop(dir: str | os.PathLike, timeout: float = STOP_TIMEOUT_S,
         quiet: bool = True) -> list[int]:
    """Stops the sandbox in DIR (idempotent). SIGTERM to each daemon's process
    group, SIGKILL after `timeout`. Returns pids that survived (none)."""
    d = Path(dir).resolve()
    pgids: set[int] = set()
    run_dir = d / "run"
    for pidfile in sorted(run_dir.glob("*.pid")) if run_dir.is_dir() else []:
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            continue
        # Only our daemons: the command line names DIR (pid reuse guard).
        if _alive(pid) and str(d) in _cmdline(pid):
            pgids.add(pid)
        elif not _alive(pid) and _group_members(pid):
            # Leader gone (killed), members left: the nginx workers.
            if all(_comm(m) in ("nginx", "knotd", "python3", "python", "")
                   for m in _group_members(pid)):
                pgids.add(pid)
    for pid in processes_of(d):  # daemons whose pid files are lost
        st = _proc_stat(pid)
        if st:
            pgids.add(st[1])
    pgids.discard(os.getpgrp())
    left = _terminate(sorted(pgids), timeout) if pgids else []
    for pidfile in run_dir.glob("*.pid") if run_dir.is_dir() else []:
        pidfile.unlink(missing_ok=True)
    if not quiet:
        print(f"sandbox in {d}: stopped {len(pgids)} daemon(s)"
              + (f", {len(left)} process(es) survived: {left}" if left else ""))
    return left


# ------------------------------------------------------------- DNS client


TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
         "TXT": 16, "AAAA": 28}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
          4: "NOTIMP", 5: "REFUSED"}


@dataclasses.dataclass
class DnsAnswer:
    rcode: str
    aa: bool
    answers: list[tuple[str, str, int, str]]  # (name, type, ttl, data)


def _encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def _decode_name(msg: bytes, off: int) -> tuple[str, int]:
    labels, jumped, end = [], False, off
    for _ in range(128):
        ln = msg[off]
        if ln & 0xC0 == 0xC0:
            ptr = struct.unpack_from("!H", msg, off)[0] & 0x3FFF
            if not jumped:
                end = off + 2
            jumped, off = True, ptr
            continue
        if ln == 0:
            if not jumped:
                end = off + 1
            return ".".join(labels), end
        labels.append(msg[off + 1:off + 1 + ln].decode("ascii", "replace"))
        off += 1 + ln
    raise ValueError("name too long")


def dns_query(server: str, port: int, name: str, qtype: str = "A",
              tcp: bool = False, timeout: float = 1.0) -> DnsAnswer:
    """One non-recursive query; raises OSError/TimeoutError on no answer."""
    qid = random.randrange(65536)
    q = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + _encode_name(name) + \
        struct.pack("!HH", TYPES[qtype], 1)
    if tcp:
        with socket.create_connection((server, port), timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(q)) + q)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                chunk = s.recv(65535)
                if not chunk:
                    raise OSError("DNS TCP connection closed")
                buf += chunk
            msg = buf[2:]
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(q, (server, port))
            while True:
                msg, _ = s.recvfrom(65535)
                if struct.unpack_from("!H", msg)[0] == qid:
                    break
    _, flags, qd, an, _, _ = struct.unpack_from("!HHHHHH", msg)
    off = 12
    for _ in range(qd):
        _, off = _decode_name(msg, off)
        off += 4
    answers = []
    for _ in range(an):
        rname, off = _decode_name(msg, off)
        t, _, ttl, rdlen = struct.unpack_from("!HHIH", msg, off)
        off += 10
        rd = msg[off:off + rdlen]
        tn = TYPE_NAMES.get(t, str(t))
        if tn == "A":
            data = socket.inet_ntop(socket.AF_INET, rd)
        elif tn == "AAAA":
            data = socket.inet_ntop(socket.AF_INET6, rd)
        elif tn in ("CNAME", "NS", "PTR"):
            data = _decode_name(msg, off)[0]
        else:
            data = rd.hex()
        answers.append((rname.lower(), tn, ttl, data))
        off += rdlen
    return DnsAnswer(RCODES.get(flags & 0xF, str(flags & 0xF)),
                     bool(flags & 0x0400), answers)


def resolve(server: str, port: int, host: str, timeout: float = 1.0
            ) -> dict[str, Any]:
    """Follows the CNAME chain of `host` (re-querying when a chain leaves the
    zone), then A and AAAA: {rcode, cname_chain, addresses[(type, ip, ttl)]}."""
    chain, name = [host], host
    rcode = "NOERROR"
    addrs: list[tuple[str, str, int]] = []
    for qtype in ("A", "AAAA"):
        name = host
        for _ in range(10):
            r = dns_query(server, port, name, qtype, timeout=timeout)
            rcode = r.rcode
            got = [(t, d, ttl) for n, t, ttl, d in r.answers if t == qtype]
            cur, follow = name, None
            for n, t, ttl, d in r.answers:  # walk the chain inside the answer
                if t == "CNAME" and n == cur:
                    cur = d.lower()
                    if qtype == "A":
                        chain.append(cur)
            if got or r.rcode != "NOERROR":
                addrs += got
                break
            if cur != name:
                follow = cur
            if follow is None:
                break
            name = follow
        if rcode != "NOERROR":
            break
    return {"rcode": rcode, "cname_chain": chain, "addresses": addrs}


# ------------------------------------------------------------ HEAD client


def timeout_class(received: bytes) -> str:
    """The class of a HEAD that ran out of time having received `received`:
    a status line that arrived makes it a slow answer, not no answer."""
    return "header_timeout" if b"\r\n" in received else "http_timeout"


def head(address: str, port: int, host: str, path: str = "/",
         tls: bool = False, cafile: str | None = None, timeout: float = 3.0,
         max_header_bytes: int = MAX_HEADER_BYTES) -> dict[str, Any]:
    """A minimal HEAD to address:port with Host/SNI `host`; never reads a
    body. Returns {status, headers, error_class, tls_verify}; error classes
    as worker/prober.h."""
    res: dict[str, Any] = {"status": 0, "headers": {}, "error_class": "",
                           "tls_verify": ""}
    deadline = time.monotonic() + timeout
    buf = b""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except ConnectionRefusedError:
        res["error_class"] = "connection_refused"
        return res
    except (socket.timeout, TimeoutError):
        res["error_class"] = "http_timeout"
        return res
    try:
        if tls:
            ctx = ssl.create_default_context(cafile=cafile)
            try:
                probe = ctx.wrap_socket(socket.create_connection(
                    (address, port), timeout=timeout), server_hostname=host)
                probe.close()
                res["tls_verify"] = "ok"
            except ssl.SSLCertVerificationError as ex:
                res["tls_verify"] = ex.verify_message or "failed"
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            try:
                sock = ctx.wrap_socket(sock, server_hostname=host)
            except ConnectionResetError:  # a handshake cut: as the worker
                res["error_class"] = "tls_error"
                return res
        hostport = host if port == (443 if tls else 80) else f"{host}:{port}"
        sock.sendall(f"HEAD {path} HTTP/1.1\r\nHost: {hostport}\r\n"
                     f"User-Agent: hostlocator-sandbox-check\r\n"
                     f"Connection: close\r\n\r\n".encode())
        while b"\r\n\r\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                res["error_class"] = timeout_class(buf)
                return res
            sock.settimeout(left)
            chunk = sock.recv(16384)
            if not chunk:
                res["error_class"] = "http_error"
                return res
            buf += chunk
            if len(buf.split(b"\r\n\r\n")[0]) > max_header_bytes:
                res["error_class"] = "header_too_large"
                return res
        block = buf.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        parts = block[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            res["error_class"] = "http_error"
            return res
        res["status"] = int(parts[1])
        for line in block[1:]:
            k, _, v = line.partition(":")
            res["headers"].setdefault(k.strip().lower(), v.strip())
        return res
    except (socket.timeout, TimeoutError):
        res["error_class"] = timeout_class(buf)
        return res
    except ssl.SSLError:
        res["error_class"] = "tls_error"
        return res
    except ConnectionResetError:
        res["error_class"] = "connection_reset"
        return res
    except OSError:
        res["error_class"] = "http_error"
        return res
    finally:
        sock.close()


# ---------------------------------------------------------- hostile server


def hostile_main(spec_path: str) -> int:
    """Serves the endpoints nginx cannot play (see Plan, server="hostile")."""
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    log_lock = threading.Lock()
    logf = open(spec["access_log"], "a", buffering=1, encoding="utf-8")
    stop_event = threading.Event()

    def make_handler(ep: dict[str, Any]):
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                s: socket.socket = self.request
                s.settimeout(120)
                name, b = next(iter(ep["vhosts"].items()))
                req = b""
                try:
                    while b"\r\n\r\n" not in req and len(req) < 65536:
                        chunk = s.recv(4096)
                        if not chunk:
                            return
                        req += chunk
                except OSError:
                    return
                first = req.split(b"\r\n", 1)[0].decode("latin-1")
                method = first.split(" ", 1)[0]
                host = "-"
                for line in req.decode("latin-1").split("\r\n")[1:]:
                    if line.lower().startswith("host:"):
                        host = line[5:].strip()
                self._log(host, method, b["kind"])
                if b["kind"] == "empty":
                    return  # close without a byte of answer
                try:
                    self._respond(s, name, b, method)
                except OSError:
                    pass

            def _log(self, host: str, method: str, kind: str) -> None:
                with log_lock:
                    logf.write(f"{self.client_address[0]} {host} {method} "
                               f"{kind} {ep['address']}:{ep['port']}\n")

            def _respond(self, s: socket.socket, name: str, b: dict, method: str):
                kind = b["kind"]
                date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
                body = (f"<html><body>sandbox page of {name} "
                        f"{BODY_MARKER}</body></html>\n" * 64).encode()
                if kind in ("cdn", "body_on_head", "sleep"):
                    if kind == "sleep":
                        if stop_event.wait(b["sleep_s"]):
                            return
                    hdrs = [f"HTTP/1.1 {b.get('status', 200)} OK",
                            f"Date: {date}", "Content-Type: text/html",
                            f"Content-Length: {len(body)}", "Connection: close",
                            f"X-Sandbox-Host: {name}",
                            f"X-Sandbox-Country: {ep['country']}"]
                    if kind == "cdn":
                        ray = os.urandom(8).hex()
                        hdrs += ["Server: cloudflare", f"CF-RAY: {ray}-FRA",
                                 "cf-cache-status: HIT", "Age: 120",
                                 "Via: 1.1 edge1.sandbox-fr.test (sandbox-cdn)"]
                    else:
                        hdrs.append("Server: sandbox-hostile")
                    head_ = ("\r\n".join(hdrs) + "\r\n\r\n").encode()
                    # body_on_head: the body follows even for HEAD.
                    send_body = method != "HEAD" or kind == "body_on_head"
                    s.sendall(head_ + (body if send_body else b""))
                elif kind == "trickle":
                    s.sendall(b"HTTP/1.1 200 OK\r\nX-Trickle: ")
                    while not stop_event.wait(0.5):
                        s.sendall(b"a")
                elif kind == "silent":
                    while not stop_event.is_set():
                        s.settimeout(0.5)
                        try:
                            if not s.recv(4096):
                                return
                        except socket.timeout:
                            continue
                elif kind == "huge_headers":
                    s.sendall(b"HTTP/1.1 200 OK\r\nServer: sandbox-hostile\r\n")
                    line = b"X-Pad: " + b"p" * 1000 + b"\r\n"
                    for _ in range(4096):  # 4 MB, then give up
                        if stop_event.is_set():
                            return
                        s.sendall(line * 16)
                elif kind == "garbage":
                    s.sendall(b"THIS IS NOT HTTP\r\n\x00\x01\x02\r\n\r\n")
        return Handler

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = False
        request_queue_size = 256

    servers = []
    for ep in spec["endpoints"]:
        srv = Server((ep["address"], ep["port"]), make_handler(ep))
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()

    rdap = spec.get("rdap")
    if rdap:
        import http.server

        class RdapHandler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = rdap_answer(rdap["n"], self.path)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/rdap+json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(data)
                with log_lock:
                    logf.write(f"rdap GET {self.path} {status}\n")

            def log_message(self, *args) -> None:
                pass

        class RdapServer(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = False

        rdap_srv = RdapServer((rdap["address"], rdap["port"]), RdapHandler)
        servers.append(rdap_srv)
        threading.Thread(target=rdap_srv.serve_forever,
                         kwargs={"poll_interval": 0.2}, daemon=True).start()

    def on_term(signum, frame):
        stop_event.set()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    print(f"hostile: serving {len(servers)} endpoints", flush=True)
    ready = Path(spec_path).with_name("ready")
    ready.write_text(f"{os.getpid()}\n")  # every endpoint is bound
    stop_event.wait()
    for srv in servers:
        srv.server_close()
    logf.close()
    os._exit(0)  # handler threads are daemons; nothing else to flush


# ----------------------------------------------------------------- start


def _bind_ok(addrs: list[str], port: int, udp_too: bool = False) -> bool:
    socks = []
    try:
        for a in addrs:
            kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp_too else [])
            for k in kinds:
                s = socket.socket(socket.AF_INET, k)
                socks.append(s)
                s.bind((a, port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def _free_port(addrs: list[str], udp_too: bool = False,
               avoid: set[int] = frozenset()) -> int:
    """A port that binds (TCP, and UDP if asked) on every address."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((addrs[0], 0))
            port = s.getsockname()[1]
        if port not in avoid and _bind_ok(addrs, port, udp_too):
            return port
    raise SandboxError(f"no free port on {addrs[0]} after 50 tries")


def _wait_ready(plan: Plan, d: Path, procs: dict[str, subprocess.Popen],
                deadline: float) -> None:
    """Polls until knotd answers every zone (UDP and TCP) and every endpoint
    accepts connections; raises SandboxError naming what is not ready."""
    pending_zones = set(plan.zones)
    pending_eps = set(plan.endpoints)
    tcp_ok = False
    problem = ""
    # nginx writes its pid file only once every listen socket is bound, the
    # hostile server its ready file likewise; until then a connection that
    # succeeds may reach someone else's socket.
    bound_files = {"nginx": d / "nginx" / "nginx.pid",
                   "hostile": d / "hostile" / "ready"}
    while True:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise SandboxError(f"{name} exited with {proc.returncode} "
                                   f"during start-up; see {_log_hint(d, name)}")
        for name, path in list(bound_files.items()):
            try:
                if int(path.read_text().strip()) == procs[name].pid:
                    del bound_files[name]
            except (OSError, ValueError):
                problem = f"{name} has not bound its sockets yet"
        if bound_files:
            if time.monotonic() >= deadline:
                raise SandboxError(f"not ready within {READY_TIMEOUT_S:.0f} s: "
                                   f"{problem}; see {_log_hint(d, next(iter(bound_files)))}")
            time.sleep(0.02)
            continue
        for z in list(pending_zones):
            try:
                r = dns_query(plan.dns_address, plan.dns_port, z, "SOA",
                              timeout=0.2)
                if r.rcode == "NOERROR" and r.aa:
                    pending_zones.discard(z)
                else:
                    problem = f"zone {z}: {r.rcode}"
            except OSError as ex:
                problem = f"DNS {plan.dns_address}:{plan.dns_port}: {ex}"
                break
        if not pending_zones and not tcp_ok:
            try:
                tcp_ok = dns_query(plan.dns_address, plan.dns_port,
                                   next(iter(plan.zones)), "SOA", tcp=True,
                                   timeout=0.5).rcode == "NOERROR"
            except OSError as ex:
                problem = f"DNS over TCP: {ex}"
        for key in list(pending_eps):
            try:
                with socket.create_connection(key, timeout=0.2):
                    pending_eps.discard(key)
            except OSError as ex:
                problem = f"{key[0]}:{key[1]} ({plan.endpoints[key].server}): {ex}"
                break
        if not pending_zones and tcp_ok and not pending_eps:
            return
        if time.monotonic() >= deadline:
            raise SandboxError(f"not ready within {READY_TIMEOUT_S:.0f} s: "
                               f"{problem}")
        time.sleep(0.02)


def _log_hint(d: Path, name: str) -> str:
    logs = {"knotd": d / "knot" / "knot.log", "nginx": d / "nginx" / "error.log",
            "hostile": d / "hostile" / "hostile.log"}
    path = logs.get(name)
    tail = ""
    if path and path.exists():
        lines = [l for l in path.read_text(errors="replace").splitlines()
                 if "error" in l.lower() or "emerg" in l.lower()]
        tail = f" ({lines[-1].strip()})" if lines else ""
    return f"{path}{tail}"


def _find_echo_module() -> str | None:
    for p in ECHO_MODULE_PATHS:
        if os.path.exists(p):
            return p
    return None


# Helpers for the tests that drive the sandbox (tests/*/*.py).


def free_port() -> int:
    """A port that was free a moment ago for TCP and UDP on every address,
    below the kernel's ephemeral range (ip_local_port_range): a port from
    that range may be taken by any outgoing connection (another test's)
    between this choice and its listener's bind."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    chooser = random.SystemRandom()
    for _ in range(1000 if ephemeral_low > 10001 else 0):
        port = chooser.randrange(10000, ephemeral_low)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                 socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                tcp.bind(("0.0.0.0", port))
                udp.bind(("0.0.0.0", port))
            return port
        except OSError:
            continue
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, step: float = 0.1):
    """predicate()'s first true value, asked every `step` s; AssertionError
    naming `what` when none comes within `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def exit_unless_installed(programs: list[str]) -> None:
    """Exits 1 naming the missing ones (a test fails, it does not skip)."""
    missing = [p for p in programs
               if shutil.which(p) is None and
               not os.path.exists(f"/usr/sbin/{p}")]
    if missing:
        print(f"missing programs: {', '.join(missing)} "
              "(scripts/install-deps.sh installs them)", file=sys.stderr)
        sys.exit(1)


def _check_tools() -> None:
    missing = [t for t in ("knotd", "nginx", "openssl") if not shutil.which(t)]
    if missing:
        raise SandboxError("missing programs: " + ", ".join(missing)
                           + " (scripts/install-deps.sh installs them)")


def start(dir: str | os.PathLike, hostlocator: str | os.PathLike | None = None,
          die_with_parent: bool = False, http_port: int = 0,
          https_port: int = 0, dns_port: int = 0, subnet_octet: int = 0,
          nginx_workers: int = 1, require_geo: bool = False,
          quiet: bool = True) -> Sandbox:
    """Generates the sandbox under DIR, starts knotd, nginx and the hostile
    server, waits until they answer and returns the Sandbox. Ports and the
    subnet octet are chosen at random when 0. With die_with_parent the
    daemons get SIGTERM when the calling thread exits (tests)."""
    t0 = time.monotonic()
    _check_tools()
    d = Path(dir).resolve()
    d.mkdir(parents=True, exist_ok=True)
    stop(d)  # a previous run in the same directory
    try:
        return _start(d, t0, hostlocator, die_with_parent, http_port,
                      https_port, dns_port, subnet_octet, nginx_workers,
                      require_geo, quiet)
    except BaseException:
        stop(d)  # never leave half a sandbox behind (Ctrl-C, I/O errors)
        raise


def _start(d: Path, t0: float, hostlocator, die_with_parent: bool,
           http_port: int, https_port: int, dns_port: int, subnet_octet: int,
           nginx_workers: int, require_geo: bool, quiet: bool) -> Sandbox:
    for sub in ("knot", "nginx", "hostile", "run", "geo", "tls", "rdap"):
        shutil.rmtree(d / sub, ignore_errors=True)
    for sub in ("knot/zones", "knot/db", "knot/run", "nginx/tmp", "hostile",
                "run", "data", "out"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    echo = _find_echo_module()
    binary = Path(hostlocator) if hostlocator else DEFAULT_HOSTLOCATOR

    control = str(d / "knot" / "run" / "knot.sock")
    if len(control.encode()) > 100:  # sun_path limit
        control = os.path.join(tempfile.mkdtemp(prefix="hl-knot-"), "knot.sock")

    last_error: Exception | None = None
    plan: Plan | None = None
    for attempt in range(4):
        n = subnet_octet or random.choice(
            [i for i in range(16, 251) if i != REFUSED_OCTET])
        probe = build_plan(n, 1, 2, 3, echo is not None)
        web = sorted({a for a, _ in probe.endpoints} | set(probe.down_addresses))
        dns_addr = probe.dns_address
        try:
            dp = dns_port or _free_port([dns_addr], udp_too=True)
            hp = http_port or _free_port(web)
            sp = https_port or _free_port(web, avoid={hp})
            for port, addrs, udp in ((dp, [dns_addr], True), (hp, web, False),
                                     (sp, web, False)):
                if not _bind_ok(addrs, port, udp):
                    raise SandboxError(f"port {port} is in use on one of "
                                       f"{addrs[0]}..{addrs[-1]}")
        except SandboxError as ex:
            last_error = ex
            if http_port or https_port or dns_port or subnet_octet:
                raise
            continue
        plan = build_plan(n, hp, sp, dp, echo is not None)
        rdap_port = _free_port([plan.dns_address], avoid={dp, hp, sp})
        if attempt == 0:
            _make_tls(d, plan)
        _write_server_files(d, plan, echo, nginx_workers, control, rdap_port)
        procs: dict[str, subprocess.Popen] = {}
        try:
            procs["knotd"] = _spawn(
                "knotd", ["knotd", "-c", str(d / "knot" / "knot.conf")],
                d / "knot" / "knotd.out", d / "run" / "knotd.pid",
                die_with_parent)
            procs["nginx"] = _spawn(
                "nginx", ["nginx", "-p", f"{d}/nginx/", "-c",
                          str(d / "nginx" / "nginx.conf"), "-e",
                          str(d / "nginx" / "error.log")],
                d / "nginx" / "nginx.out", d / "run" / "nginx.pid",
                die_with_parent)
            procs["hostile"] = _spawn(
                "hostile", [sys.executable, str(Path(__file__).resolve()),
                            "_hostile", str(d / "hostile" / "spec.json")],
                d / "hostile" / "hostile.log", d / "run" / "hostile.pid",
                die_with_parent)
            _wait_ready(plan, d, procs, time.monotonic() + READY_TIMEOUT_S)
            break
        except SandboxError as ex:
            last_error = ex
            stop(d)
            if http_port or https_port or dns_port or subnet_octet or attempt == 3:
                raise
    else:
        raise SandboxError(f"could not start: {last_error}")
    assert plan is not None

    csvs = _geo_csvs(d, plan)
    geo_error = _build_geo(d, binary, csvs)
    if geo_error and require_geo:
        raise SandboxError("geolocation databases: " + geo_error)
    rdap_url = f"http://{plan.dns_address}:{rdap_port}/"
    _rdap_bootstrap(d, plan, rdap_url)
    urls_text, doc = expected_document(plan)
    (d / "urls.txt").write_text(urls_text, encoding="utf-8")
    (d / "expected.json").write_text(
        json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (d / "hostlocator.toml").write_text(_hostlocator_toml(d, plan),
                                        encoding="utf-8")
    sb = Sandbox(
        dir=str(d), config=str(d / "hostlocator.toml"), urls=str(d / "urls.txt"),
        expected=str(d / "expected.json"), subnet_octet=plan.n,
        subnet=str(plan.subnet), dns_address=plan.dns_address,
        dns_port=plan.dns_port, http_port=plan.http_port,
        https_port=plan.https_port, ca_cert=str(d / "tls" / "ca.pem"),
        nginx_access_log=str(d / "nginx" / "access.log"),
        hostile_access_log=str(d / "hostile" / "access.log"),
        hosts=plan.host_addresses(),
        pids={k: p.pid for k, p in procs.items()},
        geo_ready=not geo_error, geo_error=geo_error,
        geo_country_mmdb=str(d / "geo" / "country.mmdb"),
        geo_asn_mmdb=str(d / "geo" / "asn.mmdb"),
        rdap_url=rdap_url, rdap_bootstrap_dir=str(d / "rdap"),
        start_seconds=round(time.monotonic() - t0, 3), started_unix=time.time())
    (d / STATE_FILE).write_text(json.dumps(dataclasses.asdict(sb), indent=2,
                                           ensure_ascii=False) + "\n")
    if not quiet:
        print(summary(sb, doc))
    return sb


def _write_server_files(d: Path, plan: Plan, echo: str | None, workers: int,
                        control: str, rdap_port: int) -> None:
    for f in (d / "knot" / "zones").glob("*"):
        f.unlink()
    for zone, recs in plan.zones.items():
        (d / "knot" / "zones" / f"{zone}.zone").write_text(_zone_text(zone, recs))
    (d / "knot" / "knot.conf").write_text(knot_conf(
        d, plan.dns_address, plan.dns_port, control,
        list(plan.zones) + plan.broken_zones))
    (d / "nginx" / "nginx.conf").write_text(_nginx_conf(d, plan, echo, workers))
    hostile = {
        "access_log": str(d / "hostile" / "access.log"),
        "endpoints": [
            {"address": ep.address, "port": ep.port, "vhosts": ep.vhosts,
             "country": geo_of(plan, ep.address)["country"] or "??"}
            for ep in plan.endpoints.values() if ep.server == "hostile"],
        "rdap": {"address": plan.dns_address, "port": rdap_port, "n": plan.n},
    }
    (d / "hostile" / "spec.json").write_text(json.dumps(hostile, indent=2))


def summary(sb: Sandbox, doc: dict[str, Any] | None = None) -> str:
    if doc is None:
        with open(sb.expected, encoding="utf-8") as f:
            doc = json.load(f)
    c = doc["counts"]
    shop = "shop.sandbox-de.test"
    geo = "built" if sb.geo_ready else f"NOT built: {sb.geo_error}"
    return "\n".join([
        f"sandbox internet running in {sb.dir} (started in {sb.start_seconds:.2f} s)",
        f"  subnet     {sb.subnet} (allowlisted); DNS {sb.dns_server} (UDP+TCP)",
        f"  web        HTTP port {sb.http_port}, HTTPS port {sb.https_port}, "
        f"{len(sb.hosts)} names; CA {sb.ca_cert}",
        f"  pids       " + ", ".join(f"{k} {v}" for k, v in sb.pids.items()),
        f"  geo        {geo}",
        f"  config     {sb.config}",
        f"  urls       {sb.urls}: {c['lines']} lines, {c['urls']} URLs, "
        f"{c['duplicates']} duplicates, {c['rejected']} rejected, "
        f"{c['skipped']} comment/blank",
        f"  expected   {sb.expected}",
        f"  try        kdig @{sb.dns_address} -p {sb.dns_port} media.sandbox-fr.test A",
        f"             curl -sI --connect-to {sb.connect_to(shop)} {sb.url(shop)}",
        f"  stop       {Path(__file__).resolve()} stop --dir {sb.dir}",
    ])


# ------------------------------------------------------------------- run


def run(cmd: list[str], dir: str | os.PathLike | None = None,
        hostlocator: str | None = None, **start_args: Any) -> int:
    """start, run `cmd` with HL_SANDBOX_* in its environment, always stop.
    Returns cmd's exit code (128+signal when it died of a signal)."""
    tmp = None
    if dir is None:
        tmp = tempfile.mkdtemp(prefix="hl-sandbox-")
        dir = tmp
    child: subprocess.Popen | None = None
    received: list[int] = []

    def on_signal(signum, frame):
        received.append(signum)
        if child is not None and child.poll() is None:
            try:
                child.send_signal(signum)
            except ProcessLookupError:
                pass
        else:
            raise KeyboardInterrupt  # interrupts start()
    old = {s: signal.signal(s, on_signal)
           for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        sb = start(dir, hostlocator=hostlocator, die_with_parent=True,
                   **start_args)
        print(summary(sb), file=sys.stderr, flush=True)
        env = dict(os.environ, **sb.env())
        child = subprocess.Popen(cmd, env=env)
        while True:
            try:
                rc = child.wait()
                break
            except KeyboardInterrupt:
                continue
        return 128 - rc if rc < 0 else rc
    except KeyboardInterrupt:
        return 128 + (received[0] if received else signal.SIGINT)
    finally:
        for s, h in old.items():
            signal.signal(s, signal.SIG_IGN)
        stop(dir)
        for s, h in old.items():
            signal.signal(s, h)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_hostile"]:
        return hostile_main(argv[1])
    cmd: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(
        prog="sandbox.py", description="The hostlocator sandbox internet.")
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, dir_required: bool) -> None:
        p.add_argument("--dir", required=dir_required,
                       help="directory for generated files, logs and pids")

    def starting(p: argparse.ArgumentParser) -> None:
        p.add_argument("--hostlocator", default=None,
                       help=f"hostlocator binary (default {DEFAULT_HOSTLOCATOR})")
        p.add_argument("--http-port", type=int, default=0)
        p.add_argument("--https-port", type=int, default=0)
        p.add_argument("--dns-port", type=int, default=0)
        p.add_argument("--subnet-octet", type=int, default=0,
                       help="N of 127.N.0.0/16 (default: random)")
        p.add_argument("--nginx-workers", type=int, default=1)
        p.add_argument("--require-geo", action="store_true",
                       help="fail when the MMDBs cannot be built")

    p = sub.add_parser("start", help="generate and start, leave running")
    common(p, True)
    starting(p)
    p = sub.add_parser("stop", help="stop (idempotent)")
    common(p, True)
    p = sub.add_parser("status", help="show what runs")
    common(p, True)
    p = sub.add_parser("run", help="start, run CMD after --, stop")
    common(p, False)
    starting(p)
    args = ap.parse_args(argv)
    if args.command != "run" and cmd:
        ap.error("'--' CMD is only for run")
    try:
        if args.command == "start":
            start(args.dir, args.hostlocator, http_port=args.http_port,
                  https_port=args.https_port, dns_port=args.dns_port,
                  subnet_octet=args.subnet_octet,
                  nginx_workers=args.nginx_workers,
                  require_geo=args.require_geo, quiet=False)
            return 0
        if args.command == "stop":
            return 1 if stop(args.dir, quiet=False) else 0
        if args.command == "status":
            procs = processes_of(args.dir)
            try:
                sb = load(args.dir)
                print(summary(sb))
            except (OSError, ValueError, TypeError):
                print(f"no sandbox state in {args.dir}")
            print(f"  running    {len(procs)} process(es) {procs}")
            return 0 if procs else 3
        if not cmd:
            ap.error("run needs a command after --")
        return run(cmd, args.dir, args.hostlocator, http_port=args.http_port,
                   https_port=args.https_port, dns_port=args.dns_port,
                   subnet_octet=args.subnet_octet,
                   nginx_workers=args.nginx_workers,
                   require_geo=args.require_geo)
    except SandboxError as ex:
        print(f"sandbox.py: error: {ex}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # stdout closed early (| head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
