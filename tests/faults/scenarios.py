"""The fault scenarios: a bounded load of one write, a fault in the middle of it, the restart,
then the counts. Each returns a `Row` for the report."""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

from clients import RETRY_DEADLINE, Recorder, Rest
from stack import REDIS_PREFIX, ROLES, Stack, log, short_json_log
from workloads import (AlertBatches, Approvals, CatalogItems, Filings, Inspections, Reviews, Shared,
                       Verdict, Workload, sql_list)

# Seconds a killed process stays down before it is started again (a supervisor's restart delay).
DOWN_SECS = 1.0
# Where in the load window the fault strikes.
FAULT_AT = 0.4
RECOVERY_TARGET = 5.0


@dataclass
class Row:
    name: str
    what: str
    acked: int = 0
    lost: int = 0
    dups: int = 0
    effects: str = ""
    recovery: float | None = None
    n500: int = 0
    n5xx: int = 0
    answers: Counter = field(default_factory=Counter)
    samples: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    evidence: list = field(default_factory=list)
    recovery_applies: bool = True
    # Seconds from the restart until the last write that was in flight at the fault was
    # acknowledged (a client caught by the fault waits this long).
    inflight: float | None = None

    def judge(self, v: Verdict, unacked: int) -> None:
        if self.lost:
            self.failures.append(f"{self.lost} lost")
        if self.dups:
            self.failures.append(f"{self.dups} duplicates")
        if self.recovery_applies and (self.recovery is None or self.recovery > RECOVERY_TARGET):
            self.failures.append("recovery " + ("never" if self.recovery is None else f"{self.recovery:.1f} s"))
        if self.inflight is not None and self.inflight > RECOVERY_TARGET:
            self.failures.append(f"writes in flight at the fault waited {self.inflight:.1f} s after the restart")
        if self.n500:
            self.failures.append(f"{self.n500}× 500")
        if not v.effects_ok:
            self.failures.append("effects not exactly once")
        if unacked:
            self.failures.append(f"{unacked} writes never acknowledged")


# name -> (description, workload class, fault kind, target)
SCENARIOS = {
    "kill-catalog": ("kill -9 catalog during item creation (POST /v1/items)", CatalogItems, "role", "catalog"),
    "kill-cases": ("kill -9 cases during filings (POST /v1/cases)", Filings, "role", "cases"),
    "kill-supervision": ("kill -9 supervision during inspection records (POST /v1/supervision/inspections)",
                         Inspections, "role", "supervision"),
    "kill-projects": ("kill -9 projects during expert reviews and proposals", Reviews, "role", "projects"),
    "kill-alerts": ("kill -9 alerts during StreamEvents batches (gRPC)", AlertBatches, "role", "alerts"),
    "kill-gateway": ("kill -9 gateway during filings (POST /v1/cases)", Filings, "role", "gateway"),
    "pg-restart": ("PostgreSQL `pg_ctl restart -m immediate` during filings", Filings, "pg-restart", None),
    "pg-kill": ("PostgreSQL postmaster kill -9, then started again, during filings", Filings, "pg-kill", None),
    "consumer-kill": ("kill -9 supervision (the cases.case.decided consumer) while licence approvals flow, "
                      "caught between a committed follow-up task and its stream acknowledgement (stopped "
                      "1.5 s so events queue, resumed, Redis writes paused so XACK waits, then killed)",
                      Approvals, "role", "supervision"),
    "redis-restart-data": ("Redis kill -9 and restart with its data (AOF) during licence approvals",
                           Approvals, "redis-data", None),
    "redis-restart-empty": ("Redis kill -9 and restart empty during licence approvals", Approvals,
                            "redis-empty", None),
}


class LogWatch:
    """New ERROR/WARN lines the roles log during one scenario (evidence for the report)."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.offsets = {r: self._size(r) for r in ROLES}

    def _size(self, role: str) -> int:
        try:
            return os.path.getsize(self.stack.roles[role].logfile)
        except OSError:
            return 0

    def collect(self) -> tuple[list, dict]:
        lines, counts = [], {}
        for role in ROLES:
            try:
                with open(self.stack.roles[role].logfile, errors="replace") as f:
                    f.seek(self.offsets[role])
                    new = f.read().splitlines()
            except OSError:
                continue
            seen = Counter()
            examples = {}
            for line in new:
                lvl = "ERROR" if '"level":"ERROR"' in line else "WARN" if '"level":"WARN"' in line else \
                    "PANIC" if "panicked" in line else None
                if not lvl:
                    continue
                msg = short_json_log(line)
                sig = (lvl, msg.split(" error=")[0][:120])
                seen[sig] += 1
                examples.setdefault(sig, msg)
            for (lvl, _), n in seen.items():
                counts[(role, lvl)] = counts.get((role, lvl), 0) + n
            for sig, n in seen.most_common(4):
                lines.append(f"{role} ×{n}: {examples[sig]}")
        return lines, counts


def run_load(w: Workload, rec: Recorder, port: int, seconds: float, clients: int, fault) -> dict:
    """`clients` threads write units until `seconds` have passed; `fault()` runs at FAULT_AT of
    the window in this thread and returns its timestamps. Writes in flight at the end finish
    (each bounded by its retry deadline)."""
    stop = threading.Event()

    def client(tid: int):
        rest = Rest(port, rec)
        while not stop.is_set():
            unit = w.new_unit(tid)
            unit.extra["t0"] = time.time()
            try:
                w.write(unit, rest, rec, tid)
            except Exception as e:  # noqa: BLE001 - a client bug must not hang the scenario
                rec.give_up(unit, f"client error {type(e).__name__}: {e}")
                time.sleep(0.5)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    t0 = time.time()
    for t in threads:
        t.start()
    times: dict = {}
    try:
        time.sleep(seconds * FAULT_AT)
        times = fault() if fault else {}
        rest_of_window = t0 + seconds - time.time()
        if rest_of_window > 0:
            time.sleep(rest_of_window)
    finally:
        # Also when the fault itself failed: no client may outlive its scenario.
        stop.set()
        # Each write in flight gives up by its own deadline (three steps for an approval).
        end = time.time() + 3 * RETRY_DEADLINE + 15
        for t in threads:
            t.join(timeout=max(0.0, end - time.time()))
    times["hung_clients"] = sum(1 for t in threads if t.is_alive())
    return times


def readiness_watch(stack: Stack, role: str, since: float, out: dict) -> threading.Thread:
    """Notes when a restarted role answers /readyz again."""

    def watch():
        while time.time() - since < 120:
            if stack.roles[role].ready():
                out["ready_after"] = time.time() - since
                return
            time.sleep(0.1)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def task_watch(stack: Stack, since: float, out: dict) -> threading.Thread:
    """Notes when the restarted consumer creates its first follow-up task."""

    def watch():
        try:
            base = int(stack.pg.scalar("supervision", "SELECT count(*) FROM tasks"))
        except RuntimeError:
            return
        while time.time() - since < 120:
            try:
                if int(stack.pg.scalar("supervision", "SELECT count(*) FROM tasks")) > base:
                    out["first_task_after"] = time.time() - since
                    return
            except RuntimeError:
                pass
            time.sleep(0.25)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def catch_between_effect_and_ack(stack: Stack, pid: int) -> None:
    """Puts the consumer where the kill must find it: with a task committed and its stream
    entry not acknowledged. Stopped (SIGSTOP) for a moment, decided events queue up; resumed,
    it works through them; then Redis holds writes (CLIENT PAUSE WRITE, so XACK waits while
    PostgreSQL commits go on) and the kill follows while it waits. Left alone, a fast consumer
    is almost never inside that window."""
    os.kill(pid, signal.SIGSTOP)
    time.sleep(1.5)
    os.kill(pid, signal.SIGCONT)
    time.sleep(0.15)
    stack.redis.cli("CLIENT", "PAUSE", "5000", "WRITE")
    time.sleep(0.4)


def pending_effects(stack: Stack, pid: int) -> str:
    """Right after the consumer died: the cases.case.decided entries it had read but not
    acknowledged, and how many of those already had their effect committed (the kill fell
    between effect and acknowledgement)."""
    key = f"{{{REDIS_PREFIX}:events}}:cases.case.decided"
    lines = stack.redis.cli("XPENDING", key, "supervision", "-", "+", "1000").splitlines()
    # Four lines per entry: id, consumer (`<hostname>-<pid>`), idle ms, deliveries.
    rows = [lines[i:i + 4] for i in range(0, len(lines) - 3, 4)]
    entries = [r[0] for r in rows if r[1].endswith(f"-{pid}")]
    event_ids = []
    for entry in entries:
        fields = stack.redis.cli("XRANGE", key, entry, entry).splitlines()
        for i, f in enumerate(fields[:-1]):
            if f == "id":
                event_ids.append(fields[i + 1])
                break
    if not event_ids:
        return "no decided event was pending (read, unacknowledged) at the kill"
    done = stack.pg.scalar("supervision", "SELECT count(*) FROM processed_events WHERE event_id::text IN "
                                          + sql_list(event_ids))
    return (f"at the kill {len(event_ids)} decided events were read but unacknowledged, "
            f"{done} of them with their task already committed")


def make_fault(stack: Stack, kind: str, target: str | None, w: Workload, times: dict):
    """The fault as a function run mid-load; it fills `times` (fault_at, restart_at)."""

    def role_kill():
        role = stack.roles[target]
        pid = role.proc.pid
        if isinstance(w, Approvals):
            catch_between_effect_and_ack(stack, pid)
        times["fault_at"] = time.time()
        log(f"  kill -9 {target} (pid {pid})")
        role.kill9()
        if isinstance(w, Approvals):
            times["pending_at_kill"] = pending_effects(stack, pid)
            stack.redis.cli("CLIENT", "UNPAUSE")
        time.sleep(max(0.0, DOWN_SECS - (time.time() - times["fault_at"])))
        role.restarts += 1
        role.start()
        times["restart_at"] = time.time()
        readiness_watch(stack, target, times["restart_at"], times)
        if isinstance(w, Approvals):
            task_watch(stack, times["restart_at"], times)
        return times

    def pg_restart():
        times["fault_at"] = time.time()
        log("  pg_ctl restart -m immediate")
        stack.pg.restart_immediate()
        times["restart_at"] = time.time()
        times["outage"] = times["restart_at"] - times["fault_at"]
        return times

    def pg_kill():
        times["fault_at"] = time.time()
        log(f"  kill -9 postmaster (pid {stack.pg.pid})")
        stack.pg.kill9()
        time.sleep(DOWN_SECS)
        stack.pg.start()
        times["restart_at"] = time.time()
        times["outage"] = times["restart_at"] - times["fault_at"]
        return times

    def redis_restart(keep: bool):
        def fault():
            times["fault_at"] = time.time()
            log(f"  kill -9 redis-server, restart {'with its data' if keep else 'empty'}")
            stack.redis.kill9()
            if not keep:
                stack.redis.wipe()
            time.sleep(DOWN_SECS)
            stack.redis.start(aof=keep)
            times["restart_at"] = time.time()
            return times

        return fault

    return {"role": role_kill, "pg-restart": pg_restart, "pg-kill": pg_kill,
            "redis-data": redis_restart(True), "redis-empty": redis_restart(False)}[kind]


def run_scenario(stack: Stack, shared: Shared, name: str, idx: int, seconds: float, clients: int) -> Row:
    what, cls, kind, target = SCENARIOS[name]
    row = Row(name, what)
    log(f"scenario {name}: {what}")
    pre = stack.ensure_up()
    if pre:
        row.notes.append("before: " + "; ".join(pre))
    if kind == "redis-data" and not stack.redis.aof:
        # Persist what is in Redis from here on, so the restart finds it.
        stack.redis.enable_aof()
    w = cls(shared, f"s{idx}")
    w.setup()
    rec = Recorder()
    watch = LogWatch(stack)
    times: dict = {}
    fault = make_fault(stack, kind, target, w, times)
    port = stack.gateway
    try:
        times.update(run_load(w, rec, port, seconds, clients, fault))
    finally:
        w.close()
    restart_at = times.get("restart_at")
    # Recovery: from the restart to the first acknowledged write. For approvals that is the
    # filing (the step that needs Redis, for its Idempotency-Key); accept and decide need only
    # the cases service and PostgreSQL.
    if restart_at is not None:
        if isinstance(w, Approvals):
            later = [t for t in w.filing_oks if t >= restart_at]
            row.recovery = (min(later) - restart_at) if later else None
        else:
            row.recovery = rec.first_ack_after(restart_at)
    fault_at = times.get("fault_at")
    if name == "consumer-kill":
        # The writes do not pass through the killed consumer: its recovery is the first effect.
        row.recovery = times.get("first_task_after")
    elif fault_at and restart_at:
        caught = [at - restart_at for u, at in rec.acked if u.extra.get("t0", at) < fault_at <= at]
        if caught:
            row.inflight = max(0.0, max(caught))
            row.notes.append(f"{len(caught)} writes in flight at the fault acknowledged up to "
                             f"{row.inflight:.1f} s after the restart")
    if isinstance(w, Approvals):
        w.fault_at = times.get("fault_at")
        w.recovered_at = (restart_at + row.recovery) if (restart_at and row.recovery is not None) else None
    # The platform should be whole again before counting (psql/redis-cli only read).
    post = stack.ensure_up(timeout=60)
    if post:
        row.notes.append("after: " + "; ".join(post))
    v = w.verify(rec)
    row.acked, row.lost, row.dups, row.effects = v.acked, v.lost, v.dups, v.effects
    row.n500, row.n5xx = rec.count_5xx()
    row.answers = rec.answers
    row.samples = rec.samples
    row.notes = v.notes + row.notes
    if "ready_after" in times:
        row.notes.append(f"{target} ready {times['ready_after']:.1f} s after restart")
    if "outage" in times:
        row.notes.append(f"PostgreSQL down {times['outage']:.1f} s")
    if name.startswith("redis") and restart_at:
        n_after, first = w.first_effect_after(restart_at)
        row.notes.append(f"first follow-up task of an approval made after the Redis restart: {first:.1f} s after it"
                         if first is not None else
                         f"none of the {n_after} approvals made after the Redis restart got a follow-up task")
    if name == "consumer-kill" and "first_task_after" not in times:
        row.notes.append("the restarted consumer created no task")
    slowest = max((at - u.extra["t0"] for u, at in rec.acked if "t0" in u.extra), default=0)
    if slowest > RECOVERY_TARGET:
        row.notes.append(f"slowest acknowledged write took {slowest:.1f} s")
    if "pending_at_kill" in times:
        row.notes.append(times["pending_at_kill"])
    if times.get("hung_clients"):
        row.notes.append(f"{times['hung_clients']} client threads still blocked at the end")
    stuck = sum(n for lab, n in rec.answers.items() if "IDEMPOTENCY_IN_PROGRESS" in lab)
    if stuck:
        row.notes.append(f"409 IDEMPOTENCY_IN_PROGRESS×{stuck}")
    row.evidence, counts = watch.collect()
    errs = {k: n for k, n in counts.items() if k[1] in ("ERROR", "PANIC")}
    if errs:
        row.notes.append("logged " + ", ".join(f"{r} {lvl}×{n}" for (r, lvl), n in sorted(errs.items())))
    row.judge(v, len(rec.unacked))
    log(f"  → acked {row.acked}, lost {row.lost}, dups {row.dups}, recovery "
        f"{'never' if row.recovery is None else f'{row.recovery:.1f} s'}, 5xx {row.n5xx} (500: {row.n500}); "
        f"{row.effects}; {'OK' if not row.failures else 'MISSED: ' + ', '.join(row.failures)}")
    return row


def failed_row(name: str, e: BaseException) -> Row:
    row = Row(name, SCENARIOS[name][0])
    row.effects = "—"
    row.notes.append(f"scenario error: {type(e).__name__}: {e}")
    row.failures.append("scenario error")
    row.evidence = traceback.format_exception(e)[-6:]
    return row
