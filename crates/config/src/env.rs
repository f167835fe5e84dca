use crate::ConfigError;

const PREFIX: &str = "TIDEMARK__";

/// Applies `TIDEMARK__A__B=value` overrides to a parsed TOML table. Path segments are lower-cased;
/// a numeric segment indexes an array. Values that parse as a TOML value (`10`, `true`,
/// `["a","b"]`) are used as such; anything else is a string.
pub fn apply_env_overrides(
    table: &mut toml::Table,
    env: impl Iterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let Some(path) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let segments: Vec<String> = path.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(ConfigError::Invalid {
                key: name.clone(),
                reason: "empty path segment in environment override".into(),
            });
        }
        let value = parse_value(&raw);
        set_path(table, &segments, value).map_err(|reason| ConfigError::Invalid {
            key: name.clone(),
            reason,
        })?;
    }
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty path")?;
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_in_value(entry, rest, value)
}

fn set_in_value(node: &mut toml::Value, path: &[String], value: toml::Value) -> Result<(), String> {
    match node {
        toml::Value::Table(t) => set_path(t, path, value),
        toml::Value::Array(items) => {
            let (first, rest) = path.split_first().ok_or("empty path")?;
            let index: usize = first
                .parse()
                .map_err(|_| format!("{first:?} must be an array index"))?;
            let len = items.len();
            let item = items
                .get_mut(index)
                .ok_or_else(|| format!("index {index} is past the {len} items of the array"))?;
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set_in_value(item, rest, value)
            }
        }
        _ => Err(format!(
            "cannot descend into {:?}: not a table",
            path.first()
        )),
    }
}
