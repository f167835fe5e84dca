#!/usr/bin/env python3
"""The metric names the Grafana dashboard deploy/grafana/tidemark-dashboard.json queries.

Prints one metric family name per line, sorted, each once: the names of every panel query
(`targets[].expr`, rows' panels included) and of every query variable (`label_values(SELECTOR,
label)`), as tidemark's /metrics declares them in its `# TYPE` lines. A histogram's series
`NAME_bucket` is printed as NAME; `NAME_sum` and `NAME_count` are too when the dashboard also
queries another series of the same histogram (`NAME_bucket`, or both `_sum` and `_count`), and
are left as written otherwise (a counter may end in `_count`). `--as-written` prints the sample
names exactly as the queries spell them instead.

Usage:
    python3 tests/helm/dashboard_metrics.py [--as-written] [DASHBOARD.json]

Standard library only (check_chart.py imports it, and a test can run it with any python3 >= 3.9).
Exits 1, naming the query, if a query cannot be read: unbalanced brackets, an unknown function,
or a metric chosen by a `__name__` matcher, which no list of names can cover.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "tidemark-dashboard.json"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
    "topk", "quantile", "limitk", "limit_ratio",
}
FUNCTIONS = AGGREGATIONS | {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
    "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
    "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count", "histogram_fraction",
    "histogram_quantile", "histogram_stddev", "histogram_stdvar", "histogram_sum", "holt_winters",
    "hour", "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time", "ln",
    "log10", "log2", "mad_over_time", "max_over_time", "min_over_time", "minute", "month", "pi",
    "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round",
    "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc",
    "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time",
    "timestamp", "vector", "year",
    "start", "end",  # the @ modifier's start() and end()
}
# Keywords followed by a label list in parentheses (group_left/right: optionally).
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}

IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[A-Za-z0-9_]*")
GRAFANA_VAR = re.compile(r"\$(?:\{[^}]*\}|\w+)")
MATCH_OP = re.compile(r"=~|!~|!=|=")
LABEL_VALUES = re.compile(r"^\s*label_values\s*\((.*)\)\s*$", re.S)


class QueryError(Exception):
    pass


@dataclass
class Query:
    """What one PromQL expression refers to."""

    where: str
    expr: str
    metrics: list[str] = field(default_factory=list)
    # Labels named in by/without/on/ignoring/group_* lists.
    grouping: set[str] = field(default_factory=set)
    # Labels named in selectors' matchers, per metric.
    matchers: dict[str, set[str]] = field(default_factory=dict)
    functions: set[str] = field(default_factory=set)
    # For label_values(SELECTOR, LABEL): LABEL.
    variable_label: str | None = None


def _string_end(s: str, i: int) -> int:
    """The index just past the string literal starting at s[i]."""
    quote = s[i]
    j = i + 1
    while j < len(s):
        if s[j] == "\\" and quote != "`":
            j += 2
            continue
        if s[j] == quote:
            return j + 1
        j += 1
    raise QueryError(f"unterminated string at {i}")


def _skip_space(s: str, i: int) -> int:
    while i < len(s) and s[i].isspace():
        i += 1
    return i


def _matchers(s: str, i: int) -> tuple[set[str], int]:
    """Parses `{label op "value", …}` from s[i] == "{"; returns the labels and the index past "}"."""
    labels: set[str] = set()
    i = _skip_space(s, i + 1)
    while True:
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            raise QueryError(f"expected a label name at {i}: {s[i:i + 20]!r}")
        labels.add(m.group())
        i = _skip_space(s, m.end())
        op = MATCH_OP.match(s, i)
        if not op:
            raise QueryError(f"expected a matcher operator after {m.group()!r}")
        i = _skip_space(s, op.end())
        if i >= len(s) or s[i] not in "\"'`":
            raise QueryError(f"expected a string after {m.group()}{op.group()}")
        i = _skip_space(s, _string_end(s, i))
        if i < len(s) and s[i] == ",":
            i = _skip_space(s, i + 1)
        elif i >= len(s) or s[i] != "}":
            raise QueryError(f"expected , or }} at {i}")


def _label_list(s: str, i: int) -> tuple[set[str], int]:
    """Parses `(a, b)` from s[i] == "("."""
    close = s.find(")", i)
    if close < 0:
        raise QueryError(f"unclosed label list at {i}")
    labels = {p.strip() for p in s[i + 1:close].split(",") if p.strip()}
    bad = [p for p in labels if not LABEL.fullmatch(p)]
    if bad:
        raise QueryError(f"not label names: {bad}")
    return labels, close + 1


def parse(expr: str, where: str = "") -> Query:
    """The metric names, labels and functions of a PromQL expression (with Grafana variables)."""
    q = Query(where=where, expr=expr)
    s = expr
    depth: list[str] = []
    pairs = {")": "(", "]": "["}
    i = 0
    while i < len(s):
        c = s[i]
        if c.isspace():
            i += 1
        elif c == "#":  # a comment, to the end of the line
            nl = s.find("\n", i)
            i = len(s) if nl < 0 else nl + 1
        elif c in "\"'`":
            i = _string_end(s, i)
        elif c == "$":
            m = GRAFANA_VAR.match(s, i)
            if not m:
                raise QueryError(f"stray $ at {i}")
            i = m.end()
        elif c == "{":  # a selector without a name (one after a name is read with the name)
            raise QueryError("a selector without a metric name, which no list of names can cover")
        elif c == "[":  # a range or subquery: durations and Grafana variables only
            close = s.find("]", i)
            if close < 0:
                raise QueryError(f"unclosed [ at {i}")
            i = close + 1
        elif c == "(":
            depth.append(c)
            i += 1
        elif c in ")]":
            if not depth or depth.pop() != pairs[c]:
                raise QueryError(f"unbalanced {c} at {i}")
            i += 1
        elif c.isdigit() or (c == "." and i + 1 < len(s) and s[i + 1].isdigit()):
            i = NUMBER.match(s, i).end()
        elif m := IDENT.match(s, i):
            word, i = m.group(), m.end()
            nxt = _skip_space(s, i)
            lower = word.lower()
            if lower in LABEL_LISTS:
                if nxt < len(s) and s[nxt] == "(":
                    labels, i = _label_list(s, nxt)
                    q.grouping |= labels
                elif lower not in ("group_left", "group_right"):
                    raise QueryError(f"{word} without a label list")
            elif lower in KEYWORDS:
                pass
            elif (nxt < len(s) and s[nxt] == "(") or word in AGGREGATIONS:
                if word not in FUNCTIONS:
                    raise QueryError(f"unknown function {word}")
                q.functions.add(word)
            else:
                q.metrics.append(word)
                labels: set[str] = set()
                if nxt < len(s) and s[nxt] == "{":
                    labels, i = _matchers(s, nxt)
                if "__name__" in labels:
                    raise QueryError("a metric chosen by a __name__ matcher")
                q.matchers.setdefault(word, set()).update(labels)
        else:  # operators: + - * / % ^ == != <= >= < > , @
            i += 1
    if depth:
        raise QueryError("unclosed (")
    if not q.metrics:
        raise QueryError("refers to no metric")
    return q


def parse_variable(query: str, where: str) -> Query | None:
    """A Prometheus query variable: label_values(SELECTOR, LABEL) refers to SELECTOR's metric;
    label_values(LABEL) and the other Grafana forms refer to none checked here."""
    m = LABEL_VALUES.match(query)
    if not m:
        # query_result(EXPR) and the like: a PromQL expression inside.
        inner = re.match(r"^\s*query_result\s*\((.*)\)\s*$", query, re.S)
        return parse(inner.group(1), where) if inner else None
    args = m.group(1)
    comma = args.rfind(",")
    if comma < 0:
        return None
    label = args[comma + 1:].strip()
    if not LABEL.fullmatch(label):
        raise QueryError(f"label_values: {label!r} is not a label name")
    q = parse(args[:comma], where)
    q.expr = query
    q.variable_label = label
    return q


def _panels(panels: list[dict[str, Any]], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for p in panels:
        where = f"{path}panel {p.get('id')} {p.get('title')!r}"
        yield where, p
        yield from _panels(p.get("panels", []), f"{where} > ")


def queries(dashboard: dict[str, Any]) -> list[Query]:
    """Every query of the dashboard, parsed; raises QueryError naming the first unreadable one."""
    out: list[Query] = []
    for where, panel in _panels(dashboard.get("panels", []), ""):
        for t in panel.get("targets", []):
            expr = t.get("expr")
            if expr is None:
                continue
            label = f"{where} target {t.get('refId')}"
            try:
                out.append(parse(expr, label))
            except QueryError as e:
                raise QueryError(f"{label}: {e}: {expr}") from None
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        label = f"variable ${var.get('name')}"
        try:
            q = parse_variable(query or "", label)
        except QueryError as e:
            raise QueryError(f"{label}: {e}: {query}") from None
        if q is not None:
            out.append(q)
    return out


def families(names: set[str]) -> set[str]:
    """Sample names as metric families (see the module's doc)."""
    def base(name: str) -> tuple[str, str] | None:
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix):
                return name[: -len(suffix)], suffix
        return None

    seen: dict[str, set[str]] = {}
    for n in names:
        if b := base(n):
            seen.setdefault(b[0], set()).add(b[1])
    out = set()
    for n in names:
        b = base(n)
        if b and ("_bucket" in seen[b[0]] or {"_sum", "_count"} <= seen[b[0]]):
            out.add(b[0])
        else:
            out.add(n)
    return out


def load(path: Path = DASHBOARD) -> dict[str, Any]:
    return json.loads(path.read_text())


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--as-written"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        print("usage: dashboard_metrics.py [--as-written] [DASHBOARD.json]", file=sys.stderr)
        return 2
    path = Path(args[0]) if args else DASHBOARD
    try:
        names = {m for q in queries(load(path)) for m in q.metrics}
    except (OSError, json.JSONDecodeError, QueryError) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 1
    for name in sorted(names if "--as-written" in argv else families(names)):
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
