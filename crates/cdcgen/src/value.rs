//! Column values: random generation, JSON rendering (as the Debezium JSON converter writes
//! them) and PostgreSQL `::text` rendering (what the oracle compares against).

use std::io::Write as _;

use base64::Engine as _;
use rand::Rng;

use crate::table::{ColumnKind, TableDef};

/// One typed column value. Integers of every width share `Int`; the column kind decides the
/// range it was drawn from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// SQL NULL (JSON `null`).
    Null,
    /// Any integer kind (`int16`/`int32`/`int64`).
    Int(i64),
    /// A double, always `k/4` (exact, prints the same in Rust and PostgreSQL).
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A string (never containing NUL).
    Text(String),
    /// Raw bytes (base64 in JSON, `\x` hex in the oracle).
    Bytes(Vec<u8>),
}

impl Value {
    /// The text PostgreSQL prints for this value cast to `::text` (None for NULL).
    ///
    /// Floats are only ever generated as `k/4` with small `k`, whose shortest round-trip
    /// form is the same in Rust's `Display` and PostgreSQL 15's `float8out` (no exponent,
    /// `-3` rather than `-3.0`, never `-0`).
    pub(crate) fn pg_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(if *f == 0.0 {
                "0".to_owned()
            } else {
                f.to_string()
            }),
            Value::Bool(b) => Some(if *b { "true" } else { "false" }.to_owned()),
            Value::Text(s) => Some(s.clone()),
            Value::Bytes(b) => {
                let mut s = String::with_capacity(2 + 2 * b.len());
                s.push_str("\\x");
                for byte in b {
                    s.push(HEX[usize::from(byte >> 4)] as char);
                    s.push(HEX[usize::from(byte & 0xf)] as char);
                }
                Some(s)
            }
        }
    }

    /// Appends the JSON converter's rendering: numbers, `true`/`false`, escaped strings,
    /// base64 strings for bytes, `null`. Doubles keep a fraction (`-3.0`) as Jackson does.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => write_json_f64(out, *f),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Text(s) => write_json_str(out, s),
            Value::Bytes(b) => {
                out.push(b'"');
                out.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(b)
                        .as_bytes(),
                );
                out.push(b'"');
            }
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as an escaped JSON string.
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_json_f64(out: &mut Vec<u8>, f: f64) {
    let _ = serde_json::to_writer(&mut *out, &f);
}

/// Fragments that break naive quoting, escaping, COPY text format or byte/char length logic.
/// Never a NUL character (PostgreSQL text cannot hold it).
const NASTY: &[&str] = &[
    "'",
    "''",
    "\"",
    "\\",
    "\\\\",
    "\n",
    "\r",
    "\r\n",
    "\t",
    "é",
    "漢字",
    "😀",
    "👩‍👩‍👧",
    "O'Brien",
    "say \"hi\"",
    "C:\\tmp\\",
    "\\N",
    "NULL",
    "null",
    ",",
    ";",
    "|",
    "%s",
    "{}",
    "[]",
    "<b>",
    "\u{1}",
    "\u{7f}",
    "\u{2028}",
    "ß",
    "Ω",
    "\u{a0}",
    " ",
];

const WORDS: &[&str] = &[
    "AUTOMOBILE",
    "BUILDING",
    "FURNITURE",
    "HOUSEHOLD",
    "MACHINERY",
    "Ana",
    "Jürgen",
    "José",
    "Zoë",
    "alpha",
    "beta",
    "gamma",
    "delta",
    "widget",
    "gizmo",
];

/// A random string. With `nasty`, mixes in [`NASTY`] fragments, empty strings and
/// leading/trailing spaces; at most ~120 characters either way (fits `varchar(256)`).
pub(crate) fn random_text<R: Rng>(rng: &mut R, nasty: bool) -> String {
    if !nasty {
        let len = rng.gen_range(3..=14);
        return (0..len)
            .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
            .collect();
    }
    match rng.gen_range(0..10) {
        0 => String::new(),
        1 => format!("  {} ", WORDS[rng.gen_range(0..WORDS.len())]),
        _ => {
            let parts = rng.gen_range(1..=5);
            let mut s = String::new();
            for _ in 0..parts {
                if rng.gen_bool(0.5) {
                    s.push_str(NASTY[rng.gen_range(0..NASTY.len())]);
                } else {
                    s.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
                }
            }
            s
        }
    }
}

/// A random value for a column; NULL with probability 0.15 when `nullable`.
pub(crate) fn random_value<R: Rng>(
    rng: &mut R,
    kind: ColumnKind,
    nullable: bool,
    nasty: bool,
) -> Value {
    if nullable && rng.gen_bool(0.15) {
        return Value::Null;
    }
    let extreme = rng.gen_bool(0.05);
    match kind {
        ColumnKind::Int16 if extreme => {
            Value::Int(pick(rng, &[i16::MIN.into(), i16::MAX.into(), 0, -1]))
        }
        ColumnKind::Int16 => Value::Int(rng.gen_range(-1000..=1000)),
        ColumnKind::Int32 if extreme => {
            Value::Int(pick(rng, &[i32::MIN.into(), i32::MAX.into(), 0, -1]))
        }
        ColumnKind::Int32 => Value::Int(rng.gen_range(1..=1_000_000)),
        ColumnKind::Int64 if extreme => Value::Int(pick(rng, &[i64::MIN, i64::MAX, 0, -1])),
        ColumnKind::Int64 => Value::Int(rng.gen_range(-1_000_000_000_000..=1_000_000_000_000)),
        ColumnKind::Float64 => Value::Float(quarter(rng.gen_range(-3_999_999..=3_999_999))),
        ColumnKind::Bool => Value::Bool(rng.gen()),
        ColumnKind::Text => Value::Text(random_text(rng, nasty)),
        ColumnKind::Bytes => {
            let len = rng.gen_range(0..=40);
            Value::Bytes((0..len).map(|_| rng.gen()).collect())
        }
    }
}

fn pick<R: Rng>(rng: &mut R, choices: &[i64]) -> i64 {
    choices[rng.gen_range(0..choices.len())]
}

/// `k / 4` as a double: exact in binary, and `+0.0` (never `-0.0`) for `k == 0`.
fn quarter(k: i64) -> f64 {
    if k == 0 {
        0.0
    } else {
        k as f64 / 4.0
    }
}

/// Suffixes appended to generated text keys when strings are nasty. None starts with a
/// digit, so `K<n><suffix>` stays injective in `n`.
const KEY_SUFFIXES: &[&str] = &["", "'", "\"", " ", "é", "漢", "\\", " x\ty"];

/// How many values each non-leading column of a composite key cycles through.
const KEY_RADIX: u64 = 8;

/// The key values of the `n`-th fresh key of `table`, injective in `n` (up to the range of
/// narrow types, which wrap). The last key columns act as small digits, so composite keys
/// share their leading column (several lines per order).
pub(crate) fn key_values(table: &TableDef, mut n: u64, nasty: bool) -> Vec<Value> {
    let mut out = vec![Value::Null; table.key.len()];
    for pos in (0..table.key.len()).rev() {
        let kind = table.columns[table.key[pos]].kind;
        let x = if pos == 0 {
            n
        } else {
            let d = n % KEY_RADIX;
            n /= KEY_RADIX;
            d
        };
        out[pos] = key_value(kind, x, nasty);
    }
    out
}

fn key_value(kind: ColumnKind, x: u64, nasty: bool) -> Value {
    match kind {
        ColumnKind::Int16 => Value::Int((x % i16::MAX as u64) as i64 + 1),
        ColumnKind::Int32 => Value::Int((x % i32::MAX as u64) as i64 + 1),
        ColumnKind::Int64 => Value::Int((x % i64::MAX as u64) as i64 + 1),
        ColumnKind::Float64 => Value::Float(quarter(((x % (1 << 40)) + 1) as i64)),
        ColumnKind::Bool => Value::Bool(x % 2 == 1),
        ColumnKind::Text => {
            let suffix = if nasty {
                KEY_SUFFIXES[(x % KEY_SUFFIXES.len() as u64) as usize]
            } else {
                ""
            };
            Value::Text(format!("K{x}{suffix}"))
        }
        ColumnKind::Bytes => Value::Bytes(x.to_be_bytes().to_vec()),
    }
}

/// Separator between key column texts in a canonical key (never produced in key texts).
const KEY_SEP: char = '\u{1f}';

/// The canonical text of a key: the `::text` renderings of its columns joined by U+001F.
pub(crate) fn canonical_key<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut s = String::new();
    for (i, t) in texts.into_iter().enumerate() {
        if i > 0 {
            s.push(KEY_SEP);
        }
        s.push_str(t);
    }
    s
}

/// Canonical key of a full row of `table`.
pub(crate) fn row_key(table: &TableDef, row: &[Value]) -> String {
    let texts: Vec<String> = table
        .key
        .iter()
        .map(|&k| row[k].pg_text().unwrap_or_default())
        .collect();
    canonical_key(texts.iter().map(String::as_str))
}

/// Partition of a key: FNV-1a (64 bit) over its canonical text, modulo `partitions`.
pub(crate) fn partition_of_canonical(canonical: &str, partitions: i32) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in canonical.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % partitions.max(1) as u64) as i32
}

/// The partition the generator routes a key to, given the `::text` rendering of each key
/// column in key order (as in [`crate::Oracle::table`] keys). Stable across runs/versions.
pub fn partition_for_key(key_texts: &[String], partitions: i32) -> i32 {
    partition_of_canonical(
        &canonical_key(key_texts.iter().map(String::as_str)),
        partitions,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pg_text_matches_postgres_output() {
        assert_eq!(Value::Float(-3.0).pg_text().unwrap(), "-3");
        assert_eq!(Value::Float(1.25).pg_text().unwrap(), "1.25");
        assert_eq!(Value::Float(-0.0).pg_text().unwrap(), "0");
        assert_eq!(Value::Float(999_999.75).pg_text().unwrap(), "999999.75");
        assert_eq!(Value::Bool(true).pg_text().unwrap(), "true");
        assert_eq!(
            Value::Bytes(vec![0, 0xab, 0x1f]).pg_text().unwrap(),
            "\\x00ab1f"
        );
        assert_eq!(Value::Bytes(vec![]).pg_text().unwrap(), "\\x");
        assert_eq!(Value::Null.pg_text(), None);
    }

    #[test]
    fn json_rendering() {
        let mut out = Vec::new();
        Value::Float(-3.0).write_json(&mut out);
        out.push(b' ');
        Value::Bytes(vec![1, 2, 3]).write_json(&mut out);
        out.push(b' ');
        Value::Text("a\"\n\u{1}".into()).write_json(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-3.0 \"AQID\" \"a\\\"\\n\\u0001\""
        );
    }

    #[test]
    fn nasty_text_never_contains_nul_and_fits_varchar() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..10_000 {
            let s = random_text(&mut rng, true);
            assert!(!s.contains('\0'));
            assert!(s.chars().count() <= 256);
        }
    }

    #[test]
    fn composite_keys_are_injective() {
        let t = TableDef::salesdb_order_line();
        let mut seen = std::collections::HashSet::new();
        for n in 0..10_000 {
            assert!(seen.insert(row_key_of(&t, n)));
        }
    }

    fn row_key_of(t: &TableDef, n: u64) -> String {
        let texts: Vec<String> = key_values(t, n, true)
            .iter()
            .map(|v| v.pg_text().unwrap())
            .collect();
        canonical_key(texts.iter().map(String::as_str))
    }
}
