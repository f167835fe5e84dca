use super::*;

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");

/// The smallest valid config: what every default is compared against.
const MINIMAL: &str = r#"
[kafka]
brokers = "127.0.0.1:9092"
[warehouse]
url = "postgres://postgres@127.0.0.1:5432/dev"
[[tables]]
topic = "salesdb.salesdb.CUSTOMER"
target = "public.customer"
"#;

/// Every property of the schema, sections included, as (path, its own schema); `*` is an array
/// item or a map key.
fn keys<'a>(
    root: &'a Value,
    schema: &'a Value,
    path: &[String],
    out: &mut Vec<(Vec<String>, &'a Value)>,
) {
    let s = deref(root, non_null(deref(root, schema)));
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let mut p = path.to_vec();
            p.push(name.clone());
            out.push((p.clone(), prop));
            keys(root, prop, &p, out);
        }
    }
    for nested in ["items", "additionalProperties"] {
        if let Some(inner @ Value::Object(_)) = s.get(nested) {
            let mut p = path.to_vec();
            p.push("*".into());
            out.push((p.clone(), inner));
            keys(root, inner, &p, out);
        }
    }
}

fn all_keys(root: &Value) -> Vec<(Vec<String>, &Value)> {
    let mut out = Vec::new();
    keys(root, root, &[], &mut out);
    out
}

#[test]
fn reference_doc_is_generated_from_the_code() {
    let generated = reference_markdown();
    if std::env::var_os("TIDEMARK_BLESS").is_some_and(|v| v == "1") {
        let dir = std::path::Path::new(DOC).parent().unwrap();
        std::fs::create_dir_all(dir).expect("create docs/");
        std::fs::write(DOC, &generated).expect("write docs/configuration.md");
        return;
    }
    let checked_in = std::fs::read_to_string(DOC).unwrap_or_default();
    if checked_in != generated {
        let line = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "the end".to_string(), |i| format!("line {}", i + 1));
        panic!(
            "docs/configuration.md is not what the config structs generate (first difference at \
             {line}). Regenerate it with `{REGENERATE}` and check it in."
        );
    }
}

#[test]
fn reference_every_key_has_a_description() {
    let schema = config_schema();
    let missing: Vec<String> = all_keys(&schema)
        .into_iter()
        .filter(|(path, prop)| {
            let item = path.last().is_some_and(|s| s == "*");
            let text = prop.get("description").and_then(Value::as_str);
            !item && text.is_none_or(|t| t.trim().is_empty())
        })
        .map(|(path, _)| path.join("."))
        .collect();
    assert!(
        missing.is_empty(),
        "config keys without a doc comment (document them in crates/config/src/lib.rs, then \
         run `{REGENERATE}`): {}",
        missing.join(", ")
    );
}

#[test]
fn reference_env_string_keys_are_keys_of_the_schema() {
    let schema = config_schema();
    let paths: Vec<Vec<String>> = all_keys(&schema).into_iter().map(|(p, _)| p).collect();
    for key in crate::env::STRING_KEYS {
        let key: Vec<String> = key.iter().map(|s| s.to_string()).collect();
        assert!(
            paths.contains(&key),
            "env.rs STRING_KEYS has {key:?}, not a key of the schema"
        );
    }
}

/// TOML setting `path` (sections and `tables.*`, i.e. `tables[0]`) to `value` in `MINIMAL`.
fn set(path: &[String], value: toml::Value) -> String {
    let mut doc: toml::Table = MINIMAL.parse().unwrap();
    let mut table = &mut doc;
    let (last, parents) = path.split_last().unwrap();
    for segment in parents {
        table = match segment.as_str() {
            "*" => table,
            _ => match table
                .entry(segment.clone())
                .or_insert(toml::Table::new().into())
            {
                toml::Value::Array(items) => items[0].as_table_mut().unwrap(),
                other => other.as_table_mut().unwrap(),
            },
        };
    }
    table.insert(last.clone(), value);
    doc.to_string()
}

#[test]
fn reference_defaults_are_the_real_defaults() {
    let schema = config_schema();
    let base = format!("{:?}", Config::from_toml(MINIMAL).unwrap());
    let mut checked = 0;
    for (path, prop) in all_keys(&schema) {
        let Some(default) = prop.get("default") else {
            continue;
        };
        let key = path.join(".");
        let value = toml::Value::try_from(default)
            .unwrap_or_else(|e| panic!("default of {key} is not a TOML value: {e}"));
        let text = set(&path, value);
        let config = Config::from_toml(&text)
            .unwrap_or_else(|e| panic!("documented default of {key} is rejected: {e}"));
        assert_eq!(
            format!("{config:?}"),
            base,
            "documented default of {key} is not its default"
        );
        checked += 1;
    }
    assert!(checked > 20, "only {checked} defaults found");
}

#[test]
fn reference_debezium_values_are_accepted() {
    let sets = [
        ("decimal_handling", DecimalHandlingValues::VALUES),
        ("time_precision", TimePrecisionValues::VALUES),
        ("binary_handling", BinaryHandlingValues::VALUES),
    ];
    for (key, values) in sets {
        for value in values {
            for path in [["decoding", key, ""], ["tables", "*", key]] {
                let path: Vec<String> = path
                    .iter()
                    .filter(|s| !s.is_empty())
                    .map(|s| s.to_string())
                    .collect();
                let text = set(&path, toml::Value::String(value.to_string()));
                let parsed = Config::from_toml(&text);
                assert!(
                    parsed.is_ok(),
                    "{} = {value:?}: {:?}",
                    path.join("."),
                    parsed.err()
                );
            }
        }
    }
}
