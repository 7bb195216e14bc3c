#!/usr/bin/env python3
"""Offline check of docker-compose.yml (no Docker engine needed).

    python3 deploy/check_compose.py                       # the repository's docker-compose.yml
    python3 deploy/check_compose.py /tmp/x/compose.yml    # another file, e.g. an edited copy
    python3 deploy/check_compose.py --prometheus /tmp/x/prometheus.yml

It exits 1 and lists every problem it finds. It checks:

* The file against the Compose Specification's JSON schema, vendored in deploy/compose-spec/ and
  validated with the draft the schema declares. The YAML is read the way Compose reads it: YAML
  1.2 scalars (`yes`/`no`/`on` stay strings, `22:22` is not a number), merge keys (`<<:`), and a
  duplicate key is an error.
* The file against the launcher. Nothing is hard-coded here: the roles, ports and settings are
  read from the Rust sources.
  - roles: the `yiwang serve <role>` arms of src/main.rs, each with the `cfg.<x>_addr` it binds;
  - ports: the defaults of `YIWANG_<ROLE>_ADDR`, and the `YIWANG_<SERVICE>_URL` settings, in
    services/kit/src/config.rs;
  - who calls whom: the `cfg.<service>_url` reads in each role's crate (test modules skipped);
  - who seals personal data: `DataKey::from_config` in each role's crate.
  The check then requires:
  - exactly one compose service per role, with `command: ["serve", "<role>"]`;
  - its `YIWANG_<ROLE>_ADDR` listening on the role's port on all interfaces;
  - published ports that reach that port;
  - a healthcheck that probes http://127.0.0.1:<port>/readyz;
  - in the gateway, every `YIWANG_<SERVICE>_URL`. In every other role, the URL of each service
    its code calls. Each URL must be http://<that role's compose service>:<its port>;
  - `YIWANG_DATA_KEY`, with the same value everywhere, in each role that seals personal data;
  - `depends_on` naming existing services with no cycle, and the gateway depending on every
    service it calls;
  - a scrape job `<role>` in deploy/prometheus.yml targeting `<role's service>:<port>`.

Variables in the file (`${X:-default}`) are read as if none were set, so the defaults apply.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

try:
    import yaml
except ImportError:  # pragma: no cover - message for a bare machine
    sys.exit("check_compose: PyYAML is missing: pip install -r tests/requirements.txt")
try:
    import jsonschema
    from jsonschema.exceptions import best_match
except ImportError:  # pragma: no cover
    sys.exit("check_compose: jsonschema is missing: pip install -r tests/requirements.txt")

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "deploy/compose-spec/compose-spec.json"
COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS = ROOT / "deploy/prometheus.yml"
MAIN_RS = ROOT / "src/main.rs"
CONFIG_RS = ROOT / "services/kit/src/config.rs"
WORKSPACE = ROOT / "Cargo.toml"

WILDCARD_HOSTS = {"0.0.0.0", "::", "[::]"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------------------
# YAML as Compose reads it (go-yaml v3: YAML 1.2 core schema, merge keys, no duplicate keys)


class ComposeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans and numbers, and no timestamps.

    PyYAML follows YAML 1.1: it reads `yes`, `no`, `on` and `off` as booleans, `22:22` as a base-60
    number and `2025-01-01` as a date. Compose reads them as strings, so a file that Compose
    accepts could fail here, or the other way round.
    """

    yaml_implicit_resolvers: ClassVar[dict] = {
        first: [(tag, rx) for tag, rx in resolvers
                if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                               "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))
ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"))
ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"))


def _construct_int(loader, node):
    v = loader.construct_scalar(node)
    return int(v, 0) if v.startswith(("0o", "0x")) else int(v, 10)


ComposeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load_yaml(path: Path, errors: list[str]):
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=ComposeLoader)
    except OSError as e:
        errors.append(f"{rel(path)}: cannot read: {e}")
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        errors.append(f"{rel(path)}:{mark.line + 1 if mark else '?'}: not valid YAML: "
                      f"{e.problem or e.context}")
    except yaml.YAMLError as e:
        errors.append(f"{rel(path)}: not valid YAML: {e}")
    return None


# ------------------------------------------------------------------------------------------------
# The schema


def schema_validator(schema: dict):
    """The validator class of the draft the schema's `$schema` names (http/https, `#` ignored)."""
    def norm(uri: str) -> str:
        return re.sub(r"^https?://", "", uri.strip()).rstrip("#").rstrip("/")

    declared = schema.get("$schema")
    if not isinstance(declared, str):
        raise SystemExit(f"check_compose: {rel(SCHEMA)} declares no $schema")
    for cls in (jsonschema.Draft202012Validator, jsonschema.Draft201909Validator,
                jsonschema.Draft7Validator, jsonschema.Draft6Validator,
                jsonschema.Draft4Validator, jsonschema.Draft3Validator):
        meta = cls.META_SCHEMA.get("$id") or cls.META_SCHEMA.get("id", "")
        if norm(meta) == norm(declared):
            return cls
    raise SystemExit(f"check_compose: {rel(SCHEMA)}: unknown $schema {declared!r}")


def json_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_schema(doc, errors: list[str]) -> str:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = schema_validator(schema)
    cls.check_schema(schema)
    validator = cls(schema)
    for err in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            known = err.schema.get("properties", {})
            patterns = list(err.schema.get("patternProperties", {}))
            unknown = [k for k in err.instance if k not in known
                       and not any(re.search(rx, k) for rx in patterns)]
            msg = (f"schema: {json_path(err.absolute_path)}: unknown key(s) "
                   f"{', '.join(map(repr, unknown))} (not in the Compose Specification"
                   f"{'; extensions must start with x-' if '^x-' in patterns else ''})")
        elif err.context:
            # oneOf/anyOf: leave out the alternatives of another type altogether, then report
            # what fails in the closest one (the bad `condition`, not "is not an array").
            here = list(err.absolute_path)
            near = [e for e in err.context
                    if not (e.validator == "type" and list(e.absolute_path) == here)]
            closest = best_match(near or err.context)
            alternative = [e for e in (near or err.context)
                           if list(e.schema_path)[:1] == list(closest.schema_path)[:1]]
            msg = f"schema: {json_path(err.absolute_path)}: not valid (" + "; ".join(
                f"{json_path(e.absolute_path)}: {short(e.message)}" for e in alternative) + ")"
        else:
            msg = f"schema: {json_path(err.absolute_path)}: {short(err.message)}"
        errors.append(msg)
    return cls.__name__.removesuffix("Validator")


# ------------------------------------------------------------------------------------------------
# What the launcher expects, read from the Rust sources


def strip_tests(text: str) -> str:
    cut = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+", text)
    return text[: cut.start()] if cut else text


def crate_dirs(errors: list[str]) -> dict[str, Path]:
    """Rust crate name (yiwang_cases) -> its directory, from the workspace members."""
    dirs: dict[str, Path] = {}
    members = tomllib.loads(WORKSPACE.read_text(encoding="utf-8"))["workspace"]["members"]
    for m in members:
        manifest = ROOT / m / "Cargo.toml"
        try:
            name = tomllib.loads(manifest.read_text(encoding="utf-8"))["package"]["name"]
        except (OSError, KeyError, tomllib.TOMLDecodeError) as e:
            errors.append(f"sources: {rel(manifest)}: {e}")
            continue
        dirs[name.replace("-", "_")] = ROOT / m
    return dirs


class Launcher:
    """The roles of `yiwang serve`, their ports and settings, who calls whom, who seals."""

    def __init__(self, errors: list[str]):
        main_rs = MAIN_RS.read_text(encoding="utf-8")
        config_rs = strip_tests(CONFIG_RS.read_text(encoding="utf-8"))

        # role -> (crate, addr field) from the `Command::Serve` match of src/main.rs.
        start = main_rs.find("Command::Serve")
        end = main_rs.find("Command::", start + 1)
        serve = main_rs[start:end] if start >= 0 else ""
        arms = re.findall(
            r'"([a-z_]+)"\s*=>\s*\{?\s*(\w+)::serve\(\s*cfg\.clone\(\),\s*bind\(cfg\.(\w+)_addr\)',
            serve)
        if not arms:
            errors.append(f"sources: no `yiwang serve <role>` arms found in {rel(MAIN_RS)}")

        addrs = {f: (env, default) for f, env, default in re.findall(
            r'(\w+)_addr:\s*addr\(\s*"(YIWANG_\w+_ADDR)",\s*"([^"]+)"\s*\)', config_rs)}
        # service -> (env, default URL)
        self.url_env: dict[str, tuple[str, str]] = {f: (env, default) for f, env, default in re.findall(
            r'(\w+)_url:\s*var\(\s*"(YIWANG_\w+_URL)"\s*\)\s*\.unwrap_or_else\(\s*\|\|\s*"([^"]+)"',
            config_rs)}
        m = re.search(r'data_key:\s*var\(\s*"(\w+)"\s*\)', config_rs)
        self.data_key_env = m.group(1) if m else "YIWANG_DATA_KEY"
        if not m:
            errors.append(f"sources: `data_key: var(\"…\")` not found in {rel(CONFIG_RS)}")

        dirs = crate_dirs(errors)
        self.port: dict[str, int] = {}
        self.addr_env: dict[str, tuple[str, str]] = {}
        self.src: dict[str, Path] = {}
        for role, crate, field in arms:
            if field not in addrs:
                errors.append(f"sources: role {role} binds cfg.{field}_addr, which "
                              f"{rel(CONFIG_RS)} does not read with addr(\"…\", default)")
                continue
            env, default = addrs[field]
            self.addr_env[role] = (env, default)
            self.port[role] = int(default.rsplit(":", 1)[1])
            if crate not in dirs:
                errors.append(f"sources: role {role} runs {crate}::serve, not a workspace crate")
            else:
                self.src[role] = dirs[crate] / "src"
        self.roles = list(self.port)

        # A service's default URL must point at the port its role listens on by default.
        for svc, (env, default) in self.url_env.items():
            if svc not in self.port:
                errors.append(f"sources: {env} names {svc}, which is not a role of `yiwang serve`")
            elif urlsplit(default).port != self.port[svc]:
                errors.append(f"sources: {env} defaults to {default}, but {svc} listens on "
                              f"{self.port[svc]} ({self.addr_env[svc][0]})")

        # caller -> {callee: "file:line"}, and role -> "file:line" of its DataKey::from_config.
        self.calls: dict[str, dict[str, str]] = {r: {} for r in self.roles}
        self.seals: dict[str, str] = {}
        if not self.url_env:
            errors.append(f"sources: no `<service>_url: var(\"YIWANG_…_URL\")` in {rel(CONFIG_RS)}")
        use = re.compile(r"\.(" + "|".join(map(re.escape, self.url_env)) + r")_url\b")
        for role, src in self.src.items():
            for path in sorted(src.rglob("*.rs")):
                text = strip_tests(path.read_text(encoding="utf-8"))
                for m in use.finditer(text):
                    callee = m.group(1)
                    if callee != role and callee not in self.calls[role]:
                        line = text.count("\n", 0, m.start()) + 1
                        self.calls[role][callee] = f"{rel(path)}:{line}"
                m = re.search(r"\bDataKey::from_config\b", text)
                if m and role not in self.seals:
                    self.seals[role] = f"{rel(path)}:{text.count(chr(10), 0, m.start()) + 1}"


# ------------------------------------------------------------------------------------------------
# Reading compose values


_VAR = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}"
                  r"|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value):
    """A compose value with no variables set: `${X:-d}` -> d, `${X}` -> "", `$$` -> `$`."""
    if not isinstance(value, str):
        return value

    def sub(m):
        if m.group(0) == "$$":
            return "$"
        op, arg = m.group(2), m.group(3)
        if op in (":-", "-"):
            return interpolate(arg)
        return ""

    return _VAR.sub(sub, value)


def environment(svc: dict) -> dict[str, str | None]:
    """A service's `environment` (mapping or list form); None = passed through from the shell."""
    env = svc.get("environment") or {}
    if isinstance(env, dict):
        return {str(k): (None if v is None else str(v)) for k, v in env.items()}
    out: dict[str, str | None] = {}
    if isinstance(env, list):
        for item in env:
            k, eq, v = str(item).partition("=")
            out[k] = v if eq else None
    return out


def command(svc: dict) -> list[str] | None:
    cmd = svc.get("command")
    if isinstance(cmd, str):
        try:
            return shlex.split(cmd)
        except ValueError:
            return None
    if isinstance(cmd, list):
        return [str(c) for c in cmd]
    return None


def depends_on(svc: dict) -> dict[str, dict]:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {str(d): {} for d in deps}
    if isinstance(deps, dict):
        return {str(k): (v if isinstance(v, dict) else {}) for k, v in deps.items()}
    return {}


def published_targets(svc: dict) -> list[tuple[str, str]]:
    """(entry as written, container port) for each `ports` entry."""
    out = []
    ports = svc.get("ports")
    for p in ports if isinstance(ports, list) else []:
        if isinstance(p, dict):
            out.append((json.dumps(p), str(interpolate(p.get("target")))))
        else:
            text = str(interpolate(p))
            out.append((str(p), text.split("/", 1)[0].rsplit(":", 1)[-1]))
    return out


def host_port(value: str) -> tuple[str, int | None]:
    host, _, port = value.rpartition(":")
    return host, (int(port) if port.isdigit() else None)


# ------------------------------------------------------------------------------------------------
# The checks


def check_compose(doc, launcher: Launcher, errors: list[str], notes: list[str]) -> dict[str, str]:
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict):
        errors.append("compose: no `services` mapping")
        return {}
    services = {k: v for k, v in services.items() if isinstance(v, dict)}
    port = launcher.port

    # Which compose service runs which role.
    runs: dict[str, list[str]] = {r: [] for r in launcher.roles}
    for name, svc in services.items():
        cmd = command(svc)
        if cmd and cmd[0] == "serve":
            if len(cmd) == 2 and cmd[1] in runs:
                runs[cmd[1]].append(name)
            else:
                errors.append(f"{name}: command {cmd} is not `serve <role>` with a role of "
                              f"{rel(MAIN_RS)} ({', '.join(launcher.roles)})")
    service_of: dict[str, str] = {}
    for role, names in runs.items():
        if not names:
            errors.append(f"{role}: no compose service runs it "
                          f"(command: [\"serve\", \"{role}\"])")
        elif len(names) > 1:
            errors.append(f"{role}: run by several services ({', '.join(names)}); "
                          "the others' URLs and the scrape job can name only one")
        else:
            service_of[role] = names[0]
    role_of = {s: r for r, s in service_of.items()}

    for role, name in service_of.items():
        svc, env = services[name], environment(services[name])
        where = f"{name} (serve {role})"

        # Listening address.
        addr_var, addr_default = launcher.addr_env[role]
        raw = env.get(addr_var)
        addr = interpolate(raw) if raw else addr_default
        host, p = host_port(addr)
        if p != port[role]:
            errors.append(f"{where}: {addr_var}={raw!r} listens on port {p}, not the role's "
                          f"port {port[role]} ({rel(CONFIG_RS)})")
        if host not in WILDCARD_HOSTS:
            errors.append(f"{where}: {addr_var}={raw!r} listens on {host} only: the other "
                          "containers (and the published port) cannot reach it; use 0.0.0.0")

        # Published ports.
        for written, target in published_targets(svc):
            if target != str(port[role]):
                errors.append(f"{where}: ports entry {written!r} publishes container port "
                              f"{target}, but the role listens on {port[role]}")

        # Health check.
        hc = svc.get("healthcheck")
        if not isinstance(hc, dict) or hc.get("disable") is True:
            errors.append(f"{where}: no healthcheck (it should probe "
                          f"http://127.0.0.1:{port[role]}/readyz)")
        else:
            test = hc.get("test")
            text = " ".join(map(str, test)) if isinstance(test, list) else str(test or "")
            urls = [urlsplit(u) for u in re.findall(r"https?://[^\s\"']+", interpolate(text))]
            if not any(u.hostname and (u.hostname in LOOPBACK_HOSTS
                                       or f"[{u.hostname}]" in LOOPBACK_HOSTS)
                       and u.port == port[role] and u.path == "/readyz" for u in urls):
                probed = ", ".join(u.geturl() for u in urls) or "no URL"
                errors.append(f"{where}: healthcheck probes {probed}, not "
                              f"http://127.0.0.1:{port[role]}/readyz")

        # URLs of the services it calls.
        needed = dict(launcher.calls.get(role, {}))
        if role == "gateway":
            for svc_name in launcher.url_env:
                needed.setdefault(svc_name, "the gateway routes to every service")
        for callee, (url_var, url_default) in launcher.url_env.items():
            raw_url = env.get(url_var)
            if raw_url is None:
                if callee in needed:
                    errors.append(f"{where}: calls {callee} ({needed[callee]}) but does not set "
                                  f"{url_var}; the default {url_default} is its own container")
                continue
            if callee not in needed and callee != role:
                notes.append(f"{where}: sets {url_var}, but its code does not call {callee}")
            if callee not in service_of:
                continue  # reported above: no compose service runs it
            url = urlsplit(interpolate(raw_url))
            want_host, want_port = service_of[callee], port[callee]
            try:
                got_port = url.port
            except ValueError:
                got_port = None
            wrong = []
            if url.scheme != "http":
                wrong.append(f"scheme {url.scheme or 'missing'} (the gRPC channels are plain http)")
            if url.hostname != want_host:
                wrong.append(f"host {url.hostname} " + (
                    f"runs {role_of[url.hostname]}" if url.hostname in role_of
                    else "runs no Yiwang role" if url.hostname in services
                    else "is not a compose service") + f" (service {want_host} runs {callee})")
            if got_port != want_port:
                wrong.append(f"port {got_port}, {callee} listens on {want_port}")
            if url.path not in ("", "/") or url.query:
                wrong.append(f"path {url.path}{'?' + url.query if url.query else ''}")
            if wrong:
                errors.append(f"{where}: {url_var}={raw_url!r}: {'; '.join(wrong)}; "
                              f"expected http://{want_host}:{want_port}")

        # Sealing key.
        if role in launcher.seals and launcher.data_key_env not in env:
            errors.append(f"{where}: seals personal data ({launcher.seals[role]}) but has no "
                          f"{launcher.data_key_env}: it would use the built-in development key")

    # All sealing roles must share one key: a record sealed by one is opened by another.
    keys = {service_of[r]: environment(services[service_of[r]]).get(launcher.data_key_env)
            for r in launcher.seals if r in service_of
            and launcher.data_key_env in environment(services[service_of[r]])}
    if len(set(keys.values())) > 1:
        errors.append(f"{launcher.data_key_env} differs between the roles that seal personal "
                      f"data: " + ", ".join(f"{s}={v!r}" for s, v in sorted(keys.items())))

    # depends_on: existing targets, no cycles; the gateway waits for what it calls.
    for name, svc in services.items():
        for dep, spec in depends_on(svc).items():
            if dep not in services:
                errors.append(f"{name}: depends_on {dep!r}, which is not a service")
            elif spec.get("condition") == "service_healthy":
                hc = services[dep].get("healthcheck")
                if not isinstance(hc, dict) or hc.get("disable") is True:
                    notes.append(f"{name}: waits for {dep} to be healthy, but {dep} has no "
                                 "healthcheck here (only works if its image defines one)")
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]):
        state[n] = 1
        for d in depends_on(services[n]):
            if d not in services:
                continue
            if state.get(d) == 1:
                errors.append("depends_on cycle: " + " -> ".join(path[path.index(d):] + [d]))
            elif d not in state:
                visit(d, path + [d])
        state[n] = 2

    for n in services:
        if n not in state:
            visit(n, [n])
    if "gateway" in service_of:
        gw = service_of["gateway"]
        deps = depends_on(services[gw])
        for callee in launcher.url_env:
            target = service_of.get(callee)
            if target and target not in deps:
                errors.append(f"{gw} (serve gateway): no depends_on {target}: it would start "
                              f"before the {callee} service it routes to")
    return service_of


def check_prometheus(path: Path, launcher: Launcher, service_of: dict[str, str],
                     service_names: set[str], errors: list[str]) -> None:
    doc = load_yaml(path, errors)
    if doc is None:
        return
    jobs = doc.get("scrape_configs") if isinstance(doc, dict) else None
    if not isinstance(jobs, list):
        errors.append(f"{rel(path)}: no scrape_configs list")
        return
    targets: dict[str, set[str]] = {}
    for job in jobs:
        if not isinstance(job, dict):
            continue
        name = str(job.get("job_name"))
        ts = targets.setdefault(name, set())
        for sc in job.get("static_configs") or []:
            if isinstance(sc, dict) and isinstance(sc.get("targets"), list):
                ts.update(str(t) for t in sc["targets"])
        if name in launcher.port:
            if job.get("metrics_path", "/metrics") != "/metrics":
                errors.append(f"{rel(path)}: job {name}: metrics_path "
                              f"{job.get('metrics_path')!r}, the roles serve /metrics")
            if job.get("scheme", "http") != "http":
                errors.append(f"{rel(path)}: job {name}: scheme {job.get('scheme')!r}, "
                              "the roles serve plain HTTP")
        for t in ts:
            host, _ = host_port(t)
            if host not in service_names and host not in LOOPBACK_HOSTS:
                errors.append(f"{rel(path)}: job {name}: target {t} is not a compose service")
    for role, port in launcher.port.items():
        want = f"{service_of.get(role, role)}:{port}"
        if want not in targets.get(role, set()):
            elsewhere = [j for j, ts in targets.items() if want in ts]
            hint = (f" (job {', '.join(elsewhere)} scrapes it: name the job {role})" if elsewhere
                    else f" (job {role} targets {sorted(targets[role]) or 'nothing'})"
                    if role in targets else "")
            errors.append(f"{rel(path)}: no scrape job {role} with target {want}{hint}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("compose", nargs="?", type=Path, default=COMPOSE,
                    help="the compose file (default: docker-compose.yml)")
    ap.add_argument("--prometheus", type=Path, default=PROMETHEUS,
                    help="the Prometheus configuration (default: deploy/prometheus.yml)")
    args = ap.parse_args()

    errors: list[str] = []
    notes: list[str] = []
    launcher = Launcher(errors)
    doc = load_yaml(args.compose, errors)
    draft = "?"
    service_of: dict[str, str] = {}
    if doc is not None:
        draft = check_schema(doc, errors)
        service_of = check_compose(doc, launcher, errors, notes)
        services = doc.get("services") if isinstance(doc, dict) else None
        names = set(services) if isinstance(services, dict) else set()
        check_prometheus(args.prometheus, launcher, service_of, names, errors)

    print(f"compose file: {rel(args.compose)}; schema: {rel(SCHEMA)} ({draft})")
    print(f"roles ({rel(MAIN_RS)}, {rel(CONFIG_RS)}):")
    for role in launcher.roles:
        calls = ", ".join(sorted(launcher.calls.get(role, {}))) or "-"
        seals = "seals personal data" if role in launcher.seals else ""
        print(f"  {role:12} :{launcher.port[role]:<6} service {service_of.get(role, '?'):12} "
              f"calls {calls}{'; ' + seals if seals else ''}")
    for n in notes:
        print(f"note: {n}")
    if errors:
        print(f"\n{len(errors)} problem(s) in {rel(args.compose)} / {rel(args.prometheus)}:",
              file=sys.stderr)
        for e in errors:
            print(f"  - {e}", file=sys.stderr)
        return 1
    print(f"{rel(args.compose)}: ok (schema, roles, ports, health checks, URLs, data key, "
          "depends_on, Prometheus scrape jobs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
