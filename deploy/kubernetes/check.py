#!/usr/bin/env python3
"""Offline check of the Kubernetes manifests (deploy/kubernetes): no cluster, no network.

    python3 deploy/kubernetes/check.py                 # every overlay
    python3 deploy/kubernetes/check.py county          # one
    python3 deploy/kubernetes/check.py --release       # placeholders (CHANGE-ME, …) fail too

For each overlay it renders `kubectl kustomize deploy/kubernetes/overlays/<name>`, then

1. validates every object against the Kubernetes API schema, offline, with the official Python
   client's models: `ApiClient().deserialize` into the model of the object's kind (unknown kinds
   fail; the models reject missing required fields), plus a walk of every key against the
   models' `attribute_map`/`openapi_types`, which the client itself does not do (it drops unknown
   keys silently, and turns "80" into 80), so misspelt or misplaced fields and wrongly typed
   values fail here as the API server would reject them;
2. checks the project's own rules: every role has its Deployment, Service, HorizontalPodAutoscaler
   and PodDisruptionBudget; every container has resources and a locked-down security context, and
   every serving container both probes on its role's port; the Job runs `migrate`; every
   YIWANG_*_URL names its role's Service and port; references to the ConfigMap and Secret
   resolve; and the NetworkPolicies admit exactly the call graph read from the Rust sources
   (`cfg.<service>_url` in each role's crate), only the gateway being open to everyone.

Exits 1 with one line per problem. Needs kubectl (kustomize built in) and the `kubernetes`
package pinned in tests/requirements.txt.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

try:
    import kubernetes
    import yaml
    from kubernetes import client
except ImportError as e:  # pragma: no cover - environment problem, not a manifest problem
    sys.exit(
        f"check.py needs the kubernetes package ({e}): "
        "python3 -m pip install -r tests/requirements.txt"
    )

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# Every role of `yiwang serve <role>` and the port it serves on (gRPC, with HTTP/1.1 /healthz,
# /readyz and /metrics on the same port; the gateway's REST on 8080). src/main.rs, compose.
ROLES = {
    "catalog": 50051,
    "cases": 50052,
    "supervision": 50053,
    "projects": 50054,
    "alerts": 50055,
    "inbox": 50056,
    "content": 50057,
    "insight": 50058,
    "gateway": 8080,
}
SERVICES = [r for r in ROLES if r != "gateway"]

# Who else may open a service's port, besides the roles that call it.
DEPARTMENT_PODS = {"app.kubernetes.io/component": "department-ingress"}
DEPARTMENT_NAMESPACES = {"yiwang.io/department-ingress": "true"}
MONITORING_NAMESPACES = {"kubernetes.io/metadata.name": "monitoring"}

# The model of each kind the manifests may contain; anything else is an error.
MODELS = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("batch/v1", "Job"): "V1Job",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2HorizontalPodAutoscaler",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
}

# Fields the client types as str that the API reads as a resource.Quantity, which may also be
# written as a number.
QUANTITIES = {
    ("V1ResourceRequirements", "limits"),
    ("V1ResourceRequirements", "requests"),
    ("V1EmptyDirVolumeSource", "size_limit"),
    ("V2MetricTarget", "average_value"),
    ("V2MetricTarget", "value"),
}

# Keys that must never sit in a ConfigMap (they go to yiwang-secrets).
SECRET_LOOKING = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY($|_)|^DATABASE_URL$|^REDIS_URL$")
PLACEHOLDER = re.compile(r"CHANGE-ME|\.invalid\b", re.IGNORECASE)


class Response:
    """What ApiClient.deserialize reads: an HTTP response's body."""

    def __init__(self, obj: dict):
        self.data = json.dumps(obj)


# ------------------------------------------------------------------------------------------------
# Schema


def model_class(name: str):
    return getattr(client.models, name, None)


def walk(value, typ: str, path: str, errors: list[str], owner: tuple[str, str] | None = None):
    """Fails on keys the model at this level does not have, and on wrongly typed scalars."""
    if value is None:
        return
    if typ.startswith("list["):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            walk(item, typ[5:-1], f"{path}[{i}]", errors, owner)
        return
    if typ.startswith(("dict[", "dict(")):  # `dict[str, str]` (older clients: `dict(str, str)`)
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map, got {type(value).__name__}")
            return
        inner = typ[5:-1].split(",", 1)[1].strip()
        for k, v in value.items():
            walk(v, inner, f"{path}.{k}", errors, owner)
        return
    if typ == "object":  # IntOrString, free-form JSON: anything goes
        return
    if typ in ("str", "datetime", "date"):
        if isinstance(value, str):
            return
        if owner in QUANTITIES and isinstance(value, (int, float)) and not isinstance(value, bool):
            return
        errors.append(f"{path}: expected a string, got {type(value).__name__} {value!r}")
        return
    if typ == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected an integer, got {type(value).__name__} {value!r}")
        return
    if typ == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(f"{path}: expected a number, got {type(value).__name__} {value!r}")
        return
    if typ == "bool":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected true or false, got {type(value).__name__} {value!r}")
        return
    cls = model_class(typ)
    if cls is None:
        errors.append(f"{path}: the client has no model {typ} (checker bug)")
        return
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object ({typ}), got {type(value).__name__}")
        return
    by_json = {j: a for a, j in cls.attribute_map.items()}
    for key, v in value.items():
        attr = by_json.get(key)
        if attr is None:
            errors.append(f"{path}.{key}: unknown field (not in {typ})")
            continue
        walk(v, cls.openapi_types[attr], f"{path}.{key}", errors, (typ, attr))


def validate_schema(objects: list[dict], errors: list[str]):
    api = client.ApiClient()
    for obj in objects:
        ref = describe(obj)
        model = MODELS.get((obj.get("apiVersion"), obj.get("kind")))
        if model is None:
            errors.append(
                f"{ref}: unknown kind {obj.get('apiVersion')}/{obj.get('kind')} "
                f"(known: {', '.join(k for _, k in MODELS)})"
            )
            continue
        try:
            api.deserialize(Response(obj), model)
        except (ValueError, TypeError) as e:
            errors.append(f"{ref}: not a valid {model}: {e}")
        walk(obj, model, ref, errors)


# ------------------------------------------------------------------------------------------------
# Helpers


def describe(obj: dict) -> str:
    return f"{obj.get('kind', '?')}/{(obj.get('metadata') or {}).get('name', '?')}"


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector against a set of labels; {} matches everything."""
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def resolve_port(port, container: dict) -> int | None:
    """A probe's or Service's (target) port: a number, or the name of one of the container's."""
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def derive_call_graph(errors: list[str]) -> dict[str, dict[str, str]]:
    """callee -> {caller: "file:line"}: where each role's crate reads `<callee>_url`."""
    graph: dict[str, dict[str, str]] = {s: {} for s in SERVICES}
    use = re.compile(r"\.(" + "|".join(SERVICES) + r")_url\b")
    for role in ROLES:
        src = REPO / ("gateway/src" if role == "gateway" else f"services/{role}/src")
        if not src.is_dir():
            errors.append(f"call graph: {src} not found (check.py reads the Rust sources)")
            continue
        for path in sorted(src.rglob("*.rs")):
            text = path.read_text(encoding="utf-8")
            # Unit-test modules call whatever they like.
            cut = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+", text)
            if cut:
                text = text[: cut.start()]
            for m in use.finditer(text):
                callee = m.group(1)
                if callee != role and role not in graph[callee]:
                    line = text.count("\n", 0, m.start()) + 1
                    graph[callee][role] = f"{path.relative_to(REPO)}:{line}"
    return graph


# ------------------------------------------------------------------------------------------------
# The project's rules


def check_pod(obj: dict, errors: list[str], serving_port: int | None):
    """Security context and resources of every container; probes when it serves."""
    ref = describe(obj)
    spec = pod_spec(obj)
    pod_sc = spec.get("securityContext") or {}
    if spec.get("automountServiceAccountToken") is not False:
        errors.append(f"{ref}: automountServiceAccountToken must be false (no role uses the API)")
    containers = (spec.get("initContainers") or []) + spec.get("containers", [])
    for c in containers:
        cref = f"{ref} container {c.get('name')}"
        sc = c.get("securityContext") or {}

        def eff(key, sc=sc):
            """The container's setting, else the pod's."""
            return sc.get(key, pod_sc.get(key))

        if eff("runAsNonRoot") is not True:
            errors.append(f"{cref}: runAsNonRoot must be true")
        uid = eff("runAsUser")
        if not isinstance(uid, int) or uid == 0:
            errors.append(f"{cref}: runAsUser must be a non-zero number (got {uid!r})")
        if sc.get("readOnlyRootFilesystem") is not True:
            errors.append(f"{cref}: readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{cref}: allowPrivilegeEscalation must be false")
        if sc.get("privileged"):
            errors.append(f"{cref}: must not be privileged")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            errors.append(f"{cref}: capabilities must drop ALL")
        if (sc.get("capabilities") or {}).get("add"):
            errors.append(f"{cref}: must add no capabilities")
        if (eff("seccompProfile") or {}).get("type") != "RuntimeDefault":
            errors.append(f"{cref}: seccompProfile must be RuntimeDefault")
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(part) or {}):
                    errors.append(f"{cref}: resources.{part}.{r} missing")
        image = c.get("image", "")
        if not re.search(r"(:[\w.-]+|@sha256:[0-9a-f]{64})$", image.rsplit("/", 1)[-1]):
            errors.append(f"{cref}: image {image!r} has no tag or digest")
        elif image.endswith(":latest"):
            errors.append(f"{cref}: image {image!r} uses :latest")
        if serving_port is None:
            continue
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = (c.get(probe) or {}).get("httpGet")
            if not get:
                errors.append(f"{cref}: no {probe} (httpGet {path})")
                continue
            if get.get("path") != path:
                errors.append(f"{cref}: {probe} asks {get.get('path')!r}, not {path}")
            port = resolve_port(get.get("port"), c)
            if port != serving_port:
                errors.append(f"{cref}: {probe} port {get.get('port')!r} is not {serving_port}")


def check_refs(obj: dict, by_kind: dict, errors: list[str]) -> list[str]:
    """ConfigMap and Secret references of a workload resolve; returns the ConfigMaps it reads."""
    ref = describe(obj)
    read = []
    for c in pod_spec(obj).get("containers", []):
        for ef in c.get("envFrom") or []:
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in ef:
                    name = ef[key]["name"]
                    if name not in by_kind.get(kind, {}):
                        errors.append(f"{ref}: envFrom {kind} {name} does not exist")
                    elif kind == "ConfigMap":
                        read.append(name)
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            for kind, key, field in (
                ("Secret", "secretKeyRef", "data"),
                ("ConfigMap", "configMapKeyRef", "data"),
            ):
                if key not in vf:
                    continue
                name, k = vf[key]["name"], vf[key]["key"]
                target = by_kind.get(kind, {}).get(name)
                if target is None:
                    errors.append(
                        f"{ref}: env {e['name']} reads {kind} {name}, which does not exist"
                    )
                elif k not in (target.get(field) or {}) and k not in (
                    target.get("stringData") or {}
                ):
                    errors.append(
                        f"{ref}: env {e['name']} reads key {k}, which {kind} {name} lacks"
                    )
    return read


def classify_peer(peer: dict, pods: dict[str, dict]) -> tuple[set[str], str | None]:
    """The sources one NetworkPolicy peer admits: role names and named groups, or a problem."""
    if "ipBlock" in peer:
        cidr = peer["ipBlock"].get("cidr", "")
        if ipaddress.ip_network(cidr, strict=False).prefixlen == 0:
            return {"everywhere"}, None
        return set(), f"ipBlock {cidr} (only the gateway may take outside traffic)"
    ns, pod = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns is None:  # pods of this namespace
        if not (pod or {}).get("matchLabels") and not (pod or {}).get("matchExpressions"):
            return set(), "podSelector {} (every pod of the namespace)"
        found = {role for role, labels in pods.items() if selector_matches(pod, labels)}
        if selector_matches(pod, DEPARTMENT_PODS):
            found.add("department ingress")
        if not found:
            return set(), f"podSelector {pod} selects no known pod"
        return found, None
    if pod not in (None, {}):
        return set(), f"namespaceSelector with podSelector {pod} (not a known source)"
    if not ns:
        return {"everywhere"}, None  # every pod of every namespace
    labels = ns.get("matchLabels") or {}
    if labels == MONITORING_NAMESPACES and not ns.get("matchExpressions"):
        return {"monitoring"}, None
    if labels == DEPARTMENT_NAMESPACES and not ns.get("matchExpressions"):
        return {"department namespaces"}, None
    return set(), f"namespaceSelector {ns} (not a known source)"


def check_network(objects, pods: dict[str, dict], graph, errors: list[str]) -> dict[str, set]:
    """Which sources reach each role; exactly the call graph plus the fixed extras."""
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    if not any(
        p["spec"].get("podSelector") in ({}, None)
        and "Ingress" in (p["spec"].get("policyTypes") or [])
        and not p["spec"].get("ingress")
        for p in policies
    ):
        errors.append("NetworkPolicy: no default deny of ingress (podSelector {}, no rules)")
    admitted: dict[str, set] = {}
    for role, labels in pods.items():
        sources: set[str] = set()
        selecting = [p for p in policies if selector_matches(p["spec"].get("podSelector"), labels)]
        if not any(p["spec"].get("podSelector") for p in selecting):
            errors.append(f"{role}: no NetworkPolicy of its own selects its pods")
        for p in selecting:
            for i, rule in enumerate(p["spec"].get("ingress") or []):
                rref = f"{describe(p)} ingress[{i}]"
                ports = {q.get("port") for q in rule.get("ports") or []}
                if ports != {ROLES[role]}:
                    errors.append(
                        f"{rref}: ports {sorted(ports, key=str) or 'all'} for {role}, "
                        f"not just {ROLES[role]}"
                    )
                peers = rule.get("from") or []
                found = set()
                if not peers:
                    found = {"everywhere"}
                for peer in peers:
                    got, problem = classify_peer(peer, pods)
                    if problem:
                        errors.append(f"{rref}: admits {problem}")
                    found |= got
                sources |= found
        admitted[role] = sources
        if role == "gateway":
            if "everywhere" not in sources:
                errors.append("gateway: its NetworkPolicy must admit everyone on 8080")
            continue
        if "everywhere" in sources:
            errors.append(f"{role}: admits traffic from everywhere; only the gateway may")
        expected = {"gateway", *graph.get(role, {})}
        callers = sources & set(ROLES)
        for missing in sorted(expected - callers):
            where = graph.get(role, {}).get(missing, "it calls every service")
            errors.append(f"{role}: {missing} calls it ({where}) but no NetworkPolicy admits it")
        for extra in sorted(callers - expected):
            errors.append(f"{role}: NetworkPolicy admits {extra}, which never calls it")
        for group in ("department ingress", "department namespaces", "monitoring"):
            if group not in sources:
                errors.append(f"{role}: NetworkPolicy does not admit the {group}")
    return admitted


def check_overlay(name: str, release: bool, graph) -> tuple[list[str], list[str], list[str]]:
    errors: list[str] = []
    warnings: list[str] = []
    summary: list[str] = []
    kubectl = shutil.which("kubectl") or "/usr/bin/kubectl"
    directory = HERE / "overlays" / name
    try:
        rendered = subprocess.run(
            [kubectl, "kustomize", str(directory)], check=True, capture_output=True, text=True
        ).stdout
    except FileNotFoundError:
        return [f"kubectl not found (looked for {kubectl})"], warnings, summary
    except subprocess.CalledProcessError as e:
        return [f"kubectl kustomize {directory} failed:\n{e.stderr.strip()}"], warnings, summary
    objects = [o for o in yaml.safe_load_all(rendered) if o]

    validate_schema(objects, errors)
    if errors:  # the rules below assume well-formed objects
        return errors, warnings, summary

    by_kind: dict[str, dict[str, dict]] = {}
    for o in objects:
        names = by_kind.setdefault(o["kind"], {})
        if o["metadata"]["name"] in names:
            errors.append(f"{describe(o)}: defined twice")
        names[o["metadata"]["name"]] = o

    # One namespace, created by the overlay, enforcing the restricted Pod Security profile.
    namespaces = by_kind.get("Namespace", {})
    used = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
    if len(namespaces) != 1 or used != set(namespaces):
        errors.append(
            f"objects must all be in the one Namespace the overlay creates "
            f"(Namespace objects {sorted(namespaces)}, used {sorted(map(str, used))})"
        )
    namespace = next(iter(namespaces), "?")
    for ns in namespaces.values():
        if (ns["metadata"].get("labels") or {}).get(
            "pod-security.kubernetes.io/enforce"
        ) != "restricted":
            errors.append(f"{describe(ns)}: pod-security.kubernetes.io/enforce must be restricted")

    deployments = by_kind.get("Deployment", {})
    services = by_kind.get("Service", {})
    hpas = by_kind.get("HorizontalPodAutoscaler", {})
    pdbs = by_kind.get("PodDisruptionBudget", {})
    pods: dict[str, dict] = {}
    configmaps_read: set[str] = set()

    for extra in sorted(set(deployments) - set(ROLES)):
        errors.append(f"Deployment/{extra}: not a Yiwang role ({', '.join(ROLES)})")
    rows = []
    for role, port in ROLES.items():
        d = deployments.get(role)
        if d is None:
            errors.append(f"{role}: no Deployment")
            continue
        labels = d["spec"]["template"]["metadata"].get("labels") or {}
        pods[role] = labels
        want = {"app.kubernetes.io/part-of": "yiwang", "app.kubernetes.io/component": role}
        for k, v in want.items():
            if labels.get(k) != v:
                errors.append(f"Deployment/{role}: pod label {k} must be {v}")
        if "app.kubernetes.io/name" not in labels:
            errors.append(f"Deployment/{role}: pod label app.kubernetes.io/name missing")
        if not selector_matches(d["spec"]["selector"], labels):
            errors.append(f"Deployment/{role}: selector does not match its pod labels")
        if "replicas" in d["spec"] and role in hpas:
            warnings.append(f"Deployment/{role}: sets replicas although an autoscaler owns them")
        check_pod(d, errors, port)
        configmaps_read |= set(check_refs(d, by_kind, errors))
        containers = pod_spec(d)["containers"]
        main = containers[0]
        if main.get("command") not in (None, ["/usr/local/bin/yiwang"]):
            errors.append(f"Deployment/{role}: command {main.get('command')} overrides the image's")
        if main.get("args") != ["serve", role]:
            errors.append(f"Deployment/{role}: args {main.get('args')}, not ['serve', '{role}']")
        if port not in [p.get("containerPort") for p in main.get("ports") or []]:
            errors.append(f"Deployment/{role}: container does not declare port {port}")

        svc = services.get(role)
        if svc is None:
            errors.append(f"{role}: no Service")
        else:
            sel = svc["spec"].get("selector") or {}
            if not sel or not selector_matches({"matchLabels": sel}, labels):
                errors.append(f"Service/{role}: selector {sel} does not select the {role} pods")
            ports = [p for p in svc["spec"].get("ports", []) if p.get("port") == port]
            if not ports:
                errors.append(f"Service/{role}: no port {port}")
            elif resolve_port(ports[0].get("targetPort", port), main) != port:
                errors.append(
                    f"Service/{role}: targetPort {ports[0].get('targetPort')!r} "
                    f"does not reach container port {port}"
                )

        hpa = hpas.get(role)
        lo = hi = None
        if hpa is None:
            errors.append(f"{role}: no HorizontalPodAutoscaler")
        else:
            ref = hpa["spec"]["scaleTargetRef"]
            if (ref.get("kind"), ref.get("name"), ref.get("apiVersion")) != (
                "Deployment",
                role,
                "apps/v1",
            ):
                errors.append(
                    f"HorizontalPodAutoscaler/{role}: scales {ref}, not Deployment {role}"
                )
            lo, hi = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
            if not 1 <= lo <= hi:
                errors.append(f"HorizontalPodAutoscaler/{role}: replicas {lo}..{hi} is not a range")
            if not any(
                m.get("type") == "Resource"
                and m["resource"]["name"] == "cpu"
                and m["resource"]["target"]["type"] == "Utilization"
                for m in hpa["spec"].get("metrics") or []
            ):
                errors.append(f"HorizontalPodAutoscaler/{role}: no CPU utilisation target")

        pdb = pdbs.get(role)
        budget = "-"
        if pdb is None:
            errors.append(f"{role}: no PodDisruptionBudget")
        else:
            spec = pdb["spec"]
            if not selector_matches(spec.get("selector"), labels) or not spec.get("selector"):
                errors.append(
                    f"PodDisruptionBudget/{role}: selector does not select the {role} pods"
                )
            if ("minAvailable" in spec) == ("maxUnavailable" in spec):
                errors.append(
                    f"PodDisruptionBudget/{role}: set one of minAvailable, maxUnavailable"
                )
            elif "minAvailable" in spec:
                budget = f"minAvailable {spec['minAvailable']}"
                if (
                    isinstance(spec["minAvailable"], int)
                    and lo is not None
                    and spec["minAvailable"] >= lo
                ):
                    errors.append(
                        f"PodDisruptionBudget/{role}: minAvailable {spec['minAvailable']} "
                        f"with as few as {lo} replicas blocks every node drain"
                    )
            else:
                budget = f"maxUnavailable {spec['maxUnavailable']}"
        res = main.get("resources", {})
        rows.append(
            (
                role,
                f"{lo}-{hi}",
                f"{res.get('requests', {}).get('cpu')}/{res.get('requests', {}).get('memory')}",
                f"{res.get('limits', {}).get('cpu')}/{res.get('limits', {}).get('memory')}",
                budget,
            )
        )

    # The migration.
    jobs = by_kind.get("Job", {})
    migrations = [
        j
        for j in jobs.values()
        if (pod_spec(j)["containers"][0].get("args") or [])[-1:] == ["migrate"]
    ]
    if not migrations:
        errors.append("no Job runs `yiwang migrate`")
    for j in jobs.values():
        check_pod(j, errors, None)
        configmaps_read |= set(check_refs(j, by_kind, errors))
        if pod_spec(j).get("restartPolicy") not in ("Never", "OnFailure"):
            errors.append(f"{describe(j)}: restartPolicy must be Never or OnFailure")

    # The configuration: the URLs name the roles' Services and ports, nothing secret in it.
    images = set()
    for o in list(deployments.values()) + list(jobs.values()):
        images |= {c["image"] for c in pod_spec(o)["containers"]}
    if len(images) > 1:
        errors.append(f"the roles run different images: {sorted(images)}")
    if not configmaps_read:
        errors.append("no workload reads a ConfigMap (yiwang-config)")
    for cm_name in sorted(configmaps_read):
        data = by_kind["ConfigMap"][cm_name].get("data") or {}
        for key, value in data.items():
            if SECRET_LOOKING.search(key):
                errors.append(
                    f"ConfigMap/{cm_name}: {key} looks secret; it belongs in yiwang-secrets"
                )
            m = re.fullmatch(r"YIWANG_([A-Z]+)_(URL|ADDR)", key)
            if not m or m.group(1).lower() not in ROLES:
                continue
            role, kind = m.group(1).lower(), m.group(2)
            if kind == "ADDR":
                if not value.endswith(f":{ROLES[role]}"):
                    errors.append(
                        f"ConfigMap/{cm_name}: {key}={value} does not listen on {ROLES[role]}"
                    )
                continue
            url = urlsplit(value)
            host = (url.hostname or "").split(".")
            svc_name = host[0]
            if url.scheme != "http" or url.path not in ("", "/"):
                errors.append(f"ConfigMap/{cm_name}: {key}={value} must be http://<service>:<port>")
            if len(host) > 1 and (
                host[1] != namespace or host[2:] not in ([], ["svc"], ["svc", "cluster", "local"])
            ):
                errors.append(
                    f"ConfigMap/{cm_name}: {key}={value} is not a Service of namespace {namespace}"
                )
            svc = services.get(svc_name)
            if svc is None:
                errors.append(f"ConfigMap/{cm_name}: {key}={value}: there is no Service {svc_name}")
            elif url.port not in [p.get("port") for p in svc["spec"].get("ports", [])]:
                errors.append(
                    f"ConfigMap/{cm_name}: {key}={value}: Service {svc_name} has no port {url.port}"
                )
            if svc_name != role or url.port != ROLES[role]:
                errors.append(
                    f"ConfigMap/{cm_name}: {key}={value} is not the {role} Service on {ROLES[role]}"
                )
        for role in SERVICES:
            if f"YIWANG_{role.upper()}_URL" not in data:
                errors.append(
                    f"ConfigMap/{cm_name}: YIWANG_{role.upper()}_URL missing "
                    f"(the gateway calls every service)"
                )

    admitted = check_network(objects, pods, graph, errors)

    # Placeholders: fine in the repository, not in a release.
    placeholders = []
    for s in by_kind.get("Secret", {}).values():
        keys = [
            k
            for k, v in sorted((s.get("data") or {}).items())
            if PLACEHOLDER.search(base64.b64decode(v).decode("utf-8", "replace"))
        ]
        if keys:
            placeholders.append(f"Secret {s['metadata']['name']} ({', '.join(keys)})")
    for cm_name, cm in by_kind.get("ConfigMap", {}).items():
        keys = [k for k, v in sorted((cm.get("data") or {}).items()) if PLACEHOLDER.search(v)]
        if keys:
            placeholders.append(f"ConfigMap {cm_name} ({', '.join(keys)})")
    placeholders += [f"image {i}" for i in sorted(images) if PLACEHOLDER.search(i)]
    if placeholders:
        message = "placeholders to replace before applying: " + "; ".join(placeholders)
        (errors if release else warnings).append(message)

    counts = {}
    for o in objects:
        counts[o["kind"]] = counts.get(o["kind"], 0) + 1
    summary.append(
        f"{name}: namespace {namespace}, image {', '.join(sorted(images))}; "
        f"{len(objects)} objects valid ("
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        + ")"
    )
    summary.append(
        f"  {'role':<12}{'replicas':<10}{'requests':<14}{'limits':<13}{'disruption':<18}"
        "ingress from"
    )
    for role, replicas, req, lim, budget in rows:
        src = admitted.get(role, set())
        shown = (
            "everyone on 8080"
            if "everywhere" in src
            else ", ".join(
                [r for r in ["gateway", *SERVICES] if r in src]
                + sorted(s for s in src if s not in ROLES)
            )
        )
        summary.append(f"  {role:<12}{replicas:<10}{req:<14}{lim:<13}{budget:<18}{shown}")
    summary.append(
        f"  migration: Job {', '.join(j['metadata']['name'] for j in migrations)} "
        f"runs `yiwang migrate`"
    )
    return errors, warnings, summary


def main() -> int:
    overlays = sorted(p.name for p in (HERE / "overlays").iterdir() if p.is_dir())
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overlay", nargs="*", help=f"default: all ({', '.join(overlays)})")
    parser.add_argument(
        "--release", action="store_true", help="fail on placeholders (CHANGE-ME, *.invalid) too"
    )
    args = parser.parse_args()
    unknown = set(args.overlay) - set(overlays)
    if unknown:
        parser.error(f"no overlay {', '.join(sorted(unknown))} (have {', '.join(overlays)})")

    graph_errors: list[str] = []
    graph = derive_call_graph(graph_errors)
    print(f"Kubernetes models: kubernetes {kubernetes.__version__} (Python client)")
    print("Call graph (from the Rust sources; the gateway calls every service):")
    for callee, callers in graph.items():
        shown = (
            ", ".join(f"{c} ({where})" for c, where in sorted(callers.items()) if c != "gateway")
            or "gateway only"
        )
        print(f"  {callee:<12}<- {shown}")
    failed = bool(graph_errors)
    for e in graph_errors:
        print(f"  ERROR {e}")
    for name in args.overlay or overlays:
        errors, warnings, summary = check_overlay(name, args.release, graph)
        print()
        for line in summary:
            print(line)
        for w in warnings:
            print(f"  warning: {w}")
        if errors:
            failed = True
            print(f"{name}: {len(errors)} problem(s)")
            for e in errors:
                print(f"  ERROR {e}")
        else:
            print(f"{name}: OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
