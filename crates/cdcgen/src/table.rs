//! Source table definitions: the shape of a MySQL table as the Debezium connector sees it,
//! plus the PostgreSQL DDL of the target table it is replicated into.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Type of a source column. Each kind maps to one Kafka Connect schema type (what the
/// Debezium JSON converter writes) and one PostgreSQL column type (what the target uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// MySQL `SMALLINT`; Connect `int16`; PostgreSQL `smallint`.
    Int16,
    /// MySQL `INT`; Connect `int32`; PostgreSQL `integer`.
    Int32,
    /// MySQL `BIGINT`; Connect `int64`; PostgreSQL `bigint`.
    Int64,
    /// MySQL `DOUBLE`; Connect `double`; PostgreSQL `double precision`.
    Float64,
    /// MySQL `BIT(1)`; Connect `boolean`; PostgreSQL `boolean`.
    Bool,
    /// MySQL `VARCHAR`; Connect `string`; PostgreSQL `varchar(256)`.
    Text,
    /// MySQL `VARBINARY`; Connect `bytes` (base64 in JSON); PostgreSQL `bytea`.
    Bytes,
    /// MySQL `DECIMAL(precision, scale)` (`decimal.handling.mode=precise`); Connect `bytes`
    /// with logical type `org.apache.kafka.connect.data.Decimal` (base64 of the unscaled
    /// value's minimal big-endian two's-complement bytes, schema parameters `scale` and
    /// `connect.decimal.precision`); PostgreSQL `numeric(precision,scale)`.
    ///
    /// `precision` must be in `1..=38` and `scale` in `0..=precision` (checked when a
    /// generator is built). [`ColumnKind::DECIMAL_18_4`] is the usual money column.
    Decimal {
        /// Total number of decimal digits.
        precision: u8,
        /// Digits after the decimal point.
        scale: u8,
    },
    /// MySQL `DATETIME(6)` (wall clock, no zone); Connect `int64` with logical type
    /// `io.debezium.time.MicroTimestamp` (microseconds since 1970-01-01 00:00:00 of the wall
    /// clock, negative before 1970); PostgreSQL `timestamp(6) without time zone`. Values span
    /// MySQL's range, 1000-01-01 to 9999-12-31 23:59:59.999999.
    MicroTimestamp,
    /// MySQL `TIMESTAMP(6)` (an instant); Connect `string` with logical type
    /// `io.debezium.time.ZonedTimestamp` (ISO-8601 in UTC with exactly six fraction digits,
    /// `2022-10-20T11:40:00.123456Z`, as Debezium >= 2.2 writes a `TIMESTAMP(6)`);
    /// PostgreSQL `timestamp(6) with time zone`. Values span MySQL's `TIMESTAMP` range,
    /// 1970-01-01 00:00:01 to 2038-01-19 03:14:07.999999 UTC.
    ZonedTimestamp,
    /// MySQL `DATE`; Connect `int32` with logical type `io.debezium.time.Date` (days since
    /// 1970-01-01, negative before); PostgreSQL `date`. Values span 1000-01-01 to 9999-12-31.
    Date,
}

impl ColumnKind {
    /// MySQL `DECIMAL(18,4)`, PostgreSQL `numeric(18,4)`.
    pub const DECIMAL_18_4: ColumnKind = ColumnKind::Decimal {
        precision: 18,
        scale: 4,
    };

    /// The Kafka Connect schema type name written in the `schema` part of an envelope.
    pub fn connect_type(self) -> &'static str {
        match self {
            ColumnKind::Int16 => "int16",
            ColumnKind::Int32 | ColumnKind::Date => "int32",
            ColumnKind::Int64 | ColumnKind::MicroTimestamp => "int64",
            ColumnKind::Float64 => "double",
            ColumnKind::Bool => "boolean",
            ColumnKind::Text | ColumnKind::ZonedTimestamp => "string",
            ColumnKind::Bytes | ColumnKind::Decimal { .. } => "bytes",
        }
    }

    /// The logical type (`name` of the field schema, always with `"version":1`), if any.
    pub fn connect_name(self) -> Option<&'static str> {
        match self {
            ColumnKind::Decimal { .. } => Some("org.apache.kafka.connect.data.Decimal"),
            ColumnKind::MicroTimestamp => Some("io.debezium.time.MicroTimestamp"),
            ColumnKind::ZonedTimestamp => Some("io.debezium.time.ZonedTimestamp"),
            ColumnKind::Date => Some("io.debezium.time.Date"),
            _ => None,
        }
    }

    /// The `parameters` of the field schema, in the order Debezium writes them (empty when
    /// the schema has none).
    pub fn connect_parameters(self) -> Vec<(&'static str, String)> {
        match self {
            ColumnKind::Decimal { precision, scale } => vec![
                ("scale", scale.to_string()),
                ("connect.decimal.precision", precision.to_string()),
            ],
            _ => Vec::new(),
        }
    }

    /// The PostgreSQL column type used by [`TableDef::create_table_sql`].
    pub fn pg_type(self) -> String {
        match self {
            ColumnKind::Int16 => "smallint".to_owned(),
            ColumnKind::Int32 => "integer".to_owned(),
            ColumnKind::Int64 => "bigint".to_owned(),
            ColumnKind::Float64 => "double precision".to_owned(),
            ColumnKind::Bool => "boolean".to_owned(),
            ColumnKind::Text => "varchar(256)".to_owned(),
            ColumnKind::Bytes => "bytea".to_owned(),
            ColumnKind::Decimal { precision, scale } => format!("numeric({precision},{scale})"),
            ColumnKind::MicroTimestamp => "timestamp(6) without time zone".to_owned(),
            ColumnKind::ZonedTimestamp => "timestamp(6) with time zone".to_owned(),
            ColumnKind::Date => "date".to_owned(),
        }
    }

    /// Whether the kind is well-formed (a decimal's precision in `1..=38`, its scale at most
    /// its precision).
    pub fn is_valid(self) -> bool {
        match self {
            ColumnKind::Decimal { precision, scale } => {
                (1..=MAX_DECIMAL_PRECISION).contains(&precision) && scale <= precision
            }
            _ => true,
        }
    }

    /// Whether PostgreSQL's text output of the kind depends on the session's `TimeZone` /
    /// `DateStyle` (the oracle assumes `TimeZone=UTC`, `DateStyle=ISO`).
    pub fn is_temporal(self) -> bool {
        matches!(
            self,
            ColumnKind::MicroTimestamp | ColumnKind::ZonedTimestamp | ColumnKind::Date
        )
    }
}

/// Largest supported decimal precision (unscaled values are held in an `i128`).
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// One source column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    /// Column name exactly as in MySQL (and therefore in Debezium's `before`/`after`).
    pub name: String,
    /// Column type; decides generated values, JSON rendering and oracle text.
    pub kind: ColumnKind,
    /// Whether the generator may produce NULL here. Key columns are never NULL whatever
    /// this says (they are declared non-optional in the schemas).
    pub nullable: bool,
}

impl ColumnDef {
    /// Convenience constructor.
    pub fn new(name: &str, kind: ColumnKind, nullable: bool) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            nullable,
        }
    }
}

/// A captured source table and the Debezium naming around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// Debezium logical server name (`topic.prefix`); first part of topic and schema names.
    pub server: String,
    /// MySQL database name; `source.db` and second part of the topic.
    pub db: String,
    /// MySQL table name; `source.table` and last part of the topic.
    pub table: String,
    /// Columns in table order (the order of fields in `before`/`after` and in oracle rows).
    pub columns: Vec<ColumnDef>,
    /// Primary key: indices into `columns`, in key order (the message key's field order).
    pub key: Vec<usize>,
}

impl TableDef {
    /// The Kafka topic Debezium writes this table's changes to: `<server>.<db>.<table>`.
    pub fn topic(&self) -> String {
        format!("{}.{}.{}", self.server, self.db, self.table)
    }

    /// Whether column `idx` is part of the primary key.
    pub fn is_key(&self, idx: usize) -> bool {
        self.key.contains(&idx)
    }

    /// DDL for a target table.
    ///
    /// `target` is `"schema.table"` (split at the first dot; without a dot it is a bare table
    /// name). Column names go through `renames` (source name -> target name; absent = same
    /// name). Every identifier is double-quoted with embedded quotes doubled. Key columns and
    /// non-nullable columns are `NOT NULL`; `PRIMARY KEY (...)` is added iff
    /// `with_primary_key` (a target without it mimics Redshift, which does not enforce keys).
    pub fn create_table_sql(
        &self,
        target: &str,
        renames: &BTreeMap<String, String>,
        with_primary_key: bool,
    ) -> String {
        let target_name = match target.split_once('.') {
            Some((schema, table)) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
            None => quote_ident(target),
        };
        let target_col = |c: &ColumnDef| -> String {
            quote_ident(renames.get(&c.name).map_or(c.name.as_str(), String::as_str))
        };
        let mut sql = format!("CREATE TABLE {target_name} (\n");
        let mut lines: Vec<String> = Vec::with_capacity(self.columns.len() + 1);
        for (idx, col) in self.columns.iter().enumerate() {
            let mut line = format!("    {} {}", target_col(col), col.kind.pg_type());
            if self.is_key(idx) || !col.nullable {
                line.push_str(" NOT NULL");
            }
            lines.push(line);
        }
        if with_primary_key {
            let keys: Vec<String> = self
                .key
                .iter()
                .map(|&k| target_col(&self.columns[k]))
                .collect();
            lines.push(format!("    PRIMARY KEY ({})", keys.join(", ")));
        }
        sql.push_str(&lines.join(",\n"));
        let _ = write!(sql, "\n)");
        sql
    }

    /// The reference post's `salesdb.CUSTOMER` (topic `salesdb.salesdb.CUSTOMER`):
    /// `CUST_ID` int32 key, `NAME` text, `MKTSEGMENT` nullable text.
    pub fn salesdb_customer() -> Self {
        Self::salesdb(
            "CUSTOMER",
            vec![
                ColumnDef::new("CUST_ID", ColumnKind::Int32, false),
                ColumnDef::new("NAME", ColumnKind::Text, false),
                ColumnDef::new("MKTSEGMENT", ColumnKind::Text, true),
            ],
            vec![0],
        )
    }

    /// `salesdb.ORDERS`: one column of every kind, `ORDER_ID` int64 key.
    pub fn salesdb_orders() -> Self {
        Self::salesdb(
            "ORDERS",
            vec![
                ColumnDef::new("ORDER_ID", ColumnKind::Int64, false),
                ColumnDef::new("CUST_ID", ColumnKind::Int32, false),
                ColumnDef::new("AMOUNT", ColumnKind::Float64, false),
                ColumnDef::new("PAID", ColumnKind::Bool, false),
                ColumnDef::new("NOTE", ColumnKind::Text, true),
                ColumnDef::new("PAYLOAD", ColumnKind::Bytes, true),
                ColumnDef::new("QTY", ColumnKind::Int16, false),
            ],
            vec![0],
        )
    }

    /// `salesdb.ORDER_LINE`: composite key (`ORDER_ID` int64, `LINE_NO` int16).
    pub fn salesdb_order_line() -> Self {
        Self::salesdb(
            "ORDER_LINE",
            vec![
                ColumnDef::new("ORDER_ID", ColumnKind::Int64, false),
                ColumnDef::new("LINE_NO", ColumnKind::Int16, false),
                ColumnDef::new("SKU", ColumnKind::Text, false),
                ColumnDef::new("PRICE", ColumnKind::Float64, true),
            ],
            vec![0, 1],
        )
    }

    /// `salesdb.CUSTOMER` with typed columns: the reference columns plus `BALANCE`
    /// `DECIMAL(18,4)`, `CREATED_AT` `DATETIME(6)`, `UPDATED_AT` `TIMESTAMP(6)` and a nullable
    /// `BIRTHDAY` `DATE` (same topic as [`TableDef::salesdb_customer`], so use one or the other).
    pub fn salesdb_customer_typed() -> Self {
        Self::salesdb(
            "CUSTOMER",
            vec![
                ColumnDef::new("CUST_ID", ColumnKind::Int32, false),
                ColumnDef::new("NAME", ColumnKind::Text, false),
                ColumnDef::new("MKTSEGMENT", ColumnKind::Text, true),
                ColumnDef::new("BALANCE", ColumnKind::DECIMAL_18_4, false),
                ColumnDef::new("CREATED_AT", ColumnKind::MicroTimestamp, false),
                ColumnDef::new("UPDATED_AT", ColumnKind::ZonedTimestamp, false),
                ColumnDef::new("BIRTHDAY", ColumnKind::Date, true),
            ],
            vec![0],
        )
    }

    /// The three salesdb tables above, in that order.
    pub fn salesdb_all() -> Vec<Self> {
        vec![
            Self::salesdb_customer(),
            Self::salesdb_orders(),
            Self::salesdb_order_line(),
        ]
    }

    fn salesdb(table: &str, columns: Vec<ColumnDef>, key: Vec<usize>) -> Self {
        Self {
            server: "salesdb".to_owned(),
            db: "salesdb".to_owned(),
            table: table.to_owned(),
            columns,
            key,
        }
    }
}

/// Double-quotes a PostgreSQL identifier, doubling embedded double quotes.
pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_quotes_identifiers_and_adds_primary_key_only_when_asked() {
        let t = TableDef::salesdb_order_line();
        let mut renames = BTreeMap::new();
        renames.insert("SKU".to_owned(), "sku \"code\"".to_owned());
        let with = t.create_table_sql("my\"schema.order_line", &renames, true);
        assert!(with.starts_with("CREATE TABLE \"my\"\"schema\".\"order_line\" ("));
        assert!(with.contains("\"ORDER_ID\" bigint NOT NULL"));
        assert!(with.contains("\"LINE_NO\" smallint NOT NULL"));
        assert!(with.contains("\"sku \"\"code\"\"\" varchar(256) NOT NULL"));
        assert!(with.contains("\"PRICE\" double precision,"));
        assert!(with.contains("PRIMARY KEY (\"ORDER_ID\", \"LINE_NO\")"));
        assert!(!with.contains("\"SKU\""));
        let without = t.create_table_sql("order_line", &BTreeMap::new(), false);
        assert!(without.starts_with("CREATE TABLE \"order_line\" ("));
        assert!(!without.contains("PRIMARY KEY"));
        assert!(without.contains("\"PRICE\" double precision\n)"));
    }

    #[test]
    fn ddl_maps_every_kind() {
        let sql = TableDef::salesdb_orders().create_table_sql("public.o", &BTreeMap::new(), true);
        for ty in [
            "bigint",
            "integer",
            "double precision",
            "boolean",
            "varchar(256)",
            "bytea",
            "smallint",
        ] {
            assert!(sql.contains(ty), "{ty} missing from {sql}");
        }
        assert!(sql.contains("\"NOTE\" varchar(256),"));
        assert!(sql.contains("\"PAYLOAD\" bytea,"));
    }

    #[test]
    fn ddl_maps_typed_kinds() {
        let sql = TableDef::salesdb_customer_typed().create_table_sql(
            "public.c",
            &BTreeMap::new(),
            false,
        );
        assert!(sql.contains("\"BALANCE\" numeric(18,4) NOT NULL,"), "{sql}");
        assert!(
            sql.contains("\"CREATED_AT\" timestamp(6) without time zone NOT NULL,"),
            "{sql}"
        );
        assert!(
            sql.contains("\"UPDATED_AT\" timestamp(6) with time zone NOT NULL,"),
            "{sql}"
        );
        assert!(sql.contains("\"BIRTHDAY\" date\n)"), "{sql}");
        assert!(ColumnKind::DECIMAL_18_4.is_valid());
        assert!(!ColumnKind::Decimal {
            precision: 4,
            scale: 5
        }
        .is_valid());
        assert!(!ColumnKind::Decimal {
            precision: 39,
            scale: 0
        }
        .is_valid());
    }

    #[test]
    fn topics_follow_debezium_naming() {
        assert_eq!(
            TableDef::salesdb_customer().topic(),
            "salesdb.salesdb.CUSTOMER"
        );
    }
}
