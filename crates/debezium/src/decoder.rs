//! [`TableDecoder`]: Kafka record → keyed row changes for one target table.

use std::sync::Arc;

use tidemark_model::{Change, Key, RecordCoord, RowOp, TableLayout, Value};

use crate::key::{parse_message_key, KeyField};
use crate::wire::{parse_images, Scratch};
use crate::{DecodeError, Op};

/// Where a table's key columns come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Key columns are the fields of the Kafka message key (Debezium's key struct).
    MessageKey,
    /// Key columns are these source field names, read from the row images.
    Fields(Vec<String>),
}

/// Decodes the Debezium records of one table into [`Change`]s. One per (owner, table): it
/// holds the layout, the resolved key columns and reusable buffers.
#[derive(Debug)]
pub struct TableDecoder {
    layout: Arc<TableLayout>,
    from_message_key: bool,
    /// Key column indices, ascending; `None` until resolved (MessageKey mode).
    key_columns: Option<Vec<usize>>,
    /// For each layout column, its position in the key, if it is a key column.
    key_pos: Vec<Option<usize>>,
    scratch: Scratch,
}

impl TableDecoder {
    /// A decoder for `layout`. `KeySource::Fields` are resolved at once (through
    /// `layout.column_for_field`); `KeySource::MessageKey` on the first non-tombstone record.
    pub fn new(layout: Arc<TableLayout>, key: KeySource) -> Result<Self, DecodeError> {
        let columns = layout.columns.len();
        let mut decoder = Self {
            key_columns: None,
            key_pos: vec![None; columns],
            scratch: Scratch::new(columns),
            from_message_key: matches!(key, KeySource::MessageKey),
            layout,
        };
        if let KeySource::Fields(fields) = key {
            let table = &decoder.layout.table;
            if fields.is_empty() {
                return Err(DecodeError::InvalidKeyConfig {
                    table: table.clone(),
                    reason: "no key fields are configured".to_string(),
                });
            }
            let mut cols = Vec::with_capacity(fields.len());
            for field in &fields {
                let col = decoder.layout.column_for_field(field).ok_or_else(|| {
                    DecodeError::UnknownConfiguredKeyField {
                        field: field.clone(),
                        table: table.clone(),
                    }
                })?;
                cols.push(col);
            }
            decoder
                .set_key_columns(cols)
                .map_err(|field| DecodeError::InvalidKeyConfig {
                    table: decoder.layout.table.clone(),
                    reason: format!("key field {field:?} is configured twice"),
                })?;
        }
        Ok(decoder)
    }

    /// The table layout rows are decoded into.
    pub fn layout(&self) -> &Arc<TableLayout> {
        &self.layout
    }

    /// The key columns (indices into `layout.columns`, ascending) once known. In MessageKey
    /// mode they are resolved from the first non-tombstone record's message key field names
    /// (mapped through `layout.column_for_field`; an unknown field is an error) and every
    /// later key must have the same field set (else [`DecodeError::KeyFieldsChanged`]).
    pub fn key_columns(&self) -> Option<&[usize]> {
        self.key_columns.as_deref()
    }

    /// Appends the changes one record produces to `out`: none for a tombstone, one for
    /// c/r/u/d, two (Delete(old key) then Upsert(new key)) for an update whose before and
    /// after images have different key values. On error nothing is appended.
    pub fn decode(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        coord: RecordCoord,
        out: &mut Vec<Change>,
    ) -> Result<(), DecodeError> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(());
        };
        let Some(images) = parse_images(value, &self.layout, &mut self.scratch)? else {
            return Ok(());
        };
        let message_key = if self.from_message_key {
            let fields = parse_message_key(key)?.ok_or_else(|| DecodeError::MissingKey {
                reason: "the record has no message key, and the table's key columns come from \
                         the message key"
                    .to_string(),
            })?;
            Some(self.message_key_values(fields)?)
        } else {
            None
        };
        let Some(key_cols) = self.key_columns.as_deref() else {
            // Unreachable: Fields mode resolves in `new`, MessageKey mode just above.
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
            Op::Delete => {
                let key = match message_key {
                    Some(values) => Key(values),
                    None => keys.delete_key_from_before(images.before.as_deref())?,
                };
                out.push(Change {
                    key,
                    op: RowOp::Delete,
                    coord,
                });
            }
        }
        Ok(())
    }

    /// Records the key columns (sorted ascending). `Err(field)` if a column appears twice.
    fn set_key_columns(&mut self, mut cols: Vec<usize>) -> Result<(), String> {
        cols.sort_unstable();
        let repeated = cols.windows(2).find_map(|w| match w {
            [a, b] if a == b => Some(*a),
            _ => None,
        });
        if let Some(col) = repeated {
            return Err(self.field_name(col).to_string());
        }
        self.key_pos.iter_mut().for_each(|p| *p = None);
        for (pos, &col) in cols.iter().enumerate() {
            if let Some(slot) = self.key_pos.get_mut(col) {
                *slot = Some(pos);
            }
        }
        self.key_columns = Some(cols);
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
        if self.key_columns.is_none() {
            let mut cols = Vec::with_capacity(fields.len());
            for f in &fields {
                let col = self.layout.column_for_field(&f.name).ok_or_else(|| {
                    DecodeError::UnknownKeyField {
                        field: f.name.to_string(),
                        table: self.layout.table.clone(),
                    }
                })?;
                cols.push(col);
            }
            // Distinct names map to distinct columns, and the key parser rejects repeats.
            self.set_key_columns(cols)
                .map_err(|field| DecodeError::InvalidJson {
                    part: "key",
                    reason: format!("field {field:?} appears twice in the message key"),
                })?;
        }
        let key_cols = self.key_columns.as_deref().unwrap_or_default();
        let mut values: Vec<Option<Value>> = vec![None; key_cols.len()];
        let mut complete = fields.len() == key_cols.len();
        for f in &fields {
            let slot = self
                .layout
                .column_for_field(&f.name)
                .and_then(|col| self.key_pos.get(col).copied().flatten())
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
