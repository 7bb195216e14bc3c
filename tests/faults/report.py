"""The Markdown table (printed) and RELIABILITY.md (written whatever the outcome)."""

from __future__ import annotations

import os
import time

from scenarios import RECOVERY_TARGET, SCENARIOS, Row

INTRO = """# Reliability under process faults

`tests/faults/` is a process-level fault-injection suite. It starts its own PostgreSQL (`initdb`
into a temporary directory, a free port) and its own Redis (a child `redis-server` on a free
port), runs `yiwang migrate`, then every role as its own process (`yiwang serve catalog|cases|
supervision|projects|alerts|gateway`) and, one scenario after the other, keeps a bounded load of
writes flowing (a few client threads, `--seconds` each, default 15) while it breaks something
in the middle of the window. Clients retry every failed or timed-out request with the same
`Idempotency-Key` (REST creates), the same request (transitions, reviews) or the same batch id and
`(source, source_ref)` (gRPC) until it succeeds or 30 s have passed; a write still failing then is
*unacknowledged*. Afterwards the suite counts, in the role's own database (`psql`) and in Redis:

- **acknowledged**: writes answered 2xx (for alerts: batches acknowledged on the stream);
- **lost**: acknowledged but not stored (or not in the acknowledged state);
- **duplicates**: more than one resource for one idempotency key / request id / event;
- **outbox vs effects**: the events the write emits (outbox rows, published, on the Redis stream)
  or the effect they feed (审管联动 follow-up tasks per approval; alerts folded into incidents);
- **recovery s**: from the restart of what was killed to the first acknowledged write (for the
  consumer kill: to the first follow-up task the restarted consumer creates); in brackets, until
  the last write that was *in flight* when the fault struck was acknowledged (what a client
  caught by the fault waits after the restart);
- **5xx seen**: every 5xx answer over all attempts (`500` counted apart; `503` and
  `409 IDEMPOTENCY_IN_PROGRESS` are expected, retryable answers).

Scenarios:

| scenario | what happens |
|---|---|
""" 

TARGETS = f"""
Targets: **0 lost, 0 duplicates, recovery ≤ {RECOVERY_TARGET:.0f} s (the first write and every write caught
in flight), no 500**, effects exactly once (one
follow-up task per approval, every stored alert folded once, one published outbox row per
resource), and no write left unacknowledged once the platform is back (a write that cannot
complete within its 30 s retry window after the fault is an outage for that client). A
scenario that misses any of them is marked ✗ and the suite exits non-zero.

Run it (builds the release binary first):

```sh
bash bench/run --suite faults                  # every scenario
bash bench/run --suite faults --only kill-gateway,redis-restart-empty --seconds 10
tests/faults/run --bin target/debug/yiwang     # an existing binary, no build
```

Options: `--only a,b`, `--seconds N` (load per scenario), `--clients N` (≤ 8), `--keep` (keep
the temporary directory with every process's log), `--list`.
"""


def fmt_recovery(r: Row) -> str:
    first = ("never" if r.recovery_applies else "—") if r.recovery is None else f"{r.recovery:.1f}"
    return first if r.inflight is None else f"{first} (in flight {r.inflight:.1f})"


def fmt_5xx(r: Row) -> str:
    if not r.n5xx:
        return "0"
    parts = [f"{lab}×{n}" for lab, n in sorted(r.answers.items()) if lab[:1] == "5" and lab[:3].isdigit()]
    return f"{r.n5xx} ({', '.join(parts)})"


def cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def table(rows: list[Row]) -> str:
    out = ["| scenario | acknowledged | lost | duplicates | outbox vs effects | recovery s | 5xx seen | notes |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = "✓" if not r.failures else "✗"
        notes = list(r.notes)
        if r.failures:
            notes.insert(0, "**missed: " + ", ".join(r.failures) + "**")
        out.append("| " + " | ".join(cell(x) for x in [
            f"{mark} {r.name}", r.acked, r.lost, r.dups, r.effects, fmt_recovery(r), fmt_5xx(r),
            "; ".join(notes)]) + " |")
    return "\n".join(out)


def machine_line() -> str:
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        ram = "?"
    try:
        cpus = len(os.sched_getaffinity(0))  # what `nproc` prints
    except AttributeError:
        cpus = os.cpu_count()
    return f"`nproc` = {cpus}, RAM {ram}"


def binary_time(path: str) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(os.path.getmtime(path)))
    except OSError:
        return "?"


def details(rows: list[Row]) -> str:
    out = ["## Answers and log evidence per scenario", ""]
    for r in rows:
        out.append(f"### {r.name}")
        out.append("")
        if r.answers:
            out.append("Answers over all attempts: " + ", ".join(f"`{k}`×{n}" for k, n in r.answers.most_common()))
            out.append("")
        interesting = {k: v for k, v in r.samples.items() if k[:1] in "45" or not k[:1].isdigit()}
        if interesting:
            out.append("Example bodies:")
            out.append("")
            for k, v in list(interesting.items())[:6]:
                out.append(f"- `{k}`: `{cell(v)[:260]}`")
            out.append("")
        if r.evidence:
            out.append("Log lines (ERROR/WARN written during the scenario, most frequent first):")
            out.append("")
            out.append("```")
            out.extend(line[:400] for line in r.evidence[:16])
            out.append("```")
            out.append("")
    return "\n".join(out)


def write(path: str, rows: list[Row], command: str, binary: str, started: float, selected: list[str]) -> None:
    scen = "\n".join(f"| `{n}` | {cell(SCENARIOS[n][0])} |" for n in SCENARIOS)
    missed = [r.name for r in rows if r.failures]
    summary = (f"{len(rows) - len(missed)} of {len(rows)} scenarios met every target"
               + (f"; missed: {', '.join(missed)}." if missed else "."))
    body = [INTRO + scen, TARGETS,
            "## Latest run", "",
            f"- machine: {machine_line()}",
            f"- command: `{command}`",
            f"- binary: `{binary}` (built {binary_time(binary)})",
            f"- run at: {time.strftime('%Y-%m-%d %H:%M %Z', time.localtime(started))}, "
            f"{(time.time() - started) / 60:.1f} min",
            f"- scenarios: {', '.join(selected)}",
            f"- result: {summary}", "",
            table(rows), "", details(rows)]
    with open(path, "w") as f:
        f.write("\n".join(body).rstrip() + "\n")
