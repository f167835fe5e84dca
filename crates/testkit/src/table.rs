//! Reading warehouse tables as text, for comparisons with an oracle.

use std::collections::BTreeMap;

use crate::error::TestkitError;

/// Quotes an SQL identifier (`"` doubled).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes `"schema.name"` as `"schema"."name"` (split at the first dot; no dot: unqualified).
pub fn quote_table(table: &str) -> String {
    match table.split_once('.') {
        Some((schema, name)) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
        None => quote_ident(table),
    }
}

/// Connects with tokio-postgres (no TLS); the connection runs on a spawned task.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, TestkitError> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| TestkitError::pg(format!("connecting to {url}"), e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "testkit postgres connection ended");
        }
    });
    Ok(client)
}

/// Reads `table` as text: key (texts of the `key` columns) → texts of `columns` (NULL = None).
///
/// Runs `SELECT k1::text, .., c1::text, .. FROM "schema"."name"`. Two rows with the same key
/// are an error listing the duplicates (never collapsed); so is a NULL key column.
pub async fn table_as_text(
    url: &str,
    table: &str,
    columns: &[&str],
    key: &[&str],
) -> Result<BTreeMap<Vec<String>, Vec<Option<String>>>, TestkitError> {
    let client = connect(url).await?;
    let select: Vec<String> = key
        .iter()
        .chain(columns)
        .map(|c| format!("{}::text", quote_ident(c)))
        .collect();
    let sql = format!("SELECT {} FROM {}", select.join(", "), quote_table(table));
    let rows = client
        .query(sql.as_str(), &[])
        .await
        .map_err(|e| TestkitError::pg(format!("`{sql}`"), e))?;
    let mut out: BTreeMap<Vec<String>, Vec<Option<String>>> = BTreeMap::new();
    // Duplicated keys with all their rows, for the error.
    let mut dups: BTreeMap<Vec<String>, Vec<Vec<Option<String>>>> = BTreeMap::new();
    let mut surplus = 0u64;
    for row in rows {
        let mut texts: Vec<Option<String>> = (0..row.len())
            .map(|i| row.try_get::<_, Option<String>>(i))
            .collect::<Result<_, _>>()
            .map_err(|e| TestkitError::pg(format!("decoding a row of {table}"), e))?;
        let values = texts.split_off(key.len());
        let mut k = Vec::with_capacity(key.len());
        for (text, column) in texts.into_iter().zip(key) {
            match text {
                Some(text) => k.push(text),
                None => {
                    return Err(TestkitError::NullKey {
                        table: table.to_string(),
                        column: (*column).to_string(),
                        row: values,
                    })
                }
            }
        }
        if let Some(first) = out.get(&k) {
            surplus += 1;
            dups.entry(k.clone())
                .or_insert_with(|| vec![first.clone()])
                .push(values);
        } else {
            out.insert(k, values);
        }
    }
    if surplus > 0 {
        let examples: Vec<String> = dups
            .iter()
            .take(10)
            .map(|(k, rows)| format!("{k:?} => {rows:?}"))
            .collect();
        return Err(TestkitError::DuplicateKeys {
            table: table.to_string(),
            count: surplus,
            examples: examples.join("; "),
        });
    }
    Ok(out)
}

/// Number of surplus rows of `table` sharing a `key` with another row (0 when keys are unique):
/// `sum(count - 1)` over the key groups having more than one row.
pub async fn duplicate_keys(url: &str, table: &str, key: &[&str]) -> Result<u64, TestkitError> {
    let client = connect(url).await?;
    let group: Vec<String> = key.iter().map(|c| quote_ident(c)).collect();
    let sql = format!(
        "SELECT coalesce(sum(n - 1), 0)::int8 FROM \
         (SELECT count(*) AS n FROM {} GROUP BY {} HAVING count(*) > 1) d",
        quote_table(table),
        group.join(", ")
    );
    let row = client
        .query_one(sql.as_str(), &[])
        .await
        .map_err(|e| TestkitError::pg(format!("`{sql}`"), e))?;
    let n: i64 = row
        .try_get(0)
        .map_err(|e| TestkitError::pg(format!("decoding `{sql}`"), e))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Redshift's functions and types the Redshift dialect's statements use, defined on PostgreSQL
/// so that the dialect's merge path runs there in tests: `FROM_HEX` (hexadecimal text to bytes),
/// `JSON_PARSE` (text to a JSON document) and the `SUPER` and `VARBYTE` type names (without a
/// length: PostgreSQL's domains take none). Everything else the dialect writes is SQL both
/// servers accept.
pub const REDSHIFT_ON_POSTGRES: &str = "
    CREATE OR REPLACE FUNCTION public.from_hex(text) RETURNS bytea
        LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT decode($1, 'hex') $$;
    CREATE OR REPLACE FUNCTION public.json_parse(text) RETURNS jsonb
        LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT CAST($1 AS jsonb) $$;
    DO $$ BEGIN CREATE DOMAIN public.super AS jsonb;
        EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    DO $$ BEGIN CREATE DOMAIN public.varbyte AS bytea;
        EXCEPTION WHEN duplicate_object THEN NULL; END $$;";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_table("public.t"), "\"public\".\"t\"");
        assert_eq!(quote_table("t"), "\"t\"");
        assert_eq!(quote_table("s.t.x"), "\"s\".\"t.x\"");
    }
}
