//! Reading tables as text from a real PostgreSQL (through the testkit re-export).

use tidemark_testkit::{connect, duplicate_keys, table_as_text, LocalPostgres, TestkitError};

#[tokio::test]
async fn table_as_text_keys_rows_and_rejects_duplicates() {
    let pg = tokio::task::spawn_blocking(LocalPostgres::start)
        .await
        .unwrap()
        .unwrap();
    let client = connect(&pg.url()).await.unwrap();
    client
        .batch_execute(
            r#"create schema "My Schema";
               create table "My Schema"."t.x" (id int, "Sub Id" text, v numeric, note text);
               insert into "My Schema"."t.x" values (1, 'a', 1.50, null), (2, 'a', 2, 'two');
               create table public.dup (id int, v text);
               insert into public.dup values (1, 'x'), (1, 'y'), (2, 'z'), (3, 'p'), (3, 'q'), (3, 'r');"#,
        )
        .await
        .unwrap();
    let map = table_as_text(
        &pg.url(),
        "My Schema.t.x",
        &["id", "Sub Id", "v", "note"],
        &["id", "Sub Id"],
    )
    .await
    .unwrap();
    assert_eq!(map.len(), 2);
    assert_eq!(
        map[&vec!["1".to_string(), "a".to_string()]],
        vec![
            Some("1".into()),
            Some("a".into()),
            Some("1.50".into()),
            None
        ]
    );
    assert_eq!(
        duplicate_keys(&pg.url(), "My Schema.t.x", &["id"])
            .await
            .unwrap(),
        0
    );

    let err = table_as_text(&pg.url(), "public.dup", &["id", "v"], &["id"])
        .await
        .unwrap_err();
    match &err {
        TestkitError::DuplicateKeys {
            table,
            count,
            examples,
        } => {
            assert_eq!(table, "public.dup");
            assert_eq!(*count, 3);
            assert!(
                examples.contains("[\"1\"]") && examples.contains("[\"3\"]"),
                "{examples}"
            );
            assert!(!examples.contains("[\"2\"]"), "{examples}");
        }
        other => panic!("expected DuplicateKeys, got {other}"),
    }
    eprintln!("{err}");
    assert_eq!(
        duplicate_keys(&pg.url(), "public.dup", &["id"])
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        duplicate_keys(&pg.url(), "public.dup", &["id", "v"])
            .await
            .unwrap(),
        0
    );

    let err = table_as_text(&pg.url(), "public.missing", &["id"], &["id"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}
