//! [`TableDecoder`]: Kafka record → keyed row changes for one target table.

use std::sync::Arc;

use tidemark_model::{
    Capacity, Change, Key, LayoutCell, LayoutError, RecordCoord, RowOp, TableLayout, TargetColumn,
    Value,
};

use crate::key::{parse_message_key, KeyConvs, KeyField, KeyReading};
use crate::wire::{parse_images, Control, Parsed, Scratch};
use crate::{DecodeError, DecodeOptions, Op};

/// Where a table's key columns come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Key columns are the fields of the Kafka message key (Debezium's key struct).
    MessageKey,
    /// Key columns are these source field names, read from the row images.
    Fields(Vec<String>),
}

/// What one record was, besides the changes it appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// Row changes (none for a tombstone), appended to `out`.
    Rows {
        /// The event's `source.ts_ms` (when the change was made in the source database), if
        /// it has one.
        source_ts_ms: Option<i64>,
    },
    /// `op = "t"`: the source table was truncated at this record.
    Truncate,
    /// `op = "m"`: a logical decoding message, not a row.
    Message,
    /// A heartbeat, schema change or transaction metadata record: never a row.
    Control(Control),
}

/// Decodes the Debezium records of one table into [`Change`]s. One per (owner, table): it
/// holds the table's shared layout cell (whose layout owns the table's key decision, shared by
/// every decoder of the table, and which a new schema may evolve), the layout version it
/// decodes into, and reusable buffers.
#[derive(Debug)]
pub struct TableDecoder {
    cell: Arc<LayoutCell>,
    /// The cell's layout when this decoder last looked; rows are decoded into it.
    layout: Arc<TableLayout>,
    /// Configured key fields not resolved yet: the table is still to be created.
    configured_key: Option<Vec<String>>,
    from_message_key: bool,
    /// For each layout column, its position in the key, if it is a key column; built from the
    /// layout's key once it is decided.
    key_pos: Option<Vec<Option<usize>>>,
    scratch: Scratch,
    /// How message key fields are read (the key schema, cached).
    key_convs: KeyConvs,
}

impl TableDecoder {
    /// A decoder for `layout`, reading values the records do not describe with `options`.
    /// `KeySource::Fields` decide the table's key at once (the first decoder built for the
    /// table, at start); with `KeySource::MessageKey` the first message key decoded by any
    /// decoder of the layout decides it.
    pub fn new(
        cell: Arc<LayoutCell>,
        key: KeySource,
        options: DecodeOptions,
    ) -> Result<Self, DecodeError> {
        let layout = cell.current();
        let mut decoder = Self {
            key_pos: None,
            scratch: Scratch::new(&layout, options, cell.clone()),
            key_convs: KeyConvs::default(),
            from_message_key: matches!(key, KeySource::MessageKey),
            configured_key: None,
            layout,
            cell,
        };
        if let KeySource::Fields(fields) = key {
            if decoder.layout.is_pending() {
                // Resolved once the first schema has made the table's columns.
                decoder.configured_key = Some(fields);
            } else {
                decoder.decide_configured_key(fields)?;
            }
        }
        Ok(decoder)
    }

    /// Takes the cell's current layout (another decoder, or this one, evolved it).
    fn refresh(&mut self) -> Result<(), DecodeError> {
        self.layout = self.cell.current();
        let accepted = std::mem::take(&mut self.scratch.accepted_fields);
        self.scratch = Scratch::new(&self.layout, self.scratch.options, self.cell.clone());
        self.scratch.accepted_fields = accepted;
        self.key_convs = KeyConvs::default();
        self.key_pos = None;
        if let Some(key) = self.layout.key() {
            self.key_pos = Some(key_positions(&self.layout, key));
        }
        if !self.layout.is_pending() {
            if let Some(fields) = self.configured_key.take() {
                self.decide_configured_key(fields)?;
            }
        }
        Ok(())
    }

    /// Resolves the configured key fields and decides the table's key with them.
    fn decide_configured_key(&mut self, fields: Vec<String>) -> Result<(), DecodeError> {
        {
            let decoder = &mut *self;
            let table = &decoder.layout.table;
            if fields.is_empty() {
                return Err(DecodeError::InvalidKeyConfig {
                    table: table.clone(),
                    reason: "no key fields are configured".to_string(),
                });
            }
            let cols = decoder.layout.key_columns(&fields).map_err(|e| match e {
                LayoutError::UnknownKeyField { table, field } => {
                    DecodeError::UnknownConfiguredKeyField { field, table }
                }
                other => DecodeError::InvalidKeyConfig {
                    table: table.clone(),
                    reason: other.to_string(),
                },
            })?;
            if let Some(col) = repeated(&cols) {
                return Err(DecodeError::InvalidKeyConfig {
                    table: table.clone(),
                    reason: format!(
                        "key field {:?} is configured twice",
                        decoder.field_name(col)
                    ),
                });
            }
            let decided = decoder.layout.decide_key(cols.clone()).to_vec();
            decoder.check_decided(&decided, &cols, &fields)?;
        }
        Ok(())
    }

    /// Fails unless `decided` (the layout's key) is `mine` (resolved from `fields`).
    fn check_decided<S: AsRef<str>>(
        &mut self,
        decided: &[usize],
        mine: &[usize],
        fields: &[S],
    ) -> Result<(), DecodeError> {
        let mut mine = mine.to_vec();
        mine.sort_unstable();
        if decided != mine {
            return Err(DecodeError::KeyFieldsChanged {
                expected: decided
                    .iter()
                    .map(|&c| self.field_name(c).to_string())
                    .collect(),
                found: fields.iter().map(|f| f.as_ref().to_string()).collect(),
            });
        }
        if self.key_pos.is_none() {
            self.key_pos = Some(key_positions(&self.layout, decided));
        }
        Ok(())
    }

    /// The table layout rows are decoded into.
    pub fn layout(&self) -> &Arc<TableLayout> {
        &self.layout
    }

    /// The table's key columns (indices into `layout.columns`, ascending) once decided — by
    /// this decoder or by any other decoder of the same layout (see [`TableLayout`]). Every
    /// later message key must have the same field set (else [`DecodeError::KeyFieldsChanged`]).
    pub fn key_columns(&self) -> Option<&[usize]> {
        self.layout.key()
    }

    /// Appends the changes one record produces to `out`: none for a tombstone, one for
    /// c/r/u/d, two (Delete(old key) then Upsert(new key)) for an update whose before and
    /// after images have different key values. A truncate or a logical decoding message
    /// appends nothing and says so (they carry no key). On error nothing is appended.
    pub fn decode(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        coord: RecordCoord,
        out: &mut Vec<Change>,
    ) -> Result<Decoded, DecodeError> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(Decoded::Rows { source_ts_ms: None });
        };
        if self.cell.version() != self.layout.version {
            self.refresh()?;
        }
        self.scratch.partition = coord.partition;
        // A record whose schema evolves the layout is read again under the new layout (twice
        // at most: another decoder may evolve it in between).
        let mut attempts = 0;
        let parsed = loop {
            match parse_images(value, &self.layout, &mut self.scratch) {
                Err(_) if self.scratch.relayout && attempts < 2 => {
                    attempts += 1;
                    self.refresh()?;
                }
                parsed => break parsed?,
            }
        };
        let images = match parsed {
            Parsed::Event(images) => images,
            Parsed::Tombstone => return Ok(Decoded::Rows { source_ts_ms: None }),
            Parsed::Control(control) => return Ok(Decoded::Control(control)),
        };
        if self.layout.is_pending() {
            return Err(DecodeError::NoSchemaToCreate {
                table: self.layout.table.clone(),
            });
        }
        match images.op {
            Op::Truncate => return Ok(Decoded::Truncate),
            Op::Message => return Ok(Decoded::Message),
            Op::Create | Op::Read | Op::Update | Op::Delete => {}
        }
        let message_key = if self.from_message_key {
            let reading = KeyReading {
                layout: &self.layout,
                schemaless: &self.scratch.schemaless,
                options: &self.scratch.options,
                convs: &mut self.key_convs,
            };
            let fields =
                parse_message_key(key, reading)?.ok_or_else(|| DecodeError::MissingKey {
                    reason: "the record has no message key, and the table's key columns come from \
                         the message key"
                        .to_string(),
                })?;
            Some(self.message_key_values(fields)?)
        } else {
            None
        };
        let Some(key_cols) = self.layout.key() else {
            // Unreachable: Fields mode decides in `new`, MessageKey mode just above.
            return Err(DecodeError::MissingKey {
                reason: "the key columns are not resolved".to_string(),
            });
        };
        let keys = KeyReader {
            layout: &self.layout,
            key_cols,
            scratch: &self.scratch,
        };
        match images.op {
            Op::Create | Op::Read | Op::Update => {
                let after = images.after.ok_or(DecodeError::MissingImage {
                    op: images.op,
                    image: "after",
                })?;
                let new_key = keys.new_key(&after, message_key.as_deref())?;
                // Before anything is appended: on error nothing is.
                self.check_capacity(&after)?;
                if images.op == Op::Update {
                    if let Some(before) = &images.before {
                        if let Some(old_key) = keys.old_key(before)? {
                            if old_key != new_key {
                                out.push(Change {
                                    key: old_key,
                                    op: RowOp::Delete,
                                    coord,
                                });
                            }
                        }
                    }
                }
                out.push(Change {
                    key: new_key,
                    op: RowOp::Upsert(after),
                    coord,
                });
            }
            Op::Truncate | Op::Message => {}
            Op::Delete => {
                let key = match message_key {
                    Some(values) => Key(values),
                    // No before image (e.g. a PostgreSQL table without REPLICA IDENTITY FULL or
                    // a key): the configured key fields may be in the message key.
                    None if images.before.is_none() => {
                        match key_from_message(key, &keys, &mut self.key_convs)? {
                            Some(key) => key,
                            None => keys.delete_key_from_before(None)?,
                        }
                    }
                    None => keys.delete_key_from_before(images.before.as_deref())?,
                };
                self.check_key_capacity(&key.0)?;
                out.push(Change {
                    key,
                    op: RowOp::Delete,
                    coord,
                });
            }
        }
        Ok(Decoded::Rows {
            source_ts_ms: images.source_ts_ms,
        })
    }

    /// Fails if a value of a row does not fit its column in the warehouse.
    fn check_capacity(&self, row: &[Value]) -> Result<(), DecodeError> {
        let capacity = self.scratch.options.capacity;
        if capacity == Capacity::Postgres {
            return Ok(());
        }
        for (column, value) in self.layout.columns.iter().zip(row) {
            fits(capacity, column, value)?;
        }
        Ok(())
    }

    /// Fails if a key value of a delete does not fit its column in the warehouse.
    fn check_key_capacity(&self, key: &[Value]) -> Result<(), DecodeError> {
        let capacity = self.scratch.options.capacity;
        if capacity == Capacity::Postgres {
            return Ok(());
        }
        let Some(key_cols) = self.layout.key() else {
            return Ok(());
        };
        for (&i, value) in key_cols.iter().zip(key) {
            if let Some(column) = self.layout.columns.get(i) {
                fits(capacity, column, value)?;
            }
        }
        Ok(())
    }

    fn field_name(&self, col: usize) -> &str {
        self.layout
            .columns
            .get(col)
            .map_or("?", |c| c.source_field.as_str())
    }

    /// The message key's values in key column order; resolves the key columns on first use.
    fn message_key_values(&mut self, fields: Vec<KeyField<'_>>) -> Result<Vec<Value>, DecodeError> {
        if fields.is_empty() {
            return Err(DecodeError::MissingKey {
                reason: "the message key has no fields".to_string(),
            });
        }
        if self.key_pos.is_none() {
            // This decoder's first key: resolve its fields, decide the table's key if no other
            // decoder has, and check it against the decision.
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_ref()).collect();
            let cols = self.layout.key_columns(&names).map_err(|e| match e {
                LayoutError::UnknownKeyField { table, field } => {
                    DecodeError::UnknownKeyField { field, table }
                }
                other => DecodeError::InvalidJson {
                    part: "key",
                    reason: other.to_string(),
                },
            })?;
            // Distinct names map to distinct columns, and the key parser rejects repeats.
            if let Some(col) = repeated(&cols) {
                return Err(DecodeError::InvalidJson {
                    part: "key",
                    reason: format!(
                        "field {:?} appears twice in the message key",
                        self.field_name(col)
                    ),
                });
            }
            let decided = self.layout.clone();
            let decided = decided.decide_key(cols.clone());
            self.check_decided(decided, &cols, &names)?;
        }
        let key_cols = self.layout.key().unwrap_or_default();
        let key_pos = self.key_pos.as_deref().unwrap_or_default();
        let mut values: Vec<Option<Value>> = vec![None; key_cols.len()];
        let mut complete = fields.len() == key_cols.len();
        for f in &fields {
            let slot = self
                .layout
                .column_for_field(&f.name)
                .and_then(|col| key_pos.get(col).copied().flatten())
                .and_then(|pos| values.get_mut(pos));
            match slot {
                Some(slot @ None) => *slot = Some(f.value.clone()),
                _ => complete = false,
            }
        }
        if !complete || values.iter().any(Option::is_none) {
            return Err(DecodeError::KeyFieldsChanged {
                expected: key_cols
                    .iter()
                    .map(|&c| self.field_name(c).to_string())
                    .collect(),
                found: fields.iter().map(|f| f.name.to_string()).collect(),
            });
        }
        let values: Vec<Value> = values.into_iter().flatten().collect();
        for (value, &col) in values.iter().zip(key_cols) {
            if value.is_null() {
                return Err(DecodeError::NullKeyValue {
                    field: self.field_name(col).to_string(),
                    from: "message key",
                });
            }
        }
        Ok(values)
    }
}

/// Reads key values out of decoded row images.
struct KeyReader<'a> {
    layout: &'a TableLayout,
    key_cols: &'a [usize],
    scratch: &'a Scratch,
}

impl KeyReader<'_> {
    fn field(&self, col: usize) -> String {
        self.layout
            .columns
            .get(col)
            .map_or_else(|| "?".to_string(), |c| c.source_field.clone())
    }

    /// The key of the `after` image; a field it lacks comes from the message key if any.
    fn new_key(&self, after: &[Value], message_key: Option<&[Value]>) -> Result<Key, DecodeError> {
        let mut values = Vec::with_capacity(self.key_cols.len());
        for (pos, &col) in self.key_cols.iter().enumerate() {
            let seen = self.scratch.after_seen.get(col).copied().unwrap_or(false);
            let value = match (seen, after.get(col), message_key.and_then(|k| k.get(pos))) {
                (true, Some(v), _) => {
                    if v.is_null() {
                        return Err(DecodeError::NullKeyValue {
                            field: self.field(col),
                            from: "after image",
                        });
                    }
                    v.clone()
                }
                (_, _, Some(v)) => v.clone(),
                _ => {
                    return Err(DecodeError::MissingKey {
                        reason: format!(
                            "key field {:?} is missing from the \"after\" row image",
                            self.field(col)
                        ),
                    })
                }
            };
            values.push(value);
        }
        Ok(Key(values))
    }

    /// The key of the `before` image, or `None` if it lacks a key field.
    fn old_key(&self, before: &[Value]) -> Result<Option<Key>, DecodeError> {
        let mut values = Vec::with_capacity(self.key_cols.len());
        for &col in self.key_cols {
            let seen = self.scratch.before_seen.get(col).copied().unwrap_or(false);
            match before.get(col) {
                Some(v) if seen => {
                    if v.is_null() {
                        return Err(DecodeError::NullKeyValue {
                            field: self.field(col),
                            from: "before image",
                        });
                    }
                    values.push(v.clone());
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(Key(values)))
    }

    /// The key of a delete in Fields mode: from the `before` image, which must have it.
    fn delete_key_from_before(&self, before: Option<&[Value]>) -> Result<Key, DecodeError> {
        let fields = || {
            self.key_cols
                .iter()
                .map(|&c| format!("{:?}", self.field(c)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(before) = before else {
            return Err(DecodeError::MissingKey {
                reason: format!(
                    "the delete event has no \"before\" row image to read the key fields [{}] \
                     from",
                    fields()
                ),
            });
        };
        self.old_key(before)?
            .ok_or_else(|| DecodeError::MissingKey {
                reason: format!(
                    "the delete event's \"before\" row image lacks some of the key fields [{}] \
                 (is the source table's replica identity / binlog row image too small?)",
                    fields()
                ),
            })
    }
}

/// The configured key's values read from the message key's fields of the same names, when the
/// message key has all of them, non-null.
fn key_from_message(
    key: Option<&[u8]>,
    keys: &KeyReader<'_>,
    convs: &mut KeyConvs,
) -> Result<Option<Key>, DecodeError> {
    let reading = KeyReading {
        layout: keys.layout,
        schemaless: &keys.scratch.schemaless,
        options: &keys.scratch.options,
        convs,
    };
    let Some(fields) = parse_message_key(key, reading)? else {
        return Ok(None);
    };
    let mut values = Vec::with_capacity(keys.key_cols.len());
    for &col in keys.key_cols {
        let name = keys.field(col);
        match fields.iter().find(|f| f.name == name.as_str()) {
            Some(f) if !f.value.is_null() => values.push(f.value.clone()),
            _ => return Ok(None),
        }
    }
    Ok(Some(Key(values)))
}

/// For each layout column, its position in the key `decided`, if it is a key column.
fn key_positions(layout: &TableLayout, decided: &[usize]) -> Vec<Option<usize>> {
    let mut pos = vec![None; layout.columns.len()];
    for (i, &col) in decided.iter().enumerate() {
        if let Some(slot) = pos.get_mut(col) {
            *slot = Some(i);
        }
    }
    pos
}

/// A column that appears twice in `cols`, if any.
fn repeated(cols: &[usize]) -> Option<usize> {
    let mut sorted = cols.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).find_map(|w| match w {
        [a, b] if a == b => Some(*a),
        _ => None,
    })
}

/// `value` fits `column` in the warehouse, or the error naming the column.
fn fits(capacity: Capacity, column: &TargetColumn, value: &Value) -> Result<(), DecodeError> {
    capacity
        .check(column, value)
        .map_err(|reason| DecodeError::DoesNotFit {
            column: column.name.clone(),
            reason,
        })
}
