//! Columns of types without a native encoding (enums, domains, xml, geometry, …) are staged
//! as text and cast to the column's type by the merge.

use super::*;

#[tokio::test]
async fn columns_without_a_binary_encoding_are_staged_as_text_and_cast() {
    let pg = LocalPostgres::start().expect("postgres");
    batch(
        &pg,
        "CREATE TYPE public.mood AS ENUM ('sad', 'happy');
         CREATE DOMAIN public.positive AS integer CHECK (VALUE > 0);
         CREATE TABLE public.n (id integer PRIMARY KEY, feeling mood, doc xml, p positive, pt point)",
    )
    .await;
    let w = warehouse(&pg);
    w.prepare().await.unwrap();
    let table = TableName::parse("n").unwrap();
    let columns = w.describe(&table).await.unwrap().expect("the table exists");
    assert!(
        columns[1..].iter().all(|c| c.1 == ColumnType::Other),
        "{columns:?}"
    );
    let layout = Arc::new(TableLayout::from_target(table, columns, &BTreeMap::new(), &[]).unwrap());
    layout.decide_key(vec![0]);
    let mut writer = w.writer(cell(&layout)).await.unwrap();
    let change = Change {
        key: Key(vec![Value::Int(7)]),
        op: RowOp::Upsert(vec![
            Value::Int(7),
            Value::Text("happy".into()),
            Value::Text("<a>1</a>".into()),
            // A typed value is cast from its PostgreSQL text.
            Value::Int(3),
            Value::Text("(1,2)".into()),
        ]),
        coord: RecordCoord {
            partition: 0,
            offset: 0,
        },
    };
    let epoch = w.next_epoch().await.unwrap();
    writer
        .merge(&request(vec![change], 1, epoch.0))
        .await
        .unwrap();
    let r = sql(
        &pg,
        "SELECT feeling::text, doc::text, p::text, pt::text FROM n",
    )
    .await;
    let got: Vec<String> = (0..4).map(|i| r[0].get(i)).collect();
    assert_eq!(got, ["happy", "<a>1</a>", "3", "(1,2)"]);
}
