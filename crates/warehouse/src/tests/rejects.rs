//! Values the server refuses — at COPY (typmods) or at the cast of a text-staged column — fail
//! the merge with a data error naming the column and the record, apply nothing, and leave the
//! writer usable.

use tidemark_model::{Bits, Decimal};

use super::*;

const TABLE: &str = "
    CREATE TYPE public.mood AS ENUM ('sad', 'happy');
    CREATE TABLE public.narrow (
        id integer PRIMARY KEY, code varchar(5), amount numeric(5,2), flags bit(3),
        doc jsonb, feeling mood
    )";

fn row(id: i64, offset: i64, values: [Value; 5]) -> Change {
    let mut row = vec![Value::Int(id)];
    row.extend(values);
    Change {
        key: Key(vec![Value::Int(id)]),
        op: RowOp::Upsert(row),
        coord: RecordCoord {
            partition: 3,
            offset,
        },
    }
}

fn good(id: i64, offset: i64) -> Change {
    row(
        id,
        offset,
        [
            Value::Text("abcde".into()),
            Value::Decimal(Decimal::parse("999.99").unwrap()),
            Value::Bits(Box::new(Bits {
                len: 3,
                bytes: vec![0x20],
            })),
            Value::Json("{}".into()),
            Value::Text("sad".into()),
        ],
    )
}

/// `good(id, offset)` with one column (1-based, after the id) replaced.
fn bad(id: i64, offset: i64, column: usize, value: Value) -> Change {
    let mut change = good(id, offset);
    if let RowOp::Upsert(values) = &mut change.op {
        values[column] = value;
    }
    change
}

#[tokio::test]
async fn a_value_the_server_refuses_names_its_column_and_record() {
    let pg = LocalPostgres::start().expect("postgres");
    batch(&pg, TABLE).await;
    let w = warehouse(&pg);
    w.prepare().await.unwrap();
    let table = TableName::parse("public.narrow").unwrap();
    let columns = w.describe(&table).await.unwrap().expect("the table exists");
    let layout = Arc::new(TableLayout::from_target(table, columns, &BTreeMap::new(), &[]).unwrap());
    layout.decide_key(vec![0]);
    let mut writer = w.writer(cell(&layout)).await.unwrap();
    let epoch = w.next_epoch().await.unwrap();
    let text = |s: &str| Value::Text(s.into());
    // (bad change's position among 3000 good ones, column index, value, column name, reason)
    let cases = [
        (
            0,
            1,
            text("abcdef"),
            "code",
            "value too long for type character varying(5) (22001)",
        ),
        // Far into the COPY: the server has refused it while later rows are still sent.
        (2_500, 1, text("ééééé!"), "code", "value too long"),
        (
            10,
            2,
            Value::Decimal(Decimal::parse("1000").unwrap()),
            "amount",
            "numeric field overflow (22003)",
        ),
        (2_999, 2, Value::Float(f64::INFINITY), "amount", "(22003)"),
        (
            7,
            3,
            Value::Bool(true),
            "flags",
            "bit string length 1 does not match type bit(3) (22026)",
        ),
        (
            1_234,
            4,
            Value::Json("{\"a\": }".into()),
            "doc",
            "invalid input syntax for type json (22P02)",
        ),
        // Text-staged and cast by the INSERT: found by casting the staged texts again.
        (
            1_999,
            5,
            text("angry"),
            "feeling",
            "invalid input value for enum mood: \"angry\" (22P02)",
        ),
        (0, 5, text("x"), "feeling", "enum mood"),
    ];
    for (at, column, value, name, reason) in cases {
        let changes: Vec<Change> = (0..3_000)
            .map(|i| match i == at {
                true => bad(i, 100 + i, column, value.clone()),
                false => good(i, 100 + i),
            })
            .collect();
        let err = writer
            .merge(&request(changes, 3_100, epoch.0))
            .await
            .unwrap_err();
        match &err {
            WarehouseError::Data {
                column: c,
                coord,
                reason: r,
                ..
            } => {
                assert_eq!(
                    (c.as_str(), *coord),
                    (
                        name,
                        RecordCoord {
                            partition: 3,
                            offset: 100 + at
                        }
                    ),
                    "{err}"
                );
                assert!(r.contains(reason), "{err}");
            }
            other => panic!("{name} at {at}: not a data error: {other}"),
        }
        assert!(!err.is_retriable());
        assert!(
            err.to_string()
                .contains(&format!("partition 3 offset {}", 100 + at)),
            "{err}"
        );
        let n = sql(&pg, "SELECT count(*) FROM narrow").await;
        assert_eq!(n[0].get::<_, i64>(0), 0, "nothing applied");
        assert!(w.watermarks().await.unwrap().is_empty());
    }
    // The writer and its connection are still good.
    writer
        .merge(&request(vec![good(1, 1), good(2, 2)], 3, epoch.0))
        .await
        .unwrap();
    let n = sql(&pg, "SELECT count(*) FROM narrow").await;
    assert_eq!(n[0].get::<_, i64>(0), 2);
}

/// A text-staged key column is cast by the DELETE, before any insert.
#[tokio::test]
async fn a_key_that_fails_its_cast_names_its_record() {
    let pg = LocalPostgres::start().expect("postgres");
    batch(
        &pg,
        "CREATE TYPE public.mood AS ENUM ('sad', 'happy');
                CREATE TABLE public.k (feeling mood PRIMARY KEY, n integer)",
    )
    .await;
    let w = warehouse(&pg);
    let table = TableName::parse("public.k").unwrap();
    let columns = w.describe(&table).await.unwrap().expect("the table exists");
    let layout = Arc::new(TableLayout::from_target(table, columns, &BTreeMap::new(), &[]).unwrap());
    layout.decide_key(vec![0]);
    let mut writer = w.writer(cell(&layout)).await.unwrap();
    let change = |feeling: &str, offset| Change {
        key: Key(vec![Value::Text(feeling.into())]),
        op: RowOp::Delete,
        coord: RecordCoord {
            partition: 0,
            offset,
        },
    };
    w.prepare().await.unwrap();
    let err = writer
        .merge(&request(
            vec![change("sad", 5), change("meh", 6), change("happy", 7)],
            8,
            1,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WarehouseError::Data { column, coord, .. }
            if column == "feeling" && coord.offset == 6),
        "{err}"
    );
}
