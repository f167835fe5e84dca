//! Byte-level rendering of Debezium MySQL connector records (Kafka Connect JSON converter).
//!
//! Everything constant per table (schemas, names) is rendered once; per record only the
//! payload is written, field by field in schema order, without an intermediate JSON tree.

use std::io::Write as _;

use crate::config::Envelope;
use crate::table::{ColumnKind, TableDef};
use crate::value::{write_json_str, Value};

/// Debezium version reported in `source.version`.
pub(crate) const DEBEZIUM_VERSION: &str = "2.5.4.Final";
/// MySQL `server_id` reported in `source.server_id`.
const SERVER_ID: i64 = 223_344;
/// Binlog file reported in `source.file`.
const BINLOG_FILE: &str = "mysql-bin.000003";
/// Connection id reported in `source.thread` for streamed (non-snapshot) changes.
const THREAD: i64 = 7;

/// `op` of a change event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `r`: snapshot read.
    Read,
    /// `c`: insert.
    Create,
    /// `u`: update.
    Update,
    /// `d`: delete.
    Delete,
}

impl Op {
    fn code(self) -> &'static str {
        match self {
            Op::Read => "r",
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
        }
    }
}

/// `source.snapshot` of a change event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapshotFlag {
    /// Streamed from the binlog.
    False,
    /// Snapshot read, not the last one.
    True,
    /// The last snapshot read.
    Last,
}

impl SnapshotFlag {
    fn text(self) -> &'static str {
        match self {
            SnapshotFlag::False => "false",
            SnapshotFlag::True => "true",
            SnapshotFlag::Last => "last",
        }
    }
}

/// Everything that varies between two change events of one table.
pub(crate) struct Change<'a> {
    /// `payload.op`.
    pub(crate) op: Op,
    /// `payload.before` (full row image; `None` renders `null`).
    pub(crate) before: Option<&'a [Value]>,
    /// `payload.after` (full row image; `None` renders `null`).
    pub(crate) after: Option<&'a [Value]>,
    /// `payload.source.ts_ms`.
    pub(crate) source_ts: i64,
    /// `payload.ts_ms`.
    pub(crate) ts: i64,
    /// `payload.source.snapshot` (also decides whether `source.thread` is set).
    pub(crate) snapshot: SnapshotFlag,
    /// `payload.source.pos`.
    pub(crate) pos: u64,
    /// `payload.source.row`.
    pub(crate) row: i32,
}

/// Pre-rendered constant parts of one table's records.
#[derive(Debug, Clone)]
pub(crate) struct TableRender {
    /// The value envelope's `schema` object.
    value_schema: String,
    /// The key's `schema` object.
    key_schema: String,
    /// `"<column>":` for every column, JSON-escaped.
    field_names: Vec<Vec<u8>>,
    /// `{"version":..,"connector":"mysql","name":<server>,"ts_ms":`
    source_head: Vec<u8>,
    /// `,"db":<db>,"sequence":null,"table":<table>,"server_id":..,"gtid":null,"file":..,"pos":`
    source_mid: Vec<u8>,
    /// Key column indices, in key order (fields of the message key).
    key: Vec<usize>,
}

fn json_str(s: &str) -> String {
    let mut out = Vec::new();
    write_json_str(&mut out, s);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

fn field(ty: &str, optional: bool, name: &str) -> String {
    format!(
        "{{\"type\":\"{ty}\",\"optional\":{optional},\"field\":{}}}",
        json_str(name)
    )
}

/// The schema of one column, as the JSON converter writes a Connect field schema: `type`,
/// `optional`, then for logical types `name`, `"version":1` and `parameters`, then `field`.
fn column_field(kind: ColumnKind, optional: bool, name: &str) -> String {
    let mut s = format!(
        "{{\"type\":\"{}\",\"optional\":{optional}",
        kind.connect_type()
    );
    if let Some(logical) = kind.connect_name() {
        s.push_str(&format!(",\"name\":\"{logical}\",\"version\":1"));
        let parameters = kind.connect_parameters();
        if !parameters.is_empty() {
            let parameters: Vec<String> = parameters
                .iter()
                .map(|(k, v)| format!("{}:{}", json_str(k), json_str(v)))
                .collect();
            s.push_str(&format!(",\"parameters\":{{{}}}", parameters.join(",")));
        }
    }
    s.push_str(&format!(",\"field\":{}}}", json_str(name)));
    s
}

impl TableRender {
    pub(crate) fn new(def: &TableDef) -> Self {
        let prefix = format!("{}.{}.{}", def.server, def.db, def.table);
        let columns: Vec<String> = def
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| column_field(c.kind, c.nullable && !def.is_key(i), &c.name))
            .collect();
        let columns = columns.join(",");
        let row_struct = |f: &str| {
            format!(
                "{{\"type\":\"struct\",\"fields\":[{columns}],\"optional\":true,\"name\":{},\"field\":\"{f}\"}}",
                json_str(&format!("{prefix}.Value"))
            )
        };
        let source_fields = [
            field("string", false, "version"),
            field("string", false, "connector"),
            field("string", false, "name"),
            field("int64", false, "ts_ms"),
            "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,\
             \"parameters\":{\"allowed\":\"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental\"},\
             \"default\":\"false\",\"field\":\"snapshot\"}"
                .to_owned(),
            field("string", false, "db"),
            field("string", true, "sequence"),
            field("string", true, "table"),
            field("int64", false, "server_id"),
            field("string", true, "gtid"),
            field("string", false, "file"),
            field("int64", false, "pos"),
            field("int32", false, "row"),
            field("int64", true, "thread"),
            field("string", true, "query"),
        ]
        .join(",");
        let transaction_fields = [
            field("string", false, "id"),
            field("int64", false, "total_order"),
            field("int64", false, "data_collection_order"),
        ]
        .join(",");
        let value_schema = format!(
            "{{\"type\":\"struct\",\"fields\":[{},{},\
             {{\"type\":\"struct\",\"fields\":[{source_fields}],\"optional\":false,\"name\":\"io.debezium.connector.mysql.Source\",\"field\":\"source\"}},\
             {},{},\
             {{\"type\":\"struct\",\"fields\":[{transaction_fields}],\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"}}],\
             \"optional\":false,\"name\":{},\"version\":1}}",
            row_struct("before"),
            row_struct("after"),
            field("string", false, "op"),
            field("int64", true, "ts_ms"),
            json_str(&format!("{prefix}.Envelope")),
        );
        let key_fields: Vec<String> = def
            .key
            .iter()
            .map(|&k| column_field(def.columns[k].kind, false, &def.columns[k].name))
            .collect();
        let key_schema = format!(
            "{{\"type\":\"struct\",\"fields\":[{}],\"optional\":false,\"name\":{}}}",
            key_fields.join(","),
            json_str(&format!("{prefix}.Key"))
        );
        let field_names = def
            .columns
            .iter()
            .map(|c| format!("{}:", json_str(&c.name)).into_bytes())
            .collect();
        let source_head = format!(
            "{{\"version\":\"{DEBEZIUM_VERSION}\",\"connector\":\"mysql\",\"name\":{},\"ts_ms\":",
            json_str(&def.server)
        )
        .into_bytes();
        let source_mid = format!(
            ",\"db\":{},\"sequence\":null,\"table\":{},\"server_id\":{SERVER_ID},\"gtid\":null,\"file\":\"{BINLOG_FILE}\",\"pos\":",
            json_str(&def.db),
            json_str(&def.table)
        )
        .into_bytes();
        Self {
            value_schema,
            key_schema,
            field_names,
            source_head,
            source_mid,
            key: def.key.clone(),
        }
    }

    /// The message key of a row (only its key columns are read).
    pub(crate) fn key(&self, row: &[Value], envelope: Envelope) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.key_schema.len());
        if envelope == Envelope::Schema {
            out.extend_from_slice(b"{\"schema\":");
            out.extend_from_slice(self.key_schema.as_bytes());
            out.extend_from_slice(b",\"payload\":");
        }
        out.push(b'{');
        for (i, &k) in self.key.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&self.field_names[k]);
            row[k].write_json(&mut out);
        }
        out.push(b'}');
        if envelope == Envelope::Schema {
            out.push(b'}');
        }
        out
    }

    /// The message value of a change event.
    pub(crate) fn value(&self, change: &Change<'_>, envelope: Envelope) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.value_schema.len());
        if envelope == Envelope::Schema {
            out.extend_from_slice(b"{\"schema\":");
            out.extend_from_slice(self.value_schema.as_bytes());
            out.extend_from_slice(b",\"payload\":");
        }
        out.extend_from_slice(b"{\"before\":");
        self.row(&mut out, change.before);
        out.extend_from_slice(b",\"after\":");
        self.row(&mut out, change.after);
        out.extend_from_slice(b",\"source\":");
        out.extend_from_slice(&self.source_head);
        let _ = write!(
            out,
            "{},\"snapshot\":\"{}\"",
            change.source_ts,
            change.snapshot.text()
        );
        out.extend_from_slice(&self.source_mid);
        let _ = write!(out, "{},\"row\":{},\"thread\":", change.pos, change.row);
        if change.snapshot == SnapshotFlag::False {
            let _ = write!(out, "{THREAD}");
        } else {
            out.extend_from_slice(b"null");
        }
        let _ = write!(
            out,
            ",\"query\":null}},\"op\":\"{}\",\"ts_ms\":{},\"transaction\":null}}",
            change.op.code(),
            change.ts
        );
        if envelope == Envelope::Schema {
            out.push(b'}');
        }
        out
    }

    fn row(&self, out: &mut Vec<u8>, row: Option<&[Value]>) {
        let Some(row) = row else {
            out.extend_from_slice(b"null");
            return;
        };
        out.push(b'{');
        for (i, (name, value)) in self.field_names.iter().zip(row).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(name);
            value.write_json(out);
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_types_carry_name_version_and_parameters() {
        assert_eq!(
            column_field(ColumnKind::DECIMAL_18_4, false, "BALANCE"),
            "{\"type\":\"bytes\",\"optional\":false,\"name\":\"org.apache.kafka.connect.data.Decimal\",\
             \"version\":1,\"parameters\":{\"scale\":\"4\",\"connect.decimal.precision\":\"18\"},\
             \"field\":\"BALANCE\"}"
        );
        assert_eq!(
            column_field(ColumnKind::MicroTimestamp, true, "CREATED_AT"),
            "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTimestamp\",\
             \"version\":1,\"field\":\"CREATED_AT\"}"
        );
        assert_eq!(
            column_field(ColumnKind::ZonedTimestamp, false, "UPDATED_AT"),
            "{\"type\":\"string\",\"optional\":false,\"name\":\"io.debezium.time.ZonedTimestamp\",\
             \"version\":1,\"field\":\"UPDATED_AT\"}"
        );
        assert_eq!(
            column_field(ColumnKind::Date, true, "BIRTHDAY"),
            "{\"type\":\"int32\",\"optional\":true,\"name\":\"io.debezium.time.Date\",\
             \"version\":1,\"field\":\"BIRTHDAY\"}"
        );
        // Plain kinds render exactly as before logical types existed.
        for kind in [
            ColumnKind::Int16,
            ColumnKind::Int32,
            ColumnKind::Int64,
            ColumnKind::Float64,
            ColumnKind::Bool,
            ColumnKind::Text,
            ColumnKind::Bytes,
        ] {
            for optional in [false, true] {
                assert_eq!(
                    column_field(kind, optional, "a\"b"),
                    field(kind.connect_type(), optional, "a\"b")
                );
            }
        }
    }

    #[test]
    fn typed_rows_render_in_payload_and_schema() {
        let def = TableDef::salesdb_customer_typed();
        let render = TableRender::new(&def);
        let row = vec![
            Value::Int(7),
            Value::Text("Ana".into()),
            Value::Null,
            Value::Decimal {
                unscaled: 29_900,
                scale: 4,
            },
            Value::MicroTs(-1),
            Value::ZonedTs(1_666_266_000_123_456),
            Value::Date(-1),
        ];
        let change = Change {
            op: Op::Create,
            before: None,
            after: Some(&row),
            source_ts: 1,
            ts: 2,
            snapshot: SnapshotFlag::False,
            pos: 3,
            row: 0,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&render.value(&change, Envelope::Schema)).unwrap();
        let after = &value["payload"]["after"];
        assert_eq!(after["BALANCE"], "dMw=");
        assert_eq!(after["CREATED_AT"], -1);
        assert_eq!(after["UPDATED_AT"], "2022-10-20T11:40:00.123456Z");
        assert_eq!(after["BIRTHDAY"], -1);
        let fields = &value["schema"]["fields"][1]["fields"];
        assert_eq!(fields[3]["parameters"]["scale"], "4");
        assert_eq!(fields[3]["parameters"]["connect.decimal.precision"], "18");
        assert_eq!(fields[4]["name"], "io.debezium.time.MicroTimestamp");
        assert_eq!(fields[5]["name"], "io.debezium.time.ZonedTimestamp");
        assert_eq!(fields[6]["name"], "io.debezium.time.Date");
        assert_eq!(fields[6]["optional"], true);
        assert_eq!(fields[6]["version"], 1);
    }
}
