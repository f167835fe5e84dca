//! PostgreSQL's binary wire formats (what each type's `*_recv` function reads), written
//! straight from tidemark's values: no text form is built for the server to parse again.
//!
//! The scalar formats that are one fixed-width integer or float, and text, are written by
//! [`crate::cell`] itself; the ones with structure are here.

use bytes::{BufMut, BytesMut};
use tidemark_model::{Decimal, Interval};

/// Days from 1970-01-01 (tidemark's and Debezium's epoch) to 2000-01-01 (PostgreSQL's).
pub(crate) const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01T00:00 to 2000-01-01T00:00.
pub(crate) const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The sign word of a numeric: positive, negative, or one of the special values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumericSign {
    Positive = 0x0000,
    Negative = 0x4000,
    NaN = 0xC000,
    Infinity = 0xD000,
    NegativeInfinity = 0xF000,
}

/// Decimal digits a numeric may have before the point: PostgreSQL's weight is an int16 count
/// of base-10000 digit groups, so 32768 groups of 4.
pub(crate) const NUMERIC_MAX_INTEGER_DIGITS: usize = 131_072;

/// Whether PostgreSQL's numeric can hold the value; `Err` says why not. (Its scale is
/// bounded by [`tidemark_model::MAX_SCALE`], which is PostgreSQL's own limit.)
pub(crate) fn numeric_fits(d: &Decimal) -> Result<(), String> {
    let integer = d.parts().0.trim_start_matches('0').len();
    if integer > NUMERIC_MAX_INTEGER_DIGITS {
        return Err(format!(
            "a decimal with {integer} digits before the point exceeds PostgreSQL's numeric \
             limit of {NUMERIC_MAX_INTEGER_DIGITS}"
        ));
    }
    Ok(())
}

/// `numeric`: ndigits (u16), weight (i16), sign (u16), dscale (u16), then `ndigits` base-10000
/// digits (i16), most significant first. The value is Σ digit[i] × 10000^(weight − i); dscale
/// is the number of decimal digits after the point to display (the source's scale).
///
/// The groups are aligned on the decimal point: integer digits are grouped from the point
/// leftwards, fraction digits from the point rightwards (`0.0001` is one group `1` of weight
/// −1, `10000` one group `1` of weight 1). Leading and trailing zero groups are left out, as
/// PostgreSQL's own `numeric_send` does; zero is no groups at all.
pub(crate) fn numeric(d: &Decimal, out: &mut BytesMut) -> Result<(), String> {
    numeric_fits(d)?;
    let (integer, fraction) = d.parts();
    let integer = integer.trim_start_matches('0').as_bytes();
    let fraction = fraction.as_bytes();
    let integer_groups = integer.len().div_ceil(4);
    // Zeros that pad the integer digits on the left to whole groups.
    let lead = integer_groups * 4 - integer.len();
    // Digit `p` of the padded string: lead zeros, integer, fraction, zeros to whole groups.
    let digit = |p: usize| -> i16 {
        let b = if p < lead {
            b'0'
        } else if p - lead < integer.len() {
            integer[p - lead]
        } else {
            fraction
                .get(p - lead - integer.len())
                .copied()
                .unwrap_or(b'0')
        };
        i16::from(b.saturating_sub(b'0'))
    };
    let group = |k: usize| (0..4).fold(0i16, |acc, j| acc * 10 + digit(k * 4 + j));
    let groups = integer_groups + fraction.len().div_ceil(4);
    let scale = u16::try_from(d.scale()).map_err(|_| too_large("scale"))?;
    let sign = if d.is_negative() {
        NumericSign::Negative
    } else {
        NumericSign::Positive
    };
    let Some(first) = (0..groups).find(|&k| group(k) != 0) else {
        // Zero (of any scale): no digit groups, weight 0, positive.
        out.put_u16(0);
        out.put_i16(0);
        out.put_u16(NumericSign::Positive as u16);
        out.put_u16(scale);
        return Ok(());
    };
    let last = (first..groups)
        .rev()
        .find(|&k| group(k) != 0)
        .unwrap_or(first);
    let weight =
        i16::try_from(integer_groups as i64 - 1 - first as i64).map_err(|_| too_large("weight"))?;
    let ndigits = u16::try_from(last - first + 1).map_err(|_| too_large("digit count"))?;
    out.reserve(8 + 2 * usize::from(ndigits));
    out.put_u16(ndigits);
    out.put_i16(weight);
    out.put_u16(sign as u16);
    out.put_u16(scale);
    for k in first..=last {
        out.put_i16(group(k));
    }
    Ok(())
}

fn too_large(what: &str) -> String {
    format!("decimal too large for PostgreSQL's numeric ({what})")
}

/// NaN or ±Infinity: no digit groups, the special value in the sign word.
pub(crate) fn numeric_special(sign: NumericSign, out: &mut BytesMut) {
    out.put_u16(0);
    out.put_i16(0);
    out.put_u16(sign as u16);
    out.put_u16(0);
}

/// `timetz`: microseconds since midnight (i64), then the zone as seconds WEST of UTC (i32):
/// PostgreSQL stores the offset negated against the ISO sign (`+05:30` is −19800).
pub(crate) fn timetz(micros: i64, offset_secs_east: i32, out: &mut BytesMut) {
    out.put_i64(micros);
    out.put_i32(offset_secs_east.saturating_neg());
}

/// `interval`: microseconds (i64), days (i32), months (i32) — kept apart as PostgreSQL does,
/// since a month and a day have no fixed length.
pub(crate) fn interval(i: &Interval, out: &mut BytesMut) {
    out.put_i64(i.micros);
    out.put_i32(i.days);
    out.put_i32(i.months);
}

/// `bit`/`varbit`: the bit length (i32), then exactly ⌈len/8⌉ bytes, most significant bit
/// first. Missing bytes are zero bits; the server zeroes the unused bits of the last byte.
pub(crate) fn bits(len: i32, bytes: &[u8], out: &mut BytesMut) {
    let needed = usize::try_from(len).unwrap_or(0).div_ceil(8);
    out.put_i32(len);
    let have = needed.min(bytes.len());
    out.put_slice(&bytes[..have]);
    out.put_bytes(0, needed - have);
}

/// `jsonb`: format version 1, then the JSON text (the server parses and validates it).
pub(crate) fn jsonb(text: &str, out: &mut BytesMut) {
    out.put_u8(1);
    out.put_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(text: &str) -> Vec<u8> {
        let d = Decimal::parse(text).unwrap();
        let mut out = BytesMut::new();
        numeric(&d, &mut out).unwrap();
        out.to_vec()
    }

    /// ndigits, weight, sign, dscale, digits — as big-endian 16-bit words.
    fn words(w: &[i32]) -> Vec<u8> {
        w.iter().flat_map(|&x| (x as u16).to_be_bytes()).collect()
    }

    #[test]
    fn numeric_groups_align_on_the_decimal_point() {
        assert_eq!(encoded("0"), words(&[0, 0, 0, 0]));
        assert_eq!(encoded("0.00"), words(&[0, 0, 0, 2]));
        assert_eq!(encoded("1"), words(&[1, 0, 0, 0, 1]));
        assert_eq!(encoded("12.50"), words(&[2, 0, 0, 2, 12, 5000]));
        assert_eq!(encoded("0.0001"), words(&[1, -1, 0, 4, 1]));
        assert_eq!(encoded("-0.0001"), words(&[1, -1, 0x4000, 4, 1]));
        assert_eq!(encoded("10000"), words(&[1, 1, 0, 0, 1]));
        assert_eq!(encoded("9999"), words(&[1, 0, 0, 0, 9999]));
        assert_eq!(encoded("100000000.5"), words(&[4, 2, 0, 1, 1, 0, 0, 5000]));
        assert_eq!(encoded("1e-20"), words(&[1, -5, 0, 20, 1]));
        assert_eq!(encoded("0.00012"), words(&[2, -1, 0, 5, 1, 2000]));
        assert_eq!(
            encoded("18446744073709551615"),
            words(&[5, 4, 0, 0, 1844, 6744, 737, 955, 1615])
        );
        assert_eq!(
            encoded("-123456789.987654321"),
            words(&[6, 2, 0x4000, 9, 1, 2345, 6789, 9876, 5432, 1000])
        );
        // A zero group in the middle is kept; trailing zero groups of the fraction are not.
        assert_eq!(encoded("10000.00010000"), words(&[3, 1, 0, 8, 1, 0, 1]));
    }

    #[test]
    fn numeric_special_values_and_limits() {
        let mut out = BytesMut::new();
        numeric_special(NumericSign::NaN, &mut out);
        assert_eq!(out.to_vec(), words(&[0, 0, 0xC000, 0]));
        let huge = Decimal::parse(&format!("1{}", "0".repeat(NUMERIC_MAX_INTEGER_DIGITS))).unwrap();
        assert!(numeric(&huge, &mut BytesMut::new()).is_err());
        let largest = Decimal::parse(&"9".repeat(NUMERIC_MAX_INTEGER_DIGITS)).unwrap();
        let mut out = BytesMut::new();
        numeric(&largest, &mut out).unwrap();
        assert_eq!(&out[..4], &words(&[32768, 32767])[..]);
    }

    #[test]
    fn structured_formats() {
        let mut out = BytesMut::new();
        timetz(1, 19_800, &mut out);
        assert_eq!(
            out.to_vec(),
            [&1i64.to_be_bytes()[..], &(-19_800i32).to_be_bytes()].concat()
        );
        let mut out = BytesMut::new();
        interval(
            &Interval {
                months: -1,
                days: 2,
                micros: -3,
            },
            &mut out,
        );
        assert_eq!(
            out.to_vec(),
            [
                &(-3i64).to_be_bytes()[..],
                &2i32.to_be_bytes(),
                &(-1i32).to_be_bytes()
            ]
            .concat()
        );
        let mut out = BytesMut::new();
        bits(10, &[0xff], &mut out);
        assert_eq!(out.to_vec(), [0, 0, 0, 10, 0xff, 0]);
        let mut out = BytesMut::new();
        jsonb("{}", &mut out);
        assert_eq!(out.to_vec(), b"\x01{}");
    }
}
