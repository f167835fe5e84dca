//! The configuration reference, `docs/configuration.md`: generated from the JSON schema that
//! `schemars` derives from the config structs (their doc comments and serde attributes), and
//! checked against the file by a test, so the document cannot drift from the code.

mod types;

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::Config;
pub(crate) use types::TimePrecisionValues;
pub(crate) use types::{BinaryHandlingValues, DecimalHandlingValues, DurationText};

/// The command that rewrites `docs/configuration.md` from the code.
pub const REGENERATE: &str = "TIDEMARK_BLESS=1 cargo test -p tidemark-config reference";

/// The JSON schema (draft 2020-12) of the config file. Descriptions are the doc comments,
/// defaults the serde defaults; the types of sections and enums are under `$defs`.
pub fn config_schema() -> Value {
    schemars::schema_for!(Config).to_value()
}

/// What `$ref` points at in `root`, else the schema itself.
pub(crate) fn deref<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let target = schema.get("$ref").and_then(Value::as_str);
    match target.and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => root.pointer(pointer).map_or(schema, |t| deref(root, t)),
        None => schema,
    }
}

/// The schema with every `$ref` replaced by its target; the target's description follows the
/// referring field's, as a paragraph of its own.
fn inlined(root: &Value, schema: &Value) -> Value {
    let Value::Object(own) = schema else {
        return match schema {
            Value::Array(items) => items.iter().map(|i| inlined(root, i)).collect(),
            other => other.clone(),
        };
    };
    let mut out = Map::new();
    let target = deref(root, schema);
    if !std::ptr::eq(target, schema) {
        if let Value::Object(t) = inlined(root, target) {
            out = t;
        }
    }
    let text = match (
        description(schema),
        out.get("description").and_then(Value::as_str).unwrap_or(""),
    ) {
        (field, "") => field.to_string(),
        // The type's text says it again, and more.
        (field, of_type) if of_type.starts_with(field.trim_end_matches('.')) => of_type.into(),
        (field, of_type) => format!("{field}\n\n{of_type}").trim().to_string(),
    };
    for (k, v) in own.iter().filter(|(k, _)| *k != "$ref" && *k != "$defs") {
        out.insert(k.clone(), inlined(root, v));
    }
    if !text.is_empty() {
        out.insert("description".into(), text.into());
    }
    Value::Object(out)
}

/// The properties of an object schema: required ones in field order, then the others by name.
pub(crate) fn properties(schema: &Value) -> Vec<(&str, &Value, bool)> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out: Vec<_> = required
        .iter()
        .filter_map(|k| props.get_key_value(*k))
        .map(|(k, v)| (k.as_str(), v, true))
        .collect();
    let mut optional: Vec<_> = props
        .iter()
        .filter(|(k, _)| !required.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v, false))
        .collect();
    optional.sort_by_key(|(k, _, _)| *k);
    out.extend(optional);
    out
}

/// The schema without its `null` alternative (`Option<T>`).
pub(crate) fn non_null(schema: &Value) -> &Value {
    match schema.get("anyOf").and_then(Value::as_array) {
        Some(alts) if alts.len() == 2 => alts
            .iter()
            .find(|a| a.get("type") != Some(&Value::from("null")))
            .unwrap_or(schema),
        _ => schema,
    }
}

/// A table's schema: an object with properties, or the items of an array of them.
fn table_of(schema: &Value) -> Option<(&Value, bool)> {
    let s = non_null(schema);
    match s.get("items") {
        Some(items) if items.get("properties").is_some() => Some((items, true)),
        _ => s.get("properties").map(|_| (s, false)),
    }
}

/// The allowed values of an enum schema, each with its description if it has one.
fn allowed_values(schema: &Value) -> Vec<(String, Option<&str>)> {
    let s = non_null(schema);
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        let values = values.iter().filter(|v| !v.is_null());
        return values.map(|v| (v.to_string(), None)).collect();
    }
    let alts = s.get("oneOf").and_then(Value::as_array);
    alts.into_iter()
        .flatten()
        .filter_map(|a| {
            let value = a.get("const")?.to_string();
            Some((value, a.get("description").and_then(Value::as_str)))
        })
        .collect()
}

fn type_name(schema: &Value) -> String {
    let s = non_null(schema);
    match s.get("format").and_then(Value::as_str) {
        Some("duration") => return "duration".into(),
        Some("byte-size") => return "byte size".into(),
        _ => {}
    }
    let types: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ if !allowed_values(s).is_empty() => vec!["string"],
        _ => vec!["any"],
    };
    let types: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
    match types.as_slice() {
        ["array"] => format!(
            "array of {}",
            type_name(s.get("items").unwrap_or(&Value::Null))
        ),
        ["object"] => match s.get("additionalProperties") {
            Some(v @ Value::Object(_)) => format!("table of {}", type_name(v)),
            _ => "table".into(),
        },
        ["integer"] if s.get("minimum").and_then(Value::as_u64) == Some(0) => {
            "integer (≥ 0)".into()
        }
        _ => types.join(" or "),
    }
}

fn description(schema: &Value) -> &str {
    schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The Markdown reference of every config key, as checked in at `docs/configuration.md`.
pub fn reference_markdown() -> String {
    let schema = config_schema();
    let root = inlined(&schema, &schema);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!-- Generated from crates/config/src/lib.rs by crates/config/src/reference.rs: do not \
         edit. Regenerate with `{REGENERATE}`. -->\n\n# Configuration reference\n\n{}\n",
        description(&root)
    );
    out.push_str(
        "tidemark reads one TOML file. Unknown keys are errors. Every key can be overridden by \
         an environment variable `TIDEMARK__SECTION__KEY=value` (array items by index: \
         `TIDEMARK__TABLES__0__TARGET`).\n\nTypes: a *duration* is a string like `\"200ms\"`, \
         `\"10s\"` or `\"1m 30s\"`; a *byte size* is an integer (bytes) or a string like \
         `\"64MiB\"`, `\"512KiB\"`, `\"1GiB\"` (also `KB`, `MB`, `GB`: powers of 1000).\n",
    );
    for (name, schema, required) in properties(&root) {
        section(&mut out, name, schema, required);
    }
    out
}

fn section(out: &mut String, key: &str, schema: &Value, required: bool) {
    let Some((table, is_array)) = table_of(schema) else {
        return entry(out, key, schema, required);
    };
    let (heading, prefix) = match is_array {
        true => (format!("[[{key}]]"), format!("{key}[]")),
        false => (format!("[{key}]"), key.to_string()),
    };
    let presence = if required { "Required." } else { "Optional." };
    let _ = writeln!(
        out,
        "\n## `{heading}`\n\n{presence} {}",
        description(schema)
    );
    if is_array && !description(table).is_empty() {
        let _ = writeln!(out, "\n{}", description(table));
    }
    let (mut leaves, mut tables) = (Vec::new(), Vec::new());
    for (name, field, req) in properties(table) {
        let dotted = format!("{prefix}.{name}");
        match table_of(field) {
            Some(_) => tables.push((dotted, field, req)),
            None => leaves.push((dotted, field, req)),
        }
    }
    for (dotted, field, req) in leaves {
        entry(out, &dotted, field, req);
    }
    for (dotted, field, req) in tables {
        section(out, &dotted, field, req);
    }
}

fn entry(out: &mut String, key: &str, schema: &Value, required: bool) {
    let _ = writeln!(out, "\n### `{key}`\n\n- Type: {}", type_name(schema));
    match schema.get("default") {
        Some(d) => {
            let _ = writeln!(out, "- Default: `{d}`");
        }
        None if required => out.push_str("- Required\n"),
        None => out.push_str("- Optional, no default\n"),
    }
    let values = allowed_values(schema);
    if values.iter().any(|(_, doc)| doc.is_some()) {
        out.push_str("- Allowed values:\n");
        for (value, doc) in &values {
            let doc = doc.unwrap_or("").replace('\n', " ");
            let _ = writeln!(out, "  - `{value}`: {doc}");
        }
    } else if !values.is_empty() {
        let values: Vec<String> = values.iter().map(|(v, _)| format!("`{v}`")).collect();
        let _ = writeln!(out, "- Allowed values: {}", values.join(", "));
    }
    let env = key.replace("[]", ".<N>").replace('.', "__").to_uppercase();
    let _ = writeln!(
        out,
        "- Environment: `TIDEMARK__{env}`\n\n{}",
        description(schema)
    );
}

#[cfg(test)]
mod tests;
