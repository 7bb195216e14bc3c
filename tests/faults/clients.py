"""Clients as the apps and department systems are: REST through the gateway with an
Idempotency-Key on creates, gRPC streams to the alerts service, each request retried with the
same key / request id until it succeeds or a deadline passes. Every answer is counted."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass

# How long one request is retried before the write counts as unacknowledged.
RETRY_DEADLINE = 30.0
# One attempt's timeout: long enough for a slow debug build, short enough to notice a hang.
ATTEMPT_TIMEOUT = 10.0

# Answers a client is expected to retry (the service, a dependency or a concurrent duplicate
# is not there yet); anything else 4xx is final.
GRPC_AS_HTTP = {"INTERNAL": 500, "UNKNOWN": 500, "DATA_LOSS": 500, "UNIMPLEMENTED": 501,
                "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}
RETRYABLE_REASONS = {"IDEMPOTENCY_IN_PROGRESS", "IDEMPOTENCY_RETRY", "CONCURRENT_UPDATE", "UNAVAILABLE"}


@dataclass
class Answer:
    status: int  # HTTP status; 0 = no answer (connection refused/reset, timeout)
    body: object
    error: str = ""  # "timeout", "refused", "reset", … when status == 0
    at: float = 0.0
    tag: str = ""  # a label of its own (gRPC answers)

    @property
    def reason(self) -> str:
        """The ErrorInfo reason of a REST error body, if any."""
        if isinstance(self.body, dict):
            for d in (self.body.get("error") or {}).get("details") or []:
                if isinstance(d, dict) and d.get("reason"):
                    return d["reason"]
        return ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def label(self) -> str:
        """How this answer is counted in the notes: `201`, `503`, `409 IDEMPOTENCY_IN_PROGRESS`,
        `timeout`…"""
        if self.tag:
            return self.tag
        if self.status == 0:
            return self.error or "no answer"
        if self.status == 409 or (self.status >= 400 and self.reason and self.status != 503):
            return f"{self.status} {self.reason}".strip()
        return str(self.status)


class Recorder:
    """Thread-safe tally of one scenario: every answer seen, writes acknowledged / given up."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answers: Counter = Counter()
        self.acked: list = []  # (unit, ack_time)
        self.unacked: list = []  # (unit, last answer label)
        self.first_ok_after: dict = {}
        self.samples: dict = {}  # label -> one example body, for the report's evidence

    def saw(self, a: Answer) -> None:
        with self.lock:
            lab = a.label()
            self.answers[lab] += 1
            if not a.ok and lab not in self.samples:
                self.samples[lab] = json.dumps(a.body, ensure_ascii=False)[:300] if a.body else a.error

    def ack(self, unit, at: float) -> None:
        with self.lock:
            self.acked.append((unit, at))

    def give_up(self, unit, last: str) -> None:
        with self.lock:
            self.unacked.append((unit, last))

    def first_ack_after(self, t: float) -> float | None:
        """Seconds from t to the first write acknowledged at or after t."""
        with self.lock:
            later = [at for _, at in self.acked if at >= t]
        return (min(later) - t) if later else None

    def count_5xx(self) -> tuple[int, int]:
        """(500s, all 5xx)."""
        n500 = sum(n for lab, n in self.answers.items() if lab.startswith("500"))
        n5xx = sum(n for lab, n in self.answers.items() if lab[:1] == "5" and lab[:3].isdigit())
        return n500, n5xx


class Rest:
    """REST calls to the gateway; one connection per attempt (a killed peer leaves no stale
    keep-alive connection behind)."""

    def __init__(self, port: int, rec: Recorder | None = None):
        self.port = port
        self.rec = rec

    def call(self, method: str, path: str, token: str | None = None, body=None,
             key: str | None = None, timeout: float = ATTEMPT_TIMEOUT) -> Answer:
        headers = {"Accept": "application/json"}
        data = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            raw = r.read()
            c.close()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            a = Answer(r.status, parsed, at=time.time())
        except TimeoutError:
            a = Answer(0, None, "timeout", time.time())
        except ConnectionRefusedError:
            a = Answer(0, None, "refused", time.time())
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            a = Answer(0, None, "reset", time.time())
        except OSError as e:
            a = Answer(0, None, type(e).__name__, time.time())
        return a

    def until_ok(self, method: str, path: str, token: str, body=None, key: str | None = None,
                 deadline: float = RETRY_DEADLINE, done=None, stop: threading.Event | None = None) -> Answer:
        """Retries (same key, same body) until a 2xx, a final 4xx, or the deadline. `done(answer)`
        may turn a final answer into success (e.g. 'the case is approved already' on a retried
        transition). The last answer is returned; `.ok` tells."""
        t_end = time.time() + deadline
        pause = 0.1
        while True:
            a = self.call(method, path, token, body, key)
            if self.rec is not None:
                self.rec.saw(a)
            if a.ok:
                return a
            if done is not None and a.status and done(a):
                return Answer(200, a.body, "", a.at)
            final = (400 <= a.status < 500 and a.status not in (408, 429)
                     and not (a.status == 409 and a.reason in RETRYABLE_REASONS))
            if final or time.time() + pause > t_end:
                return a
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def ok_or_die(a: Answer, what: str):
    """For setup calls (not measured): the body of a 2xx, else a clear failure."""
    if not a.ok:
        raise RuntimeError(f"setup: {what} answered {a.status} {a.error} {json.dumps(a.body, ensure_ascii=False)[:500]}")
    return a.body


def generate_stubs(proto_dir: str, out_dir: str) -> None:
    """Python stubs of the alerts API (and the google.api / yiwang.api annotations it imports),
    generated now with grpcio-tools from the repository's protos."""
    import grpc_tools

    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = ["yiwang/alerts/v1/alerts.proto", "yiwang/api/v1/rest.proto",
             "google/api/annotations.proto", "google/api/http.proto"]
    os.makedirs(out_dir, exist_ok=True)
    r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}", f"-I{include}",
                        f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *files],
                       cwd=proto_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"protoc failed: {r.stdout}")
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)


class AlertStream:
    """One long-lived StreamEvents call: batches go in one at a time, each waits for its ack.
    A broken stream is reopened and the unacknowledged batch sent again with the same batch id
    and events (idempotent on source + source_ref)."""

    def __init__(self, port: int, token: str, rec: Recorder):
        # Imported here: only the alerts scenario needs gRPC and the generated stubs.
        from yiwang.alerts.v1 import alerts_pb2_grpc

        self.port, self.token, self.rec = port, token, rec
        self.stub_cls = alerts_pb2_grpc.AlertsServiceStub
        self.channel = None
        self.call = None
        self.queue = None

    def _open(self):
        import queue

        import grpc

        self.close()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        stub = self.stub_cls(self.channel)
        self.queue = queue.Queue()
        q = self.queue

        def requests():
            while True:
                item = q.get()
                if item is None:
                    return
                yield item

        self.call = stub.StreamEvents(requests(), metadata=[("authorization", f"Bearer {self.token}")])

    def close(self):
        if self.queue is not None:
            self.queue.put(None)
        if self.call is not None:
            self.call.cancel()
        if self.channel is not None:
            self.channel.close()
        self.call = self.channel = self.queue = None

    def send_until_acked(self, batch, deadline: float = RETRY_DEADLINE):
        """The batch's ack, or None after the deadline."""
        import grpc

        t_end = time.time() + deadline
        pause = 0.1
        while time.time() < t_end:
            try:
                if self.call is None:
                    self._open()
                self.queue.put(batch)
                call = self.call
                # A watchdog ends a stream that does not acknowledge in time.
                timer = threading.Timer(ATTEMPT_TIMEOUT, call.cancel)
                timer.start()
                try:
                    ack = next(call)
                finally:
                    timer.cancel()
                if ack.batch_id != batch.batch_id:
                    self.rec.saw(Answer(0, None, "ack for another batch", time.time()))
                    self.close()
                    continue
                self.rec.saw(Answer(200, None, "", time.time(), "ack"))
                return ack
            except grpc.RpcError as e:
                code = e.code() if hasattr(e, "code") else None
                name = code.name if code is not None else "UNKNOWN"
                # Counted like their HTTP equivalents, so 500s and 503s add up across protocols.
                http_like = GRPC_AS_HTTP.get(name, 0)
                tag = "timeout" if code == grpc.StatusCode.CANCELLED else \
                    (f"{http_like} grpc {name}" if http_like else f"grpc {name}")
                details = e.details() if hasattr(e, "details") else ""
                self.rec.saw(Answer(http_like, {"grpc": name, "details": details}, tag, time.time(), tag))
                self.close()
            except StopIteration:
                self.rec.saw(Answer(0, None, "stream ended", time.time()))
                self.close()
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        return None
