"""A real Nautobot for the integration tests: PostgreSQL, Redis, web server and Celery worker.

Everything listens on loopback and is stopped when the tests end. The first run of each release
(3.2, or the long-term 2.4: testbed/nautobot_releases.py) migrates an empty database into a
template of its own (about 7 minutes on two cores); every later run copies the template, which
takes seconds. This checkout reaches Nautobot the way it reaches a user's Nautobot: as a Git
repository, served over HTTP and synced by Nautobot's own worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from testbed.nautobot_machine import (
    EVENTS_URL,
    REDIS_BROKER_DB,
    REDIS_CACHE_DB,
    REDIS_HOST,
    REDIS_PORT,
    TEST_DATABASE,
    TESTBED,
    StackError,
    free_port,
    log_tail,
    machine_lock,
    run_sql,
    services_reachable,
)
from testbed.nautobot_processes import GitRemote, Process
from testbed.nautobot_releases import NautobotRelease, release
from testbed.nautobot_template import base_env, ensure_template, template_name

__all__ = [
    "ADMIN_TOKEN",
    "BOT_TOKEN",
    "BOT_USERNAME",
    "EMAIL_REGEX",
    "EVENTS_URL",
    "EVERY_VARIABLE_JOB",
    "JOB_NAME",
    "REDIS_CACHE_DB",
    "REDIS_HOST",
    "REDIS_PORT",
    "NautobotStack",
    "StackError",
    "free_port",
    "machine_lock",
    "services_reachable",
    "template_name",
]


ADMIN_TOKEN = "0123456789abcdef0123456789abcdef01234567"
BOT_TOKEN = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
BOT_USERNAME = "chatops-bot"
"""The bot's Nautobot user (testbed/provision_nautobot.py creates it); the Job trusts its requested_by."""
JOB_NAME = "Create Meraki User"
REPO_SLUG = "meraki_chatops"
TEST_JOBS = TESTBED / "nautobot_test_jobs"
"""Jobs that exist only for the tests (e.g. one declaring every variable type), synced as a repository of their own."""
TEST_JOBS_SLUG = "meraki_chatops_test_jobs"
EVERY_VARIABLE_JOB = "Every Variable Type"
EMAIL_REGEX = r"^[A-Za-z0-9._%+-]+@example\.(com|org)$"


@dataclass
class NautobotStack:
    """Nautobot web server and worker on a fresh copy of the migrated template."""

    workdir: Path
    checkout: Path
    meraki_env: dict[str, str]
    release: NautobotRelease = field(default_factory=release)
    port: int = field(default_factory=free_port)
    web: Process | None = None
    worker: Process | None = None
    beat: Process | None = None
    job_id: str = ""
    """Create Meraki User's ID (``job_ids[JOB_NAME]``)."""
    job_ids: dict[str, str] = field(default_factory=dict)
    """Every Job the repository provides, by name; all of them are enabled after a sync."""
    repository_id: str = ""
    test_job_ids: dict[str, str] = field(default_factory=dict)
    """The test-only Jobs (testbed/nautobot_test_jobs), by name, enabled."""

    def __post_init__(self) -> None:
        self.root = self.workdir / "nautobot-root"
        self.git = GitRemote(self.checkout, self.workdir)
        self.test_jobs_git = GitRemote(TEST_JOBS, self.workdir / "test-jobs", name="meraki-chatops-test-jobs")
        self.url = f"http://127.0.0.1:{self.port}"
        self.worker_overrides: dict[str, str | None] = {}
        self.job_overrides: dict[str, str | None] = {}
        """Environment changes both the web server (it builds the Jobs' forms) and the worker (it runs them) see."""

    # -- clients -----------------------------------------------------------------------------
    def client(self, token: str = BOT_TOKEN, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Token {token}", "Accept": f"application/json; version={self.release.api_version}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 30), **kwargs)

    @property
    def admin(self) -> httpx.Client:
        if not hasattr(self, "_admin"):
            self._admin = self.client(ADMIN_TOKEN)
        return self._admin

    # -- lifecycle ---------------------------------------------------------------------------
    def env(self, overrides: dict[str, str | None] | None = None) -> dict[str, str]:
        env = base_env(self.root, TEST_DATABASE, self.release)
        env.update(self.meraki_env)
        for key, value in (overrides or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def start(self) -> NautobotStack:
        self.root.mkdir(parents=True, exist_ok=True)
        template = ensure_template(self.root, self.workdir / "migrate.log", self.release)
        run_sql(f'DROP DATABASE IF EXISTS "{TEST_DATABASE}" WITH (FORCE)')
        run_sql(f'CREATE DATABASE "{TEST_DATABASE}" TEMPLATE "{template}"')
        self._flush_redis()
        self._manage("migrate", "--no-input")  # a no-op on the template, but catches a stale one
        self._manage(
            "shell",
            "--command",
            (TESTBED / "provision_nautobot.py").read_text(),
            env={"TEST_ADMIN_TOKEN": ADMIN_TOKEN, "TEST_BOT_TOKEN": BOT_TOKEN},
        )
        self.web = Process(
            "web",
            [self.release.server, "runserver", f"127.0.0.1:{self.port}", "--noreload", "--skip-checks"],
            self.workdir / "web.log",
        )
        self.web.start(self.env(self.job_overrides))
        self.start_worker()
        self.wait_for_web()
        self.sync_repository()
        self.sync_test_jobs()
        return self

    def stop(self) -> None:
        for process in (self.beat, self.worker, self.web):
            if process is not None:
                process.stop()
        self.git.stop()
        self.test_jobs_git.stop()
        if hasattr(self, "_admin"):
            self._admin.close()

    def _flush_redis(self) -> None:
        import redis

        for db in (REDIS_CACHE_DB, REDIS_BROKER_DB):
            redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db).flushdb()

    def flush_cache(self, pattern: str = "*meraki_chatops*") -> None:
        """Forget what Nautobot cached under ``pattern`` (web server and worker share the cache)."""
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_CACHE_DB)
        for key in client.scan_iter(pattern):
            client.delete(key)

    def _manage(self, *args: str, env: dict[str, str] | None = None) -> None:
        log = self.workdir / "manage.log"
        with log.open("ab") as out:
            argv = [self.release.server, *args]
            done = subprocess.run(argv, env={**self.env(), **(env or {})}, stdout=out, stderr=out)
        if done.returncode != 0:
            raise StackError(f"nautobot-server {args[0]} failed:\n{log_tail(log)}")

    def start_worker(self, overrides: dict[str, str | None] | None = None) -> None:
        """(Re)start the Celery worker, optionally with a changed environment."""
        if self.worker is not None:
            self.worker.stop()
        self.worker_overrides = dict(overrides or {})
        ready = self.root / "worker-ready"
        ready.unlink(missing_ok=True)
        self.worker = Process(
            "worker",
            [
                self.release.server,
                "celery",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--without-mingle",
                "--without-gossip",
            ],
            self.workdir / "worker.log",
            stop_signal=signal.SIGQUIT,
        )
        self.worker.start(self.env({**self.job_overrides, **self.worker_overrides}))
        self._wait_for_worker()

    @contextlib.contextmanager
    def scheduler(self) -> Iterator[None]:
        """Run the block with Celery beat, Nautobot's scheduler: it starts scheduled and approved runs."""
        self.beat = Process(
            "beat",
            [self.release.server, "celery", "beat", "--loglevel", "INFO"],
            self.workdir / "beat.log",
            stop_signal=signal.SIGTERM,
        )
        self.beat.start(self.env())
        try:
            yield
        finally:
            self.beat.stop()
            self.beat = None

    @contextlib.contextmanager
    def web_frozen(self) -> Iterator[None]:
        """Run the block with the web server stopped mid-stride: requests are taken in but not answered."""
        os.killpg(self.web.popen.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(self.web.popen.pid, signal.SIGCONT)

    @contextlib.contextmanager
    def web_down(self) -> Iterator[None]:
        """Run the block with Nautobot's web server (its whole API) stopped; the worker keeps going."""
        self.web.stop()
        try:
            yield
        finally:
            self.web.start(self.env(self.job_overrides))
            self.wait_for_web()

    @contextlib.contextmanager
    def job_env(self, **overrides: str | None) -> Iterator[None]:
        """Run the block with the web server and the worker both seeing a different environment (None removes a
        variable): a Job's choices come from the web server's, its runs from the worker's."""
        previous = self.job_overrides
        self.job_overrides = {**previous, **overrides}
        try:
            self.restart_web()
            self.start_worker(self.worker_overrides)
            yield
        finally:
            self.job_overrides = previous
            self.restart_web()
            self.start_worker(self.worker_overrides)

    def restart_web(self) -> None:
        self.web.stop()
        self.web.start(self.env(self.job_overrides))
        self.wait_for_web()

    @contextlib.contextmanager
    def worker_env(self, **overrides: str | None) -> Iterator[None]:
        """Run the block with a worker whose environment differs (None removes a variable)."""
        self.start_worker(overrides)
        try:
            yield
        finally:
            self.start_worker()

    def _wait(self, what: str, ready, process: Process, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process.alive():
                raise StackError(f"Nautobot {what} exited early:\n{log_tail(process.log)}")
            with contextlib.suppress(httpx.HTTPError):
                if ready():
                    return
            time.sleep(0.5)
        raise StackError(f"Nautobot {what} not ready after {timeout:.0f} s:\n{log_tail(process.log)}")

    def wait_for_web(self) -> None:
        self._wait("web server", lambda: self.admin.get("/api/status/").status_code == 200, self.web, 180)

    def _wait_for_worker(self) -> None:
        def ready() -> bool:
            status = self.admin.get("/api/status/")
            return status.status_code == 200 and status.json().get("celery-workers-running", 0) > 0

        self.wait_for_web()
        self._wait("worker", ready, self.worker, 180)

    # -- the repository and the Job --------------------------------------------------------------
    def wait_for_result(self, result_id: str, *, client: httpx.Client | None = None, timeout: float = 120) -> dict:
        client = client or self.admin
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = client.get(f"/api/extras/job-results/{result_id}/").raise_for_status().json()
            if result["status"]["value"] in {"SUCCESS", "FAILURE", "REVOKED"}:
                return result
            time.sleep(0.3)
        raise StackError(f"JobResult {result_id} not finished after {timeout:.0f} s:\n{log_tail(self.worker.log)}")

    def sync_repository(self) -> None:
        """Publish the checkout and have Nautobot (re)sync it, as a user does after a push."""
        self.repository_id = self._sync(self.git, "meraki-chatops", REPO_SLUG, self.repository_id)
        self.job_ids = self._enable_jobs(REPO_SLUG)
        if JOB_NAME not in self.job_ids:
            raise StackError(f"after the sync no Job named {JOB_NAME!r} exists:\n{log_tail(self.worker.log)}")
        self.job_id = self.job_ids[JOB_NAME]

    def sync_test_jobs(self) -> None:
        """The test-only Jobs, from a Git repository of their own, each enabled."""
        self._sync(self.test_jobs_git, "meraki-chatops-test-jobs", TEST_JOBS_SLUG, "")
        self.test_job_ids = self._enable_jobs(TEST_JOBS_SLUG)
        if not self.test_job_ids:
            raise StackError(f"the test Jobs' repository gave no Job:\n{log_tail(self.worker.log)}")

    def _enable_jobs(self, slug: str) -> dict[str, str]:
        """Enable every Job of the Git repository ``slug`` (Jobs start disabled); their ids by name."""
        jobs = self.admin.get("/api/extras/jobs/", params={"limit": 0}).raise_for_status().json()["results"]
        ids = {job["name"]: job["id"] for job in jobs if job["module_name"].startswith(f"{slug}.jobs.")}
        for job_id in ids.values():
            self.admin.patch(f"/api/extras/jobs/{job_id}/", json={"enabled": True}).raise_for_status()
        return ids

    def _sync(self, git: GitRemote, name: str, slug: str, repository_id: str) -> str:
        """Publish ``git``'s files, add them to Nautobot as a Git repository of Jobs (once) and sync; its id."""
        remote = git.publish()
        if not repository_id:
            created = self.admin.post(
                "/api/extras/git-repositories/",
                json={
                    "name": name,
                    "slug": slug,
                    "remote_url": remote,
                    "branch": "main",
                    "provided_contents": ["extras.job"],
                },
            )
            if created.status_code != 201:
                raise StackError(f"creating the Git repository {name} failed: {created.status_code} {created.text}")
            repository_id = created.json()["id"]
        synced = self.admin.post(f"/api/extras/git-repositories/{repository_id}/sync/")
        if synced.status_code not in (200, 201):
            raise StackError(f"syncing the Git repository {name} failed: {synced.status_code} {synced.text}")
        result = self.wait_for_result(synced.json()["job_result"]["id"])
        if result["status"]["value"] != "SUCCESS":
            logs = self.admin.get(f"/api/extras/job-results/{result['id']}/logs/").json()
            lines = "\n".join(f"{e['log_level']}: {e['message']}" for e in logs)
            raise StackError(
                f"Git repository {name} sync ended {result['status']['value']}:\n{lines}\n{log_tail(self.worker.log)}"
            )
        return repository_id

    def set_job_enabled(self, enabled: bool, name: str = JOB_NAME) -> None:
        self.admin.patch(f"/api/extras/jobs/{self.job_ids[name]}/", json={"enabled": enabled}).raise_for_status()
