#!/usr/bin/env python3
"""Writes the seed inputs of the `decode` fuzz target into seeds/decode/.

Each seed is one input in the target's format (see fuzz_targets/decode.rs):
    [layout, key source, options] then records separated by 0xFF, each `KEY 0xFE VALUE`
    or just `VALUE`. Layouts: 0 customers, 1 all_types, 2 orders, 3 keyed. Options byte:
    decimal = b % 3 (precise, string, double), time = b / 3 % 3 (adaptive, micro, connect),
    binary = b / 9 % 3 (base64, base64-url-safe, hex).
The records are the shapes Debezium's MySQL and PostgreSQL connectors write through Kafka
Connect's JSON converter, with the schema envelope and without.

Run from fuzz/: python3 make_seeds.py
"""

import base64
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "decode")

CUSTOMERS, ALL_TYPES, ORDERS, KEYED = 0, 1, 2, 3
TOAST = "__debezium_unavailable_value"
TOAST_B64 = base64.b64encode(TOAST.encode()).decode()


def opts(decimal=0, time=0, binary=0):
    return decimal + 3 * time + 9 * binary


def j(v):
    return json.dumps(v, separators=(",", ":"))


def b64(b):
    return base64.b64encode(b).decode()


def unscaled(n):
    """Kafka Connect Decimal: big-endian two's complement of the unscaled value, base64."""
    length = max(1, (n.bit_length() + 8) // 8)
    return b64(n.to_bytes(length, "big", signed=True))


def wkb_point(x, y, srid=None):
    if srid is None:
        return b64(struct.pack("<bIdd", 1, 1, x, y))
    return b64(struct.pack("<bIIdd", 1, 0x20000001, srid, x, y))


def field(name, ty, logical=None, params=None, optional=True, **extra):
    f = {"type": ty, "optional": optional}
    if logical:
        f["name"] = logical
        f["version"] = 1
    if params:
        f["parameters"] = params
    f.update(extra)
    f["field"] = name
    return f


def source_schema(connector):
    fields = [
        field("version", "string", optional=False),
        field("connector", "string", optional=False),
        field("name", "string", optional=False),
        field("ts_ms", "int64", optional=False),
        field("snapshot", "string", "io.debezium.data.Enum",
              {"allowed": "true,last,false,incremental"}, default="false"),
        field("db", "string", optional=False),
        field("sequence", "string"),
        field("table", "string"),
    ]
    if connector == "mysql":
        fields += [field("server_id", "int64", optional=False), field("gtid", "string"),
                   field("file", "string", optional=False), field("pos", "int64", optional=False),
                   field("row", "int32", optional=False), field("thread", "int64"),
                   field("query", "string")]
    else:
        fields += [field("schema", "string", optional=False), field("txId", "int64"),
                   field("lsn", "int64"), field("xmin", "int64")]
    return {"type": "struct", "fields": fields, "optional": False,
            "name": f"io.debezium.connector.{connector}.Source", "field": "source"}


def value_schema(topic, connector, row_fields):
    row = lambda image: {"type": "struct", "fields": row_fields, "optional": True,
                         "name": f"{topic}.Value", "field": image}
    return {
        "type": "struct",
        "fields": [
            row("before"), row("after"), source_schema(connector),
            field("op", "string", optional=False),
            field("ts_ms", "int64"),
            {"type": "struct", "fields": [field("id", "string", optional=False),
                                          field("total_order", "int64", optional=False),
                                          field("data_collection_order", "int64", optional=False)],
             "optional": True, "name": "event.block", "version": 1, "field": "transaction"},
        ],
        "optional": False,
        "name": f"{topic}.Envelope",
        "version": 1,
    }


def key_schema(topic, key_fields):
    return {"type": "struct", "fields": key_fields, "optional": False, "name": f"{topic}.Key"}


def envelope(schema, payload):
    return j({"schema": schema, "payload": payload})


def mysql_source(pos, row, snapshot="false", table="customers"):
    return {"version": "2.5.0.Final", "connector": "mysql", "name": "mysql-server-1",
            "ts_ms": 1465581029100, "snapshot": snapshot, "db": "inventory", "sequence": None,
            "table": table, "server_id": 223344, "gtid": None, "file": "mysql-bin.000003",
            "pos": pos, "row": row, "thread": 7, "query": None}


def pg_source(lsn, tx_id, table="customers", schema="public"):
    return {"version": "2.5.0.Final", "connector": "postgresql", "name": "PostgreSQL_server",
            "ts_ms": 1559033904863, "snapshot": "false", "db": "postgres",
            "sequence": j(["24023119", str(lsn)]), "schema": schema, "table": table,
            "txId": tx_id, "lsn": lsn, "xmin": None}


def payload(op, before, after, source, ts=1465581029523, transaction=None):
    return {"before": before, "after": after, "source": source, "op": op, "ts_ms": ts,
            "transaction": transaction}


def seed(name, layout, key, options, records):
    """records: list of (key or None, value or None), each str/bytes."""
    out = bytearray([layout, key, options])
    for i, (k, v) in enumerate(records):
        if i:
            out.append(0xFF)
        enc = lambda s: s.encode() if isinstance(s, str) else s
        if k is not None:
            out += enc(k)
            out.append(0xFE)
        if v is not None:
            out += enc(v)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(out)


# --- customers (the Debezium tutorial table) ----------------------------------------------

CUSTOMER_FIELDS = [field("id", "int32", optional=False), field("first_name", "string"),
                   field("last_name", "string"), field("email", "string")]


def customer(i, first, last, email):
    return {"id": i, "first_name": first, "last_name": last, "email": email}


def mysql_customers():
    topic = "mysql-server-1.inventory.customers"
    ks = key_schema(topic, [field("id", "int32", optional=False)])
    vs = value_schema(topic, "mysql", CUSTOMER_FIELDS)
    key = lambda i: envelope(ks, {"id": i})
    anne = customer(1004, "Anne", "Kretchmar", "annek@noanswer.org")
    anne2 = customer(1004, "Anne Marie", "Kretchmar", "annek@noanswer.org")
    env = [
        (key(1001), envelope(vs, payload("r", None, customer(1001, "Sally", "Thomas", "sally.thomas@acme.com"), mysql_source(154, 0, "true")))),
        (key(1004), envelope(vs, payload("c", None, anne, mysql_source(364, 0)))),
        (key(1004), envelope(vs, payload("u", anne, anne2, mysql_source(722, 0)))),
        (key(1004), envelope(vs, payload("d", anne2, None, mysql_source(1066, 0)))),
        (key(1004), None),  # tombstone
    ]
    for k in range(3):
        seed(f"mysql_customers_envelope_k{k}", CUSTOMERS, k, 0, env)
    bare = [
        (j({"id": 1004}), j(payload("c", None, anne, mysql_source(364, 0)))),
        (j({"id": 1004}), j(payload("u", anne, anne2, mysql_source(722, 0)))),
        # Primary key change: MySQL writes a delete of the old key, a tombstone, a create.
        (j({"id": 1004}), j(payload("d", anne2, None, mysql_source(1066, 0)))),
        (j({"id": 1004}), None),
        (j({"id": 2004}), j(payload("c", None, dict(anne2, id=2004), mysql_source(1066, 1)))),
        (None, j({"ts_ms": 1465581029523})),  # heartbeat
        (j({"databaseName": "inventory"}),
         j({"source": mysql_source(1500, 0), "ts_ms": 1465581029600, "databaseName": "inventory",
            "schemaName": None, "ddl": "ALTER TABLE customers ADD COLUMN middle_name VARCHAR(255)",
            "tableChanges": [{"type": "ALTER", "id": "\"inventory\".\"customers\"",
                              "table": {"defaultCharsetName": "utf8mb4", "primaryKeyColumnNames": ["id"],
                                        "columns": [{"name": "id", "jdbcType": 4, "typeName": "INT",
                                                     "position": 1, "optional": False,
                                                     "autoIncremented": True, "generated": True}]}}]})),
        (j({"id": "571:53195829"}),
         j({"status": "BEGIN", "id": "571:53195829", "ts_ms": 1486500577125, "event_count": None,
            "data_collections": None})),
        (j({"id": "571:53195829"}),
         j({"status": "END", "id": "571:53195829", "ts_ms": 1486500577691, "event_count": 2,
            "data_collections": [{"data_collection": "inventory.customers", "event_count": 2}]})),
    ]
    seed("mysql_customers_bare_k0", CUSTOMERS, 0, 0, bare)
    seed("mysql_customers_bare_k1", CUSTOMERS, 1, 0, bare)


def pg_customers():
    topic = "PostgreSQL_server.public.customers"
    ks = key_schema(topic, [field("id", "int32", optional=False)])
    vs = value_schema(topic, "postgresql", CUSTOMER_FIELDS)
    key = lambda i: envelope(ks, {"id": i})
    a = customer(1, "Anne", "Kretchmar", "annek@noanswer.org")
    b = customer(1, "Anne", "Kretchmar", "anne@example.org")
    records = [
        (key(1), envelope(vs, payload("c", None, a, pg_source(24023128, 555)))),
        # REPLICA IDENTITY DEFAULT: no before on updates, key-only before on deletes.
        (key(1), envelope(vs, payload("u", None, b, pg_source(24023200, 556)))),
        (key(1), envelope(vs, payload("d", {"id": 1, "first_name": None, "last_name": None, "email": None}, None, pg_source(24023300, 557)))),
        # REPLICA IDENTITY FULL, key change in one update.
        (key(2), envelope(vs, payload("u", a, dict(a, id=2), pg_source(24023400, 558)))),
        # Delete without a before image: the key comes from the message key.
        (key(2), envelope(vs, payload("d", None, None, pg_source(24023500, 559)))),
        (None, envelope(vs, payload("t", None, None, pg_source(24023600, 560)))),
        (None, j({"op": "m", "ts_ms": 1559033904863, "source": pg_source(24023700, 561),
                  "message": {"prefix": "audit", "content": "aGVsbG8="}})),
        (key(3), envelope(vs, None)),  # envelope with a null payload: a tombstone
        (key(3), "null"),
    ]
    for k in range(3):
        seed(f"pg_customers_envelope_k{k}", CUSTOMERS, k, 0, records)
    # The payload before the schema, and a TOAST placeholder in a text column.
    swapped = '{"payload":' + j(payload("u", None, dict(b, email=TOAST), pg_source(1, 1))) + ',"schema":' + j(vs) + "}"
    seed("pg_customers_payload_first", CUSTOMERS, 1, 0, [(key(1), swapped), (key(1), swapped)])


# --- all_types (PostgreSQL, every column type) ---------------------------------------------

UUID = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
GEOM_STRUCT = [field("wkb", "bytes", optional=False), field("srid", "int32")]
VSD_STRUCT = [field("scale", "int32", optional=False), field("value", "bytes", optional=False)]


def all_types_fields():
    def arr(name, items):
        return field(name, "array", items=items)

    return [
        field("id", "int64", optional=False),
        field("c_bool", "boolean"),
        field("c_int2", "int16"),
        field("c_int4", "int32"),
        field("c_float4", "float32"),
        field("c_float8", "float64"),
        field("c_numeric", "bytes", "org.apache.kafka.connect.data.Decimal",
              {"scale": "2", "connect.decimal.precision": "10"}),
        field("c_numeric_any", "struct", "io.debezium.data.VariableScaleDecimal", fields=VSD_STRUCT,
              doc="Variable scaled decimal"),
        field("c_text", "string"),
        field("c_bytea", "bytes"),
        field("c_date", "int32", "io.debezium.time.Date"),
        field("c_time3", "int32", "io.debezium.time.Time"),
        field("c_time", "int64", "io.debezium.time.MicroTime"),
        field("c_timetz", "string", "io.debezium.time.ZonedTime"),
        field("c_ts3", "int64", "io.debezium.time.Timestamp"),
        field("c_ts", "int64", "io.debezium.time.MicroTimestamp"),
        field("c_tstz", "string", "io.debezium.time.ZonedTimestamp"),
        field("c_interval", "int64", "io.debezium.time.MicroDuration"),
        field("c_uuid", "string", "io.debezium.data.Uuid"),
        field("c_json", "string", "io.debezium.data.Json"),
        field("c_jsonb", "string", "io.debezium.data.Json"),
        field("c_bit3", "bytes", "io.debezium.data.Bits", {"length": "3"}),
        field("c_varbit", "bytes", "io.debezium.data.Bits", {"length": "10"}),
        arr("c_bool_arr", {"type": "boolean", "optional": True}),
        arr("c_int2_arr", {"type": "int16", "optional": True}),
        arr("c_int4_arr", {"type": "int32", "optional": True}),
        arr("c_int8_arr", {"type": "int64", "optional": True}),
        arr("c_float4_arr", {"type": "float32", "optional": True}),
        arr("c_float8_arr", {"type": "float64", "optional": True}),
        arr("c_numeric_arr", {"type": "struct", "fields": VSD_STRUCT, "optional": True,
                              "name": "io.debezium.data.VariableScaleDecimal", "version": 1}),
        arr("c_text_arr", {"type": "string", "optional": True}),
        arr("c_uuid_arr", {"type": "string", "optional": True, "name": "io.debezium.data.Uuid", "version": 1}),
        arr("c_date_arr", {"type": "int32", "optional": True, "name": "io.debezium.time.Date", "version": 1}),
        arr("c_ts_arr", {"type": "int64", "optional": True, "name": "io.debezium.time.MicroTimestamp", "version": 1}),
        arr("c_tstz_arr", {"type": "string", "optional": True, "name": "io.debezium.time.ZonedTimestamp", "version": 1}),
        arr("c_jsonb_arr", {"type": "string", "optional": True, "name": "io.debezium.data.Json", "version": 1}),
        field("c_geom", "struct", "io.debezium.data.geometry.Geometry", fields=GEOM_STRUCT,
              doc="Geometry"),
        field("c_geom_wkb", "struct", "io.debezium.data.geometry.Point", fields=GEOM_STRUCT + [
            field("x", "float64", optional=False), field("y", "float64", optional=False)]),
        field("c_mood", "string", "io.debezium.data.Enum", {"allowed": "sad,ok,happy"}),
    ]


def all_types_row(i):
    return {
        "id": i, "c_bool": True, "c_int2": -32768, "c_int4": 2147483647, "c_float4": 1.5,
        "c_float8": -2.25e-300, "c_numeric": unscaled(299), "c_numeric_any": {"scale": 3, "value": unscaled(123456)},
        "c_text": "h\u00e9llo \"w\"\n", "c_bytea": b64(b"\xde\xad\xbe\xef"),
        "c_date": 19285, "c_time3": 45296789, "c_time": 45296789012,
        "c_timetz": "12:34:56.789Z", "c_ts3": 1666266000123, "c_ts": 1666266000123456,
        "c_tstz": "2022-10-20T11:40:00.123456Z", "c_interval": 90061000001,
        "c_uuid": UUID, "c_json": '{"a": [1, 2.50]}', "c_jsonb": '{"b":null}',
        "c_bit3": "BQ==", "c_varbit": "AQI=",
        "c_bool_arr": [True, False, None], "c_int2_arr": [1, -1], "c_int4_arr": [],
        "c_int8_arr": [9223372036854775807], "c_float4_arr": [0.5], "c_float8_arr": [1e300, None],
        "c_numeric_arr": [{"scale": 2, "value": unscaled(-299)}, None],
        "c_text_arr": ["a", "b,c", None], "c_uuid_arr": [UUID, None], "c_date_arr": [-25567, 2932896],
        "c_ts_arr": [-2208988799999999], "c_tstz_arr": ["1969-07-20T20:17:40+02:00"],
        "c_jsonb_arr": ['{"k":1}', "[]"],
        "c_geom": {"wkb": wkb_point(1.0, 2.0, 4326), "srid": 4326},
        "c_geom_wkb": {"x": 1.0, "y": 2.0, "wkb": wkb_point(1.0, 2.0), "srid": None},
        "c_mood": "happy",
    }


def all_types_toast(i):
    """An update whose unchanged TOASTed columns are the placeholder (REPLICA IDENTITY DEFAULT)."""
    row = all_types_row(i)
    row.update({"c_text": TOAST, "c_bytea": TOAST_B64, "c_json": TOAST, "c_jsonb": TOAST,
                "c_numeric": TOAST_B64, "c_text_arr": [TOAST], "c_int4_arr": [TOAST],
                "c_jsonb_arr": [TOAST]})
    return row


def all_types_bare_row(i, decimal=0, time=0, binary=0):
    """The same row without a schema, as the target column's type and the options read it."""
    row = all_types_row(i)
    if decimal == 1:
        row.update({"c_numeric": "2.99", "c_numeric_any": "-98765432109876543210.4321",
                    "c_numeric_arr": ["1.50", None]})
    elif decimal == 2:
        row.update({"c_numeric": 2.99, "c_numeric_any": 12345678901234567890.123456789,
                    "c_numeric_arr": [0.1, None]})
    if time == 1:
        row.update({"c_time3": 45296789000})
    elif time == 2:
        row.update({"c_time": 45296789, "c_ts": 1666266000123, "c_ts_arr": [-2208988799999]})
    if binary == 1:
        row.update({"c_bytea": base64.urlsafe_b64encode(b"\xfb\xff\xfe").decode()})
    elif binary == 2:
        row.update({"c_bytea": "deadbeef"})
    # ISO strings also land in temporal columns without a schema.
    row.update({"c_date_arr": ["2022-10-20", "-0044-03-15"], "c_interval": "P1Y2M3DT4H5M6.78S"})
    return row


def all_types():
    topic = "PostgreSQL_server.public.all_types"
    fields = all_types_fields()
    vs = value_schema(topic, "postgresql", fields)
    ks = key_schema(topic, [field("id", "int64", optional=False)])
    key = lambda i: envelope(ks, {"id": i})
    src = lambda n: pg_source(24023128 + n, 600 + n, "all_types")
    records = [
        (key(1), envelope(vs, payload("r", None, all_types_row(1), src(0)))),
        (key(1), envelope(vs, payload("u", None, all_types_toast(1), src(1)))),
        (key(1), envelope(vs, payload("u", all_types_row(1), dict(all_types_row(1), c_int4=None), src(2)))),
        (key(1), envelope(vs, payload("d", {"id": 1}, None, src(3)))),
    ]
    for k in range(3):
        seed(f"pg_all_types_envelope_k{k}", ALL_TYPES, k, 0, records)
    # A schema change between records (column dropped from the schema: read as the column
    # says), then back: the cache must follow.
    vs2 = value_schema(topic, "postgresql", [f for f in fields if f["field"] != "c_numeric"])
    seed("pg_all_types_schema_change", ALL_TYPES, 1, 0, [
        (key(1), envelope(vs, payload("c", None, all_types_row(1), src(0)))),
        (key(2), envelope(vs2, payload("c", None, all_types_row(2), src(1)))),
        (key(3), envelope(vs, payload("c", None, all_types_row(3), src(2)))),
        (key(3), j(payload("c", None, all_types_bare_row(3), src(3)))),
    ])
    for d, t, b in [(0, 0, 0), (1, 0, 0), (2, 0, 0), (0, 1, 0), (0, 2, 0), (0, 0, 1), (0, 0, 2), (1, 2, 2)]:
        bare = all_types_bare_row(1, d, t, b)
        after = all_types_toast(1) if (d, b) == (0, 0) else bare
        rows = [
            (j({"id": 1}), j(payload("c", None, bare, src(0)))),
            (j({"id": 1}), j(payload("u", bare, after, src(1)))),
            (j({"id": 1}), j(payload("d", {"id": 1, "c_uuid": UUID}, None, src(2)))),
        ]
        seed(f"pg_all_types_bare_d{d}t{t}b{b}", ALL_TYPES, (d + t + b) % 3, opts(d, t, b), rows)


# --- orders (MySQL, rename and unmanaged column) -------------------------------------------

def orders():
    topic = "mysql-server-1.inventory.orders"
    fields = [
        field("order_number", "int32", optional=False),
        field("order_date", "int32", "io.debezium.time.Date", optional=False),
        field("purchaser", "int32", optional=False),
        field("quantity", "int32", optional=False),
        field("product_id", "int32", optional=False),
        field("price", "bytes", "org.apache.kafka.connect.data.Decimal",
              {"scale": "2", "connect.decimal.precision": "10"}),
        field("created_at", "int64", "io.debezium.time.Timestamp"),
        field("updated_at", "string", "io.debezium.time.ZonedTimestamp"),
        field("refresh_time", "int64", "io.debezium.time.Timestamp"),
    ]
    vs = value_schema(topic, "mysql", fields)
    ks = key_schema(topic, [field("order_number", "int32", optional=False)])
    key = lambda n: envelope(ks, {"order_number": n})
    row = lambda n, q: {"order_number": n, "order_date": 16816, "purchaser": 1001, "quantity": q,
                        "product_id": 102, "price": unscaled(1999), "created_at": 1452946800000,
                        "updated_at": "2016-01-16T12:00:00Z", "refresh_time": 1452946800000}
    src = lambda p: mysql_source(p, 0, table="orders")
    records = [
        (key(10001), envelope(vs, payload("c", None, row(10001, 1), src(100)))),
        (key(10001), envelope(vs, payload("u", row(10001, 1), row(10001, 2), src(200)))),
        (key(10002), envelope(vs, payload("c", None, dict(row(10002, 5), price=None), src(300)))),
        (key(10001), envelope(vs, payload("d", row(10001, 2), None, src(400)))),
        (key(10001), None),
    ]
    for k in range(3):
        seed(f"mysql_orders_envelope_k{k}", ORDERS, k, 0, records)
    bare_row = lambda n: dict(row(n, 3), price="19.99", created_at=1452946800000,
                              updated_at="2016-01-16T12:00:00.250+01:00")
    seed("mysql_orders_bare_decimal_string", ORDERS, 2, opts(decimal=1), [
        (j({"order_number": 10003}), j(payload("c", None, bare_row(10003), src(500)))),
        (j({"order_number": 10003}), j(payload("d", bare_row(10003), None, src(600)))),
    ])
    seed("mysql_orders_bare_connect", ORDERS, 0, opts(decimal=2, time=2), [
        (j({"order_number": 10004}), j(payload("c", None, dict(row(10004, 1), price=19.99), src(700)))),
    ])


# --- keyed (logical-type keys) ---------------------------------------------------------------

def keyed():
    topic = "PostgreSQL_server.public.keyed"
    key_fields = [
        field("k_num", "bytes", "org.apache.kafka.connect.data.Decimal",
              {"scale": "0", "connect.decimal.precision": "20"}, optional=False),
        field("k_uuid", "string", "io.debezium.data.Uuid", optional=False),
    ]
    fields = key_fields + [
        field("k_ts", "string", "io.debezium.time.ZonedTimestamp"),
        field("k_date", "int32", "io.debezium.time.Date"),
        field("v", "string"),
        field("blob", "bytes"),
        field("big", "struct", "io.debezium.data.VariableScaleDecimal", fields=VSD_STRUCT),
    ]
    vs = value_schema(topic, "postgresql", fields)
    ks = key_schema(topic, key_fields)
    big = unscaled(18446744073709551615)  # BIGINT UNSIGNED max, precise
    key = lambda n: envelope(ks, {"k_num": n, "k_uuid": UUID})
    row = {"k_num": big, "k_uuid": UUID, "k_ts": "2022-10-20T11:40:00+02:00", "k_date": 19285,
           "v": "x", "blob": TOAST_B64, "big": {"scale": 10, "value": unscaled(-10**37 + 1)}}
    src = lambda n: pg_source(n, n, "keyed")
    records = [
        (key(big), envelope(vs, payload("c", None, row, src(1)))),
        (key(big), envelope(vs, payload("u", None, dict(row, v=TOAST), src(2)))),
        (key(unscaled(7)), envelope(vs, payload("u", row, dict(row, k_num=unscaled(7)), src(3)))),
        (key(unscaled(7)), envelope(vs, payload("d", None, None, src(4)))),
    ]
    for k in range(4):
        seed(f"pg_keyed_envelope_k{k}", KEYED, k, 0, records)
    # Without schemas: the numeric(20,0) key is base64 with the declared scale.
    bare_key = j({"k_num": big, "k_uuid": UUID})
    bare = dict(row, big="123.4567890123")
    bare_string = dict(bare, k_num="18446744073709551615")
    seed("pg_keyed_bare", KEYED, 0, opts(decimal=0), [
        (bare_key, j(payload("c", None, dict(bare, big={"scale": 2, "value": unscaled(5)}), src(5)))),
        (bare_key, j(payload("d", None, None, src(6)))),
    ])
    seed("pg_keyed_bare_fields", KEYED, 2, opts(decimal=1), [
        (j({"k_uuid": UUID, "k_ts": "2022-10-20T09:40:00Z"}), j(payload("c", None, bare_string, src(7)))),
        (j({"k_uuid": UUID, "k_ts": "2022-10-20T09:40:00Z"}), j(payload("d", None, None, src(8)))),
    ])


# --- small single-field records (short inputs mutate far better than 40 kB envelopes) ------

def small():
    bare = [
        ("c_bool", True), ("c_int2", 1), ("c_float8", 0.1), ("c_numeric", unscaled(299)),
        ("c_numeric_any", {"scale": 3, "value": unscaled(123456)}), ("c_text", TOAST),
        ("c_bytea", b64(b"\xde\xad")), ("c_date", 19285), ("c_date", "2022-10-20"),
        ("c_time3", 45296789), ("c_time", "12:34:56.789"), ("c_timetz", "10:15:30.5-05:30"),
        ("c_ts3", "2022-10-20 11:40:00"), ("c_ts", 1666266000123456),
        ("c_tstz", "2022-10-20T11:40:00.5+02:00"), ("c_interval", "P1Y2M3DT4H5M6.78S"),
        ("c_interval", -90061000001), ("c_uuid", UUID), ("c_json", "{\"a\":1}"),
        ("c_bit3", "BQ=="), ("c_varbit", "AQI="), ("c_numeric_arr", [{"scale": 1, "value": unscaled(15)}, None]),
        ("c_tstz_arr", ["2022-10-20T11:40:00Z"]), ("c_date_arr", [19285]),
        ("c_geom_wkb", {"wkb": wkb_point(1.0, 2.0), "srid": 4326}), ("c_geom", {"wkb": "AQE=", "srid": 0}),
    ]
    for n, (col, value) in enumerate(bare):
        seed(f"small_bare_{n:02}_{col}", ALL_TYPES, 1, 0,
             [(None, j({"op": "c", "after": {"id": 1, col: value}}))])
    typed = [
        (field("c_numeric", "bytes", "org.apache.kafka.connect.data.Decimal", {"scale": "2"}), unscaled(-299)),
        (field("c_numeric_any", "struct", "io.debezium.data.VariableScaleDecimal", fields=VSD_STRUCT),
         {"scale": 0, "value": "/w=="}),
        (field("c_bit3", "bytes", "io.debezium.data.Bits", {"length": "3"}), "BQ=="),
        (field("c_ts", "int64", "io.debezium.time.NanoTimestamp"), 1666266000123456789),
        (field("c_time", "int64", "io.debezium.time.NanoTime"), 45296789012345),
        (field("c_tstz", "string", "io.debezium.time.ZonedTimestamp"), "1969-07-20T20:17:40-05:00"),
        (field("c_timetz", "string", "io.debezium.time.ZonedTime"), "10:15:30Z"),
        (field("c_interval", "string", "io.debezium.time.Interval"), "P0Y0M0DT0H0M-1.5S"),
        (field("c_geom_wkb", "struct", "io.debezium.data.geometry.Point", fields=GEOM_STRUCT),
         {"wkb": "AQE=", "srid": None}),
        (field("c_int4_arr", "array", items={"type": "int32", "optional": True}), [1, None]),
        (field("c_date", "int32", "org.apache.kafka.connect.data.Date"), -25567),
    ]
    for n, (f, value) in enumerate(typed):
        row = [field("id", "int64", optional=False), f]
        schema = {"type": "struct", "fields": [
            {"type": "struct", "fields": row, "optional": True, "field": "after"},
            field("op", "string", optional=False)]}
        seed(f"small_schema_{n:02}_{f['field']}", ALL_TYPES, 1, 0,
             [(None, envelope(schema, {"op": "c", "after": {"id": 1, f["field"]: value}}))])
    key = envelope(key_schema("k", [field("k_num", "bytes", "org.apache.kafka.connect.data.Decimal",
                                          {"scale": "0"}, optional=False)]), {"k_num": unscaled(7)})
    seed("small_keyed_message_key", KEYED, 0, 0, [
        (key, j({"op": "c", "after": {"k_num": unscaled(7), "v": "x"}})),
        (key, j({"op": "d", "before": None})),
    ])


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        os.remove(os.path.join(OUT, old))
    mysql_customers()
    pg_customers()
    all_types()
    orders()
    keyed()
    small()
    print(f"{len(os.listdir(OUT))} seeds in {OUT}")


if __name__ == "__main__":
    main()
