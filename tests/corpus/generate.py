#!/usr/bin/env python3
"""Generates the Debezium change-event corpus in tests/corpus/{mysql,postgres}/*.json.

Every message value and every expected SQL text is derived from the same Python value, so the
encoding (base64 two's-complement unscaled decimals, epoch days / ms / µs, little-endian bit
sets, WKB, ...) and the text PostgreSQL must show for the landed value cannot drift apart.

Run:  python3 tests/corpus/generate.py        (rewrites the JSON files; deterministic)
Then: python3 tests/corpus/verify_pg.py ...    (checks the expected text against a real PG)

The message shapes imitate Debezium 2.7.3.Final (MySQL and PostgreSQL connectors) serialized by
Kafka Connect's JsonConverter with schemas.enable=true; see README.md for the sources of each
encoding.  The key order inside the schema objects follows JsonConverter.asJsonSchema():
type, fields|items, optional, name, version, doc, parameters, default, field.
"""

import base64
import datetime as dt
import json
import os
import struct
from decimal import Decimal, getcontext

getcontext().prec = 400  # 40-digit and 65-digit decimals must not be rounded

HERE = os.path.dirname(os.path.abspath(__file__))
DBZ_VERSION = "2.7.3.Final"
SERVER = "dbserver1"
EPOCH_DATE = dt.date(1970, 1, 1)
EPOCH = dt.datetime(1970, 1, 1)
UTC = dt.timezone.utc
PLACEHOLDER = "__debezium_unavailable_value"


class Unavailable:
    """Marks a PostgreSQL unchanged-TOAST column in an after image (Debezium sends a placeholder)."""

    def __repr__(self):
        return "UNAVAILABLE"


UNAVAILABLE = Unavailable()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unscaled_bytes(n: int) -> bytes:
    """java.math.BigInteger.toByteArray(): minimal big-endian two's complement, sign bit included."""
    bl = n.bit_length() if n >= 0 else (~n).bit_length()
    return n.to_bytes(bl // 8 + 1, "big", signed=True)


def unscaled(value: Decimal, scale: int) -> int:
    q = value.scaleb(scale)
    assert q == q.to_integral_value(), (value, scale)
    return int(q)


def plain(d: Decimal) -> str:
    """BigDecimal.toPlainString()."""
    return format(d, "f")


def frac_trim(micro: int) -> str:
    """Fraction as PostgreSQL and java.time ISO formatters print it: trailing zeros dropped."""
    if micro == 0:
        return ""
    return "." + f"{micro:06d}".rstrip("0")


def pg_ts_text(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S").rjust(19, "0") + frac_trim(t.microsecond)


def pg_date_text(d: dt.date) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def pg_time_text(t: dt.time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}" + frac_trim(t.microsecond)


def micros_between(a: dt.datetime, b: dt.datetime) -> int:
    return (a - b) // dt.timedelta(microseconds=1)


def java_iso_year(y: int) -> str:
    # java.time prints years beyond 9999 with an explicit '+' (ISO 8601 expanded year)
    return f"+{y}" if y > 9999 else f"{y:04d}"


class ZTS:
    """An instant, given as a UTC wall clock that may lie beyond Python's year 9999."""

    def __init__(self, year, month, day, hour, minute, second, micro=0):
        self.parts = (year, month, day, hour, minute, second, micro)

    def debezium(self, width):
        y, mo, d, h, mi, s, us = self.parts
        base = f"{java_iso_year(y)}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
        if width is None:  # ISO_OFFSET_DATE_TIME: fraction only if non-zero, trailing zeros trimmed
            frac = frac_trim(us)
        elif width == 0:
            frac = ""
        else:
            frac = "." + f"{us:06d}"[:width].ljust(width, "0")
        return base + frac + "Z"

    def pg(self):
        y, mo, d, h, mi, s, us = self.parts
        return f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}" + frac_trim(us) + "+00"


# ----------------------------------------------------------------------------------------------
# Column types.  Each knows its Connect schema (JSON), how a Python value is serialized into the
# payload, its PostgreSQL target type and the ::text PostgreSQL shows for the landed value.
# ----------------------------------------------------------------------------------------------


class T:
    def __init__(self, schema, enc, txt, pg_type):
        self.schema = schema  # dict without "optional"/"field"/"default"
        self.enc = enc
        self.txt = txt
        self.pg_type = pg_type


def prim(kind, pg_type, txt=str, enc=lambda v: v):
    return T({"type": kind}, enc, txt, pg_type)


def named(kind, name, pg_type, enc, txt, params=None, version=1, doc=None, fields=None):
    s = {"type": kind}
    if fields is not None:
        s["fields"] = fields
    s["name"] = name
    if version is not None:
        s["version"] = version
    if doc is not None:
        s["doc"] = doc
    if params is not None:
        s["parameters"] = params
    return T(s, enc, txt, pg_type)


def t_int16(pg="smallint"):
    return prim("int16", pg)


def t_int32(pg="integer"):
    return prim("int32", pg)


def t_int64(pg="bigint"):
    return prim("int64", pg)


def t_string(pg="text"):
    return prim("string", pg)


def t_bool(pg="boolean"):
    # boolean::text is 'true'/'false' (psql's t/f display is the output function, not the cast)
    return prim("boolean", pg, txt=lambda v: "true" if v else "false")


def t_float64(pg="double precision"):
    def txt(v):
        r = repr(float(v))
        if "e" in r or "inf" in r or "nan" in r:
            mant, _, exp = r.partition("e")
            if mant.endswith(".0"):
                mant = mant[:-2]
            sign = exp[0] if exp[0] in "+-" else "+"
            digits = exp.lstrip("+-").rjust(2, "0")
            return f"{mant}e{sign}{digits}"
        return r[:-2] if r.endswith(".0") else r

    # JsonConverter names FLOAT64 "double"
    return prim("double", pg, txt=txt, enc=float)


def t_bytes(pg="bytea"):
    return prim("bytes", pg, txt=lambda v: "\\x" + v.hex(), enc=b64)


def t_decimal(precision, scale, pg=None):
    return named(
        "bytes",
        "org.apache.kafka.connect.data.Decimal",
        pg or f"numeric({precision},{scale})",
        enc=lambda v: b64(unscaled_bytes(unscaled(v, scale))),
        txt=lambda v: plain(v.quantize(Decimal(1).scaleb(-scale))),
        params={"scale": str(scale), "connect.decimal.precision": str(precision)},
    )


def t_decimal_string(pg):
    # decimal.handling.mode=string: BigDecimal.toString() (may use E-notation, as Python's str does)
    return prim("string", pg, txt=lambda v: None, enc=lambda v: str(v))


def t_decimal_double(pg):
    return prim("double", pg, txt=lambda v: None, enc=float)


def vsd_normalize(v: Decimal) -> Decimal:
    # PostgresValueConverter: stripTrailingZeros(); a negative scale is reset to 0
    n = v.normalize()
    if n.as_tuple().exponent > 0:
        n = n.quantize(Decimal(1))
    return n


def t_varscale(pg="numeric"):
    fields = [
        {"type": "int32", "optional": False, "field": "scale"},
        {"type": "bytes", "optional": False, "field": "value"},
    ]

    def enc(v):
        n = vsd_normalize(v)
        scale = -n.as_tuple().exponent
        return {"scale": scale, "value": b64(unscaled_bytes(unscaled(n, scale)))}

    return named(
        "struct",
        "io.debezium.data.VariableScaleDecimal",
        pg,
        enc=enc,
        txt=lambda v: plain(vsd_normalize(v)),
        doc="Variable scaled decimal",
        fields=fields,
    )


def t_date(pg="date"):
    return named("int32", "io.debezium.time.Date", pg, enc=lambda v: (v - EPOCH_DATE).days, txt=pg_date_text)


def t_connect_date(pg="date"):
    return named(
        "int32", "org.apache.kafka.connect.data.Date", pg, enc=lambda v: (v - EPOCH_DATE).days, txt=pg_date_text
    )


def time_micros(t: dt.time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def t_time_ms(pg="time(3)"):
    def enc(t):
        assert t.microsecond % 1000 == 0
        return time_micros(t) // 1000

    return named("int32", "io.debezium.time.Time", pg, enc=enc, txt=pg_time_text)


def t_connect_time(pg="time(3)"):
    # org.apache.kafka.connect.data.Time is INT32 milliseconds since midnight
    def enc(t):
        assert t.microsecond % 1000 == 0
        return time_micros(t) // 1000

    return named("int32", "org.apache.kafka.connect.data.Time", pg, enc=enc, txt=pg_time_text)


class Time24:
    """PostgreSQL allows TIME '24:00:00'."""


def t_microtime(pg="time(6)"):
    def enc(t):
        if t is Time24:
            return 86_400_000_000
        return time_micros(t)

    def txt(t):
        return "24:00:00" if t is Time24 else pg_time_text(t)

    return named("int64", "io.debezium.time.MicroTime", pg, enc=enc, txt=txt)


def t_nanotime(pg="time(6)"):
    return named("int64", "io.debezium.time.NanoTime", pg, enc=lambda t: time_micros(t) * 1000, txt=pg_time_text)


def t_timestamp_ms(pg="timestamp(3)"):
    def enc(v):
        us = micros_between(v, EPOCH)
        assert us % 1000 == 0
        return us // 1000

    return named("int64", "io.debezium.time.Timestamp", pg, enc=enc, txt=pg_ts_text)


def t_connect_timestamp(pg="timestamp(3)"):
    def enc(v):
        us = micros_between(v, EPOCH)
        assert us % 1000 == 0
        return us // 1000

    return named("int64", "org.apache.kafka.connect.data.Timestamp", pg, enc=enc, txt=pg_ts_text)


def t_microtimestamp(pg="timestamp(6)"):
    return named("int64", "io.debezium.time.MicroTimestamp", pg, enc=lambda v: micros_between(v, EPOCH), txt=pg_ts_text)


def t_nanotimestamp(pg="timestamp(6)"):
    return named(
        "int64", "io.debezium.time.NanoTimestamp", pg, enc=lambda v: micros_between(v, EPOCH) * 1000, txt=pg_ts_text
    )


def t_zoned_timestamp(width, pg="timestamptz"):
    return named("string", "io.debezium.time.ZonedTimestamp", pg, enc=lambda v: v.debezium(width), txt=lambda v: v.pg())


def t_zoned_time(pg="timetz"):
    # value: (time in UTC); Debezium shifts TIMETZ to UTC and prints ISO_OFFSET_TIME
    return named(
        "string",
        "io.debezium.time.ZonedTime",
        pg,
        enc=lambda t: pg_time_text(t) + "Z",
        txt=lambda t: pg_time_text(t) + "+00",
    )


def t_year(pg="smallint"):
    return named("int32", "io.debezium.time.Year", pg, enc=lambda v: v, txt=str)


DAYS_PER_MONTH_AVG = 365.25 / 12.0


def micro_duration(years, months, days, hours, minutes, seconds: float) -> int:
    # io.debezium.time.MicroDuration.durationMicros(...): double arithmetic, then (long) truncation
    number_of_days = ((years * 12) + months) * DAYS_PER_MONTH_AVG + days
    number_of_seconds = (((number_of_days * 24 + hours) * 60) + minutes) * 60 + seconds
    return int(number_of_seconds * 1e6 + 0)


def interval_text_from_micros(us: int) -> str:
    # what PostgreSQL prints for (us * interval '1 microsecond'): a pure time field
    assert us >= 0
    h, rem = divmod(us, 3_600_000_000)
    m, rem = divmod(rem, 60_000_000)
    s, micro = divmod(rem, 1_000_000)
    return f"{h:02d}:{m:02d}:{s:02d}" + frac_trim(micro)


def t_micro_duration(pg="interval"):
    def enc(v):
        return micro_duration(*v[0])

    return named("int64", "io.debezium.time.MicroDuration", pg, enc=enc, txt=lambda v: interval_text_from_micros(enc(v)))


def iso_interval(years, months, days, hours, minutes, seconds: Decimal) -> str:
    # io.debezium.time.Interval.toIsoString
    if -seconds.as_tuple().exponent > 6:
        seconds = seconds.quantize(Decimal("0.000001"), rounding="ROUND_DOWN")
    s = plain(seconds.normalize()) if seconds != 0 else "0"
    return f"P{years}Y{months}M{days}DT{hours}H{minutes}M{s}S"


def t_interval_string(pg="interval"):
    # value: (components, pg_text)
    return named("string", "io.debezium.time.Interval", pg, enc=lambda v: iso_interval(*v[0]), txt=lambda v: v[1])


def t_json(pg):
    # value: (json text as Debezium sends it, expected ::text of the target column)
    return named("string", "io.debezium.data.Json", pg, enc=lambda v: v[0], txt=lambda v: v[1])


def t_uuid(pg="uuid"):
    return named("string", "io.debezium.data.Uuid", pg, enc=lambda v: v, txt=lambda v: v)


def t_xml(pg="xml"):
    return named("string", "io.debezium.data.Xml", pg, enc=lambda v: v, txt=lambda v: v)


def t_enum(allowed, pg="text"):
    return named("string", "io.debezium.data.Enum", pg, enc=lambda v: v, txt=lambda v: v, params={"allowed": allowed})


def t_enumset(allowed, pg="text"):
    return named("string", "io.debezium.data.EnumSet", pg, enc=lambda v: v, txt=lambda v: v, params={"allowed": allowed})


def bits_le(bitstring: str, pad_to_bytes=None) -> bytes:
    """BitSet.toByteArray() of the bit string (rightmost character = bit 0): little-endian."""
    n = int(bitstring, 2) if bitstring else 0
    length = (n.bit_length() + 7) // 8
    if pad_to_bytes is not None:
        length = max(length, pad_to_bytes)
    return n.to_bytes(length, "little")


def t_bits_mysql(n):
    # MySQL BIT(n>1): padded to n/8 + (n%8 == 0 ? 0 : 1) bytes (JdbcValueConverters.padLittleEndian)
    nbytes = n // 8 + (0 if n % 8 == 0 else 1)
    return named(
        "bytes",
        "io.debezium.data.Bits",
        f"bit({n})",
        enc=lambda v: b64(bits_le(v, nbytes)),
        txt=lambda v: v.rjust(n, "0"),
        params={"length": str(n)},
    )


def t_bits_pg(n, varying=False):
    # PostgresValueConverter.convertBits: byte count derived from the content (highest set bit)
    def txt(v):
        if varying:
            assert v == "" or v[0] == "1", "varbit values with leading zeros cannot round-trip"
            return v
        return v.rjust(n, "0")

    return named(
        "bytes",
        "io.debezium.data.Bits",
        f"bit varying({n})" if varying else f"bit({n})",
        enc=lambda v: b64(bits_le(v)),
        txt=txt,
        params={"length": str(n)},
    )


def wkb_point(x, y) -> bytes:
    return struct.pack("<BIdd", 1, 1, x, y)


def wkb_linestring(points) -> bytes:
    return struct.pack("<BII", 1, 2, len(points)) + b"".join(struct.pack("<dd", x, y) for x, y in points)


def wkb_polygon(rings) -> bytes:
    out = struct.pack("<BII", 1, 3, len(rings))
    for ring in rings:
        out += struct.pack("<I", len(ring)) + b"".join(struct.pack("<dd", x, y) for x, y in ring)
    return out


GEOM_FIELDS = [
    {"type": "bytes", "optional": False, "field": "wkb"},
    {"type": "int32", "optional": True, "field": "srid"},
]
POINT_FIELDS = [
    {"type": "double", "optional": False, "field": "x"},
    {"type": "double", "optional": False, "field": "y"},
    {"type": "bytes", "optional": True, "field": "wkb"},
    {"type": "int32", "optional": True, "field": "srid"},
]


def t_geometry(pg="bytea"):
    # value: (wkb bytes, srid or None)
    return named(
        "struct",
        "io.debezium.data.geometry.Geometry",
        pg,
        enc=lambda v: {"wkb": b64(v[0]), "srid": v[1]},
        txt=lambda v: "\\x" + v[0].hex(),
        doc="Geometry",
        fields=GEOM_FIELDS,
    )


def t_point(pg="bytea"):
    # value: (x, y, srid or None)
    return named(
        "struct",
        "io.debezium.data.geometry.Point",
        pg,
        enc=lambda v: {"x": float(v[0]), "y": float(v[1]), "wkb": b64(wkb_point(v[0], v[1])), "srid": v[2]},
        txt=lambda v: "\\x" + wkb_point(v[0], v[1]).hex(),
        doc="Geometry (POINT)",
        fields=POINT_FIELDS,
    )


def pg_array_text(items):
    def one(x):
        if x is None:
            return "NULL"
        s = str(x)
        if s == "" or any(c in s for c in ' ,{}"\\') or s.upper() == "NULL":
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return s

    return "{" + ",".join(one(x) for x in items) + "}"


def t_array(item_type, pg):
    return T(
        {"type": "array", "items": {"type": item_type, "optional": True}},
        enc=lambda v: list(v),
        txt=pg_array_text,
        pg_type=pg,
    )


# ----------------------------------------------------------------------------------------------
# Tables and records
# ----------------------------------------------------------------------------------------------


class Col:
    def __init__(self, name, typ, optional=True, key=False, default=None, pg_type=None):
        self.name = name
        self.typ = typ
        self.optional = optional and not key
        self.key = key
        self.default = default  # Connect schema default (JSON form)
        self.pg_type = pg_type or typ.pg_type

    def field_schema(self):
        s = dict(self.typ.schema)
        out = {}
        for k in ("type", "fields", "items"):
            if k in s:
                out[k] = s[k]
        out["optional"] = self.optional
        for k in ("name", "version", "doc", "parameters"):
            if k in s:
                out[k] = s[k]
        if self.default is not None:
            out["default"] = self.default
        out["field"] = self.name
        return out


def qi(name):
    return '"' + name.replace('"', '""') + '"'


class Table:
    def __init__(self, source, name, cols, about, decimal_handling, time_precision, ddl_prefix=""):
        self.source = source  # "mysql" | "postgres"
        self.name = name
        self.cols = cols
        self.about = about
        self.decimal_handling = decimal_handling
        self.time_precision = time_precision
        self.ddl_prefix = ddl_prefix
        self.records = []
        self.clock_ms = 1_721_300_000_000 if source == "mysql" else 1_721_400_000_000
        self.pos = 3458 if source == "mysql" else None
        self.lsn = 24_023_128
        self.txid = 770
        self.last_committed_lsn = None

    # schema pieces -------------------------------------------------------------------------
    @property
    def key_cols(self):
        return [c for c in self.cols if c.key]

    def topic_prefix(self):
        return f"{SERVER}.inventory.{self.name}"

    def key_schema(self):
        return {
            "type": "struct",
            "fields": [c.field_schema() for c in self.key_cols],
            "optional": False,
            "name": self.topic_prefix() + ".Key",
        }

    def row_schema(self, fieldname):
        return {
            "type": "struct",
            "fields": [c.field_schema() for c in self.cols],
            "optional": True,
            "name": self.topic_prefix() + ".Value",
            "field": fieldname,
        }

    def source_schema(self):
        common = [
            {"type": "string", "optional": False, "field": "version"},
            {"type": "string", "optional": False, "field": "connector"},
            {"type": "string", "optional": False, "field": "name"},
            {"type": "int64", "optional": False, "field": "ts_ms"},
            {
                "type": "string",
                "optional": True,
                "name": "io.debezium.data.Enum",
                "version": 1,
                "parameters": {"allowed": "true,last,false,incremental"},
                "default": "false",
                "field": "snapshot",
            },
            {"type": "string", "optional": False, "field": "db"},
            {"type": "string", "optional": True, "field": "sequence"},
            {"type": "int64", "optional": True, "field": "ts_us"},
            {"type": "int64", "optional": True, "field": "ts_ns"},
        ]
        if self.source == "mysql":
            extra = [
                {"type": "string", "optional": True, "field": "table"},
                {"type": "int64", "optional": False, "field": "server_id"},
                {"type": "string", "optional": True, "field": "gtid"},
                {"type": "string", "optional": False, "field": "file"},
                {"type": "int64", "optional": False, "field": "pos"},
                {"type": "int32", "optional": False, "field": "row"},
                {"type": "int64", "optional": True, "field": "thread"},
                {"type": "string", "optional": True, "field": "query"},
            ]
            name = "io.debezium.connector.mysql.Source"
        else:
            extra = [
                {"type": "string", "optional": False, "field": "schema"},
                {"type": "string", "optional": False, "field": "table"},
                {"type": "int64", "optional": True, "field": "txId"},
                {"type": "int64", "optional": True, "field": "lsn"},
                {"type": "int64", "optional": True, "field": "xmin"},
            ]
            name = "io.debezium.connector.postgresql.Source"
        return {"type": "struct", "fields": common + extra, "optional": False, "name": name, "field": "source"}

    def envelope_schema(self):
        return {
            "type": "struct",
            "fields": [
                self.row_schema("before"),
                self.row_schema("after"),
                self.source_schema(),
                {
                    "type": "struct",
                    "fields": [
                        {"type": "string", "optional": False, "field": "id"},
                        {"type": "int64", "optional": False, "field": "total_order"},
                        {"type": "int64", "optional": False, "field": "data_collection_order"},
                    ],
                    "optional": True,
                    "name": "event.block",
                    "version": 1,
                    "field": "transaction",
                },
                {"type": "string", "optional": False, "field": "op"},
                {"type": "int64", "optional": True, "field": "ts_ms"},
                {"type": "int64", "optional": True, "field": "ts_us"},
                {"type": "int64", "optional": True, "field": "ts_ns"},
            ],
            "optional": False,
            "name": self.topic_prefix() + ".Envelope",
            "version": 2,
        }

    # payload pieces ------------------------------------------------------------------------
    def encode_row(self, row):
        if row is None:
            return None
        out = {}
        for c in self.cols:
            v = row.get(c.name)
            if v is UNAVAILABLE:
                out[c.name] = self.placeholder_for(c)
            elif v is None:
                out[c.name] = None
            else:
                out[c.name] = c.typ.enc(v)
        return out

    def placeholder_for(self, c):
        # UnchangedToastedPlaceholder / PostgresValueConverter: string columns get the string,
        # bytea gets the placeholder's bytes, text[] gets a one-element list
        t = c.typ.schema["type"]
        if t == "string":
            return PLACEHOLDER
        if t == "bytes":
            return b64(PLACEHOLDER.encode())
        if t == "array" and c.typ.schema["items"]["type"] == "string":
            return [PLACEHOLDER]
        raise ValueError(f"no placeholder form for {c.name}")

    def key_payload(self, row):
        return {c.name: c.typ.enc(row[c.name]) for c in self.key_cols}

    def make_source(self, snapshot, ts_ms, row_in_event, txid=None, query=None, thread=None):
        src = {
            "version": DBZ_VERSION,
            "connector": "mysql" if self.source == "mysql" else "postgresql",
            "name": SERVER,
            "ts_ms": ts_ms,
            "snapshot": snapshot,
        }
        if self.source == "mysql":
            src.update(
                {
                    "db": "inventory",
                    "sequence": None,
                    "ts_us": ts_ms * 1000,
                    "ts_ns": ts_ms * 1_000_000,
                    "table": self.name,
                    "server_id": 0 if snapshot != "false" else 223344,
                    "gtid": None,
                    "file": "mysql-bin.000003",
                    "pos": self.pos,
                    "row": row_in_event,
                    "thread": thread,
                    "query": query,
                }
            )
        else:
            us = ts_ms * 1000 + (123 if snapshot == "false" else 0)
            seq = (
                json.dumps([None, str(self.lsn)])
                if snapshot != "false"
                else json.dumps([str(self.last_committed_lsn), str(self.lsn)])
            )
            src.update(
                {
                    "db": "postgres",
                    "sequence": seq.replace(" ", ""),
                    "ts_us": us,
                    "ts_ns": us * 1000,
                    "schema": "inventory",
                    "table": self.name,
                    "txId": txid,
                    "lsn": self.lsn,
                    "xmin": None,
                }
            )
        return src

    def emit(self, op, before, after, snapshot="false", tombstone=False, row_in_event=0, same_txn=False):
        """Append one change event (plus a tombstone after a delete when tombstone=True)."""
        if not same_txn:
            self.clock_ms += 61_000 if snapshot == "false" else 7
            if self.source == "mysql":
                self.pos += 417
            else:
                self.last_committed_lsn = self.lsn
                self.txid += 1
                self.lsn += 2_768
        elif self.source == "postgres":
            self.lsn += 208
        if self.source == "mysql":
            src_ts = (self.clock_ms // 1000) * 1000  # binlog/snapshot timestamps have second resolution
            thread = 47 if snapshot == "false" else None
            src = self.make_source(snapshot, src_ts, row_in_event, thread=thread)
        else:
            src = self.make_source(snapshot, self.clock_ms, 0, txid=self.txid)
        proc_ms = self.clock_ms + 219
        keyrow = after if after is not None else before
        value = {
            "schema": self.envelope_schema(),
            "payload": {
                "before": self.encode_row(before),
                "after": self.encode_row(after),
                "source": src,
                "transaction": None,
                "op": op,
                "ts_ms": proc_ms,
                "ts_us": proc_ms * 1000 + 512,
                "ts_ns": (proc_ms * 1000 + 512) * 1000 + 64,
            },
        }
        key = {"schema": self.key_schema(), "payload": self.key_payload(keyrow)}
        self.records.append({"key": key, "value": value, "_apply": (op, before, after)})
        if tombstone:
            assert op == "d"
            self.records.append({"key": key, "value": None, "_apply": ("tombstone", None, None)})

    def emit_raw_delete_without_before(self, key_row):
        """A delete whose value carries before=null: the key exists only in the message key."""
        self.clock_ms += 61_000
        self.last_committed_lsn = self.lsn
        self.txid += 1
        self.lsn += 2_768
        src = self.make_source("false", self.clock_ms, 0, txid=self.txid)
        proc_ms = self.clock_ms + 219
        value = {
            "schema": self.envelope_schema(),
            "payload": {
                "before": None,
                "after": None,
                "source": src,
                "transaction": None,
                "op": "d",
                "ts_ms": proc_ms,
                "ts_us": proc_ms * 1000 + 512,
                "ts_ns": (proc_ms * 1000 + 512) * 1000 + 64,
            },
        }
        key = {"schema": self.key_schema(), "payload": self.key_payload(key_row)}
        self.records.append({"key": key, "value": value, "_apply": ("d_keyonly", key_row, None)})
        self.records.append({"key": key, "value": None, "_apply": ("tombstone", None, None)})

    # final state -------------------------------------------------------------------------
    def expected(self):
        state = {}  # key tuple -> python row
        order = []
        for rec in self.records:
            op, before, after = rec["_apply"]
            if op == "tombstone":
                continue
            if op in ("d", "d_keyonly"):
                k = tuple(before[c.name] for c in self.key_cols)
                state.pop(k, None)
                continue
            k = tuple(after[c.name] for c in self.key_cols)
            prev = state.get(k)
            row = {}
            for c in self.cols:
                v = after.get(c.name)
                if v is UNAVAILABLE:
                    assert prev is not None, f"placeholder for {c.name} without an earlier value"
                    v = prev[c.name]
                row[c.name] = v
            if k not in order:
                order.append(k)
            state[k] = row
        out = []
        for k in order:
            if k not in state:
                continue
            row = state[k]
            exp_row = {}
            for c in self.cols:
                v = row[c.name]
                exp_row[c.name] = None if v is None else c.expected_text(v)
            out.append({"key": {c.name: c.expected_text(row[c.name]) for c in self.key_cols}, "row": exp_row})
        return out

    def target_ddl(self):
        cols = []
        for c in self.cols:
            nn = " NOT NULL" if not c.optional else ""
            cols.append(f"{qi(c.name)} {c.pg_type}{nn}")
        pk = ", ".join(qi(c.name) for c in self.key_cols)
        return self.ddl_prefix + "CREATE TABLE {target} (" + ", ".join(cols) + f", PRIMARY KEY ({pk}))"

    def to_json(self):
        return {
            "about": self.about,
            "topic": self.topic_prefix(),
            "target_ddl": self.target_ddl(),
            "key_fields": [c.name for c in self.key_cols],
            "records": [{"key": r["key"], "value": r["value"]} for r in self.records],
            "expected": self.expected(),
            # None: the records cannot be read without their schema (see `about`).
            "schemaless": None
            if self.time_precision is None
            else {"decimal_handling": self.decimal_handling, "time_precision": self.time_precision},
        }


def _col_expected_text(self, v):
    t = self.typ.txt(v)
    if t is None:
        t = self.override_txt(v)
    return t


Col.expected_text = _col_expected_text
Col.override_txt = lambda self, v: (_ for _ in ()).throw(ValueError(f"no text for {self.name}"))


def with_txt(col, fn):
    col.override_txt = lambda v: fn(v)
    return col


D = Decimal

# ----------------------------------------------------------------------------------------------
# MySQL tables
# ----------------------------------------------------------------------------------------------

MYSQL_DOCS = (
    "Debezium MySQL connector docs, 'Data type mappings' (debezium.io/documentation/reference/2.7/"
    "connectors/mysql.html#mysql-data-types)"
)
PG_DOCS = (
    "Debezium PostgreSQL connector docs, 'Data type mappings' (debezium.io/documentation/reference/2.7/"
    "connectors/postgresql.html#postgresql-data-types)"
)


def mysql_decimals():
    t = Table(
        "mysql",
        "decimals",
        [
            Col("id", t_int32(), key=True),
            Col("price", t_decimal(10, 2)),
            Col("qty", t_decimal(10, 0)),
            Col("big", t_decimal(40, 0)),
            Col("tiny", t_decimal(65, 30)),
            Col("ubig", t_decimal(20, 0, pg="numeric(20,0)")),
            Col("ratio", t_float64()),
        ],
        "MySQL DECIMAL/NUMERIC with decimal.handling.mode=precise -> org.apache.kafka.connect.data.Decimal "
        "(BYTES: base64 of the big-endian two's-complement unscaled value, parameters scale and "
        "connect.decimal.precision). Covers positive, negative, zero, scale 0, DECIMAL(40,0) values with 40 "
        "digits, DECIMAL(65,30), and BIGINT UNSIGNED with bigint.unsigned.handling.mode=precise "
        "(Decimal scale 0, precision 20, so 18446744073709551615 is 9 bytes 00 FF..FF), plus a DOUBLE column. "
        "Source MySQL DDL: CREATE TABLE decimals (id INT PRIMARY KEY, price DECIMAL(10,2), qty DECIMAL(10,0), "
        "big DECIMAL(40,0), tiny DECIMAL(65,30), ubig BIGINT UNSIGNED, ratio DOUBLE). Sources: "
        + MYSQL_DOCS
        + " 'Decimal types' and bigint.unsigned.handling.mode; BinlogValueConverters.schemaBuilder "
        "(BIGINT UNSIGNED -> SpecialValueDecimal.builder(PRECISE, 20, 0)); Kafka Connect Decimal logical type.",
        "precise",
        "micro",
    )
    r1 = dict(id=1, price=D("19.99"), qty=D("7"), big=D("9" * 40), tiny=D("0." + "0" * 29 + "1"), ubig=D(18446744073709551615), ratio=0.1)
    r2 = dict(id=2, price=D("-12345678.90"), qty=D("-1"), big=D("-1234567890123456789012345678901234567890"), tiny=D("-99999999999999999999999999999999999.999999999999999999999999999999"), ubig=D(0), ratio=-2.5)
    r3 = dict(id=3, price=D("0.00"), qty=D("0"), big=D("0"), tiny=D("0"), ubig=D(9223372036854775808), ratio=1e20)
    r4 = dict(id=4, price=D("-0.01"), qty=D("128"), big=D("-128"), tiny=D("1.5"), ubig=D(255), ratio=None)
    t.emit("r", None, r1, snapshot="first")
    t.emit("r", None, r2, snapshot="true", same_txn=True)
    t.emit("r", None, r3, snapshot="last", same_txn=True)
    t.emit("c", None, r4)
    r1b = dict(r1, price=D("99999999.99"), qty=D("-9999999999"), ratio=3.141592653589793)
    t.emit("u", r1, r1b)
    r4b = dict(r4, price=D("0.10"), qty=D("-129"), big=D("32767"), ubig=D(256))
    t.emit("u", r4, r4b)
    t.emit("d", r3, None, tombstone=True)
    r3b = dict(id=3, price=D("1.00"), qty=D("32768"), big=D("-32769"), tiny=None, ubig=None, ratio=1e-07)
    t.emit("c", None, r3b)
    return t


def mysql_temporals():
    t = Table(
        "mysql",
        "temporals",
        [
            Col("id", t_int32(), key=True),
            Col("d", t_date()),
            Col("t", t_microtime("time(6)")),
            Col("dt3", t_timestamp_ms("timestamp(3)")),
            Col("dt6", t_microtimestamp("timestamp(6)")),
            Col("ts0", t_zoned_timestamp(0, "timestamptz")),
            Col("ts6", t_zoned_timestamp(6, "timestamptz")),
            Col("y", t_year()),
        ],
        "MySQL temporal types with the default time.precision.mode=adaptive_time_microseconds: DATE -> "
        "io.debezium.time.Date (INT32 days since epoch), TIME(6) -> io.debezium.time.MicroTime (INT64 us past "
        "midnight), DATETIME(3) -> io.debezium.time.Timestamp (INT64 ms since epoch, no zone), DATETIME(6) -> "
        "io.debezium.time.MicroTimestamp (INT64 us), TIMESTAMP / TIMESTAMP(6) -> io.debezium.time.ZonedTimestamp "
        "(ISO 8601 string, always converted to UTC and written with 'Z'; since DBZ-5996 the fraction is padded "
        "to the column's fsp: TIMESTAMP(6) always has 6 digits, TIMESTAMP has none), YEAR -> io.debezium.time.Year "
        "(INT32). Values before 1970 (negative epoch numbers), DATETIME up to 9999-12-31 23:59:59.999999, "
        "fractional seconds, and the ends of the TIMESTAMP range (1970-01-01 00:00:01 .. 2038-01-19 03:14:07.999999). "
        "Source MySQL DDL: CREATE TABLE temporals (id INT PRIMARY KEY, d DATE, t TIME(6), dt3 DATETIME(3), "
        "dt6 DATETIME(6), ts0 TIMESTAMP NULL, ts6 TIMESTAMP(6) NULL, y YEAR). Sources: "
        + MYSQL_DOCS
        + " 'Temporal types' (adaptive_time_microseconds table, 'TIMESTAMP ... becomes 2018-06-20T13:37:03Z'); "
        "JdbcValueConverters/ZonedTimestamp.toIsoString(fractionalWidth); debezium PR #4186 (DBZ-5996).",
        "precise",
        "micro",
    )
    r1 = dict(
        id=1,
        d=dt.date(1969, 7, 20),
        t=dt.time(20, 17, 40, 123456),
        dt3=dt.datetime(1969, 12, 31, 23, 59, 59, 999000),
        dt6=dt.datetime(1900, 1, 1, 0, 0, 0, 1),
        ts0=ZTS(1970, 1, 1, 0, 0, 1),
        ts6=ZTS(2038, 1, 19, 3, 14, 7, 999999),
        y=1901,
    )
    r2 = dict(
        id=2,
        d=dt.date(9999, 12, 31),
        t=dt.time(23, 59, 59, 999999),
        dt3=dt.datetime(9999, 12, 31, 23, 59, 59, 999000),
        dt6=dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        ts0=ZTS(2018, 6, 20, 13, 37, 3),
        ts6=ZTS(2023, 1, 11, 12, 30, 0, 123000),
        y=2155,
    )
    r3 = dict(
        id=3,
        d=dt.date(1000, 1, 1),
        t=dt.time(0, 0, 0),
        dt3=dt.datetime(1000, 1, 1, 0, 0, 0),
        dt6=dt.datetime(1970, 1, 1, 0, 0, 0),
        ts0=None,
        ts6=ZTS(2023, 1, 11, 12, 30, 0, 0),
        y=None,
    )
    t.emit("r", None, r1, snapshot="first")
    t.emit("r", None, r2, snapshot="last", same_txn=True)
    t.emit("c", None, r3)
    r1b = dict(r1, t=dt.time(0, 0, 0, 1), dt6=dt.datetime(2024, 2, 29, 12, 0, 0, 500000), ts0=ZTS(2024, 2, 29, 23, 59, 59))
    t.emit("u", r1, r1b)
    r3b = dict(r3, d=dt.date(1970, 1, 1), dt3=dt.datetime(1970, 1, 1, 0, 0, 0, 1000), y=2000)
    t.emit("u", r3, r3b)
    r4 = dict(id=4, d=dt.date(2000, 2, 29), t=dt.time(12, 0), dt3=None, dt6=None, ts0=None, ts6=None, y=1999)
    t.emit("c", None, r4)
    t.emit("d", r4, None, tombstone=True)
    return t


def mysql_connect_mode():
    t = Table(
        "mysql",
        "connect_temporals",
        [
            Col("id", t_int32(), key=True),
            Col("d", t_connect_date()),
            Col("t", t_connect_time("time(3)")),
            Col("dt", t_connect_timestamp("timestamp(3)")),
            with_txt(Col("amount", t_decimal_string("numeric(12,4)")), lambda v: plain(v.quantize(D("0.0001")))),
            with_txt(Col("small", t_decimal_string("numeric(20,10)")), lambda v: plain(v.quantize(D("0.0000000001")))),
        ],
        "MySQL with time.precision.mode=connect and decimal.handling.mode=string. DATE -> "
        "org.apache.kafka.connect.data.Date (INT32 days), TIME(3) -> org.apache.kafka.connect.data.Time (the Kafka "
        "Connect Time logical type is INT32 milliseconds past midnight; the Debezium doc table says INT64, but the "
        "schema Debezium emits is Kafka's own Time schema), DATETIME(3) -> org.apache.kafka.connect.data.Timestamp "
        "(INT64 ms). DECIMAL(12,4)/DECIMAL(20,10) arrive as strings made by BigDecimal.toString(), which switches to "
        "E-notation when the adjusted exponent is below -6 (so 0.0000000100 arrives as \"1.00E-8\"), and keeps the "
        "column scale (\"12.5000\"). Source MySQL DDL: CREATE TABLE connect_temporals (id INT PRIMARY KEY, d DATE, "
        "t TIME(3), dt DATETIME(3), amount DECIMAL(12,4), small DECIMAL(20,10)). Sources: "
        + MYSQL_DOCS
        + " 'time.precision.mode=connect' and 'decimal.handling.mode=string'; Kafka Connect "
        "org.apache.kafka.connect.data.{Date,Time,Timestamp}; SpecialValueDecimal.fromLogical (STRING -> toString()).",
        "string",
        "connect",
    )
    r1 = dict(id=1, d=dt.date(1955, 11, 5), t=dt.time(6, 0, 0, 1000), dt=dt.datetime(1955, 11, 5, 6, 0, 0, 1000), amount=D("12.5000"), small=D("0.0000000100"))
    r2 = dict(id=2, d=dt.date(2999, 12, 31), t=dt.time(23, 59, 59, 999000), dt=dt.datetime(2999, 12, 31, 23, 59, 59, 999000), amount=D("-99999999.9999"), small=D("1234567890.0123456789"))
    t.emit("r", None, r1, snapshot="first")
    t.emit("r", None, r2, snapshot="last", same_txn=True)
    r3 = dict(id=3, d=dt.date(1970, 1, 1), t=dt.time(0, 0), dt=dt.datetime(1970, 1, 1), amount=D("0.0000"), small=D("-0.0000001000"))
    t.emit("c", None, r3)
    r1b = dict(r1, amount=D("0.0001"), small=D("-1.0000000000"), t=dt.time(12, 34, 56, 789000))
    t.emit("u", r1, r1b)
    t.emit("d", r2, None, tombstone=True)
    r2b = dict(r2, d=dt.date(1600, 3, 1), dt=dt.datetime(1600, 3, 1, 0, 0, 0, 1000), amount=D("1E+3").quantize(D("0.0001")))
    t.emit("c", None, r2b)
    return t


def mysql_enums_bits_json():
    t = Table(
        "mysql",
        "flags",
        [
            Col("id", t_int32(), key=True),
            Col("size", t_enum("x-small,small,medium,large,x-large")),
            Col("toppings", t_enumset("cheese,ham,mushrooms,olives,pineapple")),
            Col("is_active", t_bool()),
            Col("flags10", t_bits_mysql(10)),
            Col("mask64", t_bits_mysql(64)),
            Col("doc", t_json("jsonb")),
            Col("tiny_int", t_int16("smallint")),
            Col("tiny_bool", t_bool()),
        ],
        "MySQL ENUM -> io.debezium.data.Enum (STRING, parameter 'allowed' = comma-separated options in declaration "
        "order), SET -> io.debezium.data.EnumSet (STRING of the chosen members joined by ',', in declaration order, "
        "'' for the empty set), BIT(1) -> BOOLEAN, BIT(10)/BIT(64) -> io.debezium.data.Bits (BYTES with parameter "
        "length=n; the byte[] is LITTLE-endian - byte 0 holds bits 0..7 where bit 0 is the rightmost bit of "
        "b'...' - and is padded to n/8 + (n%8==0?0:1) bytes, so BIT(10) b'1000000001' is [0x01,0x02] = \"AQI=\"), "
        "JSON -> io.debezium.data.Json (binlog gives compact text, the snapshot gives MySQL's text form; the "
        "target is jsonb so both normalise), TINYINT(1) without a converter -> INT16 (tiny_int, stays a number, "
        "values like 5 and -1 are legal), and TINYINT(1) selected by "
        "converters=boolean, boolean.type=io.debezium.connector.binlog.converters.TinyIntOneToBooleanConverter, "
        "boolean.selector=inventory.flags.tiny_bool -> plain BOOLEAN (no schema name; nonzero -> true). "
        "Source MySQL DDL: CREATE TABLE flags (id INT PRIMARY KEY, size ENUM('x-small','small','medium','large',"
        "'x-large'), toppings SET('cheese','ham','mushrooms','olives','pineapple'), is_active BIT(1), flags10 "
        "BIT(10), mask64 BIT(64), doc JSON, tiny_int TINYINT(1), tiny_bool TINYINT(1)). Sources: "
        + MYSQL_DOCS
        + " ('Basic types' table: BIT(>1) little-endian and numBytes formula; ENUM/SET 'allowed'; 'Boolean values' "
        "section for TinyIntOneToBooleanConverter); JdbcValueConverters.convertBits/padLittleEndian; "
        "BinlogValueConverters (ENUM/SET/JSON).",
        "precise",
        "micro",
    )
    r1 = dict(id=1, size="medium", toppings="cheese,mushrooms", is_active=True, flags10="1000000001",
              mask64="1" + "0" * 63, doc=('{"n": 1, "name": "Ada", "tags": ["a", "b"]}', '{"n": 1, "name": "Ada", "tags": ["a", "b"]}'),
              tiny_int=1, tiny_bool=True)
    r2 = dict(id=2, size="x-small", toppings="", is_active=False, flags10="0000000000", mask64="0" * 63 + "1",
              doc=("[1, 2.5, null, true]", "[1, 2.5, null, true]"), tiny_int=0, tiny_bool=False)
    t.emit("r", None, r1, snapshot="first")
    t.emit("r", None, r2, snapshot="last", same_txn=True)
    r3 = dict(id=3, size=None, toppings="cheese,ham,mushrooms,olives,pineapple", is_active=None, flags10="0101010101",
              mask64="1111111111111111111111111111111111111111111111111111111111111111",
              doc=('{"k":"café \\"q\\"","z":{}}', '{"k": "café \\"q\\"", "z": {}}'), tiny_int=5, tiny_bool=True)
    t.emit("c", None, r3)
    r2b = dict(r2, size="x-large", toppings="ham", is_active=True, flags10="1111111111", doc=('"just a string"', '"just a string"'), tiny_int=-1, tiny_bool=True)
    t.emit("u", r2, r2b)
    r1b = dict(r1, toppings="olives", mask64="0000000100000010000000110000010000000101000001100000011100001000", doc=None, tiny_bool=False)
    t.emit("u", r1, r1b)
    r4 = dict(id=4, size="small", toppings=None, is_active=False, flags10=None, mask64=None, doc=("{}", "{}"), tiny_int=None, tiny_bool=None)
    t.emit("c", None, r4)
    t.emit("d", r4, None, tombstone=True)
    return t


def mysql_spatial_blobs():
    line = [(0.0, 0.0), (1.5, -2.25), (1e6, 3.0)]
    poly = [[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)]]
    t = Table(
        "mysql",
        "places",
        [
            Col("id", t_int32(), key=True),
            Col("shape", t_geometry()),
            Col("loc", t_point()),
            Col("blob_data", t_bytes()),
            Col("hash", t_bytes(), optional=False),
        ],
        "MySQL spatial and binary columns. GEOMETRY (any subtype) -> io.debezium.data.geometry.Geometry, STRUCT "
        "{wkb: BYTES (OGC WKB, here little-endian), srid: optional INT32}; MySQL's internal value is a 4-byte "
        "little-endian SRID followed by WKB, Debezium splits it and reports SRID 0 as null. POINT -> "
        "io.debezium.data.geometry.Point, STRUCT {x: FLOAT64, y: FLOAT64, wkb: optional BYTES, srid: optional INT32}. "
        "The target stores the WKB bytes in bytea. BLOB/VARBINARY with binary.handling.mode=bytes -> BYTES (base64), "
        "including 0x00/0xFF bytes and an empty value (distinct from NULL). Source MySQL DDL: CREATE TABLE places "
        "(id INT PRIMARY KEY, shape GEOMETRY, loc POINT, blob_data BLOB, hash VARBINARY(32) NOT NULL). Sources: "
        + MYSQL_DOCS
        + " 'Spatial types'; io.debezium.data.geometry.Geometry/Point schemas (debezium-core); BinlogGeometry.fromBytes; "
        "BinlogValueConverters.schemaBuilder (POINT -> Point, other spatial types -> Geometry).",
        "precise",
        "micro",
    )
    r1 = dict(id=1, shape=(wkb_linestring(line), None), loc=(1.5, -2.25, None), blob_data=bytes(range(256)), hash=bytes.fromhex("00ff" * 16))
    r2 = dict(id=2, shape=(wkb_polygon(poly), 3857), loc=(-8238310.24, 4970071.58, 3857), blob_data=b"", hash=b"\x00")
    t.emit("r", None, r1, snapshot="first")
    t.emit("r", None, r2, snapshot="last", same_txn=True)
    r3 = dict(id=3, shape=(wkb_point(0.0, 0.0), None), loc=None, blob_data=None, hash=b"\xde\xad\xbe\xef")
    t.emit("c", None, r3)
    r1b = dict(r1, shape=(wkb_point(-0.0001, 51.4779), None), loc=(0.0, 0.0, None), blob_data=b"\xff\xfe\x00\x01")
    t.emit("u", r1, r1b)
    t.emit("d", r2, None, tombstone=True)
    return t


def mysql_hostile():
    t = Table(
        "mysql",
        "hostile_names",
        [
            Col("Order", t_int32(), key=True),
            Col("tenant", t_string("text"), key=True),
            Col('"; DROP TABLE x; --', t_string()),
            Col("naïve col", t_string()),
            Col("select", t_int64()),
            Col("Mixed Case", t_string()),
        ],
        "Hostile identifiers: columns named `Order` (reserved word, capitalised, part of a composite key with "
        "`tenant`), `\"; DROP TABLE x; --`, `naïve col` (non-ASCII and a space), `select` and `Mixed Case`. Debezium 2.x "
        "keeps the source column names as Connect field names (field.name.adjustment.mode=none is the default), "
        "so they appear verbatim in the schema, the key and the payload; the target DDL quotes them. String "
        "values exercise quotes, backslashes, newlines, non-BMP characters and '' versus NULL. Source MySQL DDL: "
        "CREATE TABLE hostile_names (`Order` INT, tenant VARCHAR(32), `\"; DROP TABLE x; --` TEXT, `naïve col` "
        "VARCHAR(100), `select` BIGINT, `Mixed Case` TEXT, PRIMARY KEY (`Order`, tenant)). Sources: "
        + MYSQL_DOCS
        + "; 'field.name.adjustment.mode' connector property (default none since 2.0).",
        "precise",
        "micro",
    )
    r1 = {"Order": 1, "tenant": "acme", '"; DROP TABLE x; --': "Robert'); DROP TABLE students;--", "naïve col": "café", "select": -9223372036854775808, "Mixed Case": "line1\nline2\ttab"}
    r2 = {"Order": 1, "tenant": "ACME", '"; DROP TABLE x; --': 'say "hi" \\ back\\slash', "naïve col": "😀 non-BMP", "select": 9223372036854775807, "Mixed Case": ""}
    r3 = {"Order": 2, "tenant": "o'brien", '"; DROP TABLE x; --': None, "naïve col": None, "select": None, "Mixed Case": None}
    t.emit("r", None, r1, snapshot="first")
    t.emit("r", None, r2, snapshot="true", same_txn=True)
    t.emit("r", None, r3, snapshot="last", same_txn=True)
    r1b = dict(r1, **{"naïve col": "naïve → naïf", "select": 0})
    t.emit("u", r1, r1b)
    # primary-key change: MySQL connector emits delete(old key) + tombstone + create(new key)
    r3new = dict(r3, **{"Order": 3, '"; DROP TABLE x; --': "moved"})
    t.emit("d", r3, None, tombstone=True)
    t.emit("c", None, r3new, same_txn=True)
    r4 = {"Order": 4, "tenant": "", '"; DROP TABLE x; --': "%s %d $1 ?", "naïve col": "line\u2028separator", "select": 42, "Mixed Case": "{\"json\": true}"}
    t.emit("c", None, r4)
    return t


# ----------------------------------------------------------------------------------------------
# PostgreSQL tables
# ----------------------------------------------------------------------------------------------


def serial_id(name="id"):
    # PostgreSQL SERIAL: Debezium propagates the column default (nextval -> 0) into the schema
    return Col(name, t_int32(), key=True, default=0)


def pg_numerics():
    t = Table(
        "postgres",
        "numerics",
        [
            serial_id(),
            Col("price", t_decimal(10, 2)),
            Col("big", t_decimal(40, 0)),
            Col("anynum", t_varscale()),
            Col("counter", t_int64()),
            Col("ratio", t_float64()),
        ],
        "PostgreSQL numerics with decimal.handling.mode=precise. NUMERIC(10,2) and NUMERIC(40,0) -> "
        "org.apache.kafka.connect.data.Decimal (base64 of the big-endian two's-complement unscaled value; 40-digit "
        "values need 17 bytes). Unconstrained NUMERIC -> io.debezium.data.VariableScaleDecimal, STRUCT {scale: INT32, "
        "value: BYTES unscaled}. The PostgreSQL connector strips trailing zeros before encoding (stripTrailingZeros, "
        "a negative scale is reset to 0), so a source value 1.50 arrives as {scale:1, value:15} and lands as 1.5, "
        "and 1000 arrives as {scale:0, value:1000}: the display scale of the source is NOT preserved. "
        "Source DDL: CREATE TABLE inventory.numerics (id SERIAL PRIMARY KEY, price NUMERIC(10,2), big NUMERIC(40,0), "
        "anynum NUMERIC, counter BIGINT, ratio DOUBLE PRECISION). Sources: "
        + PG_DOCS
        + " 'Decimal types' (VariableScaleDecimal when there are no scale constraints); "
        "PostgresValueConverter.convertDecimal; SchemaFactory.datatypeVariableScaleDecimalSchema.",
        "precise",
        "adaptive",
    )
    r1 = dict(id=1, price=D("1234.56"), big=D("1" + "0" * 39), anynum=D("1.50"), counter=9007199254740993, ratio=0.1)
    r2 = dict(id=2, price=D("-0.05"), big=D("-" + "9" * 40), anynum=D("-123456789012345678901234567890.000000000000000000001"), counter=-1, ratio=-0.0)
    r3 = dict(id=3, price=D("0.00"), big=D("0"), anynum=D("0"), counter=0, ratio=None)
    t.emit("r", None, r1, snapshot="first")
    t.emit("r", None, r2, snapshot="true", same_txn=True)
    t.emit("r", None, r3, snapshot="last", same_txn=True)
    r4 = dict(id=4, price=D("99999999.99"), big=D("12345678901234567890123456789012345678"), anynum=D("1000"), counter=None, ratio=2.2250738585072014e-308)
    t.emit("c", None, r4)
    r1b = dict(r1, anynum=D("0.000001"), price=D("-99999999.99"))
    t.emit("u", None, r1b)  # REPLICA IDENTITY DEFAULT: update events carry before=null
    r3b = dict(r3, anynum=D("-7"), big=D("-1"), price=D("-1.00"))
    t.emit("u", None, r3b)
    t.emit("d", dict(id=2, price=None, big=None, anynum=None, counter=None, ratio=None), None, tombstone=True)
    r2b = dict(id=2, price=D("0.01"), big=D("255"), anynum=D("3.14159265358979323846264338327950288419716939937510"), counter=42, ratio=1.7976931348623157e308)
    t.emit("c", None, r2b)
    return t


def pg_temporals():
    t = Table(
        "postgres",
        "temporals",
        [
            serial_id(),
            Col("d", t_date()),
            Col("t3", t_time_ms("time(3)")),
            Col("t6", t_microtime("time(6)")),
            Col("ts3", t_timestamp_ms("timestamp(3)")),
            Col("ts6", t_microtimestamp("timestamp(6)")),
            Col("tstz", t_zoned_timestamp(6, "timestamptz")),
            Col("ttz", t_zoned_time("timetz")),
            Col("dur", t_micro_duration("interval")),
        ],
        "PostgreSQL temporals with time.precision.mode=adaptive and interval.handling.mode=numeric (defaults). "
        "DATE -> io.debezium.time.Date (INT32 days), TIME(3) -> io.debezium.time.Time (INT32 ms), TIME(6) -> "
        "io.debezium.time.MicroTime (INT64 us; TIME '24:00:00' is 86400000000), TIMESTAMP(3) -> io.debezium.time.Timestamp "
        "(INT64 ms), TIMESTAMP(6) -> io.debezium.time.MicroTimestamp (INT64 us), TIMESTAMPTZ -> io.debezium.time.ZonedTimestamp "
        "(string, always shifted to UTC with 'Z', fraction padded to the column precision: 6 digits for plain "
        "timestamptz, years above 9999 printed with a leading '+', e.g. \"+21016-11-04T06:51:30.000000Z\", which "
        "PostgreSQL itself cannot parse), TIMETZ -> io.debezium.time.ZonedTime (ISO_OFFSET_TIME after shifting to UTC: "
        "'HH:mm:ss[.fraction with trailing zeros dropped]Z'; the source offset is lost, so the target timetz is +00), "
        "INTERVAL -> io.debezium.time.MicroDuration (INT64 approximate microseconds, a month counted as 365.25/12 = "
        "30.4375 days and a year as 12 such months; the double result is truncated to long). A MicroDuration can only land "
        "as a pure time interval: the expected text is that of (us * interval '1 microsecond'), e.g. '1 mon' -> "
        "2629800000000 -> '730:30:00'. Source DDL: CREATE TABLE inventory.temporals (id SERIAL PRIMARY KEY, d DATE, "
        "t3 TIME(3), t6 TIME(6), ts3 TIMESTAMP(3), ts6 TIMESTAMP(6), tstz TIMESTAMPTZ, ttz TIMETZ, dur INTERVAL). "
        "Sources: "
        + PG_DOCS
        + " ('Basic types' ZonedTimestamp/ZonedTime 'timezone is GMT', MicroDuration '365.25 / 12.0 formula', "
        "'Temporal types' adaptive table, 'TIMESTAMP type'); debezium AbstractRecordsProducerTest fixtures "
        "(expectedTz \"2016-11-04T11:51:30.123456Z\", expectedTtz \"11:51:30.123789Z\", tz_zero "
        "\"+21016-11-04T06:51:30.000000Z\", ttf 24:00:00); io.debezium.time.MicroDuration.durationMicros.",
        "precise",
        "adaptive",
    )
    r1 = dict(
        id=1,
        d=dt.date(1969, 12, 31),
        t3=dt.time(13, 51, 30, 123000),
        t6=dt.time(13, 51, 30, 123456),
        ts3=dt.datetime(1936, 10, 25, 22, 10, 12, 608000),
        ts6=dt.datetime(2016, 11, 4, 13, 51, 30, 123456),
        tstz=ZTS(2016, 11, 4, 11, 51, 30, 123456),  # source literal '2016-11-04 13:51:30.123456+02'
        ttz=dt.time(11, 51, 30, 123789),  # source literal '13:51:30.123789+02'
        dur=((1, 2, 3, 4, 5, 6.78), "1 year 2 mons 3 days 04:05:06.78"),
    )
    r2 = dict(
        id=2,
        d=dt.date(9999, 12, 31),
        t3=dt.time(23, 59, 59, 999000),
        t6=Time24,
        ts3=dt.datetime(9999, 12, 31, 23, 59, 59, 999000),
        ts6=dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        tstz=ZTS(9999, 12, 31, 23, 59, 59, 999999),
        ttz=dt.time(20, 0, 0),  # source literal '01:00:00+05'
        dur=((0, 1, 0, 0, 0, 0.0), "1 mon"),
    )
    t.emit("r", None, r1, snapshot="first")
    t.emit("r", None, r2, snapshot="last", same_txn=True)
    r3 = dict(
        id=3,
        d=dt.date(1, 1, 1),
        t3=dt.time(0, 0),
        t6=dt.time(0, 0, 0, 1),
        ts3=dt.datetime(1, 1, 1, 0, 0, 0),
        ts6=dt.datetime(1900, 1, 1, 0, 0, 0, 0),
        tstz=ZTS(1900, 1, 1, 0, 0, 0),
        ttz=dt.time(0, 0, 0),
        dur=((0, 0, 0, 0, 0, 0.000001), "00:00:00.000001"),
    )
    t.emit("c", None, r3)
    r4 = dict(
        id=4,
        d=dt.date(2000, 2, 29),
        t3=None,
        t6=None,
        ts3=None,
        ts6=dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
        tstz=ZTS(21016, 11, 4, 6, 51, 30, 0),  # source literal '21016-11-04T13:51:30.000000+07:00'
        ttz=None,
        dur=((0, 0, 3, 4, 5, 6.0), "3 days 04:05:06"),
    )
    t.emit("c", None, r4)
    r1b = dict(r1, tstz=ZTS(1970, 1, 1, 0, 0, 0, 0), dur=((0, 0, 0, 838, 59, 59.0), "838:59:59"), t6=dt.time(0, 0))
    t.emit("u", None, r1b)
    r3b = dict(r3, ts3=dt.datetime(1999, 12, 31, 23, 59, 59, 120000), ttz=dt.time(23, 59, 59, 999999), dur=None)
    t.emit("u", None, r3b)
    return t


def pg_connect_string_modes():
    t = Table(
        "postgres",
        "connect_intervals",
        [
            serial_id(),
            Col("d", t_connect_date()),
            Col("t", t_connect_time("time(3)")),
            Col("ts", t_connect_timestamp("timestamp(3)")),
            Col("span", t_interval_string("interval")),
            with_txt(Col("amount", t_decimal_double("numeric(12,2)")), lambda v: plain(v.quantize(D("0.01")))),
        ],
        "PostgreSQL with time.precision.mode=connect, interval.handling.mode=string and decimal.handling.mode=double. "
        "DATE -> org.apache.kafka.connect.data.Date (INT32 days), TIME(3) -> org.apache.kafka.connect.data.Time (INT32 ms; "
        "Kafka's Time logical type is INT32 even though the Debezium doc table lists INT64), TIMESTAMP(3) -> "
        "org.apache.kafka.connect.data.Timestamp (INT64 ms). INTERVAL -> io.debezium.time.Interval, an ISO 8601 "
        "string 'P<y>Y<m>M<d>DT<h>H<m>M<s>S' built from the PGInterval fields without normalisation (so a "
        "'-1 days +02:03:00' interval is \"P0Y0M-1DT2H3M0S\"; seconds keep at most 6 decimals, trailing zeros "
        "stripped). Unlike MicroDuration this keeps months and days, so the target interval text matches the source. "
        "NUMERIC(12,2) in double mode arrives as a JSON double. Source DDL: CREATE TABLE inventory.connect_intervals "
        "(id SERIAL PRIMARY KEY, d DATE, t TIME(3), ts TIMESTAMP(3), span INTERVAL, amount NUMERIC(12,2)). Sources: "
        + PG_DOCS
        + " ('INTERVAL [P] STRING io.debezium.time.Interval ... for example, P1Y2M3DT4H5M6.78S', 'time.precision.mode=connect' "
        "table); io.debezium.time.Interval.toIsoString; PostgresValueConverter.convertInterval; "
        "AbstractRecordsProducerTest.schemaAndValuesForIntervalAsString.",
        "double",
        "connect",
    )
    r1 = dict(id=1, d=dt.date(1960, 2, 29), t=dt.time(13, 51, 30, 123000), ts=dt.datetime(1960, 2, 29, 13, 51, 30, 123000),
              span=((1, 2, 3, 4, 5, D("6.78")), "1 year 2 mons 3 days 04:05:06.78"), amount=D("1234.5"))
    r2 = dict(id=2, d=dt.date(2038, 1, 20), t=dt.time(0, 0, 0, 1000), ts=dt.datetime(2262, 4, 11, 23, 47, 16, 854000),
              span=((0, 0, -1, 2, 3, D("0")), "-1 days +02:03:00"), amount=D("-0.5"))
    t.emit("r", None, r1, snapshot="first")
    t.emit("r", None, r2, snapshot="last", same_txn=True)
    r3 = dict(id=3, d=dt.date(1970, 1, 2), t=dt.time(23, 59, 59, 999000), ts=dt.datetime(1969, 12, 31, 23, 59, 59, 999000),
              span=((0, 0, 0, 0, 0, D("0.000001")), "00:00:00.000001"), amount=D("0"))
    t.emit("c", None, r3)
    r1b = dict(r1, span=((-2, 0, 0, 0, 0, D("0")), "-2 years"), amount=D("99999.99"))
    t.emit("u", None, r1b)
    r2b = dict(r2, span=((1, 1, 40, 0, 0, D("0")), "1 year 1 mon 40 days"), ts=None)
    t.emit("u", None, r2b)
    t.emit("d", dict(id=3, d=None, t=None, ts=None, span=None, amount=None), None, tombstone=True)
    return t


def pg_text_types():
    enum_ddl = (
        "DO $$ BEGIN CREATE TYPE corpus_mood AS ENUM ('sad', 'ok', 'happy', 'very happy'); "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$; "
    )
    t = Table(
        "postgres",
        "documents",
        [
            Col("id", t_uuid(), key=True),
            Col("body_json", t_json("json")),
            Col("body_jsonb", t_json("jsonb")),
            Col("mood", t_enum("sad,ok,happy,very happy", pg="corpus_mood")),
            Col("mood_text", t_enum("sad,ok,happy,very happy", pg="text")),
            Col("ref", t_uuid()),
            Col("page", t_xml()),
        ],
        "PostgreSQL JSON/JSONB -> io.debezium.data.Json (STRING; json keeps the source text byte for byte, jsonb "
        "arrives in PostgreSQL's normalised jsonb output), UUID -> io.debezium.data.Uuid (lower-case string; used as "
        "the primary key here), a PostgreSQL ENUM type -> io.debezium.data.Enum (STRING with parameter 'allowed' listing "
        "the labels), landed once into a target enum type (corpus_mood, created by the DO block at the start of "
        "target_ddl, which is therefore two statements) and once into text; XML -> io.debezium.data.Xml (STRING). "
        "Source DDL: CREATE TYPE inventory.mood AS ENUM ('sad','ok','happy','very happy'); CREATE TABLE "
        "inventory.documents (id UUID PRIMARY KEY, body_json JSON, body_jsonb JSONB, mood inventory.mood, mood_text "
        "inventory.mood, ref UUID, page XML). Sources: "
        + PG_DOCS
        + " ('Basic types': JSON/JSONB, XML, UUID, ENUM with the 'allowed' schema parameter); "
        "PostgresValueConverter.columnSchemaBuilder (enum -> io.debezium.data.Enum.builder(join(',', labels))).",
        "precise",
        "adaptive",
        ddl_prefix=enum_ddl,
    )
    k1, k2, k3 = "0b1e5b2e-1c1f-4b43-9f5a-3b2f0e6a9c01", "ffffffff-ffff-ffff-ffff-ffffffffffff", "00000000-0000-0000-0000-000000000000"
    r1 = dict(id=k1, body_json=('{"b": [1,2],"a":1}', '{"b": [1,2],"a":1}'), body_jsonb=('{"a": 1, "b": [1, 2]}', '{"a": 1, "b": [1, 2]}'),
              mood="happy", mood_text="very happy", ref=k3, page='<?xml version="1.0"?><a b="1">x &amp; y</a>')
    r2 = dict(id=k2, body_json=("null", "null"), body_jsonb=('{"nested": {"deep": [true, false, null]}, "unicode": "日本"}', '{"nested": {"deep": [true, false, null]}, "unicode": "日本"}'),
              mood="sad", mood_text="sad", ref=None, page="<root/>")
    t.emit("r", None, r1, snapshot="first")
    t.emit("r", None, r2, snapshot="last", same_txn=True)
    r3 = dict(id=k3, body_json=('  [ 1 , "two" ]  ', '  [ 1 , "two" ]  '), body_jsonb=("12.50", "12.50"), mood=None, mood_text=None, ref=k1, page=None)
    t.emit("c", None, r3)
    r1b = dict(r1, mood="very happy", body_jsonb=('{"a": "it\'s \\"quoted\\""}', '{"a": "it\'s \\"quoted\\""}'), page="<a><b>text</b><!-- c --></a>")
    t.emit("u", None, r1b)
    t.emit("d", dict(id=k2, body_json=None, body_jsonb=None, mood=None, mood_text=None, ref=None, page=None), None, tombstone=True)
    return t


def pg_bits_arrays():
    t = Table(
        "postgres",
        "bits_arrays",
        [
            serial_id(),
            Col("flag", t_bool("boolean")),
            Col("b12", t_bits_pg(12)),
            Col("b64", t_bits_pg(64)),
            Col("vb", t_bits_pg(16, varying=True)),
            Col("nums", t_array("int32", "integer[]")),
            Col("tags", t_array("string", "text[]")),
            Col("raw", t_bytes()),
            Col("pt", t_point()),
        ],
        "PostgreSQL BIT(1) -> BOOLEAN (landed as boolean), BIT(n>1) and BIT VARYING(n) -> io.debezium.data.Bits "
        "(BYTES, parameter length = declared n). The bytes are LITTLE-endian (rightmost bit of the bit string is bit 0 "
        "of byte 0) and, unlike MySQL, the PostgreSQL connector sizes them from the content (the highest set bit), not "
        "from n: bit(12) '000000000101' is the single byte 0x05 and an all-zero value is an empty byte array (\"\"). So "
        "a bit(n) target must be left-padded with zeros to n bits. For BIT VARYING the actual length is lost (length "
        "says the declared maximum), so only values starting with '1' round-trip; the corpus uses such values. "
        "INT[] -> ARRAY of optional INT32, TEXT[] -> ARRAY of optional STRING (NULL elements, empty strings, quotes, "
        "commas, backslashes, an empty array); BYTEA -> BYTES; the built-in POINT type -> io.debezium.data.geometry.Point "
        "{x, y, wkb (little-endian WKB built by Debezium), srid null}, landed as the WKB in bytea. Source DDL: CREATE TABLE "
        "inventory.bits_arrays (id SERIAL PRIMARY KEY, flag BIT(1), b12 BIT(12), b64 BIT(64), vb BIT VARYING(16), "
        "nums INT[], tags TEXT[], raw BYTEA, pt POINT). Sources: "
        + PG_DOCS
        + " ('Basic types': BIT(1), BIT(>1) little-endian, BIT VARYING, POINT); PostgresValueConverter.convertBits "
        "(content-sized BitSet); AbstractRecordsProducerTest.schemaAndValuesForBinTypes (bs7 '1'::bit(7) -> [64], "
        "bv '00' -> [], '000000110000001000000001'::bit(24) -> [1,2,3]); io.debezium.data.geometry.Point.createValue.",
        "precise",
        "adaptive",
    )
    r1 = dict(id=1, flag=True, b12="000000000101", b64="1" + "0" * 63, vb="101", nums=[1, None, -2147483648, 2147483647],
              tags=["a b", "c,d", '"q"', None, "", "back\\slash", "NULL"], raw=b"\x01\x02\x03", pt=(1.5, -2.25, None))
    r2 = dict(id=2, flag=False, b12="000000000000", b64="0" * 64, vb="1111111111111111", nums=[], tags=[], raw=b"", pt=(0.0, 0.0, None))
    t.emit("r", None, r1, snapshot="first")
    t.emit("r", None, r2, snapshot="last", same_txn=True)
    r3 = dict(id=3, flag=None, b12="100000000001", b64="0000000000000000000000000000000000000000000000000000000100000000", vb="1", nums=None, tags=["only"], raw=None, pt=None)
    t.emit("c", None, r3)
    r1b = dict(r1, b12="111111111111", nums=[7], tags=["x"], pt=(-122.4194155, 37.7749295, None))
    t.emit("u", None, r1b)
    r2b = dict(r2, flag=True, vb="1000000000000001", raw=bytes(range(255, -1, -1)))
    t.emit("u", None, r2b)
    return t


def big_text(seed, n):
    out, x = [], seed
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 "
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(alphabet[(x >> 16) % len(alphabet)])
    return "".join(out)


def big_bytes(seed, n):
    out, x = bytearray(), seed
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append((x >> 16) & 0xFF)
    return bytes(out)


def pg_toast():
    t = Table(
        "postgres",
        "toasted",
        [
            serial_id(),
            Col("status", t_string("text")),
            Col("body", t_string("text")),
            Col("blob", t_bytes()),
            Col("labels", t_array("string", "text[]")),
        ],
        "PostgreSQL unchanged TOASTed columns with REPLICA IDENTITY DEFAULT and pgoutput: an UPDATE that does not touch "
        "a TOASTed column does not carry its value, and Debezium puts unavailable.value.placeholder (default "
        "\"__debezium_unavailable_value\") into the after image instead: the string itself for text, the placeholder's "
        "UTF-8 bytes for bytea (base64 \"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==\" with binary.handling.mode=bytes), and a "
        "one-element array [\"__debezium_unavailable_value\"] for text[] (int[]/bigint[] would get the placeholder's bytes "
        "as numbers; not used here). The expected outcome: the column keeps the value from the earlier event. Updates "
        "with REPLICA IDENTITY DEFAULT have before=null; the delete's before carries only the key (other columns null). "
        "Values are ~3-4 KB of incompressible text/bytes so PostgreSQL really TOASTs them. Source DDL: CREATE TABLE "
        "inventory.toasted (id SERIAL PRIMARY KEY, status TEXT, body TEXT, blob BYTEA, labels TEXT[]). Sources: "
        + PG_DOCS
        + " 'Toasted values' and the unavailable.value.placeholder property; UnchangedToastedPlaceholder and "
        "PostgresValueConverter.convertBinaryToBytes/convertString/handleUnknownData (debezium-connector-postgres).",
        "precise",
        "adaptive",
    )
    body1, body2, body3 = big_text(1, 4000), big_text(2, 3500), big_text(3, 5000)
    blob1, blob3 = big_bytes(4, 3000), big_bytes(5, 2600)
    labels1 = [big_text(6, 1500), big_text(7, 1500), "short"]
    r1 = dict(id=1, status="new", body=body1, blob=blob1, labels=labels1)
    t.emit("r", None, r1, snapshot="last")
    t.emit("u", None, dict(id=1, status="edited", body=UNAVAILABLE, blob=UNAVAILABLE, labels=UNAVAILABLE))
    t.emit("u", None, dict(id=1, status="rewritten", body=body2, blob=UNAVAILABLE, labels=UNAVAILABLE))
    r2 = dict(id=2, status="fresh", body=body3, blob=blob3, labels=None)
    t.emit("c", None, r2)
    t.emit("u", None, dict(id=2, status=None, body=UNAVAILABLE, blob=UNAVAILABLE, labels=["x"]))
    t.emit("u", None, dict(id=2, status="again", body=UNAVAILABLE, blob=None, labels=["x"]))  # small: never TOASTed
    r3 = dict(id=3, status="doomed", body=body2, blob=blob1, labels=["a"])
    t.emit("c", None, r3)
    t.emit("u", None, dict(id=3, status="doomed2", body=UNAVAILABLE, blob=UNAVAILABLE, labels=["a"]))
    t.emit("d", dict(id=3, status=None, body=None, blob=None, labels=None), None, tombstone=True)
    return t


def pg_hostile_keys():
    t = Table(
        "postgres",
        "hostile_names",
        [
            Col("id", t_int64(), key=True),
            Col('"; DROP TABLE x; --', t_string()),
            Col("Order", t_int32()),
            Col("naïve col", t_string()),
        ],
        "PostgreSQL table with REPLICA IDENTITY DEFAULT (not FULL) and hostile column names (`\"; DROP TABLE x; --`, "
        "`Order`, `naïve col`). Updates carry before=null; a real pgoutput delete carries before with only the key "
        "column set (the other columns null). A primary-key UPDATE is emitted as delete(old key) + tombstone + "
        "create(new key). The next-to-last delete has before=null AND after=null, so the row to delete is known only "
        "from the message key: pgoutput itself never produces that shape (it always sends the replica identity "
        "columns), so treat it as a robustness case for consumers that might read the key from before. Every delete "
        "is followed by a tombstone (tombstones.on.delete=true). Source DDL: CREATE TABLE inventory.hostile_names (id "
        "BIGINT PRIMARY KEY, \"\"\"; DROP TABLE x; --\" TEXT, \"Order\" INT, \"naïve col\" TEXT). Sources: "
        + PG_DOCS
        + "; 'Replica identity', '_delete_ events', 'Primary key updates' and 'Tombstone events' sections of the "
        "PostgreSQL connector docs.",
        "precise",
        "adaptive",
    )
    r1 = {"id": 1, '"; DROP TABLE x; --': "'; DELETE FROM t; --", "Order": 10, "naïve col": "Zoë"}
    r2 = {"id": 2, '"; DROP TABLE x; --': "$$ dollar $$", "Order": -1, "naïve col": None}
    r3 = {"id": 3, '"; DROP TABLE x; --': "keep me", "Order": 0, "naïve col": "ß"}
    r4 = {"id": 9223372036854775807, '"; DROP TABLE x; --': "max key", "Order": 2147483647, "naïve col": "🚀"}
    t.emit("r", None, r1, snapshot="first")
    t.emit("r", None, r2, snapshot="true", same_txn=True)
    t.emit("r", None, r3, snapshot="last", same_txn=True)
    t.emit("c", None, r4)
    keyonly = lambda k: {"id": k, '"; DROP TABLE x; --': None, "Order": None, "naïve col": None}
    t.emit("u", None, dict(r1, **{"Order": 11, "naïve col": "Zoë 2"}))
    # primary-key change 2 -> 20
    r2new = dict(r2, id=20)
    t.emit("d", keyonly(2), None, tombstone=True)
    t.emit("c", None, r2new, same_txn=True)
    t.emit_raw_delete_without_before(keyonly(3))
    t.emit("d", keyonly(9223372036854775807), None, tombstone=True)
    t.emit("c", None, {"id": -9223372036854775808, '"; DROP TABLE x; --': "", "Order": None, "naïve col": "min key"})
    return t


def pg_synthetic_nano():
    t = Table(
        "postgres",
        "nano_synthetic",
        [
            serial_id(),
            Col("nt", t_nanotime("time(6)")),
            Col("nts", t_nanotimestamp("timestamp(6)")),
        ],
        "SYNTHETIC: io.debezium.time.NanoTime (INT64 ns past midnight) and io.debezium.time.NanoTimestamp (INT64 ns "
        "since epoch, no zone). Neither the MySQL nor the PostgreSQL connector ever emits these: JdbcValueConverters "
        "chooses Nano* only for fractional-second precision > 6, and both databases stop at 6 (they come from SQL "
        "Server datetime2(7)/time(7), Oracle TIMESTAMP(9), Db2). This file reuses the PostgreSQL envelope with those two "
        "field schemas so a consumer's handling of them is still tested; values are whole microseconds so they fit "
        "PostgreSQL's time(6)/timestamp(6) exactly. Sources: JdbcValueConverters.schemaBuilder (precision <= 3 / <= 6 / "
        "else Nano*); Debezium SQL Server connector docs, 'Temporal values' (DATETIME2(7) -> NanoTimestamp). "
        "Without the schema envelope it is not applied: an integer time in nanoseconds cannot be told from "
        "microseconds by the column type, and no time.precision.mode setting produces nanoseconds.",
        "precise",
        None,
    )
    r1 = dict(id=1, nt=dt.time(13, 51, 30, 123456), nts=dt.datetime(1969, 12, 31, 23, 59, 59, 999999))
    r2 = dict(id=2, nt=dt.time(0, 0, 0, 1), nts=dt.datetime(2262, 4, 11, 23, 47, 16, 854775))
    t.emit("r", None, r1, snapshot="last")
    t.emit("c", None, r2)
    t.emit("u", None, dict(r1, nt=dt.time(23, 59, 59, 999999)))
    return t


TABLES = [
    mysql_decimals,
    mysql_temporals,
    mysql_connect_mode,
    mysql_enums_bits_json,
    mysql_spatial_blobs,
    mysql_hostile,
    pg_numerics,
    pg_temporals,
    pg_connect_string_modes,
    pg_text_types,
    pg_bits_arrays,
    pg_toast,
    pg_hostile_keys,
    pg_synthetic_nano,
]


def main():
    written = []
    for make in TABLES:
        t = make()
        d = os.path.join(HERE, t.source)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, t.name + ".json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(t.to_json(), fh, ensure_ascii=False, indent=1)
            fh.write("\n")
        written.append(os.path.relpath(path, HERE))
    for w in written:
        print(w)


if __name__ == "__main__":
    main()
