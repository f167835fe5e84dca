//! Fuzzes `TableDecoder::decode` (and `parse_event`) with sequences of Kafka records.
//!
//! Input format (so seeds can be written by hand, see `make_seeds.py`):
//!
//! ```text
//! byte 0   layout:      index into LAYOUTS (mod its length)
//! byte 1   key source:  index into that layout's `keys` (mod; None = KeySource::MessageKey)
//! byte 2   options:     decimal = b % 3, time precision = b / 3 % 3, binary = b / 9 % 3
//! rest     records separated by 0xFF; a record is `KEY 0xFE VALUE`, or just `VALUE` (no key);
//!          an empty KEY or VALUE is passed as None
//! ```
//!
//! All records go through ONE decoder, in order, so its value-schema and key-schema caches
//! and the layout's key decision carry from record to record. Besides "never panic", it
//! checks what the API documents:
//! - on error nothing is appended, else at most two changes; Truncate / Message / Control
//!   append nothing;
//! - every change has the record's coord, a key of the decided key's width and an upsert row
//!   of the layout's width;
//! - the schema caches are invisible: a fresh decoder (empty caches, same options, same key
//!   decision) decodes the record to the same result.
//!
//! Every decoded value is also rendered with `Value::to_pg_text` (what the warehouse stages).

#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tidemark_debezium::{
    parse_event, BinaryHandling, DecimalHandling, DecodeError, DecodeOptions, Decoded, KeySource,
    TableDecoder, TimePrecision,
};
use tidemark_model::{
    Change, ColumnType as C, ElementType as E, RecordCoord, RowOp, TableLayout, TableName, Value,
};

/// Most records decoded from one input (bounds the time one input takes).
const MAX_RECORDS: usize = 24;
const RECORD_SEP: u8 = 0xFF;
const KEY_SEP: u8 = 0xFE;

struct Spec {
    table: &'static str,
    /// Target columns `(name, type, sql type)`.
    columns: &'static [(&'static str, C, &'static str)],
    /// Renames: source field → target column.
    renames: &'static [(&'static str, &'static str)],
    unmanaged: &'static [&'static str],
    /// Key configurations: `None` = the message key, else these source fields.
    keys: &'static [Option<&'static [&'static str]>],
}

/// 0: the Debezium tutorial's `inventory.customers`.
/// 1: a PostgreSQL table with a column of every `ColumnType` (and every array element type).
/// 2: MySQL `inventory.orders` with a rename (`purchaser` → `customer_id`) and an unmanaged
///    column.
/// 3: keys of logical types (decimal, uuid, timestamptz, date).
static LAYOUTS: &[Spec] = &[
    Spec {
        table: "inventory.customers",
        columns: &[
            ("id", C::Int32, "integer"),
            ("first_name", C::Text, "character varying(255)"),
            ("last_name", C::Text, "character varying(255)"),
            ("email", C::Text, "character varying(255)"),
        ],
        renames: &[],
        unmanaged: &[],
        keys: &[None, Some(&["id"]), Some(&["email", "id"])],
    },
    Spec {
        table: "public.all_types",
        columns: &[
            ("id", C::Int64, "bigint"),
            ("c_bool", C::Bool, "boolean"),
            ("c_int2", C::Int16, "smallint"),
            ("c_int4", C::Int32, "integer"),
            ("c_float4", C::Float32, "real"),
            ("c_float8", C::Float64, "double precision"),
            ("c_numeric", C::Numeric, "numeric(10,2)"),
            ("c_numeric_any", C::Numeric, "numeric"),
            ("c_text", C::Text, "text"),
            ("c_bytea", C::Bytes, "bytea"),
            ("c_date", C::Date, "date"),
            ("c_time3", C::Time, "time(3) without time zone"),
            ("c_time", C::Time, "time without time zone"),
            ("c_timetz", C::TimeTz, "time with time zone"),
            ("c_ts3", C::Timestamp, "timestamp(3) without time zone"),
            ("c_ts", C::Timestamp, "timestamp(6) without time zone"),
            ("c_tstz", C::TimestampTz, "timestamp with time zone"),
            ("c_interval", C::Interval, "interval"),
            ("c_uuid", C::Uuid, "uuid"),
            ("c_json", C::Json, "json"),
            ("c_jsonb", C::Jsonb, "jsonb"),
            ("c_bit3", C::Bits, "bit(3)"),
            ("c_varbit", C::Bits, "bit varying(10)"),
            ("c_bool_arr", C::Array(E::Bool), "boolean[]"),
            ("c_int2_arr", C::Array(E::Int16), "smallint[]"),
            ("c_int4_arr", C::Array(E::Int32), "integer[]"),
            ("c_int8_arr", C::Array(E::Int64), "bigint[]"),
            ("c_float4_arr", C::Array(E::Float32), "real[]"),
            ("c_float8_arr", C::Array(E::Float64), "double precision[]"),
            ("c_numeric_arr", C::Array(E::Numeric), "numeric[]"),
            ("c_text_arr", C::Array(E::Text), "text[]"),
            ("c_uuid_arr", C::Array(E::Uuid), "uuid[]"),
            ("c_date_arr", C::Array(E::Date), "date[]"),
            (
                "c_ts_arr",
                C::Array(E::Timestamp),
                "timestamp without time zone[]",
            ),
            (
                "c_tstz_arr",
                C::Array(E::TimestampTz),
                "timestamp with time zone[]",
            ),
            ("c_jsonb_arr", C::Array(E::Jsonb), "jsonb[]"),
            ("c_geom", C::Other, "geometry(Point,4326)"),
            ("c_geom_wkb", C::Bytes, "bytea"),
            ("c_mood", C::Other, "mood"),
        ],
        renames: &[],
        unmanaged: &[],
        keys: &[None, Some(&["id"]), Some(&["id", "c_uuid"])],
    },
    Spec {
        table: "inventory.orders",
        columns: &[
            ("order_number", C::Int32, "integer"),
            ("order_date", C::Date, "date"),
            ("customer_id", C::Int32, "integer"),
            ("quantity", C::Int32, "integer"),
            ("product_id", C::Int32, "integer"),
            ("price", C::Numeric, "numeric(10,2)"),
            ("created_at", C::Timestamp, "timestamp(0) without time zone"),
            ("updated_at", C::TimestampTz, "timestamp(3) with time zone"),
            ("refresh_time", C::Other, "timestamp without time zone"),
        ],
        renames: &[("purchaser", "customer_id")],
        unmanaged: &["refresh_time"],
        keys: &[
            None,
            Some(&["order_number"]),
            Some(&["purchaser", "order_number"]),
        ],
    },
    Spec {
        table: "public.keyed",
        columns: &[
            ("k_num", C::Numeric, "numeric(20,0)"),
            ("k_uuid", C::Uuid, "uuid"),
            ("k_ts", C::TimestampTz, "timestamp(6) with time zone"),
            ("k_date", C::Date, "date"),
            ("v", C::Text, "text"),
            ("blob", C::Bytes, "bytea"),
            ("big", C::Numeric, "numeric(38,10)"),
        ],
        renames: &[],
        unmanaged: &[],
        keys: &[
            None,
            Some(&["k_num"]),
            Some(&["k_uuid", "k_ts"]),
            Some(&["k_date"]),
        ],
    },
];

fn build_layout(spec: &Spec) -> Arc<TableLayout> {
    let columns = spec
        .columns
        .iter()
        .map(|(n, t, s)| (n.to_string(), *t, s.to_string()))
        .collect();
    let renames: BTreeMap<String, String> = spec
        .renames
        .iter()
        .map(|(s, t)| (s.to_string(), t.to_string()))
        .collect();
    let unmanaged: Vec<String> = spec.unmanaged.iter().map(|c| c.to_string()).collect();
    let table = TableName::parse(spec.table).expect("static table name");
    Arc::new(TableLayout::from_target(table, columns, &renames, &unmanaged).expect("static layout"))
}

fn options(b: u8) -> DecodeOptions {
    DecodeOptions {
        decimal_handling: [
            DecimalHandling::Precise,
            DecimalHandling::String,
            DecimalHandling::Double,
        ][usize::from(b % 3)],
        time_precision: [
            TimePrecision::Adaptive,
            TimePrecision::Micro,
            TimePrecision::Connect,
        ][usize::from(b / 3 % 3)],
        binary_handling: [
            BinaryHandling::Base64,
            BinaryHandling::Base64UrlSafe,
            BinaryHandling::Hex,
        ][usize::from(b / 9 % 3)],
    }
}

fn key_source(key: Option<&[&str]>) -> KeySource {
    match key {
        None => KeySource::MessageKey,
        Some(fields) => KeySource::Fields(fields.iter().map(|f| f.to_string()).collect()),
    }
}

/// Renders a value the way the warehouse stages it (must not panic either).
fn touch(value: &Value) {
    let _ = value.to_pg_text();
    let _ = value.approx_size();
    let _ = value.kind();
}

type Outcome = Result<(Decoded, Vec<Change>), DecodeError>;

fn decode(
    decoder: &mut TableDecoder,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    coord: RecordCoord,
) -> Outcome {
    let mut out = Vec::new();
    let decoded = decoder.decode(key, value, coord, &mut out);
    match decoded {
        Ok(d) => Ok((d, out)),
        Err(e) => {
            assert!(out.is_empty(), "changes appended on error {e:?}: {out:?}");
            Err(e)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [layout_byte, key_byte, options_byte, rest @ ..] = data else {
        return;
    };
    let spec = &LAYOUTS[usize::from(*layout_byte) % LAYOUTS.len()];
    let key_config = spec.keys[usize::from(*key_byte) % spec.keys.len()];
    let options = options(*options_byte);

    let layout = build_layout(spec);
    let mut decoder = TableDecoder::new(layout.clone(), key_source(key_config), options)
        .expect("static key config is valid");
    let mut out: Vec<Change> = Vec::new();

    for (i, record) in rest
        .split(|&b| b == RECORD_SEP)
        .take(MAX_RECORDS)
        .enumerate()
    {
        let (key, value) = match record.iter().position(|&b| b == KEY_SEP) {
            Some(p) => (&record[..p], &record[p + 1..]),
            None => (&[][..], record),
        };
        let key = (!key.is_empty()).then_some(key);
        let value = (!value.is_empty()).then_some(value);
        let coord = RecordCoord {
            partition: (i % 3) as i32,
            offset: i as i64,
        };

        if let Some(v) = value {
            let _ = parse_event(v);
        }

        let start = out.len();
        let result = decoder.decode(key, value, coord, &mut out);
        let appended = &out[start..];
        match &result {
            Err(e) => assert!(appended.is_empty(), "changes appended on error {e:?}"),
            Ok(Decoded::Rows) => assert!(appended.len() <= 2, "{} changes", appended.len()),
            Ok(other) => assert!(appended.is_empty(), "{other:?} appended changes"),
        }
        if !appended.is_empty() {
            let key_width = layout.key().expect("a key once rows are decoded").len();
            for change in appended {
                assert_eq!(change.coord, coord);
                assert_eq!(change.key.0.len(), key_width, "key width");
                change.key.0.iter().for_each(touch);
                if let RowOp::Upsert(row) = &change.op {
                    assert_eq!(row.len(), layout.columns.len(), "row width");
                    row.iter().for_each(touch);
                }
            }
        }

        // The caches must not change what a record decodes to: compare with a decoder that
        // has seen nothing but shares the key decision.
        let fresh_layout = build_layout(spec);
        let comparable = match key_config {
            Some(_) => true,
            None => match layout.key() {
                // MessageKey mode: only once the key is decided (else the fresh decoder would
                // decide it by itself, maybe differently).
                Some(cols) => {
                    fresh_layout.decide_key(cols.to_vec());
                    true
                }
                None => false,
            },
        };
        if comparable {
            let mut fresh = TableDecoder::new(fresh_layout, key_source(key_config), options)
                .expect("static key config is valid");
            let again = decode(&mut fresh, key, value, coord);
            let first: Outcome = result.clone().map(|d| (d, appended.to_vec()));
            match (&first, &again) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "warm and fresh decoders differ"),
                // The same error in Fields mode; in MessageKey mode a decoder that resolved
                // the key earlier may word a key mismatch differently.
                (Err(a), Err(b)) if key_config.is_some() => {
                    assert_eq!(a, b, "warm and fresh decoders fail differently")
                }
                (Err(_), Err(_)) => {}
                _ => panic!("warm and fresh decoders differ: {first:?} vs {again:?}"),
            }
        }

        // Keep memory flat over long sequences.
        if out.len() > 64 {
            out.clear();
        }
    }
});
