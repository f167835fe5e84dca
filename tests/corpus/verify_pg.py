#!/usr/bin/env python3
"""Checks the corpus against a real PostgreSQL (15) through psql.

Two independent checks per table file:

1. canonical: the target DDL runs, and every expected text, cast to its column's type and back
   to text (TimeZone=UTC, IntervalStyle=postgres, DateStyle=ISO, extra_float_digits=1,
   bytea_output=hex), is unchanged -- i.e. "expected" is written in PostgreSQL's own output form.
2. replay: a small reference consumer written here, independently of generate.py, decodes every
   record by its Connect schema (schema name + parameters only, never the column names), applies
   it latest-wins keyed by the message key (tombstones ignored, deletes by the message key,
   Debezium's unavailable-value placeholders keep the stored value), and the resulting table
   must equal "expected" exactly.

Usage:  python3 verify_pg.py [--psql PATH] [--host DIR] [--port N] [--user U] [--db D] [files...]
Exit status 0 when everything matches.
"""

import argparse
import base64
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PLACEHOLDER = "__debezium_unavailable_value"
SESSION = "-c TimeZone=UTC -c IntervalStyle=postgres -c DateStyle=ISO -c extra_float_digits=1 -c bytea_output=hex"


def qi(name):
    return '"' + name.replace('"', '""') + '"'


def ql(text):
    return "'" + text.replace("'", "''") + "'"


class PG:
    def __init__(self, args):
        self.cmd = [args.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", args.host, "-p", str(args.port),
                    "-U", args.user, "-d", args.db]

    def run(self, sql):
        env = dict(os.environ, PGOPTIONS=SESSION)
        p = subprocess.run(self.cmd, input=sql, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            raise RuntimeError(p.stderr.strip() + "\n--- SQL (head) ---\n" + sql[:3000])
        return p.stdout


# ------------------------------------------------------------------------------------------------
# reference decoding: Connect field schema + JSON value -> SQL expression
# ------------------------------------------------------------------------------------------------


def signed_be(b):
    return int.from_bytes(b, "big", signed=True)


def decimal_sql(unscaled, scale):
    return ql(f"{unscaled}e-{scale}") + "::numeric"


def micros_interval(us):
    days, rem = divmod(us, 86_400_000_000)
    secs, micro = divmod(rem, 1_000_000)
    return ql(f"{days} days {secs} seconds {micro} microseconds") + "::interval"


def is_placeholder(schema, value):
    if value is None:
        return False
    t = schema["type"]
    if t == "string":
        return value == PLACEHOLDER
    if t == "bytes" and schema.get("name") is None:
        return base64.b64decode(value) == PLACEHOLDER.encode()
    if t == "array" and schema["items"]["type"] == "string":
        return value == [PLACEHOLDER]
    return False


def to_sql(schema, value, coltype):
    """An SQL expression for the value, to be cast to the target column type."""
    if value is None:
        return "NULL"
    name = schema.get("name")
    t = schema["type"]
    p = schema.get("parameters", {})
    if name == "org.apache.kafka.connect.data.Decimal":
        return decimal_sql(signed_be(base64.b64decode(value)), int(p["scale"]))
    if name == "io.debezium.data.VariableScaleDecimal":
        return decimal_sql(signed_be(base64.b64decode(value["value"])), value["scale"])
    if name in ("io.debezium.time.Date", "org.apache.kafka.connect.data.Date"):
        return f"(date '1970-01-01' + ({int(value)}))"
    if name in ("io.debezium.time.Time", "org.apache.kafka.connect.data.Time"):
        return f"(time '00:00' + {micros_interval(int(value) * 1000)})"
    if name == "io.debezium.time.MicroTime":
        if value == 86_400_000_000:
            return "'24:00:00'::time"
        return f"(time '00:00' + {micros_interval(int(value))})"
    if name == "io.debezium.time.NanoTime":
        assert value % 1000 == 0
        return f"(time '00:00' + {micros_interval(value // 1000)})"
    if name in ("io.debezium.time.Timestamp", "org.apache.kafka.connect.data.Timestamp"):
        return f"(timestamp '1970-01-01' + {micros_interval(int(value) * 1000)})"
    if name == "io.debezium.time.MicroTimestamp":
        return f"(timestamp '1970-01-01' + {micros_interval(int(value))})"
    if name == "io.debezium.time.NanoTimestamp":
        assert value % 1000 == 0
        return f"(timestamp '1970-01-01' + {micros_interval(value // 1000)})"
    if name == "io.debezium.time.ZonedTimestamp":
        assert value.endswith("Z"), value
        return ql(value.lstrip("+")) + "::timestamptz"
    if name == "io.debezium.time.ZonedTime":
        assert value.endswith("Z"), value
        return ql(value) + "::timetz"
    if name == "io.debezium.time.MicroDuration":
        h, rem = divmod(int(value), 3_600_000_000)
        m, rem = divmod(rem, 60_000_000)
        return f"make_interval(hours => {h}, mins => {m}, secs => {rem / 1e6!r})"
    if name == "io.debezium.time.Year":
        return f"({int(value)})"
    if name == "io.debezium.time.Interval":
        return ql(value) + "::interval"
    if name == "io.debezium.data.Bits":
        n = int.from_bytes(base64.b64decode(value), "little")
        bits = format(n, "b") if n else ""
        if coltype.startswith("bit("):
            width = int(coltype[4:-1])
            bits = bits.rjust(width, "0")
        elif bits == "":
            bits = "0"
        return f"B'{bits}'"
    if name in ("io.debezium.data.geometry.Geometry", "io.debezium.data.geometry.Point"):
        wkb = base64.b64decode(value["wkb"])
        if name.endswith("Point"):
            import struct

            order, kind, x, y = struct.unpack("<BIdd", wkb)
            assert (order, kind) == (1, 1) and x == value["x"] and y == value["y"], value
        return f"decode('{wkb.hex()}', 'hex')"
    if name in ("io.debezium.data.Json", "io.debezium.data.Uuid", "io.debezium.data.Xml", "io.debezium.data.Enum",
                "io.debezium.data.EnumSet"):
        return ql(value)
    if name is not None:
        raise ValueError(f"unknown logical type {name}")
    if t == "boolean":
        return "true" if value else "false"
    if t in ("int8", "int16", "int32", "int64"):
        return f"({int(value)})"
    if t in ("double", "float"):
        r = repr(float(value))
        return ql(r) + "::float8"
    if t == "string":
        return ql(value)
    if t == "bytes":
        return f"decode('{base64.b64decode(value).hex()}', 'hex')"
    if t == "array":
        if not value:
            return "'{}'"
        items = ", ".join(to_sql(schema["items"], v, coltype[:-2]) for v in value)
        return f"ARRAY[{items}]"
    raise ValueError(f"unhandled schema {schema}")


# ------------------------------------------------------------------------------------------------


def column_types(pg, table):
    out = pg.run(
        "SELECT json_object_agg(attname, format_type(atttypid, atttypmod)) FROM pg_attribute "
        f"WHERE attrelid = {ql(table)}::regclass AND attnum > 0 AND NOT attisdropped"
    )
    return json.loads(out)


def dump(pg, table, cols):
    sel = ", ".join(f"{qi(c)}::text AS {qi(c)}" for c in cols)
    out = pg.run(f"SELECT coalesce(json_agg(r), '[]') FROM (SELECT {sel} FROM {table}) r")
    return json.loads(out)


def rows_equal(actual, expected_rows):
    a = sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in actual)
    e = sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in expected_rows)
    return a == e, a, e


def check_file(pg, path, idx):
    corpus = json.load(open(path, encoding="utf-8"))
    problems = []
    base = f"corpus_{idx}"
    canon, replay = qi(base + "_canon"), qi(base + "_replay")
    pg.run(f"DROP TABLE IF EXISTS {canon}, {replay};")
    pg.run(corpus["target_ddl"].replace("{target}", canon))
    pg.run(corpus["target_ddl"].replace("{target}", replay))
    types = column_types(pg, base + "_canon")
    expected_rows = [e["row"] for e in corpus["expected"]]
    cols = list(expected_rows[0].keys()) if expected_rows else list(types.keys())
    if set(cols) != set(types):
        problems.append(f"columns differ: expected {sorted(cols)} table {sorted(types)}")

    # key texts must agree with the row texts
    for e in corpus["expected"]:
        for k, v in e["key"].items():
            if e["row"][k] != v:
                problems.append(f"key {k}={v} but row has {e['row'][k]}")
        if sorted(e["key"]) != sorted(corpus["key_fields"]):
            problems.append(f"key fields {sorted(e['key'])} != {corpus['key_fields']}")

    # 1. canonical text
    for row in expected_rows:
        names = ", ".join(qi(c) for c in cols)
        vals = ", ".join("NULL" if row[c] is None else f"{ql(row[c])}::{types[c]}" for c in cols)
        pg.run(f"INSERT INTO {canon} ({names}) VALUES ({vals})")
    ok, a, e = rows_equal(dump(pg, canon, cols), expected_rows)
    if not ok:
        problems.append("canonical text mismatch:\n  got      " + "\n  got      ".join(set(a) - set(e))
                        + "\n  expected " + "\n  expected ".join(set(e) - set(a)))

    # 2. replay
    key_fields = corpus["key_fields"]
    stmts = []
    for n, rec in enumerate(corpus["records"]):
        key = rec["key"]
        kschema = {f["field"]: f for f in key["schema"]["fields"]}
        if set(kschema) != set(key_fields):
            problems.append(f"record {n}: key schema fields {sorted(kschema)}")
        where = " AND ".join(
            f"{qi(k)} = {to_sql(kschema[k], key['payload'][k], types[k])}::{types[k]}" for k in key_fields)
        if rec["value"] is None:
            continue  # tombstone
        if rec["value"]["schema"]["name"] != corpus["topic"] + ".Envelope":
            problems.append(f"record {n}: envelope name {rec['value']['schema']['name']}")
        payload = rec["value"]["payload"]
        op = payload["op"]
        if op == "d":
            stmts.append(f"DELETE FROM {replay} WHERE {where};")
            continue
        assert op in ("c", "r", "u"), op
        after = payload["after"]
        fschema = {f["field"]: f for f in rec["value"]["schema"]["fields"][1]["fields"]}
        keep, vals = [], {}
        for c, v in after.items():
            if is_placeholder(fschema[c], v):
                keep.append(c)
            else:
                vals[c] = f"{to_sql(fschema[c], v, types[c])}::{types[c]}"
        if keep:
            sets = ", ".join(f"{qi(c)} = {v}" for c, v in vals.items() if c not in key_fields)
            stmts.append(f"DO $v$ BEGIN UPDATE {replay} SET {sets} WHERE {where}; IF NOT FOUND THEN "
                         f"RAISE EXCEPTION 'placeholder for a missing row (record {n})'; END IF; END $v$;")
        else:
            names = ", ".join(qi(c) for c in vals)
            pk = ", ".join(qi(k) for k in key_fields)
            upd = ", ".join(f"{qi(c)} = EXCLUDED.{qi(c)}" for c in vals if c not in key_fields)
            stmts.append(f"INSERT INTO {replay} ({names}) VALUES ({', '.join(vals.values())}) "
                         f"ON CONFLICT ({pk}) DO UPDATE SET {upd};")
    pg.run("BEGIN;\n" + "\n".join(stmts) + "\nCOMMIT;")
    ok, a, e = rows_equal(dump(pg, replay, cols), expected_rows)
    if not ok:
        problems.append("replay mismatch:\n  got      " + "\n  got      ".join(set(a) - set(e))
                        + "\n  expected " + "\n  expected ".join(set(e) - set(a)))
    pg.run(f"DROP TABLE {canon}, {replay};")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--psql", default="psql")
    ap.add_argument("--host", default="/tmp")
    ap.add_argument("--port", default=5432, type=int)
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--db", default="postgres")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    files = args.files or sorted(glob.glob(os.path.join(HERE, "*", "*.json")))
    pg = PG(args)
    failed = 0
    for i, f in enumerate(files):
        try:
            problems = check_file(pg, f, i)
        except Exception as e:  # noqa: BLE001 - report and continue
            problems = [f"error: {e}"]
        status = "ok" if not problems else "FAIL"
        print(f"{status:4} {os.path.relpath(f, HERE)}")
        for p in problems:
            print("     " + p.replace("\n", "\n     "))
        failed += bool(problems)
    print(f"{len(files) - failed}/{len(files)} files ok")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
