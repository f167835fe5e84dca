//! MySQL connector events (Debezium tutorial `inventory.customers`), with and without the
//! Kafka Connect envelope on key and value.

mod common;

use common::*;
use tidemark_debezium::{parse_event, KeySource, Op};

/// Every combination of key/value envelope gives the same changes.
const ENVELOPES: [(bool, bool); 4] = [(true, true), (true, false), (false, true), (false, false)];

#[test]
fn create_in_every_envelope_combination() {
    for (key_env, value_env) in ENVELOPES {
        let mut d = decoder(customers(), KeySource::MessageKey);
        let after = customer(1004, "Anne", "Kretchmar", "annek@noanswer.org");
        let value = customer_value(
            &payload("c", "null", &after, &mysql_source(154, 0, "false")),
            value_env,
        );
        let changes = run(&mut d, Some(&customer_key(1004, key_env)), Some(&value), 7).unwrap();
        assert_eq!(
            changes,
            vec![upsert(
                vec![int(1004)],
                customer_row(1004, "Anne", "Kretchmar", "annek@noanswer.org"),
                7
            )],
            "key envelope {key_env}, value envelope {value_env}"
        );
        assert_eq!(d.key_columns(), Some(&[0usize][..]));
    }
}

#[test]
fn snapshot_read_update_and_delete_then_tombstone() {
    for (key_env, value_env) in ENVELOPES {
        let mut d = decoder(customers(), KeySource::MessageKey);
        let key = customer_key(1004, key_env);
        let v1 = customer(1004, "Anne", "Kretchmar", "annek@noanswer.org");
        let v2 = customer(1004, "Anne Marie", "Kretchmar", "annek@noanswer.org");
        let read = customer_value(
            &payload("r", "null", &v1, &mysql_source(154, 0, "true")),
            value_env,
        );
        let update = customer_value(
            &payload("u", &v1, &v2, &mysql_source(223, 0, "false")),
            value_env,
        );
        let del = customer_value(
            &payload("d", &v2, "null", &mysql_source(400, 0, "false")),
            value_env,
        );

        assert_eq!(
            run(&mut d, Some(&key), Some(&read), 1).unwrap(),
            vec![upsert(
                vec![int(1004)],
                customer_row(1004, "Anne", "Kretchmar", "annek@noanswer.org"),
                1
            )]
        );
        assert_eq!(
            run(&mut d, Some(&key), Some(&update), 2).unwrap(),
            vec![upsert(
                vec![int(1004)],
                customer_row(1004, "Anne Marie", "Kretchmar", "annek@noanswer.org"),
                2
            )]
        );
        assert_eq!(
            run(&mut d, Some(&key), Some(&del), 3).unwrap(),
            vec![delete(vec![int(1004)], 3)]
        );
        // The tombstone that follows a delete: null value (absent, empty or JSON null).
        assert_eq!(run(&mut d, Some(&key), None, 4).unwrap(), vec![]);
        assert_eq!(run(&mut d, Some(&key), Some(""), 5).unwrap(), vec![]);
        assert_eq!(run(&mut d, Some(&key), Some("null"), 6).unwrap(), vec![]);
        assert_eq!(run(&mut d, None, Some(" null\n"), 6).unwrap(), vec![]);
    }
}

#[test]
fn envelope_with_null_payload_is_a_tombstone() {
    let mut d = decoder(customers(), KeySource::MessageKey);
    let value = r#"{"schema":null,"payload":null}"#;
    assert_eq!(
        run(&mut d, Some(&customer_key(1, true)), Some(value), 0).unwrap(),
        vec![]
    );
    assert_eq!(
        d.key_columns(),
        None,
        "a tombstone does not resolve the key columns"
    );
    assert_eq!(parse_event(value.as_bytes()).unwrap(), None);
}

#[test]
fn tombstone_before_first_event_does_not_need_a_key() {
    let mut d = decoder(customers(), KeySource::MessageKey);
    assert_eq!(run(&mut d, None, None, 0).unwrap(), vec![]);
    assert_eq!(run(&mut d, Some(r#"{"nope":1}"#), None, 1).unwrap(), vec![]);
    assert_eq!(d.key_columns(), None);
}

#[test]
fn pk_change_as_delete_tombstone_create() {
    // MySQL's default for a primary key update: d(old key), tombstone(old key), c(new key).
    let mut d = decoder(customers(), KeySource::MessageKey);
    let old = customer(1004, "Anne", "Kretchmar", "annek@noanswer.org");
    let new = customer(2004, "Anne", "Kretchmar", "annek@noanswer.org");
    let mut all = Vec::new();
    all.extend(
        run(
            &mut d,
            Some(&customer_key(1004, true)),
            Some(&customer_value(
                &payload("d", &old, "null", &mysql_source(500, 0, "false")),
                true,
            )),
            10,
        )
        .unwrap(),
    );
    all.extend(run(&mut d, Some(&customer_key(1004, true)), None, 11).unwrap());
    all.extend(
        run(
            &mut d,
            Some(&customer_key(2004, true)),
            Some(&customer_value(
                &payload("c", "null", &new, &mysql_source(500, 1, "false")),
                true,
            )),
            12,
        )
        .unwrap(),
    );
    assert_eq!(
        all,
        vec![
            delete(vec![int(1004)], 10),
            upsert(
                vec![int(2004)],
                customer_row(2004, "Anne", "Kretchmar", "annek@noanswer.org"),
                12
            ),
        ]
    );
}

#[test]
fn parse_event_keeps_mysql_source_position() {
    let after = customer(1004, "Anne", "Kretchmar", "annek@noanswer.org");
    for value_env in [true, false] {
        let value = customer_value(
            &payload("c", "null", &after, &mysql_source(154, 2, "false")),
            value_env,
        );
        let event = parse_event(value.as_bytes()).unwrap().unwrap();
        assert_eq!(event.op, Op::Create);
        assert_eq!(event.ts_ms, Some(1465581029523));
        let s = &event.source;
        assert_eq!(s.connector.as_deref(), Some("mysql"));
        assert_eq!(s.name.as_deref(), Some("mysql-server-1"));
        assert_eq!(s.db.as_deref(), Some("inventory"));
        assert_eq!(s.table.as_deref(), Some("customers"));
        assert_eq!(s.ts_ms, Some(1465581029100));
        assert_eq!(s.snapshot.as_deref(), Some("false"));
        assert_eq!(s.file.as_deref(), Some("mysql-bin.000003"));
        assert_eq!((s.pos, s.row), (Some(154), Some(2)));
        assert_eq!((s.lsn, s.tx_id), (None, None));
        assert!(event.before.is_none());
        let after = event.after.unwrap();
        assert_eq!(after["first_name"], "Anne");
        assert_eq!(after["id"], 1004);
    }
}

#[test]
fn parse_event_accepts_older_source_shapes() {
    // Debezium 0.x wrote `snapshot` as a boolean; offsets may be decimal strings.
    let value = r#"{"before":null,"after":{"id":1},"source":{"name":"db","snapshot":true,"pos":"154","lsn":"24023128"},"op":"r","ts_ms":"1"}"#;
    let event = parse_event(value.as_bytes()).unwrap().unwrap();
    assert_eq!(event.op, Op::Read);
    assert_eq!(event.source.snapshot.as_deref(), Some("true"));
    assert_eq!(event.source.pos, Some(154));
    assert_eq!(event.source.lsn, Some(24023128));
    assert_eq!(event.ts_ms, Some(1));
    assert_eq!(event.source.connector, None);
}

#[test]
fn parse_event_tombstones() {
    assert_eq!(parse_event(b"").unwrap(), None);
    assert_eq!(parse_event(b"null").unwrap(), None);
    assert_eq!(
        parse_event(br#"{"payload":null,"schema":null}"#).unwrap(),
        None
    );
}
