//! Exact decimal numbers as text: what a numeric column receives, never through a float.

use std::fmt;

/// An exact decimal number in canonical plain notation: an optional `-`, digits without
/// leading zeros (a lone `0` before the point), and, when the scale is not zero, a point and
/// exactly `scale` digits. The scale is kept as the source stated it (`1.50` stays `1.50`), so
/// two values are equal exactly when their text is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal(Box<str>);

/// The largest scale accepted (PostgreSQL's numeric allows 16383 digits after the point; a
/// larger scale in a record is an error, not a huge allocation).
pub const MAX_SCALE: u32 = 16_383;

impl Decimal {
    /// Parses plain or scientific notation (`-12.50`, `+3`, `1.5E+10`, `2e-3`, `.5`), as JSON
    /// numbers and Debezium's `decimal.handling.mode=string` write them. `None` if it is not
    /// a finite decimal number or its scale is beyond [`MAX_SCALE`].
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int_part, frac_part) = match mantissa.split_once('.') {
            Some((i, f)) => (i, f),
            None => (mantissa, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        if !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let digits: String = int_part.chars().chain(frac_part.chars()).collect();
        let scale = frac_part.len() as i64 - exponent;
        if scale > i64::from(MAX_SCALE) || scale < -(i64::from(MAX_SCALE)) {
            return None;
        }
        Some(Self::from_digits(negative, &digits, scale))
    }

    /// `unscaled × 10^-scale`, the unscaled value given as big-endian two's-complement bytes:
    /// Kafka Connect's `Decimal` logical type and the `value` of Debezium's
    /// `VariableScaleDecimal`. `None` if the scale is beyond [`MAX_SCALE`].
    pub fn from_unscaled_bytes(bytes: &[u8], scale: i32) -> Option<Self> {
        if scale.unsigned_abs() > MAX_SCALE {
            return None;
        }
        let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
        // Magnitude as big-endian bytes: two's complement negated for negative values.
        let mut magnitude: Vec<u8> = if negative {
            let mut m: Vec<u8> = bytes.iter().map(|b| !b).collect();
            for b in m.iter_mut().rev() {
                let (v, carry) = b.overflowing_add(1);
                *b = v;
                if !carry {
                    break;
                }
            }
            m
        } else {
            bytes.to_vec()
        };
        let digits = to_decimal_digits(&mut magnitude);
        Some(Self::from_digits(negative, &digits, i64::from(scale)))
    }

    /// Builds the canonical text of `±digits × 10^-scale`.
    fn from_digits(negative: bool, digits: &str, scale: i64) -> Self {
        let mut digits = digits.trim_start_matches('0').to_string();
        if scale < 0 && !digits.is_empty() {
            digits.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
        }
        let scale = scale.max(0) as usize;
        if digits.len() <= scale {
            let pad = scale + 1 - digits.len();
            digits.insert_str(0, &"0".repeat(pad));
        }
        let zero = digits.bytes().all(|b| b == b'0');
        let mut out = String::with_capacity(digits.len() + 2);
        if negative && !zero {
            out.push('-');
        }
        let point = digits.len() - scale;
        out.push_str(&digits[..point]);
        if scale > 0 {
            out.push('.');
            out.push_str(&digits[point..]);
        }
        Self(out.into_boxed_str())
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits after the point.
    pub fn scale(&self) -> u32 {
        self.0.split_once('.').map_or(0, |(_, f)| f.len() as u32)
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.0.starts_with('-')
    }

    /// The integer digits and the fraction digits, without sign or point.
    pub fn parts(&self) -> (&str, &str) {
        let unsigned = self.0.trim_start_matches('-');
        unsigned.split_once('.').unwrap_or((unsigned, ""))
    }
}

/// Repeatedly divides a big-endian magnitude by 10 to get its decimal digits.
fn to_decimal_digits(magnitude: &mut [u8]) -> String {
    let mut digits = Vec::new();
    let mut start = 0;
    while start < magnitude.len() {
        let mut rem: u32 = 0;
        for b in magnitude[start..].iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
        while start < magnitude.len() && magnitude[start] == 0 {
            start += 1;
        }
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        Decimal::parse(s)
            .map(|d| d.to_string())
            .unwrap_or_else(|| "none".into())
    }

    #[test]
    fn parses_plain_and_scientific_notation_exactly() {
        assert_eq!(p("12.50"), "12.50");
        assert_eq!(p("-0.00"), "0.00");
        assert_eq!(p("007"), "7");
        assert_eq!(p(".5"), "0.5");
        assert_eq!(p("1.5E+3"), "1500");
        assert_eq!(p("2e-3"), "0.002");
        assert_eq!(p("18446744073709551615"), "18446744073709551615");
        assert_eq!(
            p("-123456789012345678901234567890123456789.123"),
            "-123456789012345678901234567890123456789.123"
        );
        for bad in ["", "-", ".", "1.2.3", "NaN", "1e", "0x10", "1e99999"] {
            assert_eq!(p(bad), "none", "{bad}");
        }
    }

    #[test]
    fn unscaled_twos_complement_bytes() {
        let d = |b: &[u8], s| Decimal::from_unscaled_bytes(b, s).unwrap().to_string();
        // Debezium's documented example: "ASs=" is 0x012b = 299, scale 2.
        assert_eq!(d(&[0x01, 0x2b], 2), "2.99");
        assert_eq!(d(&[0xff], 0), "-1");
        assert_eq!(d(&[0x80], 0), "-128");
        assert_eq!(d(&[0xfe, 0xd5], 2), "-2.99");
        assert_eq!(d(&[], 3), "0.000");
        assert_eq!(
            d(&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0),
            "18446744073709551615"
        );
        assert_eq!(d(&[0x05], -2), "500");
        // 10^38 - 1 (38 nines) = 0x4b3b4ca85a86c47a098a223fffffffff.
        let nines = [
            0x4b, 0x3b, 0x4c, 0xa8, 0x5a, 0x86, 0xc4, 0x7a, 0x09, 0x8a, 0x22, 0x3f, 0xff, 0xff,
            0xff, 0xff,
        ];
        assert_eq!(d(&nines, 0), "9".repeat(38));
    }
}
