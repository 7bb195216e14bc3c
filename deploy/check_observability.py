#!/usr/bin/env python3
"""Offline checks of the operator's view: Grafana dashboards and provisioning, Prometheus rules.

    python3 deploy/check_observability.py            # from anywhere; exits 1 on any problem
    python3 deploy/check_observability.py --assume yiwang_new_metric,yiwang_other

What it checks, without Grafana, Prometheus or a running stack:

* every dashboard in deploy/grafana/dashboards loads as JSON, has a uid (unique), a title and
  panels; every panel has a datasource the provisioning defines and at least one PromQL target;
  the template variables used in expressions are defined;
* every PromQL expression (panel targets, variable queries, alerting rules) parses, with the
  promql-parser package (a binding of the Rust promql-parser crate; tests/requirements.txt);
* every metric name those expressions select is exported: the allowed names are found by
  scanning the Rust sources (services/, gateway/, src/) for `counter!("…"`, `gauge!("…"` and
  `histogram!("…"` (a histogram is exposed as `<name>_bucket`, `_sum` and `_count`), plus
  Prometheus's own series (`up`, `ALERTS`, `scrape_*`);
* the labels an expression filters a metric on are labels the sources give it (or `job`,
  `instance` that Prometheus adds), and the labels a legend (`{{service}}`) or an alert
  annotation (`{{ $labels.service }}`) prints are in the expression's result;
* deploy/prometheus-rules.yml: groups -> rules, each with alert, expr, for, labels.severity,
  annotations.summary and annotations.description; deploy/prometheus.yml names it in
  `rule_files`;
* docker-compose.yml: the `grafana` and `prometheus` services mount files that exist, Grafana
  read-only and from a pinned image, at the paths the provisioning and `rule_files` expect.

`--assume` adds metric names to the allowed list (for a metric whose code is not written yet);
the default run allows only what the sources export. When `promtool` is on PATH its
`check rules` runs as well; nothing depends on it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - message for a bare machine
    sys.exit("check_observability: PyYAML is missing: pip install -r tests/requirements.txt")
try:
    import promql_parser as pq
except ImportError:  # pragma: no cover
    sys.exit("check_observability: promql-parser is missing: pip install -r tests/requirements.txt")

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("services", "gateway", "src")
DASHBOARDS = ROOT / "deploy/grafana/dashboards"
DATASOURCES = ROOT / "deploy/grafana/provisioning/datasources"
DASHBOARD_PROVIDERS = ROOT / "deploy/grafana/provisioning/dashboards"
RULES = ROOT / "deploy/prometheus-rules.yml"
PROMETHEUS = ROOT / "deploy/prometheus.yml"
COMPOSE = ROOT / "docker-compose.yml"

# Series Prometheus makes itself: per scrape target, and for alerting rules.
BUILTIN_METRICS = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
}
# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = {"job", "instance"}
# The labels of the built-in series (ALERTS carries each rule's own: not known here).
BUILTIN_LABELS = {
    name: TARGET_LABELS for name in BUILTIN_METRICS if name not in ("ALERTS", "ALERTS_FOR_STATE")
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
SEVERITIES = {"critical", "warning", "info"}

# Grafana's global variables, and a value that keeps the expression valid PromQL where they stand
# (inside a range `[...]`, or as a number).
GRAFANA_GLOBALS = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "__interval_ms": "60000",
    "__dashboard": "x",
    "__org": "1",
    "__user": "x",
}
VAR_RE = re.compile(
    r"\$\{(?P<braced>[A-Za-z_]\w*)(?::[^}]*)?\}|\[\[(?P<old>[A-Za-z_]\w*)(?::[^\]]*)?\]\]"
    r"|\$(?P<plain>[A-Za-z_]\w*)"
)
LEGEND_LABEL_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
ANNOTATION_LABEL_RE = re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)")
MACRO_RE = re.compile(r"\b(?:metrics::)?(counter|gauge|histogram)!\s*\(")
METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")


# --- What the services export ----------------------------------------------------------------


@dataclass
class Metric:
    kind: str  # counter | gauge | histogram | assumed
    labels: set[str] = field(default_factory=set)
    # False when a call site passes labels the scan cannot read (a variable, not `"k" => v`).
    labels_known: bool = True
    sites: list[str] = field(default_factory=list)


def _macro_args(text: str, start: int) -> str:
    """The text between the macro's parentheses, `start` just past the opening one."""
    depth, i, in_str = 1, start, False
    while i < len(text) and depth:
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        i += 1
    return text[start : i - 1]


def scan_sources(root: Path) -> tuple[dict[str, Metric], list[str]]:
    """Metric names (and their label keys) from the metrics macros in the Rust sources."""
    metrics: dict[str, Metric] = {}
    unreadable: list[str] = []
    for top in SOURCE_DIRS:
        base = root / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.rs")):
            if "target" in path.relative_to(root).parts:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for m in MACRO_RE.finditer(text):
                if "//" in text[text.rfind("\n", 0, m.start()) + 1 : m.start()]:
                    continue  # in a comment
                kind = m.group(1)
                args = _macro_args(text, m.end())
                line = text.count("\n", 0, m.start()) + 1
                site = f"{path.relative_to(root)}:{line}"
                name_m = re.match(r'\s*"([^"]+)"\s*(?:,|$)', args)
                if not name_m:
                    # A name held in a constant or built at run time: the scan cannot see it.
                    unreadable.append(f"{site}: {kind}!({args.strip()[:60]}…)")
                    continue
                name = name_m.group(1)
                rest = args[name_m.end() :]
                keys = set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*=>', rest))
                entry = metrics.setdefault(name, Metric(kind))
                if entry.kind != kind:
                    entry.kind = "conflict"
                entry.labels |= keys
                entry.sites.append(site)
                # Labels passed another way than `"key" => value` (a `&labels` slice, …).
                leftover = re.sub(r'"[A-Za-z_][A-Za-z0-9_]*"\s*=>\s*[^,]+', "", rest)
                if leftover.strip(" \t\n,"):
                    entry.labels_known = False
    return metrics, unreadable


# --- PromQL ------------------------------------------------------------------------------------


class Checker:
    def __init__(self, metrics: dict[str, Metric], assumed: set[str]):
        self.metrics = metrics
        self.assumed = assumed
        self.recorded: set[str] = set()
        self.errors: list[str] = []
        self.used: dict[str, set[str]] = {}  # metric name -> where it is used

    def error(self, where: str, msg: str) -> None:
        text = f"{where}: {msg}"
        if text not in self.errors:  # one selector used twice in an expression: one message
            self.errors.append(text)

    # Which exported metric a selected series name belongs to, and its label keys.
    def resolve(self, name: str) -> tuple[str | None, Metric | None, str]:
        """(base name, metric, reason-if-unknown). metric None with base set = built-in/assumed."""
        if name in BUILTIN_METRICS or name in self.assumed or name in self.recorded:
            return name, None, ""
        m = self.metrics.get(name)
        if m is not None and m.kind != "histogram":
            return name, m, ""
        if m is not None:
            return None, None, (
                f"`{name}` is a histogram: it is exported as {name}_bucket, {name}_sum and "
                f"{name}_count, never under the bare name"
            )
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix):
                base = name[: -len(suffix)]
                h = self.metrics.get(base)
                if h is not None and h.kind == "histogram":
                    labels = set(h.labels) | ({"le"} if suffix == "_bucket" else set())
                    return base, Metric("histogram", labels, h.labels_known, h.sites), ""
                if base in self.assumed:
                    return base, None, ""
        hint = ""
        close = [n for n in self.metrics if _similar(n, name)]
        if close:
            hint = f" (did you mean {', '.join(sorted(close))}?)"
        return None, None, f"metric `{name}` is not exported by any service{hint}"

    def check_expr(self, where: str, expr: str, printed: set[str] | None = None,
                   printed_what: str = "legend prints") -> None:
        """Parses `expr`, checks its metrics and labels, and that `printed` labels are in its result."""
        try:
            ast = pq.parse(expr)
        except Exception as e:  # the binding raises ValueError with the parser's message
            self.error(where, f"PromQL does not parse: {e}\n      {expr.strip()}")
            return
        selectors: list = []

        def visit(node):
            if isinstance(node, pq.VectorSelector):
                selectors.append(node)
            return True

        pq.walk(ast, visit)
        for sel in selectors:
            self._check_selector(where, sel)
        self._check_grouping(where, ast)
        if printed:
            out = self.output_labels(ast)
            if out is not None:
                missing = sorted(printed - out)
                if missing:
                    self.error(where, (
                        f"the {printed_what} label(s) {', '.join(missing)} that the "
                        f"expression's result does not have (it has: "
                        f"{', '.join(sorted(out)) or 'none'})\n      {expr.strip()}"))

    def _check_selector(self, where: str, sel) -> None:
        name = sel.name
        matchers = list(sel.matchers.matchers)
        for group in getattr(sel.matchers, "or_matchers", None) or []:
            matchers.extend(group)
        if name is None:
            for m in matchers:
                if m.name == "__name__" and m.op == pq.MatchOp.Equal:
                    name = m.value
            if name is None:
                names = [m for m in matchers if m.name == "__name__"]
                if names:
                    # A regex over names: it must select at least one exported metric.
                    pattern = re.compile(names[0].value)
                    exported = self._exposed_names()
                    if not any(pattern.fullmatch(n) for n in exported):
                        self.error(where, f"`{sel}` selects no exported metric")
                else:
                    self.error(where, f"`{sel}` has no metric name")
                return
        base, metric, why = self.resolve(name)
        if base is None:
            self.error(where, why)
            return
        self.used.setdefault(base, set()).add(where.split(":")[0])
        if metric is None or not metric.labels_known:
            return  # built-in, recorded or assumed: labels not known here
        allowed = metric.labels | TARGET_LABELS
        for m in matchers:
            if m.name == "__name__" or m.name in allowed:
                continue
            self.error(where, (
                f"`{name}` is filtered on label `{m.name}`, which the services never set on it "
                f"(its labels: {', '.join(sorted(allowed))}); the selector would match nothing "
                f"or everything"))

    def _check_grouping(self, where: str, ast) -> None:
        """`sum by (x) (metric)` where metric never has x: one unlabelled series, silently."""

        def visit(node):
            if isinstance(node, pq.AggregateExpr) and node.modifier is not None \
                    and node.modifier.type == pq.AggModifierType.By:
                have = self.output_labels(node.expr)
                if have is not None:
                    missing = [l for l in node.modifier.labels if l not in have]
                    if missing:
                        self.error(where, (
                            f"`{str(node.op).strip()} by ({', '.join(node.modifier.labels)})` "
                            f"groups by {', '.join(missing)}, which its input does not have "
                            f"(it has: {', '.join(sorted(have)) or 'none'})"))
            return True

        pq.walk(ast, visit)

    def output_labels(self, node) -> set[str] | None:
        """Label names of the expression's result series; None when not known here."""
        if isinstance(node, pq.VectorSelector):
            if node.name is None:
                return None
            if node.name in BUILTIN_LABELS:
                return set(BUILTIN_LABELS[node.name])
            base, metric, _ = self.resolve(node.name)
            if base is None or metric is None or not metric.labels_known:
                return None
            return set(metric.labels) | TARGET_LABELS
        if isinstance(node, pq.MatrixSelector):
            return self.output_labels(node.vector_selector)
        if isinstance(node, (pq.ParenExpr, pq.UnaryExpr, pq.SubqueryExpr)):
            return self.output_labels(node.expr)
        if isinstance(node, (pq.NumberLiteral, pq.StringLiteral)):
            return set()
        if isinstance(node, pq.AggregateExpr):
            op = str(node.op).strip()
            inner = self.output_labels(node.expr)
            if op in ("topk", "bottomk", "limitk", "limit_ratio"):
                return inner
            if op == "count_values" and node.param is not None:
                extra = {str(node.param).strip('"')}
            else:
                extra = set()
            if node.modifier is None:
                return extra
            if node.modifier.type == pq.AggModifierType.By:
                return set(node.modifier.labels) | extra
            return None if inner is None else (inner - set(node.modifier.labels)) | extra
        if isinstance(node, pq.Call):
            fname = node.func.name
            args = list(node.args)
            if fname in ("label_replace", "label_join"):
                inner = self.output_labels(args[0])
                dst = args[1]
                if inner is None or not isinstance(dst, pq.StringLiteral):
                    return None
                return inner | {dst.val}
            if fname in ("time", "vector", "scalar", "pi"):
                return set()
            if fname in ("absent", "absent_over_time"):
                return None
            if fname == "histogram_quantile":
                inner = self.output_labels(args[1])
                return None if inner is None else inner - {"le"}
            vec_args = [a for a in args if not isinstance(a, (pq.NumberLiteral, pq.StringLiteral))]
            if not vec_args:
                return set()
            return self.output_labels(vec_args[0])
        if isinstance(node, pq.BinaryExpr):
            lhs, rhs = self.output_labels(node.lhs), self.output_labels(node.rhs)
            op = str(node.op).strip()
            if _is_scalar(node.lhs):
                return rhs
            if _is_scalar(node.rhs):
                return lhs
            if op == "or":
                return None if lhs is None or rhs is None else lhs & rhs
            mod = node.modifier
            if mod is not None and mod.card == pq.VectorMatchCardinality.OneToMany:
                return None if rhs is None else rhs | set(mod.group_labels or [])
            if mod is not None and mod.card == pq.VectorMatchCardinality.ManyToOne:
                return None if lhs is None else lhs | set(mod.group_labels or [])
            return lhs
        return None

    def _exposed_names(self) -> set[str]:
        out = set(BUILTIN_METRICS) | self.assumed | self.recorded
        for name, m in self.metrics.items():
            if m.kind == "histogram":
                out |= {name + s for s in HISTOGRAM_SUFFIXES}
            else:
                out.add(name)
        return out


def _is_scalar(node) -> bool:
    while isinstance(node, (pq.ParenExpr, pq.UnaryExpr)):
        node = node.expr
    if isinstance(node, pq.NumberLiteral):
        return True
    if isinstance(node, pq.Call) and node.func.name in ("time", "scalar", "pi"):
        return True
    if isinstance(node, pq.BinaryExpr):
        return _is_scalar(node.lhs) and _is_scalar(node.rhs)
    return False


def _similar(a: str, b: str) -> bool:
    """Names one or two edits apart (a misspelling), or one a prefix-variant of the other."""
    if abs(len(a) - len(b)) > 2:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] <= 2


# --- Grafana -------------------------------------------------------------------------------------


def substitute_vars(expr: str, defined: set[str]) -> tuple[str, list[str]]:
    """Replaces Grafana variables with values that keep the PromQL valid; returns unknown ones."""
    unknown: list[str] = []

    def repl(m: re.Match) -> str:
        name = m.group("braced") or m.group("old") or m.group("plain")
        if name in GRAFANA_GLOBALS:
            return GRAFANA_GLOBALS[name]
        if name not in defined:
            unknown.append(name)
        return "x"

    return VAR_RE.sub(repl, expr), unknown


def iter_panels(panels: list) -> list:
    out = []
    for p in panels:
        out.append(p)
        out.extend(iter_panels(p.get("panels") or []))
    return out


def check_provisioning(chk: Checker) -> tuple[set[str], set[str]]:
    """Datasource uids and dashboard provider paths the provisioning defines."""
    uids: set[str] = set()
    paths: set[str] = set()
    files = sorted(DATASOURCES.glob("*.y*ml")) if DATASOURCES.is_dir() else []
    if not files:
        chk.error(str(DATASOURCES.relative_to(ROOT)), "no datasource provisioning file")
    for f in files:
        where = str(f.relative_to(ROOT))
        try:
            doc = yaml.safe_load(f.read_text()) or {}
        except yaml.YAMLError as e:
            chk.error(where, f"not valid YAML: {e}")
            continue
        if doc.get("apiVersion") != 1:
            chk.error(where, "apiVersion must be 1")
        for ds in doc.get("datasources") or []:
            for key in ("name", "type", "uid", "url"):
                if not ds.get(key):
                    chk.error(where, f"datasource {ds.get('name', '?')} has no `{key}`")
            if ds.get("uid"):
                uids.add(ds["uid"])
            if ds.get("type") == "prometheus" and ds.get("url") != "http://prometheus:9090":
                chk.error(where, f"Prometheus datasource url {ds.get('url')!r} is not the compose "
                                 "service (http://prometheus:9090)")
    files = sorted(DASHBOARD_PROVIDERS.glob("*.y*ml")) if DASHBOARD_PROVIDERS.is_dir() else []
    if not files:
        chk.error(str(DASHBOARD_PROVIDERS.relative_to(ROOT)), "no dashboard provider file")
    for f in files:
        where = str(f.relative_to(ROOT))
        try:
            doc = yaml.safe_load(f.read_text()) or {}
        except yaml.YAMLError as e:
            chk.error(where, f"not valid YAML: {e}")
            continue
        if doc.get("apiVersion") != 1:
            chk.error(where, "apiVersion must be 1")
        providers = doc.get("providers") or []
        if not providers:
            chk.error(where, "no providers")
        for p in providers:
            if p.get("type") != "file":
                chk.error(where, f"provider {p.get('name')}: type must be `file`")
            path = (p.get("options") or {}).get("path")
            if not path:
                chk.error(where, f"provider {p.get('name')}: no options.path")
            else:
                paths.add(path)
    return uids, paths


def check_dashboards(chk: Checker, ds_uids: set[str]) -> int:
    files = sorted(DASHBOARDS.glob("*.json")) if DASHBOARDS.is_dir() else []
    if not files:
        chk.error(str(DASHBOARDS.relative_to(ROOT)), "no dashboards")
    seen_uids: dict[str, str] = {}
    n_exprs = 0
    for f in files:
        where = str(f.relative_to(ROOT))
        try:
            dash = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            chk.error(where, f"not valid JSON: {e}")
            continue
        if not isinstance(dash, dict):
            chk.error(where, "not a dashboard object")
            continue
        for key in ("uid", "title", "panels", "schemaVersion"):
            if not dash.get(key):
                chk.error(where, f"no `{key}`")
        uid = dash.get("uid")
        if uid:
            if uid in seen_uids:
                chk.error(where, f"uid {uid!r} is also the uid of {seen_uids[uid]}")
            seen_uids[uid] = where
            if len(uid) > 40:
                chk.error(where, f"uid {uid!r} is longer than Grafana's 40 characters")

        variables = (dash.get("templating") or {}).get("list") or []
        defined = {v.get("name") for v in variables if v.get("name")}
        for v in variables:
            vwhere = f"{where}: variable ${v.get('name')}"
            if v.get("type") != "query":
                continue
            _check_datasource(chk, vwhere, v.get("datasource"), ds_uids)
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            n_exprs += _check_variable_query(chk, vwhere, q, defined)

        panel_ids: set[int] = set()
        for p in iter_panels(dash.get("panels") or []):
            title = p.get("title") or "(untitled)"
            pwhere = f"{where}: panel {p.get('id')} {title!r}"
            if p.get("id") in panel_ids:
                chk.error(pwhere, "panel id used twice")
            panel_ids.add(p.get("id"))
            if not p.get("title"):
                chk.error(pwhere, "no title")
            if not isinstance(p.get("gridPos"), dict):
                chk.error(pwhere, "no gridPos")
            if p.get("type") == "row":
                continue
            _check_datasource(chk, pwhere, p.get("datasource"), ds_uids)
            targets = p.get("targets") or []
            if not targets:
                chk.error(pwhere, "no targets")
            for t in targets:
                twhere = f"{pwhere} target {t.get('refId', '?')}"
                if "datasource" in t:
                    _check_datasource(chk, twhere, t["datasource"], ds_uids)
                expr = t.get("expr")
                if not expr or not str(expr).strip():
                    chk.error(twhere, "no PromQL `expr`")
                    continue
                text, unknown = substitute_vars(expr, defined)
                for name in unknown:
                    chk.error(twhere, f"uses ${name}, which the dashboard does not define")
                legend = t.get("legendFormat") or ""
                printed = set(LEGEND_LABEL_RE.findall(legend))
                chk.check_expr(twhere, text, printed, "legend prints")
                n_exprs += 1
    return n_exprs


def _check_datasource(chk: Checker, where: str, ds, uids: set[str]) -> None:
    if not ds:
        chk.error(where, "no datasource")
        return
    if isinstance(ds, str):
        chk.error(where, f"datasource given by name {ds!r}; use {{type, uid}}")
        return
    uid = ds.get("uid")
    if not uid:
        chk.error(where, "datasource has no uid")
    elif not uid.startswith("$") and uid not in uids:
        # Reported once per file: it is usually the same uid on every panel.
        chk.error(where.split(":")[0], f"datasource uid {uid!r} is not provisioned "
                                       f"(have: {', '.join(sorted(uids)) or 'none'})")
    if ds.get("type") not in (None, "prometheus", "datasource"):
        chk.error(where, f"datasource type {ds.get('type')!r} is not prometheus")


def _check_variable_query(chk: Checker, where: str, q: str, defined: set[str]) -> int:
    q = q.strip()
    if not q:
        chk.error(where, "empty query")
        return 0
    text, unknown = substitute_vars(q, defined)
    for name in unknown:
        chk.error(where, f"uses ${name}, which the dashboard does not define")
    m = re.fullmatch(r"label_values\((.*)\)", text, re.S)
    if m:
        inner = m.group(1)
        if "," not in inner:
            return 0  # label_values(label): every series, nothing to check
        selector, label = inner.rsplit(",", 1)
        label = label.strip()
        chk.check_expr(where, selector, {label}, "variable lists")
        return 1
    m = re.fullmatch(r"query_result\((.*)\)", text, re.S)
    if m:
        chk.check_expr(where, m.group(1))
        return 1
    if re.fullmatch(r"(label_names|metrics)\(.*\)", text, re.S):
        return 0
    chk.error(where, f"unrecognised variable query {q!r}")
    return 0


# --- Prometheus --------------------------------------------------------------------------------


def check_rules(chk: Checker) -> int:
    where = str(RULES.relative_to(ROOT))
    if not RULES.is_file():
        chk.error(where, "missing")
        return 0
    try:
        doc = yaml.safe_load(RULES.read_text())
    except yaml.YAMLError as e:
        chk.error(where, f"not valid YAML: {e}")
        return 0
    groups = (doc or {}).get("groups") if isinstance(doc, dict) else None
    if not isinstance(groups, list) or not groups:
        chk.error(where, "no `groups` list")
        return 0
    # Recording rules first: their names may be used by other rules.
    for g in groups:
        for r in (g or {}).get("rules") or []:
            if isinstance(r, dict) and r.get("record"):
                chk.recorded.add(r["record"])
    names: set[str] = set()
    alerts: set[str] = set()
    n = 0
    for gi, g in enumerate(groups):
        gname = (g or {}).get("name")
        gwhere = f"{where}: group {gname or gi}"
        if not gname:
            chk.error(gwhere, "no `name`")
        elif gname in names:
            chk.error(gwhere, "group name used twice")
        names.add(gname)
        if g.get("interval"):
            _check_duration(chk, gwhere, "interval", g["interval"])
        rules = g.get("rules")
        if not isinstance(rules, list) or not rules:
            chk.error(gwhere, "no `rules` list")
            continue
        for ri, r in enumerate(rules):
            if not isinstance(r, dict):
                chk.error(f"{gwhere} rule {ri}", "not a mapping")
                continue
            rname = r.get("alert") or r.get("record")
            rwhere = f"{gwhere}: {rname or f'rule {ri}'}"
            known = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
            for key in sorted(set(r) - known):
                chk.error(rwhere, f"unknown key `{key}`")
            expr = r.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                chk.error(rwhere, "no `expr`")
                continue
            n += 1
            if r.get("record"):
                if not METRIC_NAME_RE.match(r["record"]):
                    chk.error(rwhere, "record is not a valid metric name")
                chk.check_expr(rwhere, expr)
                continue
            if not r.get("alert"):
                chk.error(rwhere, "neither `alert` nor `record`")
                continue
            if r["alert"] in alerts:
                chk.error(rwhere, "alert name used twice")
            alerts.add(r["alert"])
            if "for" not in r:
                chk.error(rwhere, "no `for` (an alert should hold before it fires)")
            else:
                _check_duration(chk, rwhere, "for", r["for"])
            labels = r.get("labels") or {}
            if labels.get("severity") not in SEVERITIES:
                chk.error(rwhere, f"labels.severity must be one of {', '.join(sorted(SEVERITIES))}")
            ann = r.get("annotations") or {}
            for key in ("summary", "description"):
                if not isinstance(ann.get(key), str) or not ann[key].strip():
                    chk.error(rwhere, f"no annotations.{key}")
            text = " ".join(str(v) for v in ann.values())
            if "$labels.service" not in str(ann.get("summary", "")):
                chk.error(rwhere, "annotations.summary does not name the role ({{ $labels.service }})")
            printed = set(ANNOTATION_LABEL_RE.findall(text))
            chk.check_expr(rwhere, expr, printed, "annotations print")
    return n


def _check_duration(chk: Checker, where: str, key: str, value) -> None:
    try:
        pq.parse_duration(str(value))
    except Exception as e:
        chk.error(where, f"`{key}: {value}` is not a duration: {e}")


def check_prometheus_config(chk: Checker) -> list[str]:
    """The rule_files of deploy/prometheus.yml (as written: relative to the file)."""
    where = str(PROMETHEUS.relative_to(ROOT))
    try:
        doc = yaml.safe_load(PROMETHEUS.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        chk.error(where, f"cannot read: {e}")
        return []
    files = doc.get("rule_files") or []
    if not files:
        chk.error(where, "no `rule_files`: the alerting rules would not be loaded")
    for f in files:
        if not (PROMETHEUS.parent / f).is_file() and not os.path.isabs(f):
            chk.error(where, f"rule_files entry {f!r} does not exist beside the file")
    return files


def check_compose(chk: Checker, provider_paths: set[str], rule_files: list[str]) -> None:
    where = str(COMPOSE.relative_to(ROOT))
    try:
        doc = yaml.safe_load(COMPOSE.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        chk.error(where, f"cannot read: {e}")
        return
    services = doc.get("services") or {}

    def mounts(name: str) -> list[tuple[str, str, str]]:
        out = []
        for v in (services.get(name) or {}).get("volumes") or []:
            if isinstance(v, dict):
                out.append((v.get("source", ""), v.get("target", ""),
                            "ro" if v.get("read_only") else ""))
                continue
            parts = str(v).split(":")
            out.append((parts[0], parts[1] if len(parts) > 1 else "",
                        parts[2] if len(parts) > 2 else ""))
        return out

    for name in ("grafana", "prometheus"):
        swhere = f"{where}: service {name}"
        if name not in services:
            chk.error(swhere, "missing")
            continue
        for src, dst, mode in mounts(name):
            if not src.startswith((".", "/")):
                continue  # a named volume
            host = (COMPOSE.parent / src).resolve()
            if not host.exists():
                chk.error(swhere, f"mounts {src}, which does not exist")
            if "ro" not in mode.split(","):
                chk.error(swhere, f"mounts {src} writable; make it `:ro`")

    grafana = services.get("grafana") or {}
    image = str(grafana.get("image", ""))
    if not re.fullmatch(r"grafana/grafana(-oss)?:\d+\.\d+\.\d+", image):
        chk.error(f"{where}: service grafana", f"image {image!r} is not grafana/grafana-oss:<x.y.z>")
    targets = {dst: (COMPOSE.parent / src).resolve() for src, dst, _ in mounts("grafana")}
    for path in provider_paths:
        if targets.get(path) != DASHBOARDS.resolve():
            chk.error(f"{where}: service grafana",
                      f"the dashboard provider reads {path}, where deploy/grafana/dashboards is not mounted")
    for sub, local in (("datasources", DATASOURCES), ("dashboards", DASHBOARD_PROVIDERS)):
        dst = f"/etc/grafana/provisioning/{sub}"
        if targets.get(dst) != local.resolve() and \
                targets.get("/etc/grafana/provisioning") != local.parent.resolve():
            chk.error(f"{where}: service grafana", f"{local.relative_to(ROOT)} is not mounted at {dst}")

    prom = {dst: (COMPOSE.parent / src).resolve() for src, dst, _ in mounts("prometheus")}
    config_dst = next((d for d, s in prom.items() if s == PROMETHEUS.resolve()), None)
    if config_dst is None:
        chk.error(f"{where}: service prometheus", "deploy/prometheus.yml is not mounted")
        return
    for f in rule_files:
        dst = f if os.path.isabs(f) else os.path.normpath(os.path.join(os.path.dirname(config_dst), f))
        local = (PROMETHEUS.parent / f).resolve() if not os.path.isabs(f) else None
        if dst not in prom:
            chk.error(f"{where}: service prometheus",
                      f"rule_files names {f}, but nothing is mounted at {dst}")
        elif local is not None and prom[dst] != local:
            chk.error(f"{where}: service prometheus",
                      f"{dst} is mounted from {prom[dst]}, not {local}")
    if RULES.resolve() not in prom.values():
        chk.error(f"{where}: service prometheus", "deploy/prometheus-rules.yml is not mounted")


def run_promtool(chk: Checker) -> str:
    tool = shutil.which("promtool")
    if not tool:
        return "promtool not on PATH: skipped (optional)"
    r = subprocess.run([tool, "check", "rules", str(RULES)], capture_output=True, text=True)
    if r.returncode != 0:
        chk.error(str(RULES.relative_to(ROOT)), f"promtool check rules:\n{r.stdout}{r.stderr}")
        return "promtool check rules: FAILED"
    return "promtool check rules: ok"


# --- Main ----------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assume", action="append", default=[], metavar="NAME[,NAME…]",
                    help="also allow these metric names (metrics whose code is not written yet); "
                         "never needed once the sources export them")
    ap.add_argument("--list-metrics", action="store_true",
                    help="print the metrics the sources export, with their labels, and exit")
    args = ap.parse_args()
    assumed = {n.strip() for a in args.assume for n in a.split(",") if n.strip()}

    metrics, unreadable = scan_sources(ROOT)
    if args.list_metrics:
        for name, m in sorted(metrics.items()):
            print(f"{m.kind:9} {name} {{{', '.join(sorted(m.labels))}}}")
        return 0
    chk = Checker(metrics, assumed)
    for name in sorted(assumed):
        if name in metrics:
            print(f"note: --assume {name}: the sources export it already; the flag is not needed")
        elif not METRIC_NAME_RE.match(name):
            chk.error("--assume", f"{name!r} is not a metric name")
    for name, m in sorted(metrics.items()):
        if m.kind == "conflict":
            chk.error(m.sites[0], f"`{name}` is recorded as different kinds of metric: {', '.join(m.sites)}")

    ds_uids, provider_paths = check_provisioning(chk)
    n_dash = check_dashboards(chk, ds_uids)
    rule_files = check_prometheus_config(chk)
    n_rules = check_rules(chk)
    check_compose(chk, provider_paths, rule_files)
    promtool = run_promtool(chk)

    print(f"exported by the sources: {len(metrics)} metrics"
          + (f" (+ {len(assumed)} assumed: {', '.join(sorted(assumed))})" if assumed else ""))
    for site in unreadable:
        print(f"note: metric name not a literal, not scanned: {site}")
    print(f"checked: {n_dash} dashboard expressions, {n_rules} rules")
    print(f"metrics used: {', '.join(sorted(chk.used))}")
    print(promtool)
    if chk.errors:
        print(f"\n{len(chk.errors)} problem(s):", file=sys.stderr)
        for e in chk.errors:
            print(f"  - {e}", file=sys.stderr)
        return 1
    print("observability config: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
