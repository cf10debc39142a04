"""Soak: mixed traffic at 70 % of measured capacity against `gateway serve`, for minutes.

    .venv/bin/python bench/soak.py [--minutes 10] [--load 0.7] [--workers 2]

The gateway runs as in production (`gateway serve`, gunicorn) on SQLite with a
redis-server of its own, configured like `gateway demo` with the demo SAML IdP and the
provider emulators (in this process). Traffic, by weight: SAML and OpenID browser
sign-ins, RFC 8693 token exchanges and AssumeRoleWithWebIdentity, GetCallerIdentity and
/api/v1/authorize with the credentials those issued, console and sign-in pages.

1. Capacity: the mix, closed loop with `--concurrency` clients for `--calibrate` seconds.
2. Soak: the mix open loop at `--load` x capacity for `--minutes`; every answer checked.
   RSS of the gunicorn master and of each worker, Redis memory and keys by kind are
   sampled every 10 s.
3. Drain: traffic stops; Redis is watched until every transient key (TTL under a day)
   has expired. That takes the longest TTL left when traffic stopped, printed: sessions
   live `--session-lifetime` seconds, but a seen SAML assertion's replay-cache key lives
   until the assertion expires plus the clock skew (the demo IdP's assertions: 5 + 2
   minutes), so the default `--drain-max` (900 s) leaves room for it.

Reports (and exits 1 unless all hold): errors = 0; RSS of the gunicorn processes grows
under 10 % from the end of warm-up (`--warmup` seconds into the soak, after the
calibration's traffic) to the end; Redis memory and keys after the drain are back to
where they were before any traffic (flat). The warm-up is left out because the
per-session verification memos (1,024 sessions a worker, gateway/sts/caches.py) fill
with the first credentials a worker sees: growing to their cap is their cost, not a
leak. Growth from the soak's start and over the last minute is printed beside it, per
process too. A console GET on a kept-alive connection the server closed as the request
went out (the keep-alive race) is sent again once, as browsers do, and counted apart.
Rate limits are set out of the way: this measures the gateway, not the limiter. Raw
numbers go to bench/results/soak-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import html
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import redis
import requests
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port  # noqa: E402
from gateway.devtools import emulators as emulator_pkg  # noqa: E402
from gateway.devtools import saml_idp  # noqa: E402
from gateway.state.embedded import redis_server_binary  # noqa: E402

GATEWAY = str(Path(sys.executable).with_name("gateway"))
DEVELOPER = "arn:aws:iam::222222222222:role/engineering/Developer"
FIELD = re.compile(r"name='([\w]+)' value='([^']*)'")
ACTION = re.compile(r"action='([^']*)'")
CREDENTIALS = re.compile(r'id="(access-key-id|secret-access-key|session-token)">([^<]+)<')
LIMIT = "100000000/minute"  # out of the way


class Unexpected(Exception):
    """An answer the soak did not expect: counted as an error."""


# ---------------------------------------------------------------- the system under test


@dataclass
class Gateway:
    workdir: Path
    session_lifetime: int
    workers: int
    port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "gateway.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(
            {
                "GATEWAY_VAR_DIR": str(self.workdir / "var"),
                "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "GATEWAY_MASTER_KEY": "44" * 32,
                "GATEWAY_BIND": f"127.0.0.1:{self.port}",
                "GATEWAY_BASE_URL": self.url,
                "GATEWAY_WORKERS": str(self.workers),
                "GATEWAY_LOG_LEVEL": "WARNING",
                "GATEWAY_SESSION_LIFETIME": str(self.session_lifetime),
                **{
                    f"GATEWAY_RATE_LIMIT_{name}": LIMIT
                    for name in (
                        "ADDRESS",
                        "SUBJECT",
                        "SIGNIN_ADDRESS",
                        "SIGNIN_SUBJECT",
                        "STS_ADDRESS",
                        "STS_SUBJECT",
                        "AUTHORIZE_ADDRESS",
                        "AUTHORIZE_SUBJECT",
                    )
                },
            }
        )
        return env

    def start_redis(self) -> redis.Redis:
        self.procs.append(
            subprocess.Popen(
                [
                    redis_server_binary(),
                    "--port",
                    str(self.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=subprocess.DEVNULL,
            )
        )
        client = redis.Redis(port=self.redis_port)
        _until(client.ping, "redis-server")
        return client

    def start(self, config: str) -> None:
        (self.workdir / "config.yaml").write_text(config)
        subprocess.run(
            [GATEWAY, "config", "import", str(self.workdir / "config.yaml")],
            env=self.env(),
            check=True,
            capture_output=True,
        )
        self.procs.insert(
            0,
            subprocess.Popen(
                [GATEWAY, "serve"],
                env=self.env(),
                stdout=self.log.open("ab"),
                stderr=subprocess.STDOUT,
            ),
        )
        _until(
            lambda: requests.get(f"{self.url}/readyz", timeout=5).status_code == 200,
            "gateway serve",
        )

    def rss_by_process(self) -> dict[str, int]:
        """Resident memory of the gunicorn master and of each worker, by "master"/"worker PID"."""
        master = self.procs[0].pid
        found = {"master": _rss(master)}
        for pid in sorted(_children(master)):
            found[f"worker {pid}"] = _rss(pid)
        return found

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _until(ready: Callable[[], Any], what: str, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if ready():
                return
        except Exception:  # refused while it starts, whatever the client
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# ---------------------------------------------------------------- the traffic


@dataclass
class Creds:
    access_key_id: str
    secret: str
    token: str


class Traffic:
    """One operation of the mix at a time; raises Unexpected on any wrong answer."""

    def __init__(self, gw: Gateway, emulators: Any, idp: Any) -> None:
        self.gw = gw
        self.emulators = emulators
        self.idp_lock = threading.Lock()  # the demo IdP (not under test) signs one at a time
        self.lock = threading.Lock()
        self.creds: list[Creds] = []
        self.browsers: list[requests.Session] = []
        self.resent = 0  # console GETs sent again after a reset idle keep-alive connection
        self.users = emulator_pkg.DEMO_USERS
        self.mix: list[tuple[str, int, Callable[[], None]]] = [
            ("saml sign-in", 2, self.saml_sign_in),
            ("oidc sign-in", 3, self.oidc_sign_in),
            ("token exchange", 10, self.token_exchange),
            ("AssumeRoleWithWebIdentity", 10, self.assume_role_with_web_identity),
            ("GetCallerIdentity", 40, self.get_caller_identity),
            ("authorize", 15, self.authorize),
            ("console page", 15, self.console),
            ("sign-in page", 5, self.login_page),
        ]
        self.names = [name for name, _, _ in self.mix]
        self.weights = [weight for _, weight, _ in self.mix]
        self.run = {name: run for name, _, run in self.mix}

    def pick(self, rng: random.Random) -> str:
        if not self.creds:
            return "token exchange"
        if not self.browsers:
            return "oidc sign-in"
        return rng.choices(self.names, self.weights)[0]

    def _keep(self, creds: Creds) -> None:
        with self.lock:
            self.creds.append(creds)
            del self.creds[:-200]

    def _expect(self, response: requests.Response, status: int, what: str) -> None:
        if response.status_code != status:
            raise Unexpected(f"{what}: {response.status_code} {response.text[:200]!r}")

    # -- sign-ins

    def saml_sign_in(self) -> None:
        http = requests.Session()
        login = http.get(f"{self.gw.url}/saml/login/demo-saml", timeout=30)
        self._expect(login, 200, "SAML login page at the IdP")
        fields = dict(FIELD.findall(login.text))
        action = html.unescape(ACTION.findall(login.text)[0])
        base = login.url.split("/sso/", 1)[0]
        with self.idp_lock:
            picked = http.post(
                base + action,
                data={**{k: html.unescape(v) for k, v in fields.items()}, "user": "alice"},
                timeout=30,
            )
        self._expect(picked, 200, "IdP response")
        posted = {k: html.unescape(v) for k, v in FIELD.findall(picked.text)}
        acs = http.post(
            html.unescape(ACTION.findall(picked.text)[0]),
            data=posted,
            allow_redirects=False,
            timeout=30,
        )
        self._expect(acs, 303, "SAML ACS")
        with self.lock:
            self.browsers.append(http)
            del self.browsers[:-50]

    def oidc_sign_in(self) -> None:
        http = requests.Session()
        start = http.get(f"{self.gw.url}/oidc/demo-oidc/login", allow_redirects=False, timeout=30)
        self._expect(start, 303, "OIDC login")
        location = start.headers["Location"]
        query = dict(parse_qsl(urlsplit(location).query))
        fields = {
            k: v for k, v in query.items() if k not in ("response_type", "code_challenge_method")
        }
        approved = http.post(
            location.split("?", 1)[0],
            data={**fields, "login": "alice"},
            allow_redirects=False,
            timeout=30,
        )
        callback = http.get(approved.headers["Location"], allow_redirects=False, timeout=30)
        self._expect(callback, 303, "OIDC callback")
        with self.lock:
            self.browsers.append(http)
            del self.browsers[:-50]

    # -- exchanges

    def _id_token(self) -> str:
        user = random.choice(self.users[:2])
        return str(self.emulators.oidc.id_token(user, emulator_pkg.OIDC_CLIENT[0]))

    def token_exchange(self) -> None:
        answer = requests.post(
            f"{self.gw.url}/api/v1/token",
            timeout=30,
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": self._id_token(),
                "audience": DEVELOPER,
                "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            },
        )
        self._expect(answer, 200, "token exchange")
        c = answer.json()["credentials"]
        self._keep(Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]))

    def assume_role_with_web_identity(self) -> None:
        answer = requests.post(
            f"{self.gw.url}/sts",
            timeout=30,
            headers={"Accept": "application/json"},
            data={
                "Action": "AssumeRoleWithWebIdentity",
                "Version": "2011-06-15",
                "RoleArn": DEVELOPER,
                "RoleSessionName": "soak",
                "WebIdentityToken": self._id_token(),
            },
        )
        self._expect(answer, 200, "AssumeRoleWithWebIdentity")
        c = answer.json()["AssumeRoleWithWebIdentityResponse"]["AssumeRoleWithWebIdentityResult"][
            "Credentials"
        ]
        self._keep(Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]))

    # -- verifies

    def _signed(self, creds: Creds, request: AWSRequest, service: str) -> Any:
        SigV4Auth(
            Credentials(creds.access_key_id, creds.secret, creds.token), service, "us-east-1"
        ).add_auth(request)
        return request.prepare()

    def get_caller_identity(self) -> None:
        creds = random.choice(self.creds)
        prepared = self._signed(
            creds,
            AWSRequest(
                method="POST",
                url=f"{self.gw.url}/sts",
                data={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            ),
            "sts",
        )
        answer = requests.post(
            prepared.url, data=prepared.body, headers=dict(prepared.headers), timeout=30
        )
        self._expect(answer, 200, "GetCallerIdentity")

    def authorize(self) -> None:
        creds = random.choice(self.creds)
        prepared = self._signed(
            creds, AWSRequest(method="GET", url="http://objects.example.com/b/k"), "s3"
        )
        question = {
            "method": "GET",
            "path": "/b/k",
            "query": "",
            "headers": [[k, v] for k, v in prepared.headers.items()]
            + [["Host", "objects.example.com"]],
            "service": "s3",
            "action": "s3:GetObject",
            "resource": "arn:aws:s3:::b/k",
        }
        answer = requests.post(f"{self.gw.url}/api/v1/authorize", json=question, timeout=30)
        self._expect(answer, 200, "authorize")

    # -- pages

    def console(self) -> None:
        browser = random.choice(self.browsers)
        url = f"{self.gw.url}/console"
        try:
            answer = browser.get(url, allow_redirects=False, timeout=30)
        except requests.ConnectionError as exc:
            # The browser's connection sat idle for about the server's keep-alive (5 s) and
            # the server closed it as the request went out: HTTP/1.1's known race, which
            # browsers and SDKs answer by sending an idempotent request again (RFC 9112
            # 9.3.1). Done once here and counted apart; a second failure is an error.
            if not _idle_connection_reset(exc):
                raise
            with self.lock:
                self.resent += 1
            answer = browser.get(url, allow_redirects=False, timeout=30)
        # A session past its lifetime is sent to sign in again: an answer, not an error.
        if answer.status_code == 303 and "/login" in answer.headers.get("Location", ""):
            with self.lock:
                if browser in self.browsers:
                    self.browsers.remove(browser)
            return
        self._expect(answer, 200, "console")

    def login_page(self) -> None:
        self._expect(requests.get(f"{self.gw.url}/login", timeout=30), 200, "sign-in page")


def _idle_connection_reset(exc: requests.ConnectionError) -> bool:
    """Whether the connection was reset or closed before any byte of an answer came."""
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, urllib3.exceptions.ProtocolError) and any(
        isinstance(arg, ConnectionResetError | http.client.RemoteDisconnected) for arg in cause.args
    )


@dataclass
class Tally:
    done: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def one(self, traffic: Traffic, name: str) -> None:
        try:
            traffic.run[name]()
        except Exception as exc:  # any failure of the operation is an error of the soak
            with self.lock:
                self.errors[name] += 1
                if len(self.samples) < 20:
                    self.samples.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
            return
        with self.lock:
            self.done[name] += 1


def closed_loop(traffic: Traffic, clients: int, seconds: float) -> tuple[float, Tally]:
    """Operations per second with `clients` back-to-back clients."""
    tally = Tally()
    end = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < end:
            tally.one(traffic, traffic.pick(rng))

    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(tally.done.values()) / (time.monotonic() - start), tally


def open_loop(
    traffic: Traffic, rate: float, seconds: float, clients: int, every: Callable[[float], None]
) -> tuple[Tally, float]:
    """`rate` operations a second on a fixed schedule; returns the tally and the worst lag."""
    tally = Tally()
    start = time.monotonic()
    total = int(rate * seconds)
    next_slot = iter(range(total))
    slot_lock = threading.Lock()
    worst_lag = [0.0]

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while True:
            with slot_lock:
                slot = next(next_slot, None)
            if slot is None:
                return
            due = start + slot / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                worst_lag[0] = max(worst_lag[0], -delay)
            tally.one(traffic, traffic.pick(rng))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        every(time.monotonic() - start)
        time.sleep(1)
    for t in threads:
        t.join()
    return tally, worst_lag[0]


# ---------------------------------------------------------------- the run

# Keys with a TTL under a day are the traffic's (sessions, SAML requests and seen
# assertions, rate-limit windows) and must be gone after the drain; the IdP metadata
# copy (7 days) and keys without a TTL (the config version) are meant to stay.
TRANSIENT_TTL = 86400


def redis_state(client: redis.Redis) -> dict[str, int]:
    """Memory in all and of the data alone (no client buffers or script cache), and keys."""
    info = client.info("memory")
    return {
        "used_memory": int(info["used_memory"]),
        "used_memory_dataset": int(info["used_memory_dataset"]),
        "keys": int(client.dbsize()),
    }


def census(client: redis.Redis) -> dict[str, Any]:
    """Every key by kind (`gw:session`, `gw:saml:seen`, ...; hashes and ids left out) with
    its count, MEMORY USAGE and longest TTL; the transient keys (TTL under a day), the
    longest TTL among them, and the bytes of the long-lived keys."""
    keys = list(client.scan_iter(count=1000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.ttl(key)
        pipe.memory_usage(key)
    answers = pipe.execute() if keys else []
    kinds: dict[str, dict[str, int]] = {}
    transient = long_lived_bytes = 0
    longest = (-1, "")
    for key, ttl, size in zip(keys, answers[::2], answers[1::2], strict=True):
        if ttl == -2 or size is None:
            continue  # expired since the scan
        parts = key.decode(errors="replace").split(":")
        kind = ":".join(p for p in parts[:3] if len(p) < 16)
        entry = kinds.setdefault(kind, {"keys": 0, "bytes": 0, "max_ttl": -1})
        entry["keys"] += 1
        entry["bytes"] += int(size)
        entry["max_ttl"] = max(entry["max_ttl"], int(ttl))
        if 0 <= ttl < TRANSIENT_TTL:
            transient += 1
            longest = max(longest, (int(ttl), kind))
        else:
            long_lived_bytes += int(size)
    return {
        "kinds": dict(sorted(kinds.items())),
        "keys": sum(k["keys"] for k in kinds.values()),
        "transient_keys": transient,
        "longest_transient_ttl": longest[0],
        "longest_transient_kind": longest[1],
        "long_lived_bytes": long_lived_bytes,
    }


Sample = tuple[float, dict[str, int]]  # seconds into the soak, RSS by process


def rss_growth(samples: list[Sample], warmup: float) -> dict[str, Any]:
    """RSS of the sum and of each process at the soak's start, at the end of warm-up, a
    minute before the end and at the end (a worker replaced meanwhile is left out)."""
    start, end = samples[0], samples[-1]
    after = next((s for s in samples if s[0] >= warmup), start)
    minute = next(s for s in samples if s[0] >= end[0] - 60)
    points = {"start": start, "after_warmup": after, "minute_before_end": minute, "end": end}
    names = [n for n in end[1] if all(n in s[1] for s in points.values())]
    rows: dict[str, dict[str, int]] = {
        "all": {point: sum(s[1].values()) for point, s in points.items()}
    }
    for name in names:
        rows[name] = {point: s[1][name] for point, s in points.items()}
    return {
        "warmup_sample_at_s": after[0],
        "processes": rows,
        "replaced": sorted(set(start[1]) ^ set(end[1])),
    }


def _pct(row: dict[str, int], since: str) -> float:
    return row["end"] / row[since] - 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--load", type=float, default=0.7, help="fraction of capacity")
    parser.add_argument("--workers", type=int, default=2, help="GATEWAY_WORKERS")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--calibrate", type=float, default=30.0, help="seconds")
    parser.add_argument(
        "--warmup",
        type=float,
        default=30.0,
        help="seconds of the soak before the RSS baseline is taken",
    )
    parser.add_argument("--session-lifetime", type=int, default=60)
    parser.add_argument(
        "--drain-max",
        type=float,
        default=900.0,
        help="seconds the drain may take at most (it ends when the last transient key has "
        "expired; the demo IdP's assertions keep their replay-cache key ~7 minutes)",
    )
    args = parser.parse_args()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the demo IdPs' request lines

    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    gw = Gateway(tmp, args.session_lifetime, args.workers)
    text = resources.files("gateway").joinpath("demo_config.yaml").read_text()
    text, emulators = emulator_pkg.demo_config(text)
    text, idp = saml_idp.demo_config(text, gw.url)
    report: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "args": vars(args)}
    report["load_average_before"] = os.getloadavg()
    try:
        store = gw.start_redis()
        gw.start(text)
        report["rss_before_traffic"] = gw.rss_by_process()
        report["redis_before"] = redis_state(store)
        report["redis_census_before"] = census(store)
        traffic = Traffic(gw, emulators, idp)

        capacity, calibration = closed_loop(traffic, args.concurrency, args.calibrate)
        rate = capacity * args.load
        report["capacity_ops_per_s"] = capacity
        report["calibration_errors"] = dict(calibration.errors)
        print(
            f"capacity {capacity:.1f} ops/s (closed loop, {args.concurrency} clients, "
            f"{args.calibrate:.0f} s); soaking at {rate:.1f} ops/s for {args.minutes} min"
        )

        rss: list[Sample] = []
        redis_samples: list[tuple[float, dict[str, int]]] = []
        peak: dict[str, Any] = {"keys": -1}

        def sample(elapsed: float) -> None:
            nonlocal peak
            if rss and elapsed - rss[-1][0] < 10:
                return
            by_process = gw.rss_by_process()
            rss.append((elapsed, by_process))
            redis_samples.append((elapsed, redis_state(store)))
            counted = census(store)
            if counted["keys"] > peak["keys"]:
                peak = {**counted, "at_s": elapsed}
            workers = " ".join(
                f"{v / 2**20:.1f}" for k, v in by_process.items() if k.startswith("worker")
            )
            print(
                f"  {elapsed:6.0f} s  rss {sum(by_process.values()) / 2**20:7.1f} MiB "
                f"(master {by_process['master'] / 2**20:.1f}, workers {workers})  "
                f"redis {redis_samples[-1][1]['used_memory'] / 2**20:6.2f} MiB "
                f"{redis_samples[-1][1]['keys']:6d} keys",
                flush=True,
            )

        tally, lag = open_loop(traffic, rate, args.minutes * 60, args.concurrency * 2, sample)
        sample(args.minutes * 60 + 10)
        report["redis_end_of_traffic"] = redis_state(store)
        report["redis_census_peak"] = peak
        end_census = census(store)
        report["redis_census_end_of_traffic"] = end_census

        # Drain: every key the traffic made must expire by itself. The longest TTL left is
        # how long that takes: a seen assertion's key lives as long as the assertion is
        # valid (replay protection), past the sessions it started.
        needed = end_census["longest_transient_ttl"]
        print(
            f"drain: the last transient key expires in {needed} s "
            f"({end_census['longest_transient_kind'] or 'none left'}); waiting up to "
            f"{args.drain_max:.0f} s"
            + (" -- SHORTER, Redis cannot be flat by then" if needed > args.drain_max else ""),
            flush=True,
        )
        drain_start = time.monotonic()
        after_census = census(store)
        while (
            after_census["transient_keys"] > 0 and time.monotonic() - drain_start < args.drain_max
        ):
            time.sleep(5)
            after_census = census(store)
        report["drain_seconds"] = time.monotonic() - drain_start
        report["redis_after_drain"] = redis_state(store)
        report["redis_census_after_drain"] = after_census
    finally:
        gw.stop()
        idp.stop()
        emulators.stop()
        saved_log = gw.log.read_text(errors="replace") if gw.log.exists() else ""
        shutil.rmtree(tmp, ignore_errors=True)
    report["load_average_after"] = os.getloadavg()

    memory = rss_growth(rss, args.warmup)
    everything = memory["processes"]["all"]
    growth = _pct(everything, "after_warmup")
    after, before = report["redis_after_drain"], report["redis_before"]
    memory_change = after["used_memory"] / before["used_memory"] - 1
    # Flat: what the traffic stored is gone. Keys meant to stay (the IdP metadata cache,
    # counters) are set aside; 16 KiB of slack for Redis's own bookkeeping.
    data_before = before["used_memory_dataset"] - report["redis_census_before"]["long_lived_bytes"]
    data_after = after["used_memory_dataset"] - after_census["long_lived_bytes"]
    total = sum(tally.done.values()) + sum(tally.errors.values())
    report.update(
        {
            "target_ops_per_s": rate,
            "operations": dict(tally.done),
            "errors": dict(tally.errors),
            "error_samples": tally.samples,
            "console_gets_resent_after_keepalive_reset": traffic.resent,
            "achieved_ops_per_s": total / (args.minutes * 60),
            "worst_schedule_lag_s": lag,
            "rss_samples": rss,
            "redis_samples": redis_samples,
            "rss": memory,
            "rss_growth": growth,
            "rss_growth_from_start": _pct(everything, "start"),
            "rss_growth_last_minute": _pct(everything, "minute_before_end"),
            "redis_memory_change_after_drain": memory_change,
            "redis_data_bytes_before": data_before,
            "redis_data_bytes_after_drain": data_after,
        }
    )
    ok_errors = not tally.errors
    ok_rss = growth < 0.10
    ok_redis = after_census["transient_keys"] == 0 and data_after <= data_before * 1.10 + 16 * 1024
    report["passed"] = {"errors": ok_errors, "rss": ok_rss, "redis_flat": ok_redis}
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"soak-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    if saved_log:
        path.with_suffix(".log").write_text(saved_log)

    mib = 2**20
    print(
        f"\noperations {total} at {report['achieved_ops_per_s']:.1f}/s "
        f"(target {rate:.1f}/s, worst lag {lag:.2f} s): "
        + ", ".join(f"{k} {v}" for k, v in sorted(tally.done.items()))
    )
    print(
        f"errors: {sum(tally.errors.values())} {dict(tally.errors) or ''}"
        f"(console GETs sent again after the server closed an idle keep-alive connection "
        f"under them: {traffic.resent})" + "".join(f"\n  {s}" for s in tally.samples)
    )
    print(
        f"RSS (gunicorn master + workers): {everything['start'] / mib:.1f} MiB at the start "
        f"-> {everything['after_warmup'] / mib:.1f} MiB after {memory['warmup_sample_at_s']:.0f} s "
        f"of warm-up -> {everything['end'] / mib:.1f} MiB at the end: "
        f"{growth:+.1%} after warm-up (goal < +10%), {_pct(everything, 'start'):+.1%} from "
        f"the start, {_pct(everything, 'minute_before_end'):+.1%} over the last minute"
    )
    before_traffic = report["rss_before_traffic"]
    for name, row in memory["processes"].items():
        if name == "all":
            continue
        print(
            f"  {name:13s} {before_traffic.get(name, 0) / mib:6.1f} MiB before any traffic, "
            f"{row['start'] / mib:6.1f} start, {row['after_warmup'] / mib:6.1f} after warm-up, "
            f"{row['end'] / mib:6.1f} end ({_pct(row, 'after_warmup'):+.1%} after warm-up, "
            f"{_pct(row, 'minute_before_end'):+.1%} over the last minute)"
        )
    if memory["replaced"]:
        print(f"  processes that came or went during the soak: {memory['replaced']}")
    print(
        f"Redis: {before['used_memory'] / mib:.2f} MiB {before['keys']} keys before; "
        f"{report['redis_end_of_traffic']['used_memory'] / mib:.2f} MiB "
        f"{report['redis_end_of_traffic']['keys']} keys when traffic stopped; "
        f"{after['used_memory'] / mib:.2f} MiB {after['keys']} keys after "
        f"{report['drain_seconds']:.0f} s of drain ({memory_change:+.1%} in all, client "
        f"buffers and script cache included); data other than long-lived keys "
        f"{data_before / 1024:.1f} KiB before, {data_after / 1024:.1f} KiB after"
    )
    print(
        f"  {'keys by kind':18s} {'before':>14s} {'peak (' + str(round(peak['at_s'])) + ' s)':>16s}"
        f" {'longest TTL':>12s} {'after drain':>14s}"
    )
    censuses = (report["redis_census_before"], peak, end_census, after_census)
    for kind in sorted(set().union(*(c["kinds"] for c in censuses))):
        first, top, last, drained = (c["kinds"].get(kind, {}) for c in censuses)

        def cell(entry: dict[str, int], width: int) -> str:
            if not entry:
                return f"{'-':>{width}s}"
            return f"{entry['keys']:>{width - 9}d} {entry['bytes'] / 1024:6.1f} K"

        ttl = last.get("max_ttl")
        print(
            f"  {kind:18s} {cell(first, 14)} {cell(top, 16)} "
            f"{'-' if ttl is None else ('none' if ttl < 0 else f'{ttl} s'):>12s} "
            f"{cell(drained, 14)}"
        )
    print(
        f"load average before {report['load_average_before']}, after {report['load_average_after']}"
    )
    print(
        f"result: {'PASS' if all(report['passed'].values()) else 'FAIL'} "
        f"{report['passed']}  ({path.relative_to(ROOT)})"
    )
    return 0 if all(report["passed"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
