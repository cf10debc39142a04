"""A large configuration: 10,000 roles and 1,000 mapping rules in SQLite.

    .venv/bin/python bench/bench_scale.py [--runs 5] [--roles 10000] [--rules 1000]

Builds the configuration through the store API (`import_document`, as `gateway config
import` does; every role with its own trust and permission policy, the worst case for
compilation), then measures, pinned to one core:

* the first (cold) load of a process: `gateway.runtime.loader`, i.e. read every table,
  compile every policy, load the keyring (information);
* a reload after a configuration change: one role's policy edited as the admin role
  page edits it (`edit_role`), then the same loader with the previous snapshot, which
  re-reads only the changed role (the goal: < 1 s); and the same reload of a 100-role
  configuration as the baseline; beside it (information) the full re-read a change to
  anything but roles takes, reusing every compiled policy but the edited one;
* an admin's edit of one role on the admin console, in process through the Flask test
  client: the form's POST (validation, write, this process's reload) and the page it
  redirects to (the goal: < 1 s); the same edit of a 100-role configuration as the
  baseline; the roles list page and the whole-document `edit_config` the other admin
  pages write through, once each (information);
* an admin's creation of one role on the new-role page, then its deletion from its
  page, the same way: each POST with the page it redirects to (the goal: < 1 s each);
  the same in a 100-role configuration as the baseline;
* one sign-in's role mapping: `gateway.roles.eligible_roles` for an identity with 20
  groups against the provider's 1,000 rules (mixed operators), the matched roles gated
  by their trust policies (the goal: < 1 ms); baseline: the same identity against its
  own 5 rules among 10.

Medians of several runs; raw numbers to bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, free_port, pin_to_one_core, quick  # noqa: E402
from gateway.identity import FederatedIdentity  # noqa: E402
from gateway.roles.resolve import eligible_roles  # noqa: E402
from gateway.runtime import Loaded, loader  # noqa: E402
from gateway.store import migrate  # noqa: E402
from gateway.store.config_io import import_document  # noqa: E402
from gateway.store.db import make_engine  # noqa: E402
from gateway.store.snapshot import Snapshot, load_snapshot  # noqa: E402

GOAL_RELOAD_S = 1.0
GOAL_RULES_MS = 1.0
GOAL_ADMIN_EDIT_S = 1.0
ACCOUNTS = 20
PROVIDER = "corp"
AUDIENCE = "https://gateway.example.com/saml/acs"
MASTER_KEY = bytes(range(32))


def account_id(n: int) -> str:
    return f"{100000000000 + n % ACCOUNTS}"


def role_arn(n: int) -> str:
    return f"arn:aws:iam::{account_id(n)}:role/teams/Role{n:05d}"


def role(n: int, edition: int = 0) -> dict[str, Any]:
    """Role n, with its own trust and permission documents (nothing shared to reuse)."""
    principal = f"arn:aws:iam::{account_id(0)}:saml-provider/{PROVIDER}"
    return {
        "name": f"Role{n:05d}",
        "path": "/teams/",
        "trust_policy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"Role{n}",
                    "Effect": "Allow",
                    "Principal": {"Federated": principal},
                    "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                    "Condition": {"StringEquals": {"saml:aud": AUDIENCE}},
                }
            ],
        },
        "policies": {
            "Data": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": [f"arn:aws:s3:::team-{n}", f"arn:aws:s3:::team-{n}/*"],
                    },
                    {
                        "Effect": "Deny",
                        "Action": "s3:DeleteObject",
                        "Resource": f"arn:aws:s3:::team-{n}/locked-{edition}/*",
                    },
                ],
            },
        },
        "tags": {"team": f"t{n % 97}", "cost-center": f"{n % 13}"},
    }


def rule(n: int, roles: int) -> dict[str, Any]:
    """Mapping rule n: 70 % exact (group equality, in_group, in), 30 % patterns."""
    target = role_arn(n * 7 % roles)
    match n % 20:
        case 0 | 1:
            when = {"claim": "groups", "operator": "contains", "value": f"team-{n}-"}
        case 2 | 3:
            when = {"claim": "department", "operator": "starts_with", "value": f"dept-{n}"}
        case 4:
            when = {"claim": "email", "operator": "regex", "value": rf"u{n}\.[a-z]+@example\.com"}
        case 5:
            when = {"claim": "email", "operator": "matches", "value": f"*+{n}@example.com"}
        case 6 | 7:
            when = {"claim": "groups", "operator": "in", "values": [f"g{n}", f"h{n}", f"k{n}"]}
        case 8 | 9:
            when = {"claim": "memberOf", "operator": "in_group", "value": f"CN=g{n},OU=Groups"}
        case _:
            when = {"claim": "groups", "operator": "equals", "value": f"g{n}"}
    return {"description": f"rule {n}", "when": [when], "role": target}


# The rules the benchmark's person matches (group equality): five roles to gate.
MATCHED = (10, 210, 410, 610, 810)


def document(roles: int, rules: Iterable[int], edition: int = 0) -> dict[str, Any]:
    accounts: list[dict[str, Any]] = [
        {"id": account_id(a), "roles": []} for a in range(min(ACCOUNTS, roles))
    ]
    for n in range(roles):
        accounts[n % ACCOUNTS]["roles"].append(role(n, edition if n == 0 else 0))
    return {
        "accounts": accounts,
        "identity_providers": [
            {
                "name": PROVIDER,
                "kind": "saml",
                "account": account_id(0),
                "mapping_rules": [rule(n, roles) for n in rules],
            }
        ],
    }


def identity() -> FederatedIdentity:
    """Someone in 20 groups and 10 directory groups; 5 of the groups are mapped."""
    groups = tuple([f"g{n}" for n in MATCHED] + [f"unmapped-{i}" for i in range(15)])
    member_of = tuple(f"CN=other-{i},OU=Groups" for i in range(10))
    return FederatedIdentity(
        provider=PROVIDER,
        kind="saml",
        issuer="https://idp.example.com",
        subject="alice@example.com",
        subject_type="persistent",
        audience=(AUDIENCE,),
        attributes={
            "groups": groups,
            "memberOf": member_of,
            "email": ("alice@example.com",),
            "department": ("engineering",),
        },
        condition_keys={"saml:aud": (AUDIENCE,), "saml:sub": ("alice@example.com",)},
        session_name="alice@example.com",
    )


class Timing(list[float]):
    """[wall-clock seconds, CPU seconds of this process]."""


@contextmanager
def timing() -> Iterator[Timing]:
    # CPU time beside wall-clock time: on a machine shared with other work the wall
    # clock also counts time spent waiting for a core.
    took = Timing()
    wall, cpu = time.perf_counter(), time.process_time()
    yield took
    took.extend([time.perf_counter() - wall, time.process_time() - cpu])


class Store:
    """A SQLite database holding one generated configuration."""

    def __init__(self, directory: Path, roles: int, rules: Iterable[int]) -> None:
        self.url = f"sqlite:///{directory / f'scale-{roles}.db'}"
        self.engine = make_engine(self.url)
        migrate.upgrade(self.engine)
        self.roles = roles
        started = time.perf_counter()
        import_document(self.engine, document(roles, rules), actor="bench")
        self.import_seconds = time.perf_counter() - started
        self.load = loader(self.engine, MASTER_KEY)
        self.version = 0
        self.edit_seconds: list[float] = []
        self.previous: Snapshot | None = None  # the last reload's, for `full_reload`

    def cold(self) -> tuple[Timing, Loaded]:
        """A fresh process's first load."""
        self.load = loader(self.engine, MASTER_KEY)
        self.version += 1
        with timing() as took:
            loaded = self.load(self.version)
        return took, loaded

    def change(self) -> None:
        """An administrator edits one role's permission policy (the admin role page's path)."""
        from gateway.admin.edit import edit_role

        self.version += 1
        edition = self.version

        def edit(document: dict[str, Any]) -> dict[str, Any]:
            document["policies"] = role(0, edition)["policies"]
            return document

        started = time.perf_counter()
        edit_role(self.engine, account_id(0), "Role00000", edit, actor="bench")
        self.edit_seconds.append(time.perf_counter() - started)

    def whole_document_edit(self) -> float:
        """The same edit through `edit_config`, as the admin pages other than a role's
        write: read, export and validate the whole configuration (information)."""
        from gateway.admin.edit import edit_config

        self.version += 1
        edition = self.version

        def edit(doc: dict[str, Any]) -> None:
            first = next(r for r in doc["accounts"][0]["roles"] if r["name"] == "Role00000")
            first["policies"] = role(0, edition)["policies"]

        started = time.perf_counter()
        edit_config(self.engine, edit, actor="bench")
        took = time.perf_counter() - started
        self.load(self.version)  # keep the loader's previous snapshot current
        return took

    def reload(self) -> Timing:
        """The reload every process runs when `config:version` moves."""
        self.change()
        with timing() as took:
            loaded = self.load(self.version)
        assert loaded.version == self.version and len(loaded.snapshot.roles_by_arn) == self.roles
        self.previous = loaded.snapshot
        return took

    def full_reload(self) -> Timing:
        """A reload that re-reads every table (after a change to an account or a provider),
        still reusing the previous snapshot's compiled policies."""
        assert self.previous is not None, "reload() first"
        self.change()
        forced = dataclasses.replace(self.previous, change_id=None)  # no patching
        with timing() as took:
            snapshot = load_snapshot(self.engine, self.version, previous=forced)
        assert len(snapshot.roles_by_arn) == self.roles
        return took


def _role_fields(document: dict[str, Any]) -> dict[str, str]:
    """The role form's fields for `document`'s duration, tags, trust and one policy."""
    return {
        "max_session_duration": "3600",
        "tags": "\n".join(f"{k}={v}" for k, v in document["tags"].items()),
        "trust_policy": json.dumps(document["trust_policy"]),
        "policy_count": "1",
        "policy-0-name": "Data",
        "policy-0-document": json.dumps(document["policies"]["Data"]),
    }


class AdminConsole:
    """The gateway app on a Store's database, signed in as a break-glass admin, driven
    in process through the Flask test client (a browser's requests, without sockets)."""

    def __init__(self, store: Store, redis_url: str, directory: Path) -> None:
        from gateway import create_app
        from gateway.admin import links
        from gateway.settings import Settings

        self.store = store
        self.app = create_app(Settings.from_env({
            "GATEWAY_VAR_DIR": str(directory / f"var-{store.roles}"),
            "GATEWAY_DATABASE_URL": store.url,
            "GATEWAY_REDIS_URL": redis_url,
            # Each size its own keys in the shared Redis: a bump must not reload the other.
            "GATEWAY_REDIS_PREFIX": f"bench{store.roles}:",
            "GATEWAY_MASTER_KEY": MASTER_KEY.hex(),
            "GATEWAY_LOG_LEVEL": "WARNING",
        }))
        rt = self.app.extensions["gateway"]
        self.client = self.app.test_client()
        token, _ = links.create(rt.redis, rt.keys)
        confirm = self.client.get(f"/admin/link/{token}")
        signed_in = self.client.post(f"/admin/link/{token}",
                                     data={"csrf_token": _csrf(confirm.text)})
        assert signed_in.status_code == 303, signed_in.text
        self.path = f"/admin/roles/{account_id(0)}/Role00000"
        self.edition = 0
        self.created = 0

    def edit(self) -> Timing:
        """Open Role00000's page, change its description and policy, save; the save and the
        page it redirects to are timed (what the admin waits for after pressing Save)."""
        self.edition += 1
        document = role(0, self.edition)
        form = {
            "csrf_token": _csrf(self.client.get(self.path).text),
            "description": f"edition {self.edition}",
            **_role_fields(document),
        }
        with timing() as took:
            saved = self.client.post(self.path, data=form)
            landing = self.client.get(saved.headers.get("Location", ""))
        assert saved.status_code == 303, saved.text[-2000:]
        assert landing.status_code == 200 and "Role00000 saved." in landing.text
        return took

    def create_and_delete(self) -> tuple[Timing, Timing]:
        """Create a role on the new-role page (documents of its own), then delete it from its
        page; each timed from the POST to the page it redirects to. The configuration ends
        as it began."""
        self.created += 1
        name = f"Bench{self.created:05d}"
        document = role(self.store.roles + self.created)
        form = {
            "csrf_token": _csrf(self.client.get("/admin/roles/new").text),
            "account": account_id(0),
            "name": name,
            "path": "/teams/",
            **_role_fields(document),
        }
        with timing() as create:
            saved = self.client.post("/admin/roles", data=form)
            landing = self.client.get(saved.headers.get("Location", ""))
        assert saved.status_code == 303, saved.text[-2000:]
        assert landing.status_code == 200 and f"Role {name} created." in landing.text
        token = _csrf(landing.text)
        with timing() as delete:
            deleted = self.client.post(f"/admin/roles/{account_id(0)}/{name}/delete",
                                       data={"csrf_token": token})
            listed = self.client.get(deleted.headers.get("Location", ""))
        assert deleted.status_code == 303, deleted.text[-2000:]
        assert listed.status_code == 200 and f"Role {name} deleted." in listed.text
        return create, delete

    def roles_list(self) -> Timing:
        with timing() as took:
            listed = self.client.get("/admin/roles")
        assert listed.status_code == 200
        return took

    def close(self) -> None:
        self.app.extensions["gateway"].engine.dispose()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """A redis-server of its own for the admin console, stopped afterwards."""
    from gateway.state.client import connect
    from gateway.state.embedded import redis_server_binary

    port = free_port()
    process = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                connect(url).ping()
                break
            except Exception:  # refused while it starts
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def per_signin(loaded: Loaded, seconds: float) -> tuple[float, int]:
    """Seconds per `eligible_roles` call, and how many roles it offered."""
    person = identity()
    snapshot = loaded.snapshot
    offered = len(eligible_roles(person, snapshot).roles)
    calls = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(20):
            eligible_roles(person, snapshot)
        calls += 20
    return (time.perf_counter() - started) / calls, offered


def run(runs: int, roles: int, rules: int, seconds: float) -> dict[str, Any]:
    pinned = pin_to_one_core()
    raw: dict[str, Any] = {"cpu": pinned, "roles": roles, "rules": rules, "runs": runs}
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as redis_url:
        big = Store(Path(tmp), roles, range(rules))
        # The baseline: the same person's five rules among ten, a hundred roles.
        small = Store(Path(tmp), 100, (*MATCHED, 0, 2, 4, 5, 6))
        raw["import_seconds"] = {"big": big.import_seconds, "small": small.import_seconds}
        consoles = [AdminConsole(store, redis_url, Path(tmp)) for store in (big, small)]
        cold: list[Timing] = []
        reloads: list[Timing] = []
        full_reloads: list[Timing] = []
        small_reloads: list[Timing] = []
        admin: list[Timing] = []
        small_admin: list[Timing] = []
        creates: list[Timing] = []
        deletes: list[Timing] = []
        small_creates: list[Timing] = []
        small_deletes: list[Timing] = []
        signin: list[float] = []
        small_signin: list[float] = []
        offered = 0
        try:
            for _ in range(runs):  # each run: both sizes, so drift hits them alike
                took, loaded = big.cold()
                cold.append(took)
                reloads.append(big.reload())
                full_reloads.append(big.full_reload())
                _, small_loaded = small.cold()
                small_reloads.append(small.reload())
                admin.append(consoles[0].edit())
                small_admin.append(consoles[1].edit())
                for console, created, deleted in ((consoles[0], creates, deletes),
                                                  (consoles[1], small_creates, small_deletes)):
                    create, delete = console.create_and_delete()
                    created.append(create)
                    deleted.append(delete)
                per, offered = per_signin(loaded, seconds)
                signin.append(per)
                small_signin.append(per_signin(small_loaded, seconds)[0])
            roles_list = consoles[0].roles_list()
            whole_document = big.whole_document_edit()
        finally:
            for console in consoles:
                console.close()
        raw.update(
            {
                "cold_load_seconds": [wall for wall, _ in cold],
                "cold_load_cpu_seconds": [cpu for _, cpu in cold],
                "reload_seconds": [wall for wall, _ in reloads],
                "reload_cpu_seconds": [cpu for _, cpu in reloads],
                "full_reload_seconds": [wall for wall, _ in full_reloads],
                "full_reload_cpu_seconds": [cpu for _, cpu in full_reloads],
                "baseline_reload_seconds_100_roles": [wall for wall, _ in small_reloads],
                "edit_role_seconds": big.edit_seconds,
                "admin_edit_page_seconds": [wall for wall, _ in admin],
                "admin_edit_page_cpu_seconds": [cpu for _, cpu in admin],
                "baseline_admin_edit_page_seconds_100_roles": [wall for wall, _ in small_admin],
                "admin_create_page_seconds": [wall for wall, _ in creates],
                "admin_create_page_cpu_seconds": [cpu for _, cpu in creates],
                "admin_delete_page_seconds": [wall for wall, _ in deletes],
                "admin_delete_page_cpu_seconds": [cpu for _, cpu in deletes],
                "baseline_admin_create_page_seconds_100_roles": [
                    wall for wall, _ in small_creates],
                "baseline_admin_delete_page_seconds_100_roles": [
                    wall for wall, _ in small_deletes],
                "roles_list_page_seconds": [roles_list[0]],
                "whole_document_edit_seconds": [whole_document],
                "signin_seconds": signin,
                "baseline_signin_seconds_10_rules": small_signin,
                "roles_offered": offered,
            }
        )
    return raw


def measure(runs: int) -> list[Row]:
    """`bench/run`'s rows: reload (goal), cold load (information), rule evaluation (goal)."""
    raw = run(runs, 10_000, 1_000, 0.1 if quick() else 0.5)
    reload = statistics.median(raw["reload_seconds"])
    small = statistics.median(raw["baseline_reload_seconds_100_roles"])
    reload_cpu = statistics.median(raw["reload_cpu_seconds"])
    cold = statistics.median(raw["cold_load_seconds"])
    cold_cpu = statistics.median(raw["cold_load_cpu_seconds"])
    full = statistics.median(raw["full_reload_seconds"])
    full_cpu = statistics.median(raw["full_reload_cpu_seconds"])
    signin = statistics.median(raw["signin_seconds"]) * 1000
    small_signin = statistics.median(raw["baseline_signin_seconds_10_rules"]) * 1000
    edit = statistics.median(raw["admin_edit_page_seconds"])
    edit_cpu = statistics.median(raw["admin_edit_page_cpu_seconds"])
    small_edit = statistics.median(raw["baseline_admin_edit_page_seconds_100_roles"])
    create = statistics.median(raw["admin_create_page_seconds"])
    create_cpu = statistics.median(raw["admin_create_page_cpu_seconds"])
    small_create = statistics.median(raw["baseline_admin_create_page_seconds_100_roles"])
    delete = statistics.median(raw["admin_delete_page_seconds"])
    delete_cpu = statistics.median(raw["admin_delete_page_cpu_seconds"])
    small_delete = statistics.median(raw["baseline_admin_delete_page_seconds_100_roles"])
    return [
        Row(
            path="Scale: snapshot reload after a change, 10,000 roles + 1,000 rules",
            figure=f"{reload * 1000:.0f} ms (CPU {reload_cpu * 1000:.0f} ms)",
            baseline=f"100 roles: {small * 1000:.0f} ms",
            ratio=None,
            goal=f"< {GOAL_RELOAD_S:g} s",
            passed=reload < GOAL_RELOAD_S,
            raw=raw,
        ),
        Row(
            path="Scale: full re-read on reload (a change beyond roles), same size",
            figure=f"{full * 1000:.0f} ms (CPU {full_cpu * 1000:.0f} ms)",
            baseline=f"role-only reload {reload * 1000:.0f} ms",
            ratio=None,
            goal="information",
            passed=True,
            raw={},
        ),
        Row(
            path="Scale: admin: edit one role, 10,000 roles (save + the page it redirects to)",
            figure=f"{edit * 1000:.0f} ms (CPU {edit_cpu * 1000:.0f} ms)",
            baseline=f"100 roles: {small_edit * 1000:.0f} ms",
            ratio=edit / small_edit if small_edit else None,
            goal=f"< {GOAL_ADMIN_EDIT_S:g} s",
            passed=edit < GOAL_ADMIN_EDIT_S,
            raw={},
        ),
        Row(
            path="Scale: admin: create and delete one role, 10,000 roles (each: POST + the "
                 "page it redirects to)",
            figure=f"create {create * 1000:.0f} ms (CPU {create_cpu * 1000:.0f} ms), "
                   f"delete {delete * 1000:.0f} ms (CPU {delete_cpu * 1000:.0f} ms)",
            baseline=f"100 roles: {small_create * 1000:.0f} ms, {small_delete * 1000:.0f} ms",
            ratio=None,
            goal=f"< {GOAL_ADMIN_EDIT_S:g} s each",
            passed=max(create, delete) < GOAL_ADMIN_EDIT_S,
            raw={},
        ),
        Row(
            path="Scale: first (cold) load of the same, every policy compiled",
            figure=f"{cold * 1000:.0f} ms (CPU {cold_cpu * 1000:.0f} ms)",
            baseline=f"reload {reload * 1000:.0f} ms",
            ratio=None,
            goal="information",
            passed=True,
            raw={},
        ),
        Row(
            path="Scale: mapping-rule evaluation per sign-in, 1,000 rules",
            figure=f"{signin:.3f} ms ({raw['roles_offered']} roles offered)",
            baseline=f"10 rules: {small_signin:.3f} ms",
            ratio=None,
            goal=f"< {GOAL_RULES_MS:g} ms",
            passed=signin < GOAL_RULES_MS,
            raw={},
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--roles", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=0.5, help="per rule-evaluation run")
    args = parser.parse_args()
    raw = run(args.runs, args.roles, args.rules, args.seconds)
    print(
        f"python {platform.python_version()}, {raw['cpu']}, {args.roles} roles, "
        f"{args.rules} rules, medians of {args.runs} runs"
    )
    print(f"import through the store API: {raw['import_seconds']['big']:.1f} s (setup)")
    for label, key, scale in (
        ("cold load (ms)", "cold_load_seconds", 1000),
        ("  CPU (ms)", "cold_load_cpu_seconds", 1000),
        ("reload after a change (ms)", "reload_seconds", 1000),
        ("  CPU (ms)", "reload_cpu_seconds", 1000),
        ("  baseline: reload, 100 roles (ms)", "baseline_reload_seconds_100_roles", 1000),
        ("full re-read on reload (ms)", "full_reload_seconds", 1000),
        ("  CPU (ms)", "full_reload_cpu_seconds", 1000),
        ("edit_role of one role (ms)", "edit_role_seconds", 1000),
        ("admin: edit one role, save + page (ms)", "admin_edit_page_seconds", 1000),
        ("  CPU (ms)", "admin_edit_page_cpu_seconds", 1000),
        ("  baseline: 100 roles (ms)", "baseline_admin_edit_page_seconds_100_roles", 1000),
        ("admin: create one role, save + page (ms)", "admin_create_page_seconds", 1000),
        ("  CPU (ms)", "admin_create_page_cpu_seconds", 1000),
        ("  baseline: 100 roles (ms)", "baseline_admin_create_page_seconds_100_roles", 1000),
        ("admin: delete one role, POST + page (ms)", "admin_delete_page_seconds", 1000),
        ("  CPU (ms)", "admin_delete_page_cpu_seconds", 1000),
        ("  baseline: 100 roles (ms)", "baseline_admin_delete_page_seconds_100_roles", 1000),
        ("admin: roles list page (ms)", "roles_list_page_seconds", 1000),
        ("whole-document edit_config (ms)", "whole_document_edit_seconds", 1000),
        ("rules per sign-in (ms)", "signin_seconds", 1000),
        ("  baseline: 10 rules (ms)", "baseline_signin_seconds_10_rules", 1000),
    ):
        print(f"{label:40} {statistics.median(raw[key]) * scale:10.3f}")
    out = ROOT / "bench" / "results" / "scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"python": platform.python_version(), **raw}, indent=2) + "\n")
    print(f"raw numbers: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
