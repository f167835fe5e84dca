use crate::ConfigError;

const PREFIX: &str = "TIDEMARK__";

/// String-typed keys of the config (`*`: any array index or map key). An override of one of
/// these is the raw text even when it looks like a number or a boolean
/// (`TIDEMARK__COORDINATION__CLUSTER=2024` is the pipeline named "2024"). Kept beside the
/// structs by a test that walks a config using every key.
pub(crate) const STRING_KEYS: &[&[&str]] = &[
    &["kafka", "brokers"],
    &["kafka", "properties", "*"],
    &["warehouse", "url"],
    &["warehouse", "dialect"],
    &["warehouse", "schema"],
    &["coordination", "mode"],
    &["coordination", "cluster"],
    &["coordination", "endpoints", "*"],
    &["tables", "*", "topic"],
    &["tables", "*", "target"],
    &["tables", "*", "key", "*"],
    &["tables", "*", "columns", "*"],
    &["tables", "*", "unmanaged_columns", "*"],
    &["tables", "*", "truncate"],
    &["telemetry", "otlp_endpoint"],
    &["telemetry", "otlp_protocol"],
    &["telemetry", "service_name"],
    &["telemetry", "otlp_headers", "*"],
];

/// Maps whose keys are the user's, and case-sensitive: source field names.
const CASE_SENSITIVE_MAPS: &[&[&str]] = &[&["tables", "*", "columns"]];

fn matches(pattern: &[&str], path: &[String]) -> bool {
    pattern.len() == path.len() && pattern.iter().zip(path).all(|(p, s)| *p == "*" || p == s)
}

/// Applies `TIDEMARK__A__B=value` overrides to a parsed TOML table; a numeric segment indexes an
/// array. A segment names the key the file already has, exactly or else ignoring case (env
/// names are upper case by convention); a new key is lower-cased like every key of the schema,
/// except in maps of source field names (`tables.N.columns`), where case is kept. Values are
/// typed by the key they set: string keys take the raw text; other keys take the value as TOML
/// (`10`, `true`, `["a","b"]`) when it parses as one, else the text.
pub fn apply_env_overrides(
    table: &mut toml::Table,
    env: impl Iterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let Some(path) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let segments: Vec<&str> = path.split("__").collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(ConfigError::Invalid {
                key: name.clone(),
                reason: "empty path segment in environment override".into(),
            });
        }
        let mut resolved = Vec::with_capacity(segments.len());
        set_path(table, &segments, &mut resolved, &raw).map_err(|reason| ConfigError::Invalid {
            key: name.clone(),
            reason,
        })?;
    }
    Ok(())
}

fn parse_value(raw: &str, path: &[String]) -> toml::Value {
    let doc = format!("v = {raw}");
    let parsed = match doc.parse::<toml::Table>() {
        Ok(mut t) => t.remove("v"),
        Err(_) => None,
    };
    match parsed {
        // An array or table given for a string key is meant as one (`KEY=["a","b"]`).
        Some(v @ (toml::Value::Array(_) | toml::Value::Table(_))) => v,
        Some(_) | None if STRING_KEYS.iter().any(|p| matches(p, path)) => {
            toml::Value::String(raw.to_string())
        }
        Some(v) => v,
        None => toml::Value::String(raw.to_string()),
    }
}

/// The key `segment` names in `table`: the existing one (exact, else the one equal ignoring
/// case), else the new key's spelling.
fn resolve_key(table: &toml::Table, segment: &str, parent: &[String]) -> String {
    if table.contains_key(segment) {
        return segment.to_string();
    }
    let mut folded = table.keys().filter(|k| k.eq_ignore_ascii_case(segment));
    if let (Some(k), None) = (folded.next(), folded.next()) {
        return k.clone();
    }
    if CASE_SENSITIVE_MAPS.iter().any(|p| matches(p, parent)) {
        segment.to_string()
    } else {
        segment.to_ascii_lowercase()
    }
}

/// Sets `path` under `table`; `resolved` is the path so far in the file's spelling.
fn set_path(
    table: &mut toml::Table,
    path: &[&str],
    resolved: &mut Vec<String>,
    raw: &str,
) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty path")?;
    let key = resolve_key(table, first, resolved);
    resolved.push(key.clone());
    if rest.is_empty() {
        table.insert(key, parse_value(raw, resolved));
        return Ok(());
    }
    let entry = table
        .entry(key)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_in_value(entry, rest, resolved, raw)
}

fn set_in_value(
    node: &mut toml::Value,
    path: &[&str],
    resolved: &mut Vec<String>,
    raw: &str,
) -> Result<(), String> {
    match node {
        toml::Value::Table(t) => set_path(t, path, resolved, raw),
        toml::Value::Array(items) => {
            let (first, rest) = path.split_first().ok_or("empty path")?;
            let index: usize = first
                .parse()
                .map_err(|_| format!("{first:?} must be an array index"))?;
            let len = items.len();
            let item = items
                .get_mut(index)
                .ok_or_else(|| format!("index {index} is past the {len} items of the array"))?;
            resolved.push(index.to_string());
            if rest.is_empty() {
                *item = parse_value(raw, resolved);
                Ok(())
            } else {
                set_in_value(item, rest, resolved, raw)
            }
        }
        _ => Err(format!(
            "cannot descend into {:?}: not a table",
            path.first()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    /// A config that sets every key of the schema.
    const EVERY_KEY: &str = r#"
        [kafka]
        brokers = "b:9092"
        [kafka.properties]
        "security.protocol" = "SASL_SSL"
        [warehouse]
        url = "postgres://u@h/db"
        dialect = "postgres"
        schema = "tm"
        statement_timeout = "30s"
        [coordination]
        mode = "etcd"
        slices = 2
        cluster = "c"
        endpoints = ["http://e:2379"]
        lease_ttl = "10s"
        [batch]
        max_rows = 10
        max_bytes = "1MiB"
        linger = "5ms"
        max_in_flight = 2
        max_in_flight_bytes = "8MiB"
        [[tables]]
        topic = "t"
        target = "public.t"
        key = ["ID"]
        unmanaged_columns = ["x"]
        truncate = "apply"
        [tables.columns]
        ID = "id"
        [telemetry]
        otlp_endpoint = "http://collector:4317"
        otlp_protocol = "grpc"
        service_name = "svc"
        [telemetry.otlp_headers]
        authorization = "Bearer t"
    "#;

    /// Keys that take a string or a number (durations, byte sizes): typed by TOML parsing.
    const EITHER: &[&str] = &[
        "statement_timeout",
        "lease_ttl",
        "linger",
        "max_bytes",
        "max_in_flight_bytes",
    ];

    fn walk(v: &toml::Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
        match v {
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| {
                path.push(k.clone());
                walk(v, path, out);
                path.pop();
            }),
            toml::Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| {
                path.push(i.to_string());
                walk(v, path, out);
                path.pop();
            }),
            leaf => out.push((path.clone(), matches!(leaf, toml::Value::String(_)))),
        }
    }

    #[test]
    fn string_keys_are_exactly_the_string_typed_keys_of_the_schema() {
        Config::from_toml(EVERY_KEY).expect("every key is a real key");
        let table: toml::Table = EVERY_KEY.parse().unwrap();
        let mut leaves = Vec::new();
        walk(&toml::Value::Table(table), &mut Vec::new(), &mut leaves);
        for (path, is_string) in leaves {
            if EITHER.contains(&path.last().unwrap().as_str()) {
                continue;
            }
            let listed = STRING_KEYS.iter().any(|p| matches(p, &path));
            assert_eq!(listed, is_string, "{}", path.join("."));
        }
    }

    fn with_env(vars: &[(&str, &str)]) -> Result<Config, crate::ConfigError> {
        let env = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::from_toml_with_env(EVERY_KEY, "test", env)
    }

    #[test]
    fn numeric_looking_strings_stay_strings() {
        let c = with_env(&[
            ("TIDEMARK__COORDINATION__CLUSTER", "2024"),
            ("TIDEMARK__WAREHOUSE__SCHEMA", "true"),
            ("TIDEMARK__TABLES__0__KEY__0", "42"),
            ("TIDEMARK__BATCH__MAX_ROWS", "77"),
        ])
        .unwrap();
        assert_eq!(c.coordination.cluster, "2024");
        assert_eq!(c.warehouse.schema, "true");
        assert_eq!(c.tables[0].key.as_deref(), Some(&["42".to_string()][..]));
        assert_eq!(c.batch.max_rows, 77);
    }

    #[test]
    fn telemetry_headers_come_from_the_environment_and_are_never_shown() {
        let c = with_env(&[("TIDEMARK__TELEMETRY__OTLP_HEADERS__X-TOKEN", "12345")]).unwrap();
        let headers = &c.telemetry.otlp_headers;
        assert_eq!(headers.get("x-token").map(|s| s.expose()), Some("12345"));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("12345") && !shown.contains("Bearer t"),
            "{shown}"
        );
    }

    #[test]
    fn case_sensitive_keys_are_overridden_not_duplicated() {
        let c = with_env(&[
            ("TIDEMARK__TABLES__0__COLUMNS__ID", "identifier"),
            ("TIDEMARK__TABLES__0__COLUMNS__MixedCase", "mixed"),
            ("TIDEMARK__KAFKA__PROPERTIES__SECURITY.PROTOCOL", "SSL"),
        ])
        .unwrap();
        let columns = &c.tables[0].columns;
        assert_eq!(columns.get("ID").map(String::as_str), Some("identifier"));
        assert_eq!(columns.get("MixedCase").map(String::as_str), Some("mixed"));
        assert_eq!(columns.len(), 2, "{columns:?}");
        assert_eq!(
            c.kafka
                .properties
                .get("security.protocol")
                .map(String::as_str),
            Some("SSL")
        );
        assert_eq!(c.kafka.properties.len(), 1);
    }

    #[test]
    fn schema_keys_are_matched_ignoring_case_and_unknown_ones_still_fail() {
        let c = with_env(&[("TIDEMARK__BATCH__LINGER", "7ms")]).unwrap();
        assert_eq!(c.batch.linger, std::time::Duration::from_millis(7));
        let err = with_env(&[("TIDEMARK__BATCH__LINGERR", "7ms")]).unwrap_err();
        assert!(err.to_string().contains("linger"), "{err}");
    }
}
