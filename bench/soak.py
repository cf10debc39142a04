"""Soak: mixed traffic at 70 % of measured capacity against `gateway serve`, for minutes.

    .venv/bin/python bench/soak.py [--minutes 10] [--load 0.7] [--workers 2]

The gateway runs as in production (`gateway serve`, gunicorn) on SQLite with a
redis-server of its own, configured like `gateway demo` with the demo SAML IdP and the
provider emulators (in this process). Traffic, by weight: SAML and OpenID browser
sign-ins, RFC 8693 token exchanges and AssumeRoleWithWebIdentity, GetCallerIdentity and
/api/v1/authorize with the credentials those issued, console and sign-in pages.

1. Capacity: the mix, closed loop with `--concurrency` clients for `--calibrate` seconds.
2. Soak: the mix open loop at `--load` x capacity for `--minutes`; every answer checked.
3. Drain: traffic stops; Redis is watched until every session and other key has expired
   (sessions live `--session-lifetime` seconds).

Reports (and exits 1 unless all hold): errors = 0; RSS of the gunicorn processes grows
under 10 % from the end of warm-up to the end; Redis memory and keys after the drain
are back to where they were before any traffic (flat). Rate limits are set out of the
way: this measures the gateway, not the limiter. Raw numbers go to
bench/results/soak-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import html
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

    def rss_bytes(self) -> int:
        """Resident memory of the gunicorn master and every worker."""
        master = self.procs[0].pid
        pids = [master, *_children(master)]
        return sum(_rss(pid) for pid in pids)

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
        answer = browser.get(f"{self.gw.url}/console", allow_redirects=False, timeout=30)
        # A session past its lifetime is sent to sign in again: an answer, not an error.
        if answer.status_code == 303 and "/login" in answer.headers.get("Location", ""):
            with self.lock:
                if browser in self.browsers:
                    self.browsers.remove(browser)
            return
        self._expect(answer, 200, "console")

    def login_page(self) -> None:
        self._expect(requests.get(f"{self.gw.url}/login", timeout=30), 200, "sign-in page")


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


def redis_state(client: redis.Redis) -> dict[str, int]:
    """Memory in all and of the data alone (no client buffers or script cache), and keys."""
    info = client.info("memory")
    return {
        "used_memory": int(info["used_memory"]),
        "used_memory_dataset": int(info["used_memory_dataset"]),
        "keys": int(client.dbsize()),
    }


def long_lived_bytes(client: redis.Redis) -> int:
    """Memory of the keys meant to outlive sessions (counters, day-long metadata caches)."""
    total = 0
    for key in client.scan_iter(count=1000):
        ttl = int(client.ttl(key))
        if ttl == -1 or ttl >= 86400:
            total += int(client.memory_usage(key) or 0)
    return total


def keys_by_kind(client: redis.Redis) -> dict[str, int]:
    """Key counts by kind (`gw:session`, `gw:saml:seen`, ...), hashes and ids left out."""
    kinds: Counter[str] = Counter()
    for key in client.scan_iter(count=1000):
        parts = key.decode(errors="replace").split(":")
        kinds[":".join(p for p in parts[:3] if len(p) < 16)] += 1
    return dict(kinds)


def transient_keys(client: redis.Redis) -> int:
    """Keys that must expire soon: any TTL under a day (metadata caches and counters last)."""
    keys = list(client.scan_iter(count=1000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.ttl(key)
    return sum(1 for ttl in pipe.execute() if 0 <= int(ttl) < 86400)


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
    parser.add_argument("--drain-max", type=float, default=900.0, help="seconds")
    args = parser.parse_args()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the demo IdPs' request lines

    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    gw = Gateway(tmp, args.session_lifetime, args.workers)
    text = resources.files("gateway").joinpath("demo_config.yaml").read_text()
    text, emulators = emulator_pkg.demo_config(text)
    text, idp = saml_idp.demo_config(text, gw.url)
    report: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "args": vars(args)}
    try:
        store = gw.start_redis()
        gw.start(text)
        report["redis_before"] = redis_state(store)
        report["long_lived_bytes_before"] = long_lived_bytes(store)
        traffic = Traffic(gw, emulators, idp)

        capacity, calibration = closed_loop(traffic, args.concurrency, args.calibrate)
        rate = capacity * args.load
        report["capacity_ops_per_s"] = capacity
        report["calibration_errors"] = dict(calibration.errors)
        print(
            f"capacity {capacity:.1f} ops/s (closed loop, {args.concurrency} clients, "
            f"{args.calibrate:.0f} s); soaking at {rate:.1f} ops/s for {args.minutes} min"
        )

        rss: list[tuple[float, int]] = []
        redis_samples: list[tuple[float, dict[str, int]]] = []

        def sample(elapsed: float) -> None:
            if not rss or elapsed - rss[-1][0] >= 10:
                rss.append((elapsed, gw.rss_bytes()))
                redis_samples.append((elapsed, redis_state(store)))
                print(
                    f"  {elapsed:6.0f} s  rss {rss[-1][1] / 2**20:7.1f} MiB  "
                    f"redis {redis_samples[-1][1]['used_memory'] / 2**20:6.2f} MiB "
                    f"{redis_samples[-1][1]['keys']:6d} keys",
                    flush=True,
                )

        tally, lag = open_loop(traffic, rate, args.minutes * 60, args.concurrency * 2, sample)
        sample(args.minutes * 60 + 10)
        report["redis_end_of_traffic"] = redis_state(store)
        report["redis_keys_end_of_traffic"] = keys_by_kind(store)

        # Drain: every key the traffic made must expire by itself.
        drain_start = time.monotonic()
        while time.monotonic() - drain_start < args.drain_max:
            if transient_keys(store) == 0:
                break
            time.sleep(5)
        report["transient_keys_after_drain"] = transient_keys(store)
        report["drain_seconds"] = time.monotonic() - drain_start
        report["redis_after_drain"] = redis_state(store)
        report["long_lived_bytes_after"] = long_lived_bytes(store)
        report["redis_keys_after_drain"] = keys_by_kind(store)
    finally:
        gw.stop()
        idp.stop()
        emulators.stop()
        saved_log = gw.log.read_text(errors="replace") if gw.log.exists() else ""
        shutil.rmtree(tmp, ignore_errors=True)

    baseline = [r for t, r in rss if t >= args.warmup] or [r for _, r in rss]
    growth = rss[-1][1] / baseline[0] - 1
    after, before = report["redis_after_drain"], report["redis_before"]
    memory_change = after["used_memory"] / before["used_memory"] - 1
    # Flat: what the traffic stored is gone. Keys meant to stay (the IdP metadata cache,
    # counters) are set aside; 16 KiB of slack for Redis's own bookkeeping.
    data_before = before["used_memory_dataset"] - report["long_lived_bytes_before"]
    data_after = after["used_memory_dataset"] - report["long_lived_bytes_after"]
    last_minute = [r for t, r in rss if t >= rss[-1][0] - 60]
    slope = last_minute[-1] / last_minute[0] - 1
    total = sum(tally.done.values()) + sum(tally.errors.values())
    report.update(
        {
            "target_ops_per_s": rate,
            "operations": dict(tally.done),
            "errors": dict(tally.errors),
            "error_samples": tally.samples,
            "achieved_ops_per_s": total / (args.minutes * 60),
            "worst_schedule_lag_s": lag,
            "rss_samples": rss,
            "redis_samples": redis_samples,
            "rss_growth": growth,
            "redis_memory_change_after_drain": memory_change,
            "redis_data_bytes_before": data_before,
            "redis_data_bytes_after_drain": data_after,
            "rss_growth_last_minute": slope,
        }
    )
    ok_errors = not tally.errors
    ok_rss = growth < 0.10
    ok_redis = (
        report["transient_keys_after_drain"] == 0 and data_after <= data_before * 1.10 + 16 * 1024
    )
    report["passed"] = {"errors": ok_errors, "rss": ok_rss, "redis_flat": ok_redis}
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"soak-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    if saved_log:
        path.with_suffix(".log").write_text(saved_log)

    print(
        f"\noperations {total} at {report['achieved_ops_per_s']:.1f}/s "
        f"(target {rate:.1f}/s, worst lag {lag:.2f} s): "
        + ", ".join(f"{k} {v}" for k, v in sorted(tally.done.items()))
    )
    print(
        f"errors: {sum(tally.errors.values())} {dict(tally.errors) or ''}"
        + "".join(f"\n  {s}" for s in tally.samples)
    )
    print(
        f"RSS (gunicorn master + workers): {baseline[0] / 2**20:.1f} MiB after warm-up -> "
        f"{rss[-1][1] / 2**20:.1f} MiB at the end ({growth:+.1%}; goal < +10%); "
        f"{slope:+.1%} over the last minute"
    )
    print(
        f"Redis: {before['used_memory'] / 2**20:.2f} MiB {before['keys']} keys before; "
        f"{report['redis_end_of_traffic']['used_memory'] / 2**20:.2f} MiB "
        f"{report['redis_end_of_traffic']['keys']} keys when traffic stopped; "
        f"{after['used_memory'] / 2**20:.2f} MiB {after['keys']} keys after "
        f"{report['drain_seconds']:.0f} s of drain ({memory_change:+.1%} in all, client "
        f"buffers and script cache included); data other than long-lived keys "
        f"{data_before / 1024:.1f} KiB before, {data_after / 1024:.1f} KiB after"
    )
    print(
        f"keys left after the drain (long-lived ones only when flat): "
        f"{report['redis_keys_after_drain']}"
    )
    print(
        f"result: {'PASS' if all(report['passed'].values()) else 'FAIL'} "
        f"{report['passed']}  ({path.relative_to(ROOT)})"
    )
    return 0 if all(report["passed"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
