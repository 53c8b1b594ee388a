"""A real Nautobot for the integration tests: PostgreSQL, Redis, web server and Celery worker.

Everything listens on loopback and is stopped when the tests end. The first run of each release
(3.2, or the long-term 2.4: testbed/nautobot_releases.py) migrates an empty database into a
template of its own (about 7 minutes on two cores); every later run copies the template, which
takes seconds. This checkout reaches Nautobot the way it reaches a user's Nautobot: as a Git
repository, served over HTTP and synced by Nautobot's own worker.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg2

from testbed.nautobot_releases import NautobotRelease, ReleaseError, release

TESTBED = Path(__file__).resolve().parent
CHECKOUT = TESTBED.parent
"""The repository root: the checkout Nautobot syncs as a Git repository."""

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# Redis databases of our own, so nothing else on the machine shares the Celery queue or the cache.
REDIS_CACHE_DB, REDIS_BROKER_DB = 10, 11
EVENTS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/12"
"""Where the test Nautobot publishes its events. Pub/sub channels are server-wide: the number only names the URL."""
TEST_DATABASE = "meraki_chatops_nautobot_test"
LOCK_FILE = Path("/tmp/meraki-chatops-nautobot.lock")

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


class StackError(RuntimeError):
    """Nautobot could not be started; the message carries the relevant log lines."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def services_reachable() -> list[str]:
    """Names of the machine services that do not answer (empty when both do)."""
    missing = []
    for name, port in (("PostgreSQL", PG["port"]), ("Redis", REDIS_PORT)):
        with socket.socket() as s:
            s.settimeout(2)
            if s.connect_ex(("127.0.0.1", port)) != 0:
                missing.append(f"{name} on 127.0.0.1:{port}")
    return missing


def template_name(nautobot: NautobotRelease) -> str:
    """Name of the migrated template: a new Nautobot or app version means a new migration."""
    versions = nautobot.versions()
    config = (TESTBED / "nautobot_config.py").read_bytes()
    digest = hashlib.sha256(versions.encode() + config).hexdigest()[:10]
    return f"meraki_chatops_nautobot_tpl_{digest}"


@contextlib.contextmanager
def machine_lock(timeout: float = 1800) -> Iterator[None]:
    """One Nautobot stack per machine at a time: they share PostgreSQL names and Redis databases."""
    with LOCK_FILE.open("a+") as handle:
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StackError(f"another test Nautobot ({_holder(handle)}) held {LOCK_FILE} too long") from None
                if not announced:
                    print(f"waiting for another test Nautobot ({_holder(handle)}) to stop", file=sys.stderr)
                    announced = True
                time.sleep(1)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _holder(handle) -> str:
    handle.seek(0)
    return handle.read().strip() or "unknown process"


def _sql(statement: str, *, database: str = "postgres") -> list[tuple]:
    connection = psycopg2.connect(dbname=database, **PG)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def _database_exists(name: str) -> bool:
    return bool(_sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"))


def base_env(root: Path, database: str, nautobot: NautobotRelease) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NAUTOBOT_", "MERAKI_"))}
    env.update(
        NAUTOBOT_CONFIG=str(TESTBED / "nautobot_config.py"),
        NAUTOBOT_ROOT=str(root),
        NAUTOBOT_DB_NAME=database,
        NAUTOBOT_DB_USER=PG["user"],
        NAUTOBOT_DB_HOST=PG["host"],
        NAUTOBOT_DB_PORT=str(PG["port"]),
        NAUTOBOT_DB_TIMEOUT="0",
        NAUTOBOT_REDIS_HOST=REDIS_HOST,
        NAUTOBOT_REDIS_PORT=str(REDIS_PORT),
        NAUTOBOT_TEST_CACHE_URL=f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_CACHE_DB}",
        NAUTOBOT_CELERY_BROKER_URL=f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_BROKER_DB}",
        NAUTOBOT_TEST_EVENTS_URL=EVENTS_URL,
        NAUTOBOT_SECRET_KEY="meraki-chatops-tests-only-" + "x" * 40,
        NAUTOBOT_CELERY_WORKER_HEARTBEAT_FILE=str(root / "worker-heartbeat"),
        NAUTOBOT_CELERY_WORKER_READINESS_FILE=str(root / "worker-ready"),
        PATH=f"{nautobot.bin}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    return env


def ensure_template(root: Path, log: Path, nautobot: NautobotRelease) -> str:
    """Build the release's venv and migrate an empty database into its template once; later calls return at once."""
    try:
        nautobot.install(log)
    except ReleaseError as exc:
        raise StackError(f"{exc}:\n{_tail(log)}") from None
    name = template_name(nautobot)
    if _database_exists(name):
        return name
    building = f"{name}_building"
    _sql(f'DROP DATABASE IF EXISTS "{building}"')
    _sql(f'CREATE DATABASE "{building}"')
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("ab") as out:
        done = subprocess.run(
            [nautobot.server, "migrate", "--no-input"], env=base_env(root, building, nautobot), stdout=out, stderr=out
        )
    if done.returncode != 0:
        raise StackError(f"nautobot-server migrate failed:\n{_tail(log)}")
    # A rename is atomic: a template under its final name is always completely migrated.
    _sql(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    print(f"migrated Nautobot template {name} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return name


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class GitRemote:
    """This checkout's files, committed into a bare repository served over git's dumb HTTP protocol.

    The working tree is snapshotted (committed and uncommitted files, minus ignored ones), so the
    tests exercise the code as it is on disk, not only what has been committed.
    """

    def __init__(self, checkout: Path, workdir: Path, name: str = "meraki-chatops"):
        self.checkout = checkout
        self.workdir = workdir
        self.name = name
        self.server: ThreadingHTTPServer | None = None

    def _git(self, *args: str, cwd: Path) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "tests",
            "GIT_AUTHOR_EMAIL": "tests@example.com",
            "GIT_COMMITTER_NAME": "tests",
            "GIT_COMMITTER_EMAIL": "tests@example.com",
        }
        return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout

    def publish(self) -> str:
        snapshot = self.workdir / "snapshot"
        served = self.workdir / "served"
        for folder in (snapshot, served):
            shutil.rmtree(folder, ignore_errors=True)
        snapshot.mkdir(parents=True)
        files = self._git("ls-files", "-co", "--exclude-standard", "-z", cwd=self.checkout).split("\0")
        for relative in filter(None, files):
            source = self.checkout / relative
            if source.is_file():
                target = snapshot / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        self._git("init", "-q", "-b", "main", cwd=snapshot)
        self._git("add", "-A", cwd=snapshot)
        self._git("commit", "-q", "-m", "checkout snapshot", cwd=snapshot)
        served.mkdir()
        bare = served / f"{self.name}.git"
        self._git("clone", "-q", "--bare", str(snapshot), str(bare), cwd=self.workdir)
        self._git("update-server-info", cwd=bare)
        if self.server is None:
            handler = partial(_QuietHandler, directory=str(served))
            self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            threading.Thread(target=self.server.serve_forever, daemon=True, name="git-remote").start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/{self.name}.git"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    # The dev server exits on Ctrl-C; Celery's cold shutdown does not wait out its warm-shutdown grace.
    stop_signal: int = signal.SIGINT
    popen: subprocess.Popen | None = None

    def start(self, env: dict[str, str]) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, self.stop_signal)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        self.popen = None


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
        _sql(f'DROP DATABASE IF EXISTS "{TEST_DATABASE}" WITH (FORCE)')
        _sql(f'CREATE DATABASE "{TEST_DATABASE}" TEMPLATE "{template}"')
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
        self.web.start(self.env())
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
            raise StackError(f"nautobot-server {args[0]} failed:\n{_tail(log)}")

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
        self.worker.start(self.env(self.worker_overrides))
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
            self.web.start(self.env())
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
                raise StackError(f"Nautobot {what} exited early:\n{_tail(process.log)}")
            with contextlib.suppress(httpx.HTTPError):
                if ready():
                    return
            time.sleep(0.5)
        raise StackError(f"Nautobot {what} not ready after {timeout:.0f} s:\n{_tail(process.log)}")

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
        raise StackError(f"JobResult {result_id} not finished after {timeout:.0f} s:\n{_tail(self.worker.log)}")

    def sync_repository(self) -> None:
        """Publish the checkout and have Nautobot (re)sync it, as a user does after a push."""
        self.repository_id = self._sync(self.git, "meraki-chatops", REPO_SLUG, self.repository_id)
        self.job_ids = self._enable_jobs(REPO_SLUG)
        if JOB_NAME not in self.job_ids:
            raise StackError(f"after the sync no Job named {JOB_NAME!r} exists:\n{_tail(self.worker.log)}")
        self.job_id = self.job_ids[JOB_NAME]

    def sync_test_jobs(self) -> None:
        """The test-only Jobs, from a Git repository of their own, each enabled."""
        self._sync(self.test_jobs_git, "meraki-chatops-test-jobs", TEST_JOBS_SLUG, "")
        self.test_job_ids = self._enable_jobs(TEST_JOBS_SLUG)
        if not self.test_job_ids:
            raise StackError(f"the test Jobs' repository gave no Job:\n{_tail(self.worker.log)}")

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
                f"Git repository {name} sync ended {result['status']['value']}:\n{lines}\n{_tail(self.worker.log)}"
            )
        return repository_id

    def set_job_enabled(self, enabled: bool, name: str = JOB_NAME) -> None:
        self.admin.patch(f"/api/extras/jobs/{self.job_ids[name]}/", json={"enabled": enabled}).raise_for_status()


def main() -> None:
    """``python -m testbed.nautobot_stack [template|serve]``, from the repository root.

    ``template`` builds the migrated template ahead of a test run; ``serve`` starts the whole
    stack with a seeded Meraki stand-in and keeps it up until interrupted, to explore by hand.
    ``TEST_NAUTOBOT=2.4`` picks the long-term release instead of 3.2.
    """
    command = sys.argv[1] if len(sys.argv) > 1 else "template"
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"meraki-chatops-{command}"
    workdir.mkdir(parents=True, exist_ok=True)
    with machine_lock():
        if command == "template":
            print(ensure_template(workdir / "root", workdir / "migrate.log", release()))
            return
        from testbed.meraki_standin import MerakiStandIn
        from testbed.seed import seed

        with MerakiStandIn() as meraki:
            seed(meraki)
            stack = NautobotStack(
                workdir=workdir,
                checkout=CHECKOUT,
                meraki_env={
                    "MERAKI_BASE_URL": meraki.base_url,
                    "MERAKI_DASHBOARD_API_KEY": meraki.api_key,
                    "NAUTOBOT_JOB_MERAKI_EMAIL_VALIDATION_REGEX": EMAIL_REGEX,
                    "NAUTOBOT_JOB_MERAKI_BOT_USERS": BOT_USERNAME,
                },
            )
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                stack.start()
                print(
                    f"Nautobot {stack.url} (admin token {ADMIN_TOKEN}, bot token {BOT_TOKEN}), "
                    f"Meraki stand-in {meraki.base_url}, logs in {workdir}; Ctrl-C stops it",
                    flush=True,
                )
                signal.sigwait({signal.SIGINT, signal.SIGTERM})
            finally:
                stack.stop()


if __name__ == "__main__":
    # Run as a file (``python testbed/nautobot_stack.py``), only this folder is on sys.path;
    # the modules main() imports are reached as ``testbed``, from the repository root.
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    main()
