//! Re-serializes a nested JSON value (object or array column) as compact JSON text while it is
//! being deserialized, keeping its key order. Used for `Value::Text` of object/array fields.

use std::fmt::{self, Write as _};

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Writes `s` as a JSON string literal (quotes included), escaped as serde_json does.
pub(crate) fn write_escaped(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0x00..=0x1f => None,
            _ => continue,
        };
        // `i` is the index of an ASCII byte, so both slices end on char boundaries.
        out.push_str(s.get(start..i).unwrap_or_default());
        match escape {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// Writes a map's remaining entries as a compact JSON object.
pub(crate) fn write_map<'de, A: MapAccess<'de>>(
    mut map: A,
    out: &mut String,
) -> Result<(), A::Error> {
    out.push('{');
    let mut first = true;
    while map
        .next_key_seed(KeyText {
            out: &mut *out,
            first,
        })?
        .is_some()
    {
        first = false;
        map.next_value_seed(JsonText { out: &mut *out })?;
    }
    out.push('}');
    Ok(())
}

/// Writes a sequence's remaining elements as a compact JSON array.
pub(crate) fn write_seq<'de, A: SeqAccess<'de>>(
    mut seq: A,
    out: &mut String,
) -> Result<(), A::Error> {
    out.push('[');
    let mut first = true;
    loop {
        if !first {
            // Speculatively add the separator; removed below if the sequence ended.
            out.push(',');
        }
        match seq.next_element_seed(JsonText { out: &mut *out })? {
            Some(()) => first = false,
            None => {
                if !first {
                    out.pop();
                }
                break;
            }
        }
    }
    out.push(']');
    Ok(())
}

/// Writes an object key (with the separator before it and the colon after it).
struct KeyText<'s> {
    out: &'s mut String,
    first: bool,
}

impl<'de> DeserializeSeed<'de> for KeyText<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyText<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        if !self.first {
            self.out.push(',');
        }
        write_escaped(self.out, v);
        self.out.push(':');
        Ok(())
    }
}

/// Writes any JSON value as compact text.
pub(crate) struct JsonText<'s> {
    /// Where the text goes.
    pub(crate) out: &'s mut String,
}

impl<'de> DeserializeSeed<'de> for JsonText<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonText<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.push_str("null");
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        match serde_json::Number::from_f64(v) {
            Some(n) => {
                let _ = write!(self.out, "{n}");
            }
            None => self.out.push_str("null"),
        }
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        write_escaped(self.out, v);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        write_seq(seq, self.out)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        write_map(map, self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(json: &str) -> String {
        let mut out = String::new();
        let mut de = serde_json::Deserializer::from_str(json);
        JsonText { out: &mut out }.deserialize(&mut de).unwrap();
        out
    }

    #[test]
    fn compact_text_keeps_key_order_and_escapes() {
        assert_eq!(
            text(r#" { "z" : [1, -2, 2.5, true, null, "a\"b\\c\n\u0001é"], "a": {} , "e":[]} "#),
            r#"{"z":[1,-2,2.5,true,null,"a\"b\\c\n\u0001é"],"a":{},"e":[]}"#
        );
        assert_eq!(text("[[],[{}],{\"k\":[1]}]"), "[[],[{}],{\"k\":[1]}]");
        // The text is what serde_json itself would write for the same value.
        let v: serde_json::Value = serde_json::from_str("[\"\\t\\u001f\\b\\f\\r/\"]").unwrap();
        assert_eq!(text("[\"\\t\\u001f\\b\\f\\r/\"]"), v.to_string());
    }
}
