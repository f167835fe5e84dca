//! Tables that follow their source's schema: `auto_create` makes the target from the first
//! record's schema, `auto_evolve` adds the columns of new source fields and widens columns
//! whose source type grew. A layout only ever grows (columns appended, types widened), so a
//! row decoded under an earlier version is still valid under a later one: its missing trailing
//! columns are NULL, as `ALTER TABLE … ADD COLUMN` makes them for the rows already there.
//!
//! [`LayoutCell`] holds a table's current layout for every owner decoding the table and for
//! its merger. Decoders propose changes when a record's schema differs from the layout; the
//! merger makes the target match the layout in the transaction of the first batch that needs
//! it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::layout::{ColumnType, TableLayout, TargetColumn};

/// Which source fields of a table are written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FieldFilter {
    /// Every field the target has a column for.
    #[default]
    All,
    /// Only these.
    Only(Vec<String>),
    /// All but these.
    Except(Vec<String>),
}

impl FieldFilter {
    /// Whether the source field is written.
    pub fn admits(&self, field: &str) -> bool {
        match self {
            FieldFilter::All => true,
            FieldFilter::Only(fields) => fields.iter().any(|f| f == field),
            FieldFilter::Except(fields) => !fields.iter().any(|f| f == field),
        }
    }
}

/// The configured rules that say which column a source field feeds: renames (source field →
/// target column), columns tidemark leaves alone, and the field filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnRules {
    pub renames: BTreeMap<String, String>,
    pub unmanaged: Vec<String>,
    pub fields: FieldFilter,
}

impl ColumnRules {
    /// The column a source field the layout does not have yet would become, or `None` if the
    /// field is filtered out or its column is left alone.
    pub fn column_for_new_field(&self, field: &str) -> Option<String> {
        if !self.fields.admits(field) {
            return None;
        }
        let column = self.renames.get(field).map_or(field, String::as_str);
        (!self.unmanaged.iter().any(|u| u == column)).then(|| column.to_string())
    }
}

/// Whether a table follows its source's schema (`auto_create`, `auto_evolve`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evolution {
    /// Create the target from the first record's schema when it does not exist.
    pub auto_create: bool,
    /// Add columns for new source fields and widen columns whose source type grew; stop on
    /// (or dead-letter) any other change.
    pub auto_evolve: bool,
}

/// One change of a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnChange {
    /// A new column, appended.
    Add(TargetColumn),
    /// The column at this index now has this (wider) type.
    Retype {
        column: usize,
        ty: ColumnType,
        sql_type: String,
    },
}

/// Whether a column can take the values of a source field of another type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// As it is (the same type, a wider one, or one the warehouse casts text into).
    Fits,
    /// Only once widened to this type, which holds every value of both.
    Widen { ty: ColumnType, sql_type: String },
    /// Not without losing or changing values: a human decides.
    Unsafe,
}

/// Whether `column` takes the values of `incoming` (a source field's type, as tidemark would
/// create it). Only what the source states widens a column: a length or precision the schema
/// does not give never changes one. A string field fits any column but a number or boolean
/// one (the warehouse casts it, and refuses a bad value with an error naming its record).
pub fn fit(column: &TargetColumn, incoming: &TargetColumn) -> Fit {
    use ColumnType::*;
    use Fit::{Fits, Unsafe};
    let widen = || Fit::Widen {
        ty: incoming.ty,
        sql_type: incoming.sql_type.clone(),
    };
    let rank = |ty| match ty {
        Int16 => Some(1),
        Int32 => Some(2),
        Int64 => Some(3),
        _ => None,
    };
    match (column.ty, incoming.ty) {
        (Text, Text) => {
            let (have, want) = (column.type_modifiers(), incoming.type_modifiers());
            match (have.first(), want.first()) {
                (Some(n), Some(m)) if m > n && same_text_kind(column, incoming) => widen(),
                _ => Fits,
            }
        }
        (Numeric, Numeric) => fit_numeric(column, incoming),
        (a, b) if a == b => Fits,
        (a, b) if rank(a).is_some() && rank(b).is_some() => {
            if rank(b) > rank(a) {
                widen()
            } else {
                Fits
            }
        }
        (Float32, Float64) => widen(),
        (Float64, Float32) => Fits,
        (Float32 | Float64 | Numeric, Int16 | Int32 | Int64) => Fits,
        // MySQL TINYINT(1) and BIT(1) as booleans.
        (Bool, Int16 | Bits) | (Bits, Bool) => Fits,
        (Timestamp | TimestampTz, Date | Timestamp | TimestampTz) => Fits,
        (Time | TimeTz, Time | TimeTz) => Fits,
        (Interval, Int64) => Fits,
        (Json | Jsonb, Json | Jsonb) => Fits,
        // A string where the column is a number or a boolean is not read (a decode error per
        // record): the source's type changed.
        (Bool | Int16 | Int32 | Int64 | Float32 | Float64, Text) => Unsafe,
        // The warehouse casts text: an ISO string into a timestamp, an enum's label, …
        (_, Text | Other) | (Text | Other, _) => Fits,
        _ => Unsafe,
    }
}

/// `varchar(n)` widens to `varchar(m)`, `char(n)` to `char(m)`; nothing else among text types.
fn same_text_kind(a: &TargetColumn, b: &TargetColumn) -> bool {
    let kind = |c: &TargetColumn| {
        c.sql_type
            .split('(')
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    };
    kind(a) == kind(b)
}

/// `numeric(p,s)` holds `numeric(p2,s2)` when it has as many integer and fraction digits;
/// otherwise the union of both, if the source states its precision.
fn fit_numeric(column: &TargetColumn, incoming: &TargetColumn) -> Fit {
    let (have, want) = (column.type_modifiers(), incoming.type_modifiers());
    let (Some(&p), Some(&p2)) = (have.first(), want.first()) else {
        // An unbounded column holds everything; an unbounded source states nothing.
        return Fit::Fits;
    };
    let s = have.get(1).copied().unwrap_or(0);
    let s2 = want.get(1).copied().unwrap_or(0);
    let (int, int2) = (p.saturating_sub(s), p2.saturating_sub(s2));
    if int >= int2 && s >= s2 {
        return Fit::Fits;
    }
    let scale = s.max(s2);
    let precision = int.max(int2) + scale;
    if precision > crate::MAX_NUMERIC_PRECISION {
        return Fit::Unsafe;
    }
    Fit::Widen {
        ty: ColumnType::Numeric,
        sql_type: format!("numeric({precision},{scale})"),
    }
}

/// A table's current layout, shared by every owner decoding the table and by its merger; see
/// the module docs.
#[derive(Debug)]
pub struct LayoutCell {
    current: RwLock<Arc<TableLayout>>,
    /// The current layout's version, read on every record without the lock.
    version: AtomicU64,
    pub evolution: Evolution,
    pub rules: ColumnRules,
}

impl LayoutCell {
    pub fn new(layout: TableLayout, evolution: Evolution, rules: ColumnRules) -> Self {
        Self {
            version: AtomicU64::new(layout.version),
            current: RwLock::new(Arc::new(layout)),
            evolution,
            rules,
        }
    }

    /// A layout that never changes (no `auto_create`, no `auto_evolve`).
    pub fn fixed(layout: TableLayout) -> Self {
        Self::new(layout, Evolution::default(), ColumnRules::default())
    }

    /// The current layout.
    pub fn current(&self) -> Arc<TableLayout> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The current layout's version (cheap: for checking whether a held layout is current).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Applies the changes `plan` finds for the current layout, under the cell's lock (so two
    /// decoders that see the same new field add it once), and returns the layout then current.
    pub fn evolve<E>(
        &self,
        plan: impl FnOnce(&TableLayout) -> Result<Vec<ColumnChange>, E>,
    ) -> Result<Arc<TableLayout>, E> {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let changes = plan(&current)?;
        if !changes.is_empty() {
            let next = Arc::new(current.with_changes(&changes));
            self.version.store(next.version, Ordering::Release);
            *current = next;
        }
        Ok(current.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TableName;

    fn col(ty: ColumnType, sql_type: &str) -> TargetColumn {
        TargetColumn {
            name: "c".into(),
            source_field: "c".into(),
            ty,
            sql_type: sql_type.into(),
        }
    }

    #[test]
    fn widenings_are_only_what_the_source_states() {
        use ColumnType::*;
        let cases = [
            (col(Int32, "integer"), col(Int64, "bigint"), "bigint"),
            (col(Int16, "smallint"), col(Int32, "integer"), "integer"),
            (
                col(Float32, "real"),
                col(Float64, "double precision"),
                "double precision",
            ),
            (
                col(Text, "character varying(10)"),
                col(Text, "character varying(20)"),
                "character varying(20)",
            ),
            (
                col(Numeric, "numeric(10,2)"),
                col(Numeric, "numeric(12,2)"),
                "numeric(12,2)",
            ),
            (
                col(Numeric, "numeric(10,2)"),
                col(Numeric, "numeric(10,3)"),
                "numeric(11,3)",
            ),
        ];
        for (have, want, widened) in cases {
            match fit(&have, &want) {
                Fit::Widen { sql_type, .. } => assert_eq!(sql_type, widened, "{have:?}"),
                other => panic!("{have:?} ← {want:?}: {other:?}"),
            }
        }
        let fits = [
            (col(Int64, "bigint"), col(Int32, "integer")),
            (
                col(Text, "character varying(20)"),
                col(Text, "character varying(10)"),
            ),
            (col(Text, "character varying(20)"), col(Text, "text")),
            (col(Numeric, "numeric"), col(Numeric, "numeric(50,4)")),
            (col(Numeric, "numeric(12,2)"), col(Numeric, "numeric(10,2)")),
            (col(Bool, "boolean"), col(Int16, "smallint")),
            (
                col(TimestampTz, "timestamp with time zone"),
                col(Timestamp, "timestamp"),
            ),
            (col(Other, "mood"), col(Text, "text")),
            (col(Timestamp, "timestamp"), col(Text, "text")),
        ];
        for (have, want) in fits {
            assert_eq!(fit(&have, &want), Fit::Fits, "{have:?} ← {want:?}");
        }
        let unsafe_ = [
            (col(Int32, "integer"), col(Numeric, "numeric(10,2)")),
            (col(Date, "date"), col(Timestamp, "timestamp")),
            (col(Uuid, "uuid"), col(Int64, "bigint")),
            (col(Int64, "bigint"), col(Bool, "boolean")),
            (
                col(Numeric, "numeric(1000,0)"),
                col(Numeric, "numeric(10,5)"),
            ),
            (col(Int64, "bigint"), col(Text, "text")),
        ];
        for (have, want) in unsafe_ {
            assert_eq!(fit(&have, &want), Fit::Unsafe, "{have:?} ← {want:?}");
        }
    }

    #[test]
    fn new_fields_follow_renames_filters_and_unmanaged_columns() {
        let rules = ColumnRules {
            renames: BTreeMap::from([("A".to_string(), "a_col".to_string())]),
            unmanaged: vec!["left_alone".into()],
            fields: FieldFilter::Except(vec!["secret".into()]),
        };
        assert_eq!(rules.column_for_new_field("A").as_deref(), Some("a_col"));
        assert_eq!(rules.column_for_new_field("b").as_deref(), Some("b"));
        assert_eq!(rules.column_for_new_field("secret"), None);
        assert_eq!(rules.column_for_new_field("left_alone"), None);
    }

    #[test]
    fn evolving_appends_columns_once_and_keeps_the_key_decision() {
        let table = TableName::parse("s.t").unwrap_or_else(|| unreachable!());
        let cell = LayoutCell::fixed(TableLayout::pending(table));
        assert!(cell.current().is_pending());
        let add = |name: &str| {
            ColumnChange::Add(TargetColumn {
                name: name.into(),
                source_field: name.into(),
                ty: ColumnType::Int64,
                sql_type: "bigint".into(),
            })
        };
        let plan = |l: &TableLayout| -> Result<Vec<ColumnChange>, ()> {
            Ok(if l.column_for_field("id").is_none() {
                vec![add("id")]
            } else {
                vec![]
            })
        };
        let v1 = cell.evolve(plan).unwrap_or_else(|()| unreachable!());
        assert_eq!((v1.version, cell.version(), v1.columns.len()), (1, 1, 1));
        v1.decide_key(vec![0]);
        // A second decoder seeing the same field adds nothing.
        let again = cell.evolve(plan).unwrap_or_else(|()| unreachable!());
        assert_eq!(again.version, 1);
        let v2 = cell
            .evolve(|_| Ok::<_, ()>(vec![add("qty")]))
            .unwrap_or_else(|()| unreachable!());
        assert_eq!(v2.version, 2);
        assert_eq!(v2.column_for_field("qty"), Some(1));
        assert_eq!(
            v2.key(),
            Some(&[0][..]),
            "the key decision is shared by versions"
        );
    }
}
