//! Every column type through the real writer into a real PostgreSQL, compared with literal
//! expectations of the server's own text output (TimeZone UTC): what the binary encodings
//! mean to the server, not what tidemark thinks they mean.

mod cases;

use tidemark_model::{Decimal, ElementType};

use super::*;
use crate::quote_ident;
use cases::cases;

const TABLE: &str = "
    CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
    -- A type outside pg_catalog that is called like a built-in one: staged as text, cast.
    CREATE DOMAIN public.int4 AS text;
    CREATE TABLE public.every (
        id integer PRIMARY KEY,
        n40 numeric(40,5), n numeric, n20 numeric(20,0),
        d date, t time(6), ttz timetz, ts3 timestamp(3), ts timestamp, tstz timestamptz,
        iv interval, u uuid, j json, jb jsonb, b3 bit(3), vb varbit(10), by bytea,
        ia int4[], ta text[], na numeric[], ua uuid[], tsa timestamptz[], va varchar(4)[],
        ca char(2)[], jba jsonb[], fa float8[], da date[], ba boolean[], sa smallint[],
        flag boolean, sm smallint, big bigint, r real, dp double precision,
        feeling mood, x xml, txt text, vc varchar(5), ch char(3), shadow public.int4
    )";

#[tokio::test]
async fn every_column_type_round_trips_through_the_binary_stage() {
    let pg = LocalPostgres::start().expect("postgres");
    batch(&pg, TABLE).await;
    let w = warehouse(&pg);
    w.prepare().await.unwrap();
    let table = TableName::parse("public.every").unwrap();
    let columns = w.describe(&table).await.unwrap().expect("the table exists");
    let ty = |name: &str| columns.iter().find(|c| c.0 == name).map(|c| c.1).unwrap();
    assert_eq!(ty("n40"), ColumnType::Numeric);
    assert_eq!(ty("vb"), ColumnType::Bits);
    assert_eq!(ty("ia"), ColumnType::Array(ElementType::Int32));
    assert_eq!(ty("va"), ColumnType::Array(ElementType::Text));
    assert_eq!(ty("tsa"), ColumnType::Array(ElementType::TimestampTz));
    for other in ["feeling", "x", "shadow"] {
        assert_eq!(ty(other), ColumnType::Other, "{other}");
    }
    let names: Vec<String> = columns.iter().map(|c| c.0.clone()).collect();
    let layout = Arc::new(TableLayout::from_target(table, columns, &BTreeMap::new(), &[]).unwrap());
    layout.decide_key(vec![0]);
    let mut writer = w.writer(cell(&layout)).await.unwrap();

    // One row per case: the case's column set, every other column NULL.
    let cases = cases();
    let changes: Vec<Change> = cases
        .iter()
        .enumerate()
        .map(|(i, (column, value, _))| {
            let mut row = vec![Value::Null; names.len()];
            row[0] = Value::Int(i as i64);
            row[names.iter().position(|n| n == column).unwrap()] = value.clone();
            Change {
                key: Key(vec![Value::Int(i as i64)]),
                op: RowOp::Upsert(row),
                coord: RecordCoord {
                    partition: 0,
                    offset: i as i64,
                },
            }
        })
        .collect();
    let epoch = w.next_epoch().await.unwrap();
    let n = changes.len() as i64;
    writer.merge(&request(changes, n, epoch.0)).await.unwrap();

    let client = tidemark_testkit::connect(&pg.url()).await.unwrap();
    client.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
    let select: Vec<String> = names
        .iter()
        .map(|c| format!("{}::text", quote_ident(c)))
        .collect();
    let rows = client
        .query(
            &format!(
                "SELECT {} FROM public.every ORDER BY every.id",
                select.join(", ")
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), cases.len());
    let mut wrong = Vec::new();
    for (i, (row, (column, value, expected))) in rows.iter().zip(&cases).enumerate() {
        for (c, name) in names.iter().enumerate().skip(1) {
            let got: Option<String> = row.get(c);
            let want = (name == column).then(|| expected.to_string());
            if got != want {
                wrong.push(format!(
                    "row {i} {name} ({value:?}): got {got:?}, want {want:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Comparisons by the type's own equality, not its text.
    let r = sql(
        &pg,
        "SELECT count(*) FROM every WHERE tstz = '1970-01-01 05:30+05:30'::timestamptz
                      OR ttz = '10:15:30.5+05:30'::timetz OR jb = '{\"a\":[1,2],\"b\":1}'::jsonb",
    )
    .await;
    assert_eq!(r[0].get::<_, i64>(0), 3);
}

/// The numeric encoder against the server's own binary output for the same values.
#[tokio::test]
async fn the_numeric_encoder_matches_numeric_send() {
    let pg = LocalPostgres::start().expect("postgres");
    let client = tidemark_testkit::connect(&pg.url()).await.unwrap();
    let long = format!("-{}.{}", "9".repeat(60), "0".repeat(30) + "1");
    for text in [
        "0",
        "0.000",
        "1",
        "-1",
        "0.0001",
        "10000",
        "9999.9999",
        "12.50",
        "1e-20",
        "1e40",
        "18446744073709551615",
        "100000000.5",
        "10000.00010000",
        "0.00012",
        &long,
    ] {
        let d = Decimal::parse(text).unwrap();
        let mut ours = bytes::BytesMut::new();
        crate::encode::numeric(&d, &mut ours).unwrap();
        let row = client
            .query_one("SELECT numeric_send($1::text::numeric)", &[&d.as_str()])
            .await
            .unwrap();
        let theirs: Vec<u8> = row.get(0);
        assert_eq!(ours.to_vec(), theirs, "{text}");
    }
}
