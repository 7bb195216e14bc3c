"""The writes each scenario keeps flowing, and how each is checked afterwards.

A workload makes *units* (one logical write with its idempotency key / request id), performs
one unit with retries (`write`), and afterwards compares the acknowledged units with what the
role's own database holds (`verify`): lost, duplicated, and the events the write emits (outbox
rows, stream entries, or the cross-service effect).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass, field

from clients import AlertStream, Recorder, Rest, ok_or_die
from stack import REDIS_PREFIX, Stack

DEPT = "340522-SCJGJ"
ID_NUMBER = "11010519491231002X"  # valid GB 11643 check digit (as in the e2e tests)
PHONE = "13812345678"
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def uscc(first17: str) -> str:
    """GB 32100: the first 17 characters and their check character."""
    s = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    return first17 + USCC_CHARS[(31 - s % 31) % 31]


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def sql_list(values) -> str:
    """A SQL literal list of strings (values are our own keys and uuids, no quotes inside)."""
    vals = [str(v).replace("'", "''") for v in values]
    return "(" + ",".join(f"'{v}'" for v in vals) + ")" if vals else "(NULL)"


@dataclass
class Unit:
    key: str
    body: dict = field(default_factory=dict)
    result: str = ""  # id of what was created
    extra: dict = field(default_factory=dict)


@dataclass
class Verdict:
    acked: int = 0
    lost: int = 0
    dups: int = 0
    effects: str = "n/a"
    effects_ok: bool = True
    notes: list = field(default_factory=list)


class People:
    """Tokens minted once per stack (`yiwang token`)."""

    def __init__(self, stack: Stack):
        t = stack.token
        self.admin = t("fi-admin", "admin")
        self.catalog_admin = t("fi-cat-admin", "catalog_admin")
        self.citizen = t("fi-citizen", "citizen")
        self.enterprise = t("fi-enterprise", "enterprise")
        self.officer = t("fi-officer", "officer", DEPT)
        self.supervisor = t("fi-supervisor", "supervisor")
        self.inspector = t("fi-inspector", "inspector", DEPT)
        self.padmin = t("fi-padmin", "project_admin")
        self.experts = [t(f"fi-expert-{i}", "expert") for i in range(1, 9)]
        self.secops = t("fi-secops", "secops")


class Shared:
    """What several workloads need once: the department, a published licence item (task type
    01), tokens. Made lazily, retried (the stack may still be settling after a scenario)."""

    _lock = threading.Lock()

    def __init__(self, stack: Stack):
        self.stack = stack
        self.people = None
        self.dept_uscc = uscc("11340522MB0000001")
        self.licence_item = ""
        self.seq = 0

    def next_seq(self) -> int:
        with self._lock:
            self.seq += 1
            return self.seq

    def ensure(self) -> None:
        with self._lock:
            if self.people is not None:
                return
            self.people = People(self.stack)
            rest = Rest(self.stack.gateway)
            ok_or_die(rest.until_ok("POST", "/v1/org-units", self.people.admin,
                                    {"code": DEPT, "name": "含山县市场监督管理局", "kind": "department",
                                     "region_code": "340522", "uscc": self.dept_uscc}, key="fi-org-unit"),
                      "create org unit")
            body = item_body(self.dept_uscc, "900000001", "食品经营许可证核发（故障注入）")
            code = body["code"]
            ok_or_die(rest.until_ok("POST", "/v1/items", self.people.catalog_admin, body, key="fi-licence-item"),
                      "create licence item")
            ok_or_die(rest.until_ok("POST", f"/v1/items/{code}/publish", self.people.catalog_admin,
                                    done=lambda a: a.reason == "ILLEGAL_TRANSITION"),
                      "publish licence item")
            self.licence_item = code


def item_body(dept_uscc: str, catalog_code: str, name: str) -> dict:
    """A valid licence item (task type 01) of DEPT, as tests/common.rs writes one."""
    return {
        "code": f"{dept_uscc}4{catalog_code}",
        "catalog_code": catalog_code,
        "name": name,
        "task_type": "01",
        "level": 4,
        "department": DEPT,
        "legal_limit": {"value": 20, "unit": "working_days"},
        "promised_limit": {"value": 5, "unit": "working_days"},
        "handling_kind": "promised",
        "applicant_kinds": ["1", "2"],
        "materials": [
            {"name": "营业执照", "required": True, "format": "electronic", "source": "government_shared"},
            {"name": "食品安全管理制度", "required": True, "format": "paper", "source": "applicant"},
        ],
        "fees": [],
        "online_depth": [1, 2, 3, 4, 5, 6],
        "channels": ["online", "window"],
        "visits_required": 0,
        "high_frequency": True,
        "standard_lists": ["province"],
    }


class Workload:
    """Base: `role_db` is the database counted afterwards."""

    name = ""
    role_db = ""

    def __init__(self, shared: Shared, tag: str):
        self.shared, self.stack, self.tag = shared, shared.stack, tag
        self.counter = 0
        self.lock = threading.Lock()

    def setup(self) -> None:
        self.shared.ensure()

    def key(self, tid: int) -> str:
        with self.lock:
            self.counter += 1
            return f"{self.tag}-{tid}-{self.counter}"

    def new_unit(self, tid: int) -> Unit:
        raise NotImplementedError

    def write(self, unit: Unit, rest: Rest, rec: Recorder, tid: int) -> None:
        raise NotImplementedError

    def verify(self, rec: Recorder) -> Verdict:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # Shared checks ------------------------------------------------------------------------

    def settle_outbox(self, db: str, timeout: float = 15) -> int:
        """Waits for the relay to publish every committed outbox row; returns how many are
        still unpublished at the end."""
        t_end = time.time() + timeout
        left = -1
        while time.time() < t_end:
            try:
                left = int(self.stack.pg.scalar(db, "SELECT count(*) FROM outbox WHERE published_at IS NULL"))
            except RuntimeError:
                left = -1
            if left == 0:
                return 0
            time.sleep(0.5)
        return left

    def stream_event_ids(self, topic: str, field_name: str) -> dict:
        """payload[field_name] -> number of entries in the topic's Redis stream."""
        out = self.stack.redis.cli("XRANGE", f"{{{REDIS_PREFIX}:events}}:{topic}", "-", "+")
        counts: dict = {}
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    v = json.loads(line).get(field_name)
                except ValueError:
                    continue
                if v:
                    counts[v] = counts.get(v, 0) + 1
        return counts

    def standard(self, rec: Recorder, present: dict, counts: dict, v: Verdict) -> None:
        """lost / duplicates / unacknowledged-but-present from `present` (key -> id) and
        `counts` (key -> rows)."""
        v.acked = len(rec.acked)
        v.lost = sum(1 for u, _ in rec.acked if u.key not in present)
        v.dups = sum(n - 1 for n in counts.values() if n > 1)
        if rec.unacked:
            there = sum(1 for u, _ in rec.unacked if u.key in present)
            v.notes.append(f"{len(rec.unacked)} unacknowledged after {int(30)} s of retries "
                           f"({there} of them stored anyway)")


class Filings(Workload):
    """Cases: a citizen files (POST /v1/cases, Idempotency-Key); the applicant name carries the
    key so duplicates show in the cases table whatever the service's own dedupe does."""

    name = "filings"
    role_db = "cases"

    def new_unit(self, tid: int) -> Unit:
        key = self.key(tid)
        return Unit(key, {"item_code": self.shared.licence_item, "channel": "online",
                          "applicant": {"kind": "person", "name": f"故障{key}", "id_number": ID_NUMBER,
                                        "phone": PHONE},
                          "materials": ["营业执照"]})

    def write(self, unit, rest, rec, tid):
        a = rest.until_ok("POST", "/v1/cases", self.shared.people.citizen, unit.body, key=unit.key)
        if a.ok:
            unit.result = a.body.get("id", "") if isinstance(a.body, dict) else ""
            rec.ack(unit, a.at)
        else:
            rec.give_up(unit, a.label())

    def verify(self, rec):
        v = Verdict()
        unpublished = self.settle_outbox("cases")
        rows = self.stack.pg.psql("cases", f"SELECT applicant_name, id FROM cases WHERE applicant_name LIKE '故障{self.tag}-%'")
        present, counts, ids = {}, {}, []
        for name, cid in rows:
            k = name[len("故障"):]
            present[k] = cid
            counts[k] = counts.get(k, 0) + 1
            ids.append(cid)
        self.standard(rec, present, counts, v)
        # An acknowledged filing must be the case the database holds under its key.
        wrong = sum(1 for u, _ in rec.acked if u.key in present and u.result and u.result != present[u.key]
                    and counts.get(u.key, 0) == 1)
        if wrong:
            v.notes.append(f"{wrong} acknowledged ids differ from the stored case")
            v.lost += wrong
        v.effects, v.effects_ok = outbox_vs_stream(self, "cases", "cases.case.filed", "case_id", ids, unpublished)
        return v


def outbox_vs_stream(w: Workload, db: str, topic: str, field_name: str, ids: list, unpublished: int):
    """`outbox a/b, stream c/a`: one event row per stored resource, every row published and
    on its Redis stream (at least once)."""
    if not ids:
        return "no rows", True
    rows = w.stack.pg.psql(db, f"SELECT payload->>'{field_name}', published_at IS NOT NULL FROM outbox "
                               f"WHERE topic = '{topic}' AND payload->>'{field_name}' IN {sql_list(ids)}")
    n_out = len(rows)
    n_pub = sum(1 for _, p in rows if p == "t")
    per = {}
    for i, _ in rows:
        per[i] = per.get(i, 0) + 1
    stream = w.stream_event_ids(topic, field_name)
    on_stream = sum(1 for i in per if stream.get(i))
    redelivered = sum(stream.get(i, 0) - 1 for i in per if stream.get(i, 0) > 1)
    s = f"outbox {n_out}/{len(ids)}, published {n_pub}, on stream {on_stream}/{n_out}"
    if redelivered:
        s += f" (+{redelivered} repeats)"
    ok = n_out == len(ids) and n_pub == n_out and all(n == 1 for n in per.values())
    # Entries missing from the stream after an empty Redis restart are reported, judged by the
    # effect they feed (the approvals scenario), not here.
    return s, ok


class CatalogItems(Workload):
    """Catalogue: a catalogue admin creates draft items (POST /v1/items, Idempotency-Key)."""

    name = "item creation"
    role_db = "catalog"

    def new_unit(self, tid):
        key = self.key(tid)
        seq = self.shared.next_seq()
        return Unit(key, item_body(self.shared.dept_uscc, f"8{seq:08d}", f"故障{key}"))

    def write(self, unit, rest, rec, tid):
        a = rest.until_ok("POST", "/v1/items", self.shared.people.catalog_admin, unit.body, key=unit.key)
        if a.ok:
            unit.result = unit.body["code"]
            rec.ack(unit, a.at)
        else:
            rec.give_up(unit, a.label())

    def verify(self, rec):
        v = Verdict()
        self.settle_outbox("catalog")
        rows = self.stack.pg.psql("catalog", f"SELECT name, code FROM items WHERE name LIKE '故障{self.tag}-%'")
        present, counts = {}, {}
        for name, code in rows:
            k = name[len("故障"):]
            present[k] = code
            counts[k] = counts.get(k, 0) + 1
        self.standard(rec, present, counts, v)
        reused = self.stack.pg.scalar(
            "catalog", f"SELECT count(*) FROM create_requests WHERE method = 'CreateItem' AND request_id LIKE '{self.tag}-%'")
        v.effects = f"no event on a draft; {reused} request ids recorded"
        return v


class Inspections(Workload):
    """Supervision: an inspector files ad hoc inspection records (POST
    /v1/supervision/inspections, Idempotency-Key); result_detail carries the key."""

    name = "inspection records"
    role_db = "supervision"
    _ready = None

    def setup(self):
        super().setup()
        if Inspections._ready is not None:
            self.item, self.entity, self.certs = Inspections._ready
            return
        p, rest = self.shared.people, Rest(self.stack.gateway)
        item = "34052200000901"
        ok_or_die(rest.until_ok("POST", "/v1/supervision/items", p.supervisor,
                                {"code": item, "name": "对食品经营活动的监督检查（故障注入）", "admin_type": "0",
                                 "legal_basis": "《中华人民共和国食品安全法》第一百一十条", "department": DEPT},
                                key="fi-sup-item"), "supervision item")
        ok_or_die(rest.until_ok("POST", f"/v1/supervision/items/{item}/claim", p.officer,
                                done=lambda a: a.status in (400, 409)), "claim")
        certs = []
        for k in (1, 2):
            cert = f"FI-CERT-{k:03d}"
            ok_or_die(rest.until_ok("POST", "/v1/supervision/inspectors", p.officer,
                                    {"name": f"检查员{k}", "department": DEPT, "certificate_number": cert,
                                     "post_type": "enforcement"}, key=f"fi-inspector-{k}"), "inspector")
            certs.append(cert)
        e = ok_or_die(rest.until_ok("POST", "/v1/supervision/entities", p.supervisor,
                                    {"name": "含山县故障注入餐饮有限公司", "kind": "legal_person",
                                     "uscc": uscc("91340522MA9000001"), "industry": "餐饮服务", "region": "340522",
                                     "address": "环峰镇人民路1号", "risk_level": "medium"}, key="fi-entity"),
                      "entity")
        Inspections._ready = (item, e["id"], certs)
        self.item, self.entity, self.certs = Inspections._ready

    def new_unit(self, tid):
        key = self.key(tid)
        at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        return Unit(key, {"item_code": self.item, "entity_id": self.entity, "form": "routine",
                          "category": "on_site", "method": "现场检查", "result": "no_problem",
                          "result_detail": key, "inspected_at": rfc3339(at),
                          "inspector_certificates": self.certs})

    def write(self, unit, rest, rec, tid):
        a = rest.until_ok("POST", "/v1/supervision/inspections", self.shared.people.inspector, unit.body, key=unit.key)
        if a.ok:
            unit.result = a.body.get("id", "") if isinstance(a.body, dict) else ""
            rec.ack(unit, a.at)
        else:
            rec.give_up(unit, a.label())

    def verify(self, rec):
        v = Verdict()
        self.settle_outbox("supervision")
        rows = self.stack.pg.psql("supervision",
                                  f"SELECT result_detail, id FROM inspections WHERE result_detail LIKE '{self.tag}-%'")
        present, counts = {}, {}
        for k, i in rows:
            present[k] = i
            counts[k] = counts.get(k, 0) + 1
        self.standard(rec, present, counts, v)
        v.effects = "no event (audit only)"
        return v


class Reviews(Workload):
    """Projects: experts submit reviews (POST /v1/projects/{id}/reviews; one review per expert
    and project, replaced on retry) on projects under review, and officers propose projects
    (POST /v1/projects, Idempotency-Key). Review comments and project names carry the key."""

    name = "expert reviews + proposals"
    role_db = "projects"

    def setup(self):
        super().setup()
        self.pool = []  # (project_id, expert index) not reviewed yet
        self.pool_lock = threading.Lock()
        self.projects_made = 0
        for _ in range(12):
            self._new_project_under_review()

    def _proposal(self, name: str) -> dict:
        year = dt.date.today().year
        return {"year": year, "name": name, "category": "new_system", "description": "故障注入测试项目",
                "budget_lines": [{"category": "development", "amount_fen": 600000000, "justification": "按功能点测算"},
                                 {"category": "hardware", "amount_fen": 100000000, "justification": "服务器"}],
                "network_ranges": ["10.12.0.0/16"], "planned_acceptance_date": f"{year}-12-31"}

    def _new_project_under_review(self) -> None:
        """Setup traffic (not counted): propose, submit, form a panel of all 8 experts."""
        p, rest = self.shared.people, Rest(self.stack.gateway)
        with self.pool_lock:
            self.projects_made += 1
            n = self.projects_made
        key = f"{self.tag}-setup-{n}"
        b = ok_or_die(rest.until_ok("POST", "/v1/projects", p.officer, self._proposal(f"故障评审{key}"), key=key,
                                    deadline=120), "propose")
        pid = b["id"]
        ok_or_die(rest.until_ok("POST", f"/v1/projects/{pid}/submit", p.officer, {}, deadline=120,
                                done=lambda a: a.reason == "PROJECT_STATE"), "submit")
        experts = [{"id": f"fi-expert-{i}", "name": f"专家{i}", "department": "省信息化专家库"} for i in range(1, 9)]
        ok_or_die(rest.until_ok("POST", f"/v1/projects/{pid}/panel", p.padmin, {"experts": experts}, deadline=120,
                                done=lambda a: a.reason == "PROJECT_STATE"), "panel")
        with self.pool_lock:
            self.pool.extend((pid, e) for e in range(8))

    def new_unit(self, tid):
        key = self.key(tid)
        if tid % 2 == 0:
            return Unit(key, self._proposal(f"故障{key}"), extra={"kind": "create"})
        while True:
            with self.pool_lock:
                if self.pool:
                    pid, e = self.pool.pop(0)
                    break
            self._new_project_under_review()
        body = {"scores": [{"criterion": "necessity", "score": 35}, {"criterion": "feasibility", "score": 25},
                           {"criterion": "economy", "score": 20}],
                "lines": [{"approved_fen": 540000000, "reason": "部分功能与既有平台重复"},
                          {"approved_fen": 100000000, "reason": "合理"}],
                "comment": key}
        return Unit(key, body, extra={"kind": "review", "project": pid, "expert": e})

    def write(self, unit, rest, rec, tid):
        p = self.shared.people
        if unit.extra["kind"] == "create":
            a = rest.until_ok("POST", "/v1/projects", p.officer, unit.body, key=unit.key)
        else:
            a = rest.until_ok("POST", f"/v1/projects/{unit.extra['project']}/reviews",
                              p.experts[unit.extra["expert"]], unit.body)
        if a.ok:
            rec.ack(unit, a.at)
        else:
            rec.give_up(unit, a.label())

    def verify(self, rec):
        v = Verdict()
        self.settle_outbox("projects")
        present, counts = {}, {}
        for name, pid in self.stack.pg.psql("projects", f"SELECT name, id FROM projects WHERE name LIKE '故障{self.tag}-%'"):
            k = name[len("故障"):]
            present[k] = pid
            counts[k] = counts.get(k, 0) + 1
        per_pair = {}
        for pid, expert, comment in self.stack.pg.psql(
                "projects", "SELECT p.id, r->>'expert_id', r->>'comment' FROM projects p, "
                            "jsonb_array_elements(p.doc->'reviews') r "
                            f"WHERE p.name LIKE '故障评审{self.tag}-setup-%'"):
            present[comment] = pid
            per_pair[(pid, expert)] = per_pair.get((pid, expert), 0) + 1
        self.standard(rec, present, counts, v)
        v.dups += sum(n - 1 for n in per_pair.values() if n > 1)
        creates = sum(1 for u, _ in rec.acked if u.extra["kind"] == "create")
        v.notes.append(f"{creates} proposals + {len(rec.acked) - creates} reviews acknowledged")
        audits = self.stack.pg.scalar(
            "projects", "SELECT count(*) FROM project_events e JOIN projects p ON p.id = e.project_id "
                        f"WHERE e.action = 'review' AND p.name LIKE '故障评审{self.tag}-setup-%'")
        v.effects = f"no event; review audit rows {audits} for {len(rec.acked) - creates} reviews"
        return v


class AlertBatches(Workload):
    """Alerts: the platform's feed, batches of 20 events over long-lived gRPC StreamEvents
    calls straight to the alerts service; a batch is resent (same batch id, same source_refs)
    until acknowledged."""

    name = "StreamEvents batches"
    role_db = "alerts"
    BATCH = 20

    def setup(self):
        super().setup()
        from yiwang.alerts.v1 import alerts_pb2

        self.pb = alerts_pb2
        self.streams = {}
        self.rule = f"faults-{self.tag}"

    def new_unit(self, tid):
        key = self.key(tid)
        from google.protobuf.timestamp_pb2 import Timestamp

        now = Timestamp()
        now.FromDatetime(dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
        events = []
        for i in range(self.BATCH):
            events.append(self.pb.SecurityEvent(
                source="faults", source_ref=f"{key}-{i}", occurred_at=now, src_ip="198.51.100.7", src_port=51000,
                dst_ip=f"10.8.{tid}.{1 + i}", dst_port=443, category="attack_attempt", severity="medium",
                rule=self.rule, kill_chain_phase="exploitation", raw_json=json.dumps({"id": f"{key}-{i}"})))
        return Unit(key, {}, extra={"batch": self.pb.EventBatch(batch_id=key, events=events)})

    def write(self, unit, rest, rec, tid):
        s = self.streams.get(tid)
        if s is None:
            s = self.streams[tid] = AlertStream(self.stack.ports["alerts"], self.shared.people.secops, rec)
        ack = s.send_until_acked(unit.extra["batch"])
        if ack is None:
            rec.give_up(unit, "no ack")
            return
        unit.extra["ack"] = (ack.accepted, ack.duplicate, ack.rejected)
        rec.ack(unit, time.time())

    def close(self):
        for s in self.streams.values():
            s.close()

    def verify(self, rec):
        v = Verdict()
        refs = {}
        for (ref,) in self.stack.pg.psql("alerts", f"SELECT source_ref FROM events WHERE source = 'faults' "
                                                   f"AND source_ref LIKE '{self.tag}-%'"):
            refs[ref] = refs.get(ref, 0) + 1
        v.acked = len(rec.acked)
        v.lost = sum(1 for u, _ in rec.acked if any(f"{u.key}-{i}" not in refs for i in range(self.BATCH)))
        v.dups = sum(n - 1 for n in refs.values() if n > 1)
        rejected = sum(u.extra["ack"][2] for u, _ in rec.acked)
        replayed = sum(u.extra["ack"][1] for u, _ in rec.acked)
        v.notes.append(f"{len(rec.acked) * self.BATCH} events in acknowledged batches"
                       + (f", {replayed} answered as duplicate on resend" if replayed else "")
                       + (f", {rejected} REJECTED" if rejected else ""))
        if rec.unacked:
            there = sum(1 for u, _ in rec.unacked if f"{u.key}-0" in refs)
            v.notes.append(f"{len(rec.unacked)} batches unacknowledged after 30 s ({there} stored anyway)")
        # Folding: every stored event counted in exactly one incident.
        t_end = time.time() + 20
        while time.time() < t_end:
            if self.stack.pg.scalar("alerts", "SELECT NOT EXISTS (SELECT 1 FROM events WHERE ingest_xid >= "
                                              "(SELECT next_xid FROM fold_state WHERE id = 1))") == "t":
                break
            time.sleep(0.5)
        folded = int(self.stack.pg.scalar("alerts", f"SELECT coalesce(sum(event_count), 0) FROM incidents "
                                                    f"WHERE rule = '{self.rule}'") or 0)
        stored = int(self.stack.pg.scalar("alerts", f"SELECT count(*) FROM events WHERE rule = '{self.rule}'") or 0)
        v.effects = f"folded {folded}/{stored} stored events into incidents"
        v.effects_ok = folded == stored
        return v


class Approvals(Workload):
    """审管联动: an enterprise files a licence application (Idempotency-Key), the department
    accepts and approves it; supervision must open exactly one follow-up task per approval
    (from cases.case.decided). A unit is acknowledged when the decision is."""

    name = "licence approvals"
    role_db = "cases"

    def __init__(self, shared, tag):
        super().__init__(shared, tag)
        self.fault_at = None  # set by the scenario: phases before / during / after
        self.recovered_at = None
        self.filing_oks = []  # when filings were acknowledged (recovery after a Redis restart)

    def new_unit(self, tid):
        key = self.key(tid)
        return Unit(key, {"item_code": self.shared.licence_item, "channel": "online",
                          "applicant": {"kind": "legal_person", "name": f"故障{key}",
                                        "uscc": uscc(f"9134052200{tid:03d}0001"), "phone": PHONE}})

    def _state_is(self, rest: Rest, case_id: str, states: tuple) -> bool:
        a = rest.call("GET", f"/v1/cases/{case_id}", self.shared.people.officer)
        return a.ok and isinstance(a.body, dict) and a.body.get("state") in states

    def write(self, unit, rest, rec, tid):
        p = self.shared.people
        a = rest.until_ok("POST", "/v1/cases", p.enterprise, unit.body, key=unit.key)
        if not a.ok:
            rec.give_up(unit, f"filing: {a.label()}")
            return
        cid = unit.result = a.body["id"]
        self.filing_oks.append(a.at)
        # A transition retried after a lost answer finds the case moved already: that is success.
        a = rest.until_ok("POST", f"/v1/cases/{cid}/accept", p.officer, {},
                          done=lambda x: x.reason == "CASE_STATE" and self._state_is(rest, cid, ("accepted", "approved")))
        if not a.ok:
            rec.give_up(unit, f"accept: {a.label()}")
            return
        a = rest.until_ok("POST", f"/v1/cases/{cid}/decide", p.officer, {"outcome": "approved"},
                          done=lambda x: x.reason == "CASE_STATE" and self._state_is(rest, cid, ("approved",)))
        if not a.ok:
            rec.give_up(unit, f"decide: {a.label()}")
            return
        rec.ack(unit, a.at)

    def first_effect_after(self, t: float) -> tuple[int, float | None]:
        """(approvals decided at or after t, seconds from t to the first of their tasks)."""
        later = [c for c, d in getattr(self, "decided_at", {}).items() if d >= t]
        made = [self.task_at[c] for c in later if c in self.task_at]
        return len(later), ((min(made) - t) if made else None)

    def phase(self, at: float) -> str:
        if self.fault_at is None or at < self.fault_at:
            return "before"
        if self.recovered_at is None or at < self.recovered_at:
            return "during"
        return "after"

    def tasks_for(self, case_ids) -> dict:
        rows = self.stack.pg.psql("supervision", f"SELECT case_id::text, count(*) FROM tasks "
                                                 f"WHERE case_id::text IN {sql_list(case_ids)} GROUP BY 1")
        return {c: int(n) for c, n in rows}

    def verify(self, rec, settle: float = 50):
        v = Verdict()
        unpublished = self.settle_outbox("cases")
        rows = self.stack.pg.psql("cases", f"SELECT applicant_name, id, state FROM cases "
                                           f"WHERE applicant_name LIKE '故障{self.tag}-%'")
        present, counts, state = {}, {}, {}
        for name, cid, st in rows:
            k = name[len("故障"):]
            present[k] = cid
            counts[k] = counts.get(k, 0) + 1
            state[cid] = st
        self.standard(rec, present, counts, v)
        not_approved = sum(1 for u, _ in rec.acked if u.key in present and state.get(present[u.key]) != "approved")
        if not_approved:
            v.notes.append(f"{not_approved} acknowledged approvals not in state approved")
            v.lost += not_approved
        approved = [u.result for u, _ in rec.acked]
        # The effect is asynchronous: wait (bounded) for one task per approval.
        t0 = time.time()
        tasks = {}
        while approved:
            tasks = self.tasks_for(approved)
            if len(tasks) >= len(approved) or time.time() - t0 > settle:
                break
            time.sleep(1)
        waited = time.time() - t0
        missing = [c for c in approved if c not in tasks]
        # How long the slowest effect took after its approval (a redelivery shows here).
        decided = dict(self.stack.pg.psql("cases", "SELECT id::text, extract(epoch FROM decided_at) FROM cases "
                                                   f"WHERE id::text IN {sql_list(approved)}"))
        created = dict(self.stack.pg.psql("supervision", "SELECT case_id::text, extract(epoch FROM created_at) "
                                                         f"FROM tasks WHERE case_id::text IN {sql_list(approved)}"))
        self.decided_at = {c: float(t) for c, t in decided.items() if t}
        self.task_at = {c: float(t) for c, t in created.items() if t}
        lags = [float(created[c]) - float(decided[c]) for c in created if decided.get(c)]
        if lags:
            v.notes.append(f"slowest follow-up task {max(lags):.1f} s after its approval")
        extra = sum(n - 1 for n in tasks.values() if n > 1)
        # Approvals the harness gave up on that were approved anyway also get (exactly) one task.
        phases = {"before": [0, 0], "during": [0, 0], "after": [0, 0]}
        for u, at in rec.acked:
            ph = phases[self.phase(at)]
            ph[0] += 1
            ph[1] += 1 if u.result in tasks else 0
        out = self.stack.pg.psql("cases", f"SELECT count(*), count(published_at) FROM outbox WHERE topic = "
                                          f"'cases.case.decided' AND payload->>'case_id' IN {sql_list(approved)}")
        n_out, n_pub = (int(x) for x in out[0]) if out else (0, 0)
        stream = self.stream_event_ids("cases.case.decided", "case_id")
        on_stream = sum(1 for c in approved if stream.get(c))
        v.effects = (f"decided events {n_out}/{len(approved)} (published {n_pub}, on stream {on_stream}) → "
                     f"follow-up tasks {len(approved) - len(missing)}/{len(approved)}"
                     + (f", {extra} extra" if extra else "")
                     + " [tasks/approvals " + ", ".join(f"{ph} {t}/{n}" for ph, (n, t) in phases.items()) + "]")
        v.effects_ok = not missing and not extra and n_out == len(approved)
        if approved:
            v.notes.append(f"tasks settled {waited:.0f} s after the load" if not missing
                           else f"{len(missing)} approvals without a follow-up task after waiting {waited:.0f} s")
        if unpublished:
            v.notes.append(f"{unpublished} outbox rows still unpublished")
        return v
