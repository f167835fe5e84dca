//! Topic → table routes: explicit `topic = …` entries, and pattern entries (`topics = "<regex>"`
//! with a target template such as `"public.${table}"`) matched against the topics the broker
//! has. Pure: the caller lists the topics.
//!
//! Rules, in this order:
//! - an explicit entry routes its topic, whether or not the topic exists yet;
//! - a topic no explicit entry names is routed by the first pattern entry (in file order) whose
//!   regular expression matches the whole topic name;
//! - topics whose name starts with `__` (Kafka's and Debezium's own: `__consumer_offsets`,
//!   `__debezium-heartbeat.…`) are never matched by a pattern;
//! - two routes to one target table are an error naming both topics.

use std::collections::BTreeMap;

use regex::Regex;
use tidemark_model::TableName;

use crate::{ConfigError, TableConfig};

/// The variables a target template may use, for a Debezium topic `<prefix>.<schema>.<table>`.
pub const TEMPLATE_VARIABLES: [&str; 4] = ["topic", "prefix", "schema", "table"];

/// One topic → table route.
#[derive(Debug, Clone)]
pub struct Route<'a> {
    pub topic: String,
    pub target: TableName,
    /// The raw landing table, if the entry has one.
    pub raw_table: Option<TableName>,
    /// The `[[tables]]` entry whose settings apply.
    pub table: &'a TableConfig,
}

/// The compiled pattern of a pattern entry: the whole topic name must match.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| e.to_string())
}

/// The target a topic gets from a template: `${topic}` the whole name, `${table}` its last
/// dot-separated part, `${schema}` the one before, `${prefix}` the first. `None` if the topic
/// lacks a part the template uses, or the result is not a table name.
pub fn expand(template: &str, topic: &str) -> Option<TableName> {
    let parts: Vec<&str> = topic.split('.').collect();
    let n = parts.len();
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        let value = match &after[..end] {
            "topic" => topic,
            "table" => parts.last().copied()?,
            "schema" if n >= 2 => parts[n - 2],
            "prefix" if n >= 2 => parts[0],
            _ => return None,
        };
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    TableName::parse(&out)
}

/// Whether a template uses only known variables, each closed.
pub(crate) fn template_error(template: &str) -> Option<String> {
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Some("a `${` is not closed".into());
        };
        let name = &after[..end];
        if !TEMPLATE_VARIABLES.contains(&name) {
            return Some(format!(
                "unknown variable ${{{name}}}; the variables are {}",
                TEMPLATE_VARIABLES.map(|v| format!("${{{v}}}")).join(", ")
            ));
        }
        rest = &after[end + 1..];
    }
    None
}

impl crate::Config {
    /// Whether some entry routes by pattern (its tables depend on the broker's topics).
    pub fn has_patterns(&self) -> bool {
        self.tables.iter().any(|t| t.topics.is_some())
    }

    /// Every route, given the topics the broker has (ignored without pattern entries), sorted
    /// by topic.
    pub fn routes(&self, topics: &[String]) -> Result<Vec<Route<'_>>, ConfigError> {
        let mut routes: BTreeMap<String, Route<'_>> = BTreeMap::new();
        for t in &self.tables {
            if let (Some(topic), Some(target)) = (&t.topic, t.target_name()) {
                routes.insert(
                    topic.clone(),
                    Route {
                        topic: topic.clone(),
                        target,
                        raw_table: t.raw_table.as_deref().and_then(TableName::parse),
                        table: t,
                    },
                );
            }
        }
        let patterns: Vec<(usize, &TableConfig, Regex)> = self
            .tables
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((i, t, compile(t.topics.as_deref()?).ok()?)))
            .collect();
        for topic in topics {
            if routes.contains_key(topic) || topic.starts_with("__") {
                continue;
            }
            let Some((i, t, _)) = patterns.iter().find(|(_, _, re)| re.is_match(topic)) else {
                continue;
            };
            let target = expand(&t.target, topic).ok_or_else(|| ConfigError::Invalid {
                key: format!("tables[{i}].target"),
                reason: format!(
                    "the template {:?} gives no table name for topic {topic:?}",
                    t.target
                ),
            })?;
            let raw_table = match &t.raw_table {
                None => None,
                Some(raw) => Some(expand(raw, topic).ok_or_else(|| ConfigError::Invalid {
                    key: format!("tables[{i}].raw_table"),
                    reason: format!("the template {raw:?} gives no table name for topic {topic:?}"),
                })?),
            };
            routes.insert(
                topic.clone(),
                Route {
                    topic: topic.clone(),
                    target,
                    raw_table,
                    table: t,
                },
            );
        }
        let mut by_target: BTreeMap<&TableName, &str> = BTreeMap::new();
        for route in routes.values() {
            if let Some(other) = by_target.insert(&route.target, &route.topic) {
                return Err(ConfigError::Invalid {
                    key: "tables".into(),
                    reason: format!(
                        "topics {other:?} and {:?} both route to table {}; give one of them an \
                         explicit [[tables]] entry with another target",
                        route.topic, route.target
                    ),
                });
            }
        }
        Ok(routes.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn config(tables: &str) -> Config {
        Config::from_toml(&format!(
            "[kafka]\nbrokers = \"b:9092\"\n[warehouse]\nurl = \"postgres://u@h/db\"\n{tables}"
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn topics(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn templates_expand_the_parts_of_a_debezium_topic() {
        let t = |template, topic| expand(template, topic).map(|n| n.to_string());
        assert_eq!(
            t("public.${table}", "salesdb.salesdb.CUSTOMER").as_deref(),
            Some("public.CUSTOMER")
        );
        assert_eq!(
            t("${schema}.${table}", "pg.inventory.orders").as_deref(),
            Some("inventory.orders")
        );
        assert_eq!(
            t("raw.${prefix}_${table}", "pg.inventory.orders").as_deref(),
            Some("raw.pg_orders")
        );
        assert_eq!(t("${schema}.${table}", "orders"), None, "no schema part");
        assert_eq!(t("a.b.${table}", "x.y"), None, "not a table name");
        assert!(template_error("public.${tabel}").is_some_and(|e| e.contains("${table}")));
        assert!(template_error("public.${table").is_some());
        assert_eq!(template_error("public.${table}"), None);
    }

    #[test]
    fn explicit_entries_win_then_the_first_matching_pattern() {
        let c = config(
            "[[tables]]\ntopic = \"s.s.SPECIAL\"\ntarget = \"public.special_one\"\n\
             [[tables]]\ntopics = 's\\.s\\..*'\ntarget = \"public.${table}\"\nkey = [\"id\"]\n\
             [[tables]]\ntopics = '.*'\ntarget = \"other.${table}\"\n",
        );
        assert!(c.has_patterns());
        let all = topics(&["s.s.A", "s.s.SPECIAL", "t.t.B", "__consumer_offsets", "s.s"]);
        let routes: Vec<(String, String, Option<Vec<String>>)> = c
            .routes(&all)
            .expect("routes")
            .into_iter()
            .map(|r| (r.topic, r.target.to_string(), r.table.key.clone()))
            .collect();
        assert_eq!(
            routes,
            [
                ("s.s".into(), "other.s".into(), None),
                ("s.s.A".into(), "public.A".into(), Some(vec!["id".into()])),
                ("s.s.SPECIAL".into(), "public.special_one".into(), None),
                ("t.t.B".into(), "other.B".into(), None),
            ]
        );
    }

    #[test]
    fn two_topics_routed_to_one_table_are_an_error() {
        let c = config("[[tables]]\ntopics = '.*'\ntarget = \"public.${table}\"\n");
        let err = c
            .routes(&topics(&["a.x.orders", "b.y.orders"]))
            .expect_err("collision");
        assert!(
            err.to_string().contains("a.x.orders") && err.to_string().contains("public.orders"),
            "{err}"
        );
    }

    #[test]
    fn pattern_entries_are_validated() {
        let bad = |tables: &str| {
            Config::from_toml(&format!(
                "[kafka]\nbrokers = \"b:9092\"\n[warehouse]\nurl = \"postgres://u@h/db\"\n{tables}"
            ))
            .expect_err(tables)
            .to_string()
        };
        assert!(bad("[[tables]]\ntopics = '('\ntarget = \"t\"\n").contains("tables[0].topics"));
        assert!(
            bad("[[tables]]\ntopics = 'a'\ntopic = \"a\"\ntarget = \"t\"\n")
                .contains("exactly one")
        );
        assert!(bad("[[tables]]\ntarget = \"t\"\n").contains("exactly one"));
        assert!(
            bad("[[tables]]\ntopics = 'a'\ntarget = \"${nope}\"\n").contains("unknown variable")
        );
        assert!(
            bad("[[tables]]\ntopic = \"a\"\ntarget = \"${table}\"\n").contains("only a pattern")
        );
    }
}
