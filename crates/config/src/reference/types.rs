//! Schemas of the config's value types that derive none: durations, byte sizes, and the
//! `tidemark_debezium` enums (whose crate this one may not give a `JsonSchema` derive).

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use crate::ByteSize;

/// Schema of a field read by `units::duration`: a humantime string. Such a field also needs
/// `skip_serializing` (or the derive serializes its default through `units::duration::serialize`,
/// which a deserialize-only module lacks) and so `extend("default" = "…")`, which a test checks
/// against the real default.
pub(crate) struct DurationText;

impl JsonSchema for DurationText {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "duration",
            "examples": ["200ms", "10s", "1m 30s"],
        })
    }
}

impl JsonSchema for ByteSize {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "integer"],
            "format": "byte-size",
            "examples": ["64MiB", "512KiB", "1GiB", "1000"],
        })
    }
}

/// As it is written in the config: the largest binary unit that divides it, else bytes.
impl serde::Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
            if self.0 != 0 && self.0.trailing_zeros() >= shift {
                return s.serialize_str(&format!("{}{unit}", self.0 >> shift));
            }
        }
        s.serialize_u64(self.0)
    }
}

/// Schemas of the `tidemark_debezium` enums, which derive no `JsonSchema`: their serde names.
macro_rules! string_values {
    ($($name:ident = [$($value:literal),+];)+) => {$(
        pub(crate) struct $name;
        impl $name {
            #[cfg(test)]
            pub(crate) const VALUES: &[&str] = &[$($value),+];
        }
        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({"type": "string", "enum": [$($value),+]})
            }
        }
    )+};
}

string_values! {
    DecimalHandlingValues = ["precise", "string", "double"];
    TimePrecisionValues = ["adaptive", "micro", "connect"];
    BinaryHandlingValues = ["base64", "base64-url-safe", "hex"];
}
