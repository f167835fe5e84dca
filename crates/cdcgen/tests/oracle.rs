//! The oracle against an independent naive consumer, plus determinism and stats.

mod common;

use std::collections::HashMap;

use common::{all_tables, apply_naively, generate, oracle_tables, payload, typed_tables};
use tidemark_cdcgen::{partition_for_key, Envelope, GenConfig, Generator, TableDef};

#[test]
fn oracle_matches_naive_application_with_every_hazard_high() {
    for seed in 1..=5u64 {
        // Odd event counts so the run often stops in the middle of a multi-record operation.
        let mut config = GenConfig::hostile(seed, 6_000 + seed * 37);
        if seed % 2 == 0 {
            config.value_envelope = Envelope::Bare;
            config.key_envelope = Envelope::Bare;
        }
        if seed == 5 {
            config.partitions = 1;
        }
        let (records, g) = generate(all_tables(), config.clone());
        assert_eq!(records.len() as u64, config.events);
        let naive = apply_naively(&all_tables(), &records, &config);
        let oracle = oracle_tables(&g);
        assert_eq!(naive, oracle, "seed {seed}");
        assert!(oracle.values().all(|t| !t.is_empty()), "seed {seed}");
    }
}

#[test]
fn typed_oracle_matches_naive_application() {
    for seed in 1..=4u64 {
        let mut config = GenConfig::hostile(seed, 8_000 + seed * 13);
        if seed % 2 == 0 {
            config.value_envelope = Envelope::Bare;
            config.key_envelope = Envelope::Bare;
        }
        let (records, g) = generate(typed_tables(), config.clone());
        let naive = apply_naively(&typed_tables(), &records, &config);
        let oracle = oracle_tables(&g);
        assert_eq!(naive, oracle, "seed {seed}");
        assert!(oracle.values().all(|t| !t.is_empty()), "seed {seed}");
    }
}

#[test]
fn typed_values_cover_their_edge_cases() {
    let (_, g) = generate(typed_tables(), GenConfig::hostile(5, 40_000));
    let mut texts: Vec<String> = Vec::new();
    for t in g.oracle().topics() {
        for (key, row) in g.oracle().table(&t) {
            texts.extend(key);
            texts.extend(row.into_iter().flatten());
        }
    }
    let has = |f: &dyn Fn(&str) -> bool| texts.iter().any(|s| f(s));
    assert!(
        has(&|s| s.starts_with("-") && s.contains('.')),
        "negative decimals"
    );
    assert!(has(&|s| s == "0.0000"), "zero decimal");
    assert!(has(
        &|s| s == "99999999999999.9999" || s == "-99999999999999.9999"
    ));
    assert!(has(&|s| s.starts_with("1969-12-31")), "pre-1970");
    assert!(has(&|s| s.starts_with("1000-01-01")), "MySQL minimum");
    assert!(has(&|s| s.starts_with("9999-12-31")), "year 9999");
    assert!(
        has(&|s| s.len() == 26 && s.as_bytes()[19] == b'.'),
        "six-digit fraction"
    );
    assert!(
        has(&|s| s.len() == 19 && s.as_bytes()[13] == b':'),
        "whole second"
    );
    assert!(
        has(&|s| s.ends_with("+00") && s.contains('.')),
        "fractional instant"
    );
    assert!(
        has(&|s| s.starts_with("2038-01-19 03:14:07")),
        "TIMESTAMP maximum"
    );
}

#[test]
fn oracle_is_exact_after_every_prefix() {
    let config = GenConfig::hostile(9, 600);
    let mut g = Generator::new(all_tables(), config.clone());
    let mut records = Vec::new();
    while let Some(r) = g.next() {
        records.push(r);
        if records.len() % 7 == 0 {
            assert_eq!(
                apply_naively(&all_tables(), &records, &config),
                oracle_tables(&g)
            );
        }
    }
}

#[test]
fn stats_show_every_feature() {
    let (records, g) = generate(all_tables(), GenConfig::hostile(3, 20_000));
    let s = g.oracle().stats();
    assert_eq!(s.events, records.len() as u64);
    assert_eq!(
        s.tombstones,
        records.iter().filter(|r| r.value.is_none()).count() as u64
    );
    assert_eq!(
        s.events,
        s.snapshot_reads + s.inserts + s.updates + s.deletes + s.tombstones
    );
    assert_eq!(s.upserts, s.snapshot_reads + s.inserts + s.updates);
    assert_eq!(s.snapshot_reads, 15 * all_tables().len() as u64);
    for (name, n) in [
        ("inserts", s.inserts),
        ("updates", s.updates),
        ("deletes", s.deletes),
        ("tombstones", s.tombstones),
        ("pk_changes_split", s.pk_changes_split),
        ("pk_changes_single_event", s.pk_changes_single_event),
        ("reinserts", s.reinserts),
        ("repeat_key_picks", s.repeat_key_picks),
        ("same_ms", s.same_ms),
        ("ts_backwards", s.ts_backwards),
    ] {
        assert!(n > 20, "{name} occurred only {n} times: {s:?}");
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a: Vec<_> = Generator::new(all_tables(), GenConfig::hostile(7, 3_000)).collect();
    let b: Vec<_> = Generator::new(all_tables(), GenConfig::hostile(7, 3_000)).collect();
    let c: Vec<_> = Generator::new(all_tables(), GenConfig::hostile(8, 3_000)).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
    let d: Vec<_> = Generator::new(TableDef::salesdb_all(), GenConfig::default()).collect();
    let e: Vec<_> = Generator::new(TableDef::salesdb_all(), GenConfig::default()).collect();
    assert_eq!(d, e);
}

#[test]
fn a_key_always_maps_to_the_same_stable_partition() {
    for envelope in [Envelope::Schema, Envelope::Bare] {
        let config = GenConfig {
            key_envelope: envelope,
            ..GenConfig::hostile(11, 8_000)
        };
        let tables = all_tables();
        let (records, _) = generate(tables.clone(), config.clone());
        let mut seen: HashMap<(&str, &[u8]), i32> = HashMap::new();
        let mut used = vec![0u32; config.partitions as usize];
        for r in &records {
            let key = r.key.as_deref().unwrap();
            let p = *seen.entry((r.topic.as_str(), key)).or_insert(r.partition);
            assert_eq!(p, r.partition, "key moved partition");
            used[r.partition as usize] += 1;
            let t = tables.iter().find(|t| t.topic() == r.topic).unwrap();
            let json: serde_json::Value = serde_json::from_slice(key).unwrap();
            let obj = payload(&json, envelope);
            let texts: Vec<String> = t
                .key
                .iter()
                .map(|&k| {
                    let c = &t.columns[k];
                    common::json_to_text(c.kind, &obj[c.name.as_str()]).unwrap()
                })
                .collect();
            assert_eq!(partition_for_key(&texts, config.partitions), r.partition);
        }
        assert!(used.iter().all(|&n| n > 500), "{used:?}");
    }
    // Pinned value: the mapping must not change between versions.
    assert_eq!(partition_for_key(&["1".to_owned()], 1), 0);
    let pinned: Vec<i32> = (1..=6)
        .map(|i| partition_for_key(&[i.to_string()], 3))
        .collect();
    assert_eq!(pinned, fnv_reference(3));
}

/// FNV-1a 64 computed independently, for the pinned-value check.
fn fnv_reference(partitions: u64) -> Vec<i32> {
    (1..=6)
        .map(|i: i32| {
            let mut h: u64 = 14_695_981_039_346_656_037;
            for b in i.to_string().bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(1_099_511_628_211);
            }
            (h % partitions) as i32
        })
        .collect()
}

#[test]
fn large_runs_stream_with_bounded_state() {
    let config = GenConfig {
        events: 150_000,
        snapshot_rows: 1_000,
        ..GenConfig::default()
    };
    let mut g = Generator::new(TableDef::salesdb_all(), config);
    let mut bytes = 0usize;
    for r in g.by_ref() {
        bytes += r.value.map_or(0, |v| v.len());
    }
    assert!(bytes > 0);
    let live: usize = g
        .oracle()
        .topics()
        .iter()
        .map(|t| g.oracle().row_count(t))
        .sum();
    // Every read/insert adds a row and every delete removes one (a single-event primary-key
    // change does both).
    let s = g.oracle().stats();
    assert_eq!(live as u64, s.snapshot_reads + s.inserts - s.deletes);
}
