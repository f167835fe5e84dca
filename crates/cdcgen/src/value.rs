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
    /// A decimal `unscaled * 10^-scale` (Connect `Decimal`: base64 of the unscaled value's
    /// big-endian two's-complement bytes in JSON; `numeric` text with exactly `scale`
    /// fraction digits in the oracle).
    Decimal {
        /// The unscaled value (`|unscaled| < 10^38`).
        unscaled: i128,
        /// Digits after the decimal point.
        scale: u8,
    },
    /// A wall-clock timestamp, microseconds since 1970-01-01 00:00:00 (`MicroTimestamp`: a
    /// JSON number; `timestamp` text in the oracle).
    MicroTs(i64),
    /// An instant, microseconds since the Unix epoch (`ZonedTimestamp`: an ISO-8601 UTC
    /// string in JSON; `timestamptz` text at `TimeZone=UTC` in the oracle).
    ZonedTs(i64),
    /// A date, days since 1970-01-01 (`io.debezium.time.Date`: a JSON number; `date` text in
    /// the oracle).
    Date(i32),
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
            Value::Decimal { unscaled, scale } => Some(decimal_text(*unscaled, *scale)),
            Value::MicroTs(us) => Some(timestamp_text(*us, ' ', false)),
            Value::ZonedTs(us) => {
                let mut s = timestamp_text(*us, ' ', false);
                s.push_str("+00");
                Some(s)
            }
            Value::Date(days) => Some(date_text(i64::from(*days))),
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
            Value::Decimal { unscaled, .. } => {
                out.push(b'"');
                out.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(twos_complement_bytes(*unscaled))
                        .as_bytes(),
                );
                out.push(b'"');
            }
            Value::MicroTs(us) => {
                let _ = write!(out, "{us}");
            }
            Value::ZonedTs(us) => {
                out.push(b'"');
                out.extend_from_slice(timestamp_text(*us, 'T', true).as_bytes());
                out.extend_from_slice(b"Z\"");
            }
            Value::Date(days) => {
                let _ = write!(out, "{days}");
            }
        }
    }
}

/// The minimal big-endian two's-complement bytes of `v`, as Java's
/// `BigInteger.toByteArray()` (what the Connect `Decimal` converter encodes): `0` is `[0]`,
/// `128` is `[0, 0x80]`, `-1` is `[0xff]`, `-129` is `[0xff, 0x7f]`.
pub(crate) fn twos_complement_bytes(v: i128) -> Vec<u8> {
    let b = v.to_be_bytes();
    let mut start = 0;
    while start + 1 < b.len() {
        let redundant = (b[start] == 0x00 && b[start + 1] & 0x80 == 0)
            || (b[start] == 0xff && b[start + 1] & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    b[start..].to_vec()
}

/// PostgreSQL's `numeric(p,s)` text: exactly `scale` fraction digits, a leading `0` before
/// the point, `-` for negatives (there is no negative zero).
pub(crate) fn decimal_text(unscaled: i128, scale: u8) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let scale = usize::from(scale);
    let digits = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = digits.split_at(digits.len() - scale);
    let mut s = String::with_capacity(digits.len() + 2);
    if unscaled < 0 {
        s.push('-');
    }
    s.push_str(int);
    if scale > 0 {
        s.push('.');
        s.push_str(frac);
    }
    s
}

/// Microseconds per day.
const DAY_US: i64 = 86_400_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
/// Deliberately not `tidemark_model::civil`: the oracle must not share the calendar code of
/// the decoder it checks, or a bug there would agree with itself.
pub(crate) const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` (PostgreSQL's ISO `date` output; years here are always 1000..=9999).
fn date_text(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD<sep>HH:MM:SS` plus the fraction of a second: with `fixed`, always `.` and
/// six digits (Debezium's `ZonedTimestamp` of a `TIMESTAMP(6)`); otherwise as PostgreSQL
/// prints a timestamp (no fraction for whole seconds, trailing zeros dropped).
pub(crate) fn timestamp_text(us: i64, sep: char, fixed: bool) -> String {
    let days = us.div_euclid(DAY_US);
    let of_day = us.rem_euclid(DAY_US);
    let secs = of_day / 1_000_000;
    let micros = of_day % 1_000_000;
    let mut s = date_text(days);
    let _ = std::fmt::Write::write_fmt(
        &mut s,
        format_args!(
            "{sep}{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        ),
    );
    if fixed || micros != 0 {
        let frac = format!("{micros:06}");
        s.push('.');
        s.push_str(if fixed {
            &frac
        } else {
            frac.trim_end_matches('0')
        });
    }
    s
}

/// Microseconds since the epoch of a UTC wall-clock instant.
pub(crate) const fn civil_us(days: i64, h: i64, mi: i64, sec: i64, us: i64) -> i64 {
    days * DAY_US + ((h * 60 + mi) * 60 + sec) * 1_000_000 + us
}

/// MySQL's `DATE`/`DATETIME` range, as days since 1970-01-01: 1000-01-01 and 9999-12-31.
const MIN_DATE: i64 = days_from_civil(1000, 1, 1);
const MAX_DATE: i64 = days_from_civil(9999, 12, 31);
/// MySQL's `DATETIME(6)` range in microseconds: 1000-01-01 00:00:00 .. 9999-12-31
/// 23:59:59.999999.
const MIN_DATETIME_US: i64 = civil_us(MIN_DATE, 0, 0, 0, 0);
const MAX_DATETIME_US: i64 = civil_us(MAX_DATE, 23, 59, 59, 999_999);
/// MySQL's `TIMESTAMP(6)` range in microseconds: 1970-01-01 00:00:01 .. 2038-01-19
/// 03:14:07.999999 UTC.
const MIN_TIMESTAMP_US: i64 = 1_000_000;
const MAX_TIMESTAMP_US: i64 = 2_147_483_647_999_999;
/// 2000-01-01 (days since 1970-01-01).
const Y2000: i64 = days_from_civil(2000, 1, 1);
/// 2035-01-01 (days since 1970-01-01).
const Y2035: i64 = days_from_civil(2035, 1, 1);
/// Dates around calendar edges: leap days (2000 is a leap year, 1900 is not), month ends.
const EDGE_DATES: [i64; 6] = [
    days_from_civil(2000, 2, 29),
    days_from_civil(1900, 2, 28),
    days_from_civil(1900, 3, 1),
    days_from_civil(1600, 2, 29),
    days_from_civil(2024, 12, 31),
    days_from_civil(1969, 12, 31),
];

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
        ColumnKind::Decimal { precision, scale } => Value::Decimal {
            unscaled: random_unscaled(rng, precision, scale, extreme),
            scale,
        },
        ColumnKind::MicroTimestamp if extreme => Value::MicroTs(match rng.gen_range(0..10) {
            0 => MIN_DATETIME_US,
            1 => MAX_DATETIME_US,
            2 => -1,
            3 => pick(rng, &[0, 1, -1_000_000, 100_000, -999_999]),
            // Before 1970, whole seconds or with a fraction.
            4 => rng.gen_range(MIN_DATETIME_US..0) / 1_000_000 * 1_000_000,
            5 => rng.gen_range(MIN_DATETIME_US..0),
            // Far future, up to the end of 9999.
            6 => rng.gen_range(civil_us(MAX_DATE - 365 * 200, 0, 0, 0, 0)..=MAX_DATETIME_US),
            // Fractions with trailing zeros (PostgreSQL drops them).
            7 => random_us(rng, Y2000, Y2035) / 100_000 * 100_000,
            8 => random_us(rng, Y2000, Y2035) / 1_000 * 1_000 + 1,
            _ => random_us(rng, MIN_DATE, MAX_DATE + 1),
        }),
        ColumnKind::MicroTimestamp => Value::MicroTs(random_us(rng, Y2000, Y2035)),
        ColumnKind::ZonedTimestamp if extreme => Value::ZonedTs(match rng.gen_range(0..6) {
            0 => MIN_TIMESTAMP_US,
            1 => MAX_TIMESTAMP_US,
            2 => random_us(rng, Y2000, Y2035) / 1_000_000 * 1_000_000,
            3 => random_us(rng, Y2000, Y2035) / 1_000_000 * 1_000_000 + 1,
            4 => random_us(rng, Y2000, Y2035) / 1_000 * 1_000,
            _ => rng.gen_range(MIN_TIMESTAMP_US..=MAX_TIMESTAMP_US),
        }),
        ColumnKind::ZonedTimestamp => Value::ZonedTs(random_us(rng, Y2000, Y2035)),
        ColumnKind::Date if extreme => Value::Date(match rng.gen_range(0..6) {
            0 => MIN_DATE,
            1 => MAX_DATE,
            2 => pick(rng, &[-1, 0, 1]),
            3 => pick(rng, &EDGE_DATES),
            4 => rng.gen_range(MIN_DATE..0),
            _ => rng.gen_range(MIN_DATE..=MAX_DATE),
        } as i32),
        // Birthdays: 1940..=2009.
        ColumnKind::Date => Value::Date(
            rng.gen_range(days_from_civil(1940, 1, 1)..days_from_civil(2010, 1, 1)) as i32,
        ),
    }
}

/// A random microsecond in `[from_day, to_day)` (days since 1970-01-01).
fn random_us<R: Rng>(rng: &mut R, from_day: i64, to_day: i64) -> i64 {
    rng.gen_range(civil_us(from_day, 0, 0, 0, 0)..civil_us(to_day, 0, 0, 0, 0))
}

/// A random unscaled value of a `DECIMAL(precision, scale)`. Usually a money-like amount of
/// at most 12 digits; `extreme`: zero, +-max (all nines), +-1 ulp, +-1, byte-width edges of
/// the two's-complement encoding, or any value of full width.
fn random_unscaled<R: Rng>(rng: &mut R, precision: u8, scale: u8, extreme: bool) -> i128 {
    let max = 10i128.pow(u32::from(precision)) - 1;
    if !extreme {
        let lim = 10i128.pow(u32::from(precision.min(12))) - 1;
        return rng.gen_range(-lim..=lim);
    }
    let one = 10i128.pow(u32::from(scale));
    let v = match rng.gen_range(0..8) {
        0 => 0,
        1 => max,
        2 => -max,
        3 => [1, -1][rng.gen_range(0..2)],
        4 => [one, -one][rng.gen_range(0..2)],
        5 => [
            127, 128, -128, -129, 255, 256, 32_767, 32_768, -32_768, -32_769,
        ][rng.gen_range(0..10)],
        _ => rng.gen_range(-max..=max),
    };
    v.clamp(-max, max)
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
        ColumnKind::Decimal { precision, scale } => {
            let max = 10u128.pow(u32::from(precision)) - 1;
            Value::Decimal {
                unscaled: (u128::from(x) % max) as i128 + 1,
                scale,
            }
        }
        // Distinct seconds and microseconds, so neighbouring keys differ in both.
        ColumnKind::MicroTimestamp => Value::MicroTs(
            civil_us(Y2000, 0, 0, 0, 0)
                + (x.wrapping_mul(1_000_001)
                    % (MAX_DATETIME_US - civil_us(Y2000, 0, 0, 0, 0)) as u64)
                    as i64,
        ),
        ColumnKind::ZonedTimestamp => Value::ZonedTs(
            MIN_TIMESTAMP_US
                + (x.wrapping_mul(1_000_001) % (MAX_TIMESTAMP_US - MIN_TIMESTAMP_US + 1) as u64)
                    as i64,
        ),
        ColumnKind::Date => {
            Value::Date((MIN_DATE + (x % (MAX_DATE - MIN_DATE + 1) as u64) as i64) as i32)
        }
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

    fn json(v: &Value) -> String {
        let mut out = Vec::new();
        v.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn dec(unscaled: i128, scale: u8) -> Value {
        Value::Decimal { unscaled, scale }
    }

    #[test]
    fn decimal_json_is_base64_of_minimal_twos_complement() {
        for (unscaled, b64) in [
            (299, "ASs="),
            (-299, "/tU="),
            (0, "AA=="),
            (-1, "/w=="),
            (127, "fw=="),
            (128, "AIA="),
            (-128, "gA=="),
            (-129, "/38="),
            (999_999_999_999_999_999, "DeC2s6dj//8="),
            (-999_999_999_999_999_999, "8h9JTFicAAE="),
            (
                99_999_999_999_999_999_999_999_999_999_999_999_999,
                "SztMqFqGxHoJiiI//////w==",
            ),
        ] {
            assert_eq!(json(&dec(unscaled, 4)), format!("\"{b64}\""), "{unscaled}");
        }
        // The scale lives in the schema, not in the value.
        assert_eq!(json(&dec(299, 2)), "\"ASs=\"");
    }

    #[test]
    fn decimal_text_is_numeric_output() {
        assert_eq!(dec(299, 2).pg_text().unwrap(), "2.99");
        assert_eq!(dec(-299, 2).pg_text().unwrap(), "-2.99");
        assert_eq!(dec(0, 4).pg_text().unwrap(), "0.0000");
        assert_eq!(dec(-1, 4).pg_text().unwrap(), "-0.0001");
        assert_eq!(dec(10_000, 4).pg_text().unwrap(), "1.0000");
        assert_eq!(dec(-123_450_000, 4).pg_text().unwrap(), "-12345.0000");
        assert_eq!(
            dec(999_999_999_999_999_999, 4).pg_text().unwrap(),
            "99999999999999.9999"
        );
        assert_eq!(
            dec(-999_999_999_999_999_999, 4).pg_text().unwrap(),
            "-99999999999999.9999"
        );
        assert_eq!(dec(-42, 0).pg_text().unwrap(), "-42");
        assert_eq!(dec(5, 3).pg_text().unwrap(), "0.005");
    }

    #[test]
    fn micro_timestamps_are_numbers_and_timestamp_text() {
        for (us, text) in [
            (0, "1970-01-01 00:00:00"),
            (-1, "1969-12-31 23:59:59.999999"),
            (1, "1970-01-01 00:00:00.000001"),
            (100_000, "1970-01-01 00:00:00.1"),
            (-1_000_000, "1969-12-31 23:59:59"),
            (1_666_266_000_123_456, "2022-10-20 11:40:00.123456"),
            (-2_203_934_399_999_995, "1900-02-28 12:00:00.000005"),
            (MIN_DATETIME_US, "1000-01-01 00:00:00"),
            (MAX_DATETIME_US, "9999-12-31 23:59:59.999999"),
        ] {
            assert_eq!(Value::MicroTs(us).pg_text().unwrap(), text, "{us}");
            assert_eq!(json(&Value::MicroTs(us)), us.to_string());
        }
        assert_eq!(MIN_DATETIME_US, -30_610_224_000_000_000);
        assert_eq!(MAX_DATETIME_US, 253_402_300_799_999_999);
    }

    #[test]
    fn zoned_timestamps_are_iso_strings_with_six_digits_and_timestamptz_text() {
        for (us, iso, text) in [
            (
                1_666_266_000_123_456,
                "2022-10-20T11:40:00.123456Z",
                "2022-10-20 11:40:00.123456+00",
            ),
            (
                1_666_266_000_000_000,
                "2022-10-20T11:40:00.000000Z",
                "2022-10-20 11:40:00+00",
            ),
            (
                1_666_266_000_120_000,
                "2022-10-20T11:40:00.120000Z",
                "2022-10-20 11:40:00.12+00",
            ),
            (
                MIN_TIMESTAMP_US,
                "1970-01-01T00:00:01.000000Z",
                "1970-01-01 00:00:01+00",
            ),
            (
                MAX_TIMESTAMP_US,
                "2038-01-19T03:14:07.999999Z",
                "2038-01-19 03:14:07.999999+00",
            ),
        ] {
            assert_eq!(json(&Value::ZonedTs(us)), format!("\"{iso}\""));
            assert_eq!(Value::ZonedTs(us).pg_text().unwrap(), text);
        }
    }

    #[test]
    fn dates_are_day_numbers_and_iso_text() {
        for (days, text) in [
            (0, "1970-01-01"),
            (-1, "1969-12-31"),
            (11_016, "2000-02-29"),
            (-354_285, "1000-01-01"),
            (2_932_896, "9999-12-31"),
        ] {
            assert_eq!(Value::Date(days).pg_text().unwrap(), text);
            assert_eq!(json(&Value::Date(days)), days.to_string());
        }
        assert_eq!(MIN_DATE, -354_285);
        assert_eq!(MAX_DATE, 2_932_896);
    }

    #[test]
    fn civil_conversions_agree_with_day_by_day_counting() {
        let month_len = |y: i64, m: u32| match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let (mut y, mut m, mut d) = (1000i64, 1u32, 1u32);
        for days in MIN_DATE..=MAX_DATE {
            assert_eq!(civil_from_days(days), (y, m, d));
            assert_eq!(days_from_civil(y, m, d), days);
            d += 1;
            if d > month_len(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
        assert_eq!((y, m, d), (10_000, 1, 1));
    }

    #[test]
    fn typed_values_stay_in_mysql_ranges() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut seen_extremes = [false; 4];
        for _ in 0..50_000 {
            match random_value(&mut rng, ColumnKind::DECIMAL_18_4, false, false) {
                Value::Decimal { unscaled, scale } => {
                    assert_eq!(scale, 4);
                    assert!(unscaled.abs() <= 999_999_999_999_999_999);
                    seen_extremes[0] |= unscaled == -999_999_999_999_999_999;
                }
                v => panic!("{v:?}"),
            }
            match random_value(&mut rng, ColumnKind::MicroTimestamp, false, false) {
                Value::MicroTs(us) => {
                    assert!((MIN_DATETIME_US..=MAX_DATETIME_US).contains(&us));
                    seen_extremes[1] |= us < 0;
                }
                v => panic!("{v:?}"),
            }
            match random_value(&mut rng, ColumnKind::ZonedTimestamp, false, false) {
                Value::ZonedTs(us) => {
                    assert!((MIN_TIMESTAMP_US..=MAX_TIMESTAMP_US).contains(&us));
                    seen_extremes[2] |= us == MAX_TIMESTAMP_US;
                }
                v => panic!("{v:?}"),
            }
            match random_value(&mut rng, ColumnKind::Date, false, false) {
                Value::Date(d) => {
                    assert!((MIN_DATE..=MAX_DATE).contains(&i64::from(d)));
                    seen_extremes[3] |= i64::from(d) == MAX_DATE;
                }
                v => panic!("{v:?}"),
            }
        }
        assert_eq!(seen_extremes, [true; 4]);
        let tiny = ColumnKind::Decimal {
            precision: 3,
            scale: 3,
        };
        for _ in 0..10_000 {
            let Value::Decimal { unscaled, .. } = random_value(&mut rng, tiny, false, false) else {
                unreachable!()
            };
            assert!(unscaled.abs() <= 999);
        }
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
