"""The platform under test, as separate processes this suite owns: a private PostgreSQL and
Redis on free ports, `yiwang migrate`, and one `yiwang serve <role>` process per role.

Everything started here is recorded by pid and ended by pid in `Stack.close()` (also on Ctrl-C
and on failure); nothing else on the machine (the shared PostgreSQL on 5432, Redis on 6379) is
ever touched.
"""

from __future__ import annotations

import base64
import glob
import http.client
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field

ROLES = ["catalog", "cases", "supervision", "projects", "alerts", "inbox", "content", "insight", "gateway"]
SERVICES = ["catalog", "cases", "supervision", "projects", "alerts", "inbox", "content", "insight"]
DB_PREFIX = "yf"
REDIS_PREFIX = "yf"


def free_port() -> int:
    """A port nobody listens on right now (the kernel's pick for an ephemeral bind)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def http_get(port: int, path: str, timeout: float = 2.0) -> int:
    """Status of a GET on 127.0.0.1:port, or 0 when nothing answers."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", path)
        st = c.getresponse().status
        c.close()
        return st
    except OSError:
        return 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children_of(pid: int) -> list[int]:
    """Direct children of a pid (from /proc), e.g. the postmaster's backends."""
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                parts = f.read().split(") ", 1)[1].split()
            if int(parts[1]) == pid:
                out.append(int(stat.split("/")[2]))
        except (OSError, IndexError, ValueError):
            pass
    return out


@dataclass
class Postgres:
    """A private cluster: initdb into the temp dir, trust auth, 127.0.0.1 only."""

    root: str
    port: int = field(default_factory=free_port)
    bindir: str = ""
    pid: int = 0
    # Backends seen under the postmaster: after a kill -9 of the postmaster they linger until
    # they notice, and block a new start; they are ours to end.
    known_children: set = field(default_factory=set)

    def __post_init__(self):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                       key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0)
        if not found:
            raise SystemExit("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bindir = os.path.dirname(found[-1])
        self.data = os.path.join(self.root, "pg", "data")
        self.sock = os.path.join(self.root, "pg")
        self.logfile = os.path.join(self.root, "logs", "postgres.log")
        # initdb and postgres refuse to run as root: run them as `postgres` (or `nobody`).
        self.user = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    self.user = pwd.getpwnam(name)
                    break
                except KeyError:
                    pass

    def _cmd(self, argv: list[str]) -> list[str]:
        if self.user is None:
            return argv
        return ["setpriv", f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}",
                "--clear-groups", "--"] + argv

    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def init(self) -> None:
        os.makedirs(self.sock, exist_ok=True)
        if self.user is not None:
            os.chown(self.sock, self.user.pw_uid, self.user.pw_gid)
            # The log file is written by the server, as its user.
            open(self.logfile, "a").close()
            os.chown(self.logfile, self.user.pw_uid, self.user.pw_gid)
        subprocess.run(self._cmd([f"{self.bindir}/initdb", "-D", self.data, "-U", "postgres",
                                  "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "-N"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self, attempts: int = 40) -> None:
        """pg_ctl start (waits until it accepts connections). Retries while a killed
        postmaster's backends still hold the old shared memory."""
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.sock} "
                f"-c max_connections=200 -c shared_buffers=64MB")
        for i in range(attempts):
            r = subprocess.run(self._cmd([f"{self.bindir}/pg_ctl", "-D", self.data, "-l", self.logfile,
                                          "-o", opts, "-w", "-t", "30", "start"]),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode == 0:
                self.pid = self._read_pid()
                return
            if i == 10:
                # Backends of a killed postmaster that still have not exited: end them (ours).
                for c in list(self.known_children):
                    if pid_alive(c):
                        os.kill(c, signal.SIGKILL)
            time.sleep(0.25)
        raise RuntimeError(f"PostgreSQL did not start: {r.stdout[-2000:]}")

    def _read_pid(self) -> int:
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline().strip())

    def remember_children(self) -> None:
        if self.pid:
            self.known_children.update(children_of(self.pid))

    def restart_immediate(self) -> None:
        self.remember_children()
        r = subprocess.run(self._cmd([f"{self.bindir}/pg_ctl", "-D", self.data, "-l", self.logfile,
                                      "-m", "immediate", "-w", "-t", "60", "restart"]),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl restart failed: {r.stdout[-2000:]}")
        self.pid = self._read_pid()

    def kill9(self) -> None:
        self.remember_children()
        if self.pid and pid_alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        deadline = time.time() + 5
        while self.pid and pid_alive(self.pid) and time.time() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(self._cmd([f"{self.bindir}/pg_ctl", "-D", self.data, "-m", "immediate",
                                      "-w", "-t", "20", "stop"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.remember_children()
        for p in [self.pid, *self.known_children]:
            if p and pid_alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def psql(self, db: str, sql: str, timeout: float = 30) -> list[list[str]]:
        """Rows of a query in `<prefix>_<db>` (tab-separated fields)."""
        psql = os.path.join(self.bindir, "psql")
        if not os.path.exists(psql):
            psql = "psql"
        r = subprocess.run([psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            "-d", f"{DB_PREFIX}_{db}", "-X", "-A", "-t", "-F", "\t",
                            "-v", "ON_ERROR_STOP=1", "-f", "-"],
                           input=sql, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"psql {db}: {r.stderr.strip()} in: {sql[:200]}")
        return [line.split("\t") for line in r.stdout.splitlines() if line != ""]

    def scalar(self, db: str, sql: str) -> str:
        rows = self.psql(db, sql)
        return rows[0][0] if rows and rows[0] else ""


@dataclass
class Redis:
    """A private Redis child process (`--daemonize no`), persistence off unless asked."""

    root: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    aof: bool = False

    def __post_init__(self):
        self.dir = os.path.join(self.root, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.logfile = os.path.join(self.root, "logs", "redis.log")

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, aof: bool | None = None) -> None:
        if aof is not None:
            self.aof = aof
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--dir", self.dir, "--daemonize", "no"]
        argv += (["--appendonly", "yes", "--appendfsync", "always"] if self.aof
                 else ["--appendonly", "no"])
        out = open(self.logfile, "a")
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.cli("PING") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def wipe(self) -> None:
        """Drops whatever a restart would load (for 'restarted empty')."""
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir, exist_ok=True)

    def enable_aof(self) -> None:
        """Turns on the append-only file at run time (Redis rewrites the current dataset into
        it), fsync on every write, so a kill -9 and restart keeps everything."""
        self.cli("CONFIG", "SET", "appendfsync", "always")
        self.cli("CONFIG", "SET", "appendonly", "yes")
        deadline = time.time() + 20
        while time.time() < deadline:
            info = self.cli("INFO", "persistence")
            if "aof_rewrite_in_progress:0" in info and "aof_rewrite_scheduled:0" in info \
                    and "aof_enabled:1" in info:
                self.aof = True
                return
            time.sleep(0.1)
        raise RuntimeError("Redis did not finish writing its append-only file")

    def cli(self, *args: str) -> str:
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
        return r.stdout.strip()

    def stop(self) -> None:
        self.kill9()


class Role:
    """One `yiwang serve <role>` process; its log is appended to across restarts."""

    def __init__(self, stack: "Stack", name: str, port: int):
        self.stack, self.name, self.port = stack, name, port
        self.proc: subprocess.Popen | None = None
        self.logfile = os.path.join(stack.root, "logs", f"{name}.log")
        self.restarts = 0

    def start(self) -> None:
        out = open(self.logfile, "a")
        out.write(f"\n===== faults: start {self.name} at {time.strftime('%H:%M:%S')} =====\n")
        out.flush()
        self.proc = subprocess.Popen([self.stack.binary, "serve", self.name], env=self.stack.env,
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(5)

    def ready(self) -> bool:
        # Every role answers HTTP /readyz on its port (the services beside their gRPC API); the
        # gateway's also checks Redis and every service's gRPC health.
        return self.alive() and http_get(self.port, "/readyz", timeout=1.5) == 200

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds until ready; raises if it never gets there."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.ready():
                return time.time() - t0
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.logfile}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout:.0f} s; see {self.logfile}")

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Stack:
    """PostgreSQL + Redis + every role as its own process, on free ports."""

    def __init__(self, binary: str, root: str):
        self.binary = binary
        self.root = root
        os.makedirs(os.path.join(root, "logs"), exist_ok=True)
        self.pg = Postgres(root)
        self.redis = Redis(root)
        self.secret = secrets.token_hex(16)
        self.ports = {r: free_port() for r in ROLES}
        self.roles = {r: Role(self, r, self.ports[r]) for r in ROLES}
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("YIWANG_", "OTEL_")) and k not in ("DATABASE_URL", "REDIS_URL")}
        env.update({
            "DATABASE_URL": self.pg.url(),
            "YIWANG_DB_PREFIX": DB_PREFIX,
            "YIWANG_DB_MAX_CONNECTIONS": "8",
            "REDIS_URL": self.redis.url(),
            "YIWANG_REDIS_PREFIX": REDIS_PREFIX,
            "YIWANG_JWT_SECRET": self.secret,
            "YIWANG_DATA_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            # The load is one client per role account; rate limits would only add 429s.
            "YIWANG_RATE_LIMIT": "0",
            "YIWANG_LOG_FORMAT": "json",
            "RUST_LOG": os.environ.get("RUST_LOG", "info"),
        })
        for r in ROLES:
            env[f"YIWANG_{r.upper()}_ADDR"] = f"127.0.0.1:{self.ports[r]}"
            if r != "gateway":
                env[f"YIWANG_{r.upper()}_URL"] = f"http://127.0.0.1:{self.ports[r]}"
        self.env = env
        self.closed = False

    @property
    def gateway(self) -> int:
        return self.ports["gateway"]

    def boot(self) -> None:
        log(f"PostgreSQL {self.pg.bindir.split('/')[-2]} on :{self.pg.port}, Redis on :{self.redis.port}")
        self.pg.init()
        self.pg.start()
        self.redis.start(aof=False)
        r = subprocess.run([self.binary, "migrate"], env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"yiwang migrate failed:\n{r.stdout[-3000:]}")
        for name in ROLES:
            self.roles[name].start()
        for name in ROLES:
            self.roles[name].wait_ready(120)
        log("every role ready: " + ", ".join(f"{r} :{p}" for r, p in self.ports.items()))

    def token(self, sub: str, roles: str, dept: str | None = None) -> str:
        argv = [self.binary, "token", "--sub", sub, "--roles", roles, "--name", sub, "--ttl", "86400"]
        if dept:
            argv += ["--dept", dept]
        r = subprocess.run(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, check=True)
        return r.stdout.strip()

    def ensure_up(self, timeout: float = 60) -> list[str]:
        """Before a scenario: every role running and ready (restarting any that died in an
        earlier one). Returns what had to be done, for the notes."""
        done = []
        for name in ROLES:
            role = self.roles[name]
            if not role.alive():
                done.append(f"{name} had exited; restarted")
                role.start()
        t0 = time.time()
        for name in ROLES:
            try:
                self.roles[name].wait_ready(max(5, timeout - (time.time() - t0)))
            except RuntimeError as e:
                done.append(str(e))
        return done

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for name in reversed(ROLES):
            try:
                self.roles[name].stop()
            except Exception:  # noqa: BLE001 - cleanup goes on whatever happens
                pass
        for part in (self.redis, self.pg):
            try:
                part.stop()
            except Exception:  # noqa: BLE001
                pass


def short_json_log(line: str) -> str:
    """A JSON log line as `LEVEL message key=value…` (for evidence in notes)."""
    try:
        j = json.loads(line)
    except ValueError:
        return line[:300]
    fields = j.get("fields", {})
    msg = fields.pop("message", "")
    rest = " ".join(f"{k}={v}" for k, v in fields.items())
    return f"{j.get('level', '')} {msg} {rest}"[:300]
