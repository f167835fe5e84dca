#!/usr/bin/env python3
"""Checks helm/tidemark, deploy/Dockerfile and deploy/grafana with real tools, no cluster and no
network.

- Helm itself (Helm's Go SDK, through helm-python-sdk's bundled libhelm_c): `helm lint --strict`
  and `helm template` (schema validation, then rendering) of the chart with each
  helm/tidemark/ci/*.yaml, and the bad values in tests/helm/bad-values/ rejected by the schema.
- Every rendered manifest against the Kubernetes OpenAPI schemas of one version, strictly
  (kubernetes-validate; the ServiceMonitor against tests/helm/schemas/, see there).
- The rendered tidemark.toml through `$TIDEMARK_BIN validate`, with the environment the
  Deployment gives the container (Secrets replaced by stand-ins).
- deploy/Dockerfile through a Dockerfile parser (dockerfile-parse).
- deploy/grafana/tidemark-dashboard.json: it parses, and its queries (read by dashboard_metrics.py,
  beside this file) use only the metrics tidemark exports (KNOWN_METRICS), each with its own
  labels, and every one of them.

`cargo xtask test` runs it after the test suite (and `cargo xtask chart-check` alone), in a venv
of its own in the tools cache. By hand, from anywhere:
    python3 -m venv /tmp/helmvenv && /tmp/helmvenv/bin/pip install -r tests/helm/requirements.txt
    TIDEMARK_BIN=target/debug/tidemark /tmp/helmvenv/bin/python tests/helm/check_chart.py

Prints one line per check, PASS or FAIL, then "N passed, M failed"; exits 1 if any failed. A
missing tool or dependency is a failure, never a skip.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import traceback
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "tidemark"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
BAD_VALUES = sorted((REPO / "tests" / "helm" / "bad-values").glob("*.yaml"))
SERVICEMONITOR_SCHEMA = REPO / "tests" / "helm" / "schemas" / "servicemonitor-monitoring-v1.json"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DASHBOARD = REPO / "deploy" / "grafana" / "tidemark-dashboard.json"
KUBE_VERSION = "1.30.0"
RELEASE, NAMESPACE = "ci", "tidemark"
CONFIG_PATH = "/etc/tidemark/tidemark.toml"
# Each bad-values file names the keys its error must mention, in a "# must mention:" line or,
# by default, these.
BAD_KEYS_DEFAULT = ["replicaCount", "port", "replicas"]
# What a Secret reference stands for when tidemark validate reads the rendered config.
PLACEHOLDER_WAREHOUSE_URL = "postgres://tidemark:stand-in@warehouse.invalid:5432/tidemark"
# What tidemark's /metrics exports (crates/telemetry): family name -> (type, labels). The
# dashboard may use these and nothing else; the autoscaler's default metric is one of them.
KNOWN_METRICS: dict[str, tuple[str, frozenset[str]]] = {
    "tidemark_events_read_total": ("counter", frozenset({"topic"})),
    "tidemark_rows_upserted_total": ("counter", frozenset({"table"})),
    "tidemark_rows_deleted_total": ("counter", frozenset({"table"})),
    "tidemark_dead_letters_total": ("counter", frozenset({"table"})),
    "tidemark_batches_total": ("counter", frozenset({"table"})),
    "tidemark_batch_records": ("histogram", frozenset({"table"})),
    "tidemark_merge_duration_seconds": ("histogram", frozenset({"table"})),
    "tidemark_freshness_seconds": ("histogram", frozenset({"table"})),
    "tidemark_source_freshness_seconds": ("histogram", frozenset({"table"})),
    "tidemark_merge_retries_total": ("counter", frozenset({"table"})),
    "tidemark_fence_rejections_total": ("counter", frozenset()),
    "tidemark_owned_partitions": ("gauge", frozenset()),
    "tidemark_in_flight_bytes": ("gauge", frozenset()),
    "tidemark_lease_losses_total": ("counter", frozenset()),
    "tidemark_consumer_lag_messages": ("gauge", frozenset({"topic", "partition"})),
}
# Labels Prometheus adds to every scraped series (a ServiceMonitor's target labels included).
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "service", "container", "endpoint"})

passed = 0
failed = 0


def report(ok: bool, name: str, detail: str = "") -> bool:
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {name}" + (f" ({detail})" if detail else ""), flush=True)
    else:
        failed += 1
        print(f"FAIL {name}: {detail}", flush=True)
    return ok


class CheckError(Exception):
    pass


def check(name: str, fn: Callable[[], str | None]) -> bool:
    """Runs one check: it returns an optional detail, or raises CheckError/anything to fail."""
    try:
        return report(True, name, fn() or "")
    except CheckError as e:
        return report(False, name, str(e))
    except Exception:  # a bug or a tool's crash is a failure too, with its traceback
        return report(False, name, "unexpected error:\n" + traceback.format_exc())


def need(cond: Any, message: str) -> None:
    if not cond:
        raise CheckError(message)


# --- tools ------------------------------------------------------------------------------------

try:
    import dockerfile_parse
    import helm_python as helm
    import jsonschema
    import kubernetes_validate
    import referencing
    import yaml
    from kubernetes_validate import utils as kv_utils
except ImportError as e:
    report(False, "python dependencies", f"{e}; install them with "
           f"pip install -r {REPO / 'tests/helm/requirements.txt'}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1)


class StrictLoader(yaml.SafeLoader):
    """YAML that refuses duplicate keys (PyYAML keeps the last one; the API server rejects them)."""


def _no_duplicates(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise yaml.constructor.ConstructorError(
            None, None, f"duplicate key(s) {sorted(dupes)}", node.start_mark)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load_values(path: Path) -> dict[str, Any]:
    """A values file as Helm reads it (`-f`)."""
    return helm.values_from_yaml(path.read_text())


def lint(values: dict[str, Any]) -> dict[str, Any]:
    return helm.lint(str(CHART), values, strict=True, kube_version=f"v{KUBE_VERSION}")


def lint_problems(report_: dict[str, Any]) -> list[str]:
    """What fails `helm lint --strict`: errors, and warnings (strict); infos do not."""
    problems = [m["error"].strip() for m in report_.get("messages", []) if m["severity"] >= 2]
    problems += [e.strip() for e in report_.get("errors", []) if e.strip() not in problems]
    return problems


def template(values: dict[str, Any]) -> list[dict[str, Any]]:
    """`helm template`: the values are checked against the schema, then rendered offline."""
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.load_all(text, Loader=StrictLoader):
            if doc is not None:
                doc["__source__"] = path
                docs.append(doc)
    return docs


def strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "__source__"}


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    need(len(found) == 1, f"expected one {kind}{' ' + name if name else ''}, found {len(found)}")
    return found[0]


def kinds(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def dig(d: Any, *keys: str, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


# --- Kubernetes schemas -----------------------------------------------------------------------

_servicemonitor_validator = None


def servicemonitor_validator() -> jsonschema.protocols.Validator:
    """The vendored ServiceMonitor schema, resolving metadata/selector against the Kubernetes
    definitions kubernetes-validate ships for KUBE_VERSION (strict variant)."""
    global _servicemonitor_validator
    if _servicemonitor_validator is None:
        version = [v for v in kv_utils.all_versions()
                   if kv_utils.major_minor(v) <= kv_utils.major_minor(KUBE_VERSION)][-1]
        definitions = kv_utils.schema_contents(
            f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", KUBE_VERSION)
        schema = json.loads(SERVICEMONITOR_SCHEMA.read_text())
        registry = referencing.Resource.from_contents(definitions) @ referencing.Registry()
        _servicemonitor_validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return _servicemonitor_validator


def validate_manifest(doc: dict[str, Any]) -> None:
    body = strip(doc)
    where = f"{doc['kind']} {doc['metadata']['name']} ({doc['__source__']})"
    if doc["apiVersion"] == "monitoring.coreos.com/v1" and doc["kind"] == "ServiceMonitor":
        errors = sorted(servicemonitor_validator().iter_errors(body), key=lambda e: list(e.path))
        need(not errors, f"{where}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors))
        return
    try:
        kubernetes_validate.validate(body, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        raise CheckError(f"{where}: {'/'.join(map(str, e.path))}: {e.message}")
    except kubernetes_validate.SchemaNotFoundError as e:
        raise CheckError(f"{where}: {e.message} (no built-in schema: add one under tests/helm/schemas)")


# --- tidemark validate ------------------------------------------------------------------------


def container_env(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as tidemark would see it: literal values as given, a chart
    Secret's keys from the rendered Secret, an existing Secret's keys as stand-ins."""
    chart_secrets = {s["metadata"]["name"]: s.get("stringData", {}) for s in kinds(docs, "Secret")}
    env: dict[str, str] = {}
    for var in container.get("env", []):
        name = var["name"]
        if "value" in var:
            env[name] = str(var["value"])
        elif ref := dig(var, "valueFrom", "secretKeyRef"):
            if ref["name"] in chart_secrets:
                need(ref["key"] in chart_secrets[ref["name"]],
                     f"{name} refers to key {ref['key']!r}, missing from Secret {ref['name']}")
                env[name] = chart_secrets[ref["name"]][ref["key"]]
            elif name == "TIDEMARK__WAREHOUSE__URL":
                env[name] = PLACEHOLDER_WAREHOUSE_URL
            else:
                env[name] = f"stand-in-for-{ref['name']}-{ref['key']}"
        elif dig(var, "valueFrom", "fieldRef"):
            env[name] = f"{RELEASE}-tidemark-0"
        else:
            raise CheckError(f"env {name}: neither a value nor a known valueFrom")
    return env


def tidemark_bin() -> str:
    path = os.environ.get("TIDEMARK_BIN")
    need(path, "TIDEMARK_BIN is not set: point it at a built tidemark binary "
               "(e.g. TIDEMARK_BIN=target/debug/tidemark)")
    resolved = Path(path) if os.path.isabs(path) else (Path.cwd() / path)
    need(resolved.is_file() and os.access(resolved, os.X_OK),
         f"TIDEMARK_BIN={path} is not an executable file")
    return str(resolved)


def run_validate(toml_text: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`tidemark validate --config FILE` with only PATH and the container's variables: no
    TIDEMARK__ override of the caller's can leak in."""
    binary = tidemark_bin()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tidemark.toml"
        path.write_text(toml_text)
        return subprocess.run([binary, "validate", "--config", str(path)],
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
                              capture_output=True, text=True, timeout=60)


# --- per values file --------------------------------------------------------------------------


def rendered_config(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    cm = one(docs, "ConfigMap")
    text = cm.get("data", {}).get("tidemark.toml")
    need(text, f"ConfigMap {cm['metadata']['name']} has no tidemark.toml")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        raise CheckError(f"rendered tidemark.toml is not TOML: {e}\n{text}")


def tidemark_container(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    containers = [c for c in pod["containers"] if c["name"] == "tidemark"]
    need(len(containers) == 1, "the Deployment has no container named tidemark")
    return deployment, containers[0]


def check_values_file(path: Path) -> None:
    label = path.relative_to(REPO)
    values = load_values(path)
    with helm.Chart.load(str(CHART)) as chart:
        merged = chart.merge_values(values)

    def lint_check() -> str:
        problems = lint_problems(lint(values))
        need(not problems, "\n".join(problems))
        return f"kube {KUBE_VERSION}"

    check(f"helm lint --strict -f {label}", lint_check)

    docs: list[dict[str, Any]] = []

    def template_check() -> str:
        try:
            docs.extend(template(values))
        except helm.HelmError as e:
            raise CheckError(f"helm template failed: {e}")
        return f"{len(docs)} manifests: " + ", ".join(sorted({d['kind'] for d in docs}))

    if not check(f"helm template -f {label}", template_check):
        return

    def kube_check() -> str:
        for doc in docs:
            validate_manifest(doc)
        return f"strict, Kubernetes {KUBE_VERSION}"

    check(f"manifests valid ({label})", kube_check)

    def config_check() -> str:
        cfg, text = rendered_config(docs)
        _, container = tidemark_container(docs)
        # Every key of .Values.config comes out as written (numbers stay integers: Helm's own
        # toToml would write 10000.0), beside what the chart adds.
        expected = copy.deepcopy(merged.get("config", {}))
        if merged["etcd"]["bundled"]["enabled"]:
            coordination = expected.setdefault("coordination", {})
            coordination["mode"] = "etcd"
            coordination["endpoints"] = [
                f"http://{RELEASE}-tidemark-etcd.{NAMESPACE}.svc:2379"]
        expected["http"] = {"listen": f"0.0.0.0:{merged['http']['port']}"}
        need(cfg == expected, "rendered config differs from the values:\n"
             f"rendered: {json.dumps(cfg, sort_keys=True)}\nvalues:   {json.dumps(expected, sort_keys=True)}")
        # No literal credential in the ConfigMap, whatever the values carried.
        literals = [v for k, v in merged["secrets"].items()
                    if k in ("warehouseUrl", "kafkaSaslPassword") and v]
        for secret in kinds(docs, "Secret"):
            literals += [v for v in secret.get("stringData", {}).values() if v]
        for cm in kinds(docs, "ConfigMap"):
            blob = json.dumps(cm)
            leaked = [v for v in literals if v in blob]
            need(not leaked, f"ConfigMap {cm['metadata']['name']} contains a secret value")
        env = container_env(docs, container)
        result = run_validate(text, env)
        need(result.returncode == 0,
             f"tidemark validate exited {result.returncode}:\n{result.stderr}{result.stdout}\n--- config:\n{text}")
        return result.stdout.strip().split(": ", 1)[-1]

    check(f"tidemark validate on the rendered config ({label})", config_check)

    def pod_check() -> str:
        deployment, c = tidemark_container(docs)
        pod = deployment["spec"]["template"]["spec"]
        need(c.get("args") == ["run", "--config", CONFIG_PATH], f"container args are {c.get('args')}")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        need("configMap" in volumes.get(mounts.get(str(Path(CONFIG_PATH).parent)), {}),
             f"{Path(CONFIG_PATH).parent} is not the ConfigMap")
        need("emptyDir" in volumes.get(mounts.get("/tmp"), {}), "/tmp is not an emptyDir")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        need(ports.get("http") == merged["http"]["port"], f"named port http is {ports.get('http')}")
        sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
        need(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 10001, "pod does not run as 10001, non-root")
        need(dig(psc, "seccompProfile", "type") == "RuntimeDefault", "seccompProfile is not RuntimeDefault")
        need(sc.get("readOnlyRootFilesystem") is True, "root filesystem is writable")
        need(sc.get("allowPrivilegeEscalation") is False, "privilege escalation allowed")
        need(dig(sc, "capabilities", "drop") == ["ALL"], "capabilities are not all dropped")
        need(pod.get("terminationGracePeriodSeconds", 30) >= 60, "grace period shorter than a drain")
        need(dig(c, "livenessProbe", "httpGet") == {"path": "/healthz", "port": "http"},
             f"liveness probe {c.get('livenessProbe')}")
        need(dig(c, "readinessProbe", "httpGet") == {"path": "/readyz", "port": "http"},
             f"readiness probe {c.get('readinessProbe')}")
        mode = "etcd" if merged["etcd"]["bundled"]["enabled"] else \
            dig(merged, "config", "coordination", "mode", default="standalone")
        strategy = deployment["spec"].get("strategy", {}).get("type")
        need(strategy == ("Recreate" if mode == "standalone" else "RollingUpdate"),
             f"strategy {strategy} in mode {mode}")
        hpa = kinds(docs, "HorizontalPodAutoscaler")
        need(bool(hpa) == merged["autoscaling"]["enabled"], "HPA rendered iff autoscaling.enabled")
        need(("replicas" in deployment["spec"]) != bool(hpa), "Deployment replicas set despite the HPA")
        if hpa:
            metric = hpa[0]["spec"]["metrics"][0]
            kind = merged["autoscaling"]["metric"]["type"]
            need(metric["type"] == kind and
                 dig(metric, kind[0].lower() + kind[1:], "metric", "name") == merged["autoscaling"]["metric"]["name"],
                 f"HPA metric {metric}")
        need(bool(kinds(docs, "ServiceMonitor")) == merged["serviceMonitor"]["enabled"],
             "ServiceMonitor rendered iff serviceMonitor.enabled")
        for sm in kinds(docs, "ServiceMonitor"):
            endpoints = [(e.get("port"), e.get("path")) for e in sm["spec"]["endpoints"]]
            need(endpoints == [("http", "/metrics")], f"ServiceMonitor endpoints {endpoints}")
            need(sm["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"],
                 "the ServiceMonitor does not select the replicas' Service")
        need(bool(kinds(docs, "StatefulSet")) == merged["etcd"]["bundled"]["enabled"],
             "etcd StatefulSet rendered iff etcd.bundled.enabled")
        if merged["etcd"]["bundled"]["enabled"]:
            svc = one(docs, "Service", f"{RELEASE}-tidemark-etcd")
            need(any(p["port"] == 2379 for p in svc["spec"]["ports"]), "etcd Service has no port 2379")
        pdb = kinds(docs, "PodDisruptionBudget")
        if merged["podDisruptionBudget"]["enabled"]:
            need(pdb and pdb[0]["spec"].get("maxUnavailable") == merged["podDisruptionBudget"]["maxUnavailable"], "PDB")
        service = one(docs, "Service", f"{RELEASE}-tidemark")
        need(service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"],
             "the Service does not select exactly the replicas")
        svc_ports = [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]]
        need(svc_ports == [("http", merged["http"]["port"], "http")], f"Service ports {svc_ports}")
        return f"mode {mode}, strategy {strategy}"

    check(f"pod spec ({label})", pod_check)


# --- variants and guards ----------------------------------------------------------------------


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def check_http_variant() -> None:
    """http.port: one port for [http] listen, the container, the Service, the probes and the
    ServiceMonitor; tidemark validate accepts the section. Probes set to null are left out."""
    base = load_values(CHART / "ci" / "etcd-cluster-values.yaml")
    values = deep_merge(base, {"http": {"port": 9300}})

    def http_check() -> str:
        docs = template(values)
        for doc in docs:
            validate_manifest(doc)
        cfg, text = rendered_config(docs)
        need(cfg.get("http") == {"listen": "0.0.0.0:9300"}, f"[http] is {cfg.get('http')}")
        _, c = tidemark_container(docs)
        need([(p["name"], p["containerPort"]) for p in c["ports"]] == [("http", 9300)],
             f"container ports {c['ports']}")
        need(dig(c, "livenessProbe", "httpGet") == {"path": "/healthz", "port": "http"}, "no liveness probe")
        need(dig(c, "readinessProbe", "httpGet") == {"path": "/readyz", "port": "http"}, "no readiness probe")
        svc = one(docs, "Service", f"{RELEASE}-tidemark")
        need([(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(9300, "http")],
             f"Service ports {svc['spec']['ports']}")
        sm = one(docs, "ServiceMonitor")
        need([(e["port"], e["path"]) for e in sm["spec"]["endpoints"]] == [("http", "/metrics")],
             f"ServiceMonitor endpoints {sm['spec']['endpoints']}")
        result = run_validate(text, container_env(docs, c))
        need(result.returncode == 0,
             f"tidemark validate rejects the [http] section:\n{result.stderr}{result.stdout}\n--- config:\n{text}")
        return "listen 0.0.0.0:9300; container, Service, probes and ServiceMonitor on it; validate accepts"

    check("http.port renders [http] listen, the port, the probes and the ServiceMonitor", http_check)

    def probes_off() -> str:
        off = deep_merge(load_values(CHART / "ci" / "standalone-values.yaml"),
                         {"livenessProbe": None, "readinessProbe": None})
        docs = template(off)
        for doc in docs:
            validate_manifest(doc)
        _, c = tidemark_container(docs)
        left = [p for p in ("livenessProbe", "readinessProbe") if p in c]
        need(not left, f"{left} rendered although set to null")
        need(lint_problems(lint(off)) == [], "helm lint --strict refuses null probes")
        return "livenessProbe: null, readinessProbe: null render no probe"

    check("probes set to null are left out", probes_off)


def check_external_metric() -> None:
    """autoscaling.metric.type External (the ci files use the default, Pods)."""
    base = load_values(CHART / "ci" / "etcd-cluster-values.yaml")
    selector = {"matchLabels": {"consumergroup": "tidemark-salesdb-sink"}}
    values = deep_merge(base, {"autoscaling": {"metric": {"type": "External", "selector": selector}}})

    def external_check() -> str:
        docs = template(values)
        for doc in docs:
            validate_manifest(doc)
        metric = one(docs, "HorizontalPodAutoscaler")["spec"]["metrics"]
        need(len(metric) == 1 and metric[0]["type"] == "External", f"metrics {metric}")
        need(metric[0]["external"]["metric"] == {"name": "tidemark_consumer_lag_messages", "selector": selector},
             f"metric {metric[0]['external']['metric']}")
        return "strict, Kubernetes " + KUBE_VERSION

    check("autoscaling on an External metric", external_check)


def check_toml_writer() -> None:
    """The chart's TOML writer (templates/_toml.tpl) on values that need escaping or typing."""
    base = load_values(CHART / "ci" / "standalone-values.yaml")
    awkward = {
        "columns": {'QUOTE"D': 'back\\slash', "TAB\tNEW\nLINE": "ünïcødé 😀", "<b>&amp;": "</script>",
                    "dotted.key": "x = 1 # not a comment"},
        "extra_for_the_writer": {
            "integers": [0, -7, 9007199254740991], "floats": [0.5, -2.25, 1e21],
            "booleans": [True, False], "empty": [], "nested": [[1, 2], ["a"]],
            "mixed": [{"a": 1}, "b"], "table": {"deeper": {"k": "v"}},
            "array_of_tables": [{"n": 1, "sub": {"s": "t"}}, {"n": 2}],
        },
    }
    tables = copy.deepcopy(base["config"]["tables"])
    tables[0].update(awkward)
    values = deep_merge(base, {"config": {"tables": tables}})

    def writer_check() -> str:
        cfg, text = rendered_config(template(values))
        got, want = cfg["tables"][0], values["config"]["tables"][0]
        need(got == want, f"round trip differs:\nrendered: {got!r}\nvalues:   {want!r}\n{text}")
        floats = got["extra_for_the_writer"]["floats"]
        need(all(isinstance(x, float) for x in floats) and
             all(isinstance(x, int) for x in got["extra_for_the_writer"]["integers"]),
             "numbers changed type")
        return "escapes, integers, floats, nested and inline tables"

    check("TOML writer round-trips awkward values", writer_check)


def check_guards() -> None:
    """Values the chart refuses outright (its own `fail`s, not the schema's)."""
    base = load_values(CHART / "ci" / "standalone-values.yaml")
    cases = [
        ("standalone with 2 replicas", {"replicaCount": 2}, "standalone"),
        ("a password in config.warehouse.url",
         {"secrets": {"create": False},
          "config": {"warehouse": {"url": "postgres://tidemark:hunter2@warehouse:5432/dev"}}},
         "password"),
        ("sasl.password in config.kafka.properties",
         {"config": {"kafka": {"properties": {"sasl.password": "hunter2"}}}}, "sasl.password"),
        ("no warehouse URL at all", {"secrets": {"create": False}}, "warehouse"),
    ]
    for name, over, word in cases:
        def guard(over: dict[str, Any] = over, word: str = word) -> str:
            try:
                template(deep_merge(base, over))
            except helm.HelmError as e:
                need(word in str(e), f"refused, but the error does not say {word!r}: {e}")
                return str(e).strip().splitlines()[-1][:100]
            raise CheckError("rendered without error")

        check(f"chart refuses {name}", guard)


def check_bad_values(path: Path) -> None:
    label = path.relative_to(REPO)
    values = load_values(path)
    text = path.read_text()
    m = re.search(r"^# must mention: (.+)$", text, re.M)
    keys = [k.strip() for k in m.group(1).split(",")] if m else BAD_KEYS_DEFAULT

    def bad_lint() -> str:
        problems = lint_problems(lint(values))
        need(problems, "helm lint --strict accepted it")
        joined = "\n".join(problems)
        need("schema" in joined or "at '" in joined, f"rejected, but not by the schema: {joined}")
        missing = [k for k in keys if k not in joined]
        need(not missing, f"the error does not mention {missing}: {joined}")
        return "mentions " + ", ".join(keys)

    def bad_template() -> str:
        try:
            template(values)
        except helm.HelmValuesError as e:
            missing = [k for k in keys if k not in str(e)]
            need(not missing, f"the error does not mention {missing}: {e}")
            return "schema error names " + ", ".join(keys)
        raise CheckError("helm template accepted it")

    check(f"helm lint --strict rejects {label}", bad_lint)
    check(f"helm template rejects {label}", bad_template)


# --- Dockerfile -------------------------------------------------------------------------------


def binary_crate() -> str:
    """The workspace package that builds the `tidemark` binary."""
    for manifest in sorted((REPO / "crates").glob("*/Cargo.toml")):
        data = tomllib.loads(manifest.read_text())
        if any(b.get("name") == "tidemark" for b in data.get("bin", [])):
            return data["package"]["name"]
    raise CheckError("no crate under crates/ has a [[bin]] named tidemark")


def check_dockerfile() -> None:
    parser = dockerfile_parse.DockerfileParser(path=str(DOCKERFILE), env_replace=False)
    stages: list[list[dict[str, Any]]] = []
    for instr in parser.structure:
        if instr["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instr)

    def of(stage: list[dict[str, Any]], name: str) -> list[str]:
        return [i["value"] for i in stage if i["instruction"] == name]

    def multistage() -> str:
        need(parser.is_multistage and len(stages) >= 2, f"{len(stages)} stage(s)")
        return " -> ".join(of(s, "FROM")[0] for s in stages)

    def builder() -> str:
        crate = binary_crate()
        runs = " ".join(r for s in stages[:-1] for r in of(s, "RUN"))
        need("protobuf-compiler" in runs, "the builder does not install protobuf-compiler")
        need(re.search(rf"cargo build --release --locked -p {re.escape(crate)}\b", runs),
             f"no `cargo build --release --locked -p {crate}` in the build stages")
        return f"-p {crate}"

    def final_user() -> str:
        users = of(stages[-1], "USER")
        need(users, "the final stage sets no USER")
        user = users[-1].split(":")[0]
        need(user.isdigit() and int(user) != 0, f"USER {users[-1]} is not a numeric non-root user")
        return f"USER {users[-1]}"

    def no_toolchain() -> str:
        final = stages[-1]
        base = of(final, "FROM")[0].lower()
        need(not re.search(r"\brust\b|cargo", base), f"final stage is based on {base}")
        for instr in final:
            if instr["instruction"] in ("RUN", "COPY", "ADD", "ENV"):
                need(not re.search(r"cargo|rustup|rustc|/usr/local/rustup", instr["value"]),
                     f"final stage {instr['instruction']} {instr['value']!r} brings in the Rust toolchain")
        return f"base {base}"

    def entrypoint() -> str:
        final = stages[-1]
        eps = of(final, "ENTRYPOINT")
        need(eps, "the final stage has no ENTRYPOINT")
        try:
            argv = json.loads(eps[-1])
        except json.JSONDecodeError:
            raise CheckError(f"ENTRYPOINT {eps[-1]} is not exec form (a JSON array)")
        need(isinstance(argv, list) and argv and Path(argv[0]).name == "tidemark",
             f"ENTRYPOINT {eps[-1]} is not the tidemark binary")
        copies = [c for c in of(final, "COPY") if c.startswith("--from=")]
        need(any(c.split()[-1] == argv[0] for c in copies),
             f"{argv[0]} is not copied from a build stage")
        return f"ENTRYPOINT {argv}"

    check("Dockerfile is multi-stage", multistage)
    check("Dockerfile builds the binary crate", builder)
    check("Dockerfile final stage USER is numeric non-root", final_user)
    check("Dockerfile final stage has no Rust toolchain", no_toolchain)
    check("Dockerfile ENTRYPOINT is tidemark", entrypoint)


# --- Grafana dashboard ------------------------------------------------------------------------


def metric_family(name: str) -> str:
    """The KNOWN_METRICS family of a sample name as a query writes it (NAME_bucket, _sum and
    _count of a histogram NAME); raises CheckError for any other name."""
    if name in KNOWN_METRICS:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base in KNOWN_METRICS:
            need(KNOWN_METRICS[base][0] == "histogram",
                 f"{name}: {base} is a {KNOWN_METRICS[base][0]}, it has no {suffix} series")
            return base
    raise CheckError(f"{name} is not a metric tidemark exports")


def check_dashboard() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.dont_write_bytecode = True  # no __pycache__ left in the work tree
    import dashboard_metrics

    label = DASHBOARD.relative_to(REPO)
    board: dict[str, Any] = {}
    parsed: list[Any] = []

    def parses() -> str:
        board.update(json.loads(DASHBOARD.read_text()))
        for key in ("uid", "title", "schemaVersion", "panels", "templating"):
            need(key in board, f"no {key!r}")
        return f"{board['title']!r}, uid {board['uid']}, {len(board['panels'])} panels"

    if not check(f"{label} parses", parses):
        return

    def structure() -> str:
        variables = {v["name"]: v for v in board["templating"]["list"]}
        ds = variables.get("datasource", {})
        need(ds.get("type") == "datasource" and ds.get("query") == "prometheus",
             "no Prometheus data source variable $datasource")
        panels = list(dashboard_metrics._panels(board["panels"], ""))
        ids = [p["id"] for _, p in panels]
        need(len(ids) == len(set(ids)), f"panel ids repeat: {sorted(ids)}")
        for where, p in panels:
            g = p.get("gridPos", {})
            need(all(k in g for k in "hwxy") and g["x"] + g["w"] <= 24, f"{where}: gridPos {g}")
            if p["type"] == "row":
                continue
            targets = p.get("targets", [])
            need(targets, f"{where}: no query")
            refs = [t.get("refId") for t in targets]
            need(len(set(refs)) == len(refs) and all(refs), f"{where}: refIds {refs}")
            for t in [p] + targets:
                need(t.get("datasource") == {"type": "prometheus", "uid": "${datasource}"},
                     f"{where}: datasource {t.get('datasource')} is not the $datasource variable")
        for v in variables.values():
            if v["type"] == "query":
                need(v.get("datasource") == {"type": "prometheus", "uid": "${datasource}"},
                     f"variable ${v['name']}: datasource {v.get('datasource')}")
        return f"{len(panels)} panels, variables " + ", ".join("$" + n for n in variables)

    check(f"{label} panels and the $datasource variable", structure)

    def known_metrics() -> str:
        try:
            parsed.extend(dashboard_metrics.queries(board))
        except dashboard_metrics.QueryError as e:
            raise CheckError(str(e))
        need(parsed, "no query")
        for q in parsed:
            for name in q.metrics:
                try:
                    metric_family(name)
                except CheckError as e:
                    raise CheckError(f"{q.where}: {e}: {q.expr}")
        return f"{len(parsed)} queries, only tidemark_* metrics of KNOWN_METRICS"

    if not check(f"{label} queries only metrics tidemark exports", known_metrics):
        return

    def labels() -> str:
        for q in parsed:
            fams = {metric_family(n) for n in q.metrics}
            have = set(TARGET_LABELS).union(*(KNOWN_METRICS[f][1] for f in fams))
            if any(n.endswith("_bucket") for n in q.metrics):
                have.add("le")
            used = set(q.grouping) | ({q.variable_label} if q.variable_label else set())
            used |= set().union(*q.matchers.values())
            unknown = used - have
            need(not unknown, f"{q.where}: labels {sorted(unknown)} are on none of "
                              f"{sorted(fams)}: {q.expr}")
        return "by/on/matcher labels are the metrics' own or Prometheus' target labels"

    check(f"{label} queries use the metrics' labels", labels)

    def coverage() -> str:
        used = {metric_family(n) for q in parsed for n in q.metrics}
        missing = sorted(set(KNOWN_METRICS) - used)
        need(not missing, f"no panel for {missing}")
        return f"all {len(KNOWN_METRICS)}"

    check(f"{label} charts every metric tidemark exports", coverage)

    def script() -> str:
        out = subprocess.run([sys.executable, str(Path(dashboard_metrics.__file__)), str(DASHBOARD)],
                             capture_output=True, text=True, timeout=60)
        need(out.returncode == 0, f"exited {out.returncode}: {out.stderr}")
        printed = out.stdout.split()
        expected = sorted({metric_family(n) for q in parsed for n in q.metrics})
        need(printed == expected, f"printed {printed}, expected {expected}")
        return f"{len(printed)} family names"

    check("tests/helm/dashboard_metrics.py prints the dashboard's metric families", script)


def check_autoscaler_metric() -> None:
    def default_metric() -> str:
        name = load_values(CHART / "values.yaml")["autoscaling"]["metric"]["name"]
        need(KNOWN_METRICS.get(name, ("",))[0] == "gauge", f"{name} is not a gauge tidemark exports")
        return name

    check("the autoscaler's default metric is one tidemark exports", default_metric)


# --- main -------------------------------------------------------------------------------------


def main() -> int:
    print(f"helm SDK {helm.helm_sdk_version()} (helm-python-sdk {helm.__version__}, "
          f"libhelm_c at {helm.library_path}); kubernetes-validate {kubernetes_validate.__version__}; "
          f"dockerfile-parse {dockerfile_parse.__version__}", flush=True)
    check("TIDEMARK_BIN runs", lambda: subprocess.run(
        [tidemark_bin(), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip())
    check("ci values files exist", lambda: need(CI_VALUES, f"none in {CHART / 'ci'}") or
          ", ".join(p.name for p in CI_VALUES))
    check("bad values files exist", lambda: need(BAD_VALUES, "none in tests/helm/bad-values") or
          ", ".join(p.name for p in BAD_VALUES))
    for path in CI_VALUES:
        check_values_file(path)
    check_http_variant()
    check_external_metric()
    check_toml_writer()
    check_guards()
    for path in BAD_VALUES:
        check_bad_values(path)
    check_dockerfile()
    check_autoscaler_metric()
    check_dashboard()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
