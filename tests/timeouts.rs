//! `warehouse.statement_timeout`: a merge whose statement times out is retried with the batch
//! split into smaller statements (same transaction), and a merge that times out however it is
//! split stops with an error naming the table, the statement and the timeout, in bounded time.
//! The target is slowed down for real with a trigger that sleeps in PostgreSQL.

use std::time::{Duration, Instant};

use tidemark_cdcgen::{GenConfig, Generator};
use tidemark_e2e::*;

const TIMEOUT: &str = "500ms";

/// CUSTOMER only, one partition, a slowing trigger on its target; returns the config.
fn slowed_stack(
    trigger: &str,
    name: &str,
) -> (Stack, Vec<TableSetup>, Generator, std::path::PathBuf) {
    let stack = Stack::start();
    let setups = vec![salesdb_setups().remove(0)];
    stack.prepare(&setups, 1);
    let mut history = Generator::new(
        setups.iter().map(|s| s.def.clone()).collect(),
        GenConfig {
            partitions: 1,
            ..GenConfig::hostile(61, 900)
        },
    );
    produce(stack.kafka.bootstrap(), history.by_ref());
    block_on(async {
        let client = tidemark_testkit::connect(&stack.url()).await.unwrap();
        client
            .batch_execute(trigger)
            .await
            .expect("creating the slowing trigger");
    });
    // One batch for the whole history: only the timeout can make it smaller.
    let config = stack.config(
        name,
        &setups,
        &format!("statement_timeout = {TIMEOUT:?}\n[batch]\nmax_rows = 100000\nlinger = \"5s\"\n"),
    );
    (stack, setups, history, config)
}

#[test]
fn a_batch_whose_insert_times_out_is_split_and_lands_whole() {
    // 10 ms per inserted row: the history's rows take longer than the timeout in one
    // statement, and a fraction of it in each of 2, 4 or 8 pieces.
    let (stack, setups, history, config) = slowed_stack(
        "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN PERFORM pg_sleep(0.01); RETURN NEW; END $$;
         CREATE TRIGGER slow BEFORE INSERT ON public.customer_target
             FOR EACH ROW EXECUTE FUNCTION slow_row();",
        "split",
    );
    let rows = history.oracle().table(&setups[0].def.topic()).len();
    assert!(
        rows * 10 > 600,
        "the history must be big enough to time out: {rows} rows"
    );
    let out = tidemark(&["refresh", "--config", &config.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stderr}", out.status);
    assert!(
        stderr.contains("retrying with the batch split"),
        "the first attempt timed out and was split:\n{stderr}"
    );
    assert_matches_oracle(&stack.url(), &setups, history.oracle());
}

#[test]
fn a_merge_that_times_out_however_split_stops_with_a_clear_error_in_bounded_time() {
    // Every INSERT statement sleeps past the timeout, whatever its size.
    let (stack, _setups, _history, config) = slowed_stack(
        "CREATE FUNCTION slow_statement() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$;
         CREATE TRIGGER slow BEFORE INSERT ON public.customer_target
             FOR EACH STATEMENT EXECUTE FUNCTION slow_statement();",
        "stuck",
    );
    let started = Instant::now();
    let out = tidemark(&["refresh", "--config", &config.display().to_string()]);
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("tidemark: error:"))
        .unwrap_or_else(|| panic!("no error line:\n{stderr}"));
    for part in [
        "public.customer_target",
        "split into 8 pieces",
        "inserting winners",
        "statement_timeout (500ms)",
    ] {
        assert!(error.contains(part), "{part:?} missing from: {error}");
    }
    assert!(watermarks(&stack.url()).is_empty(), "nothing was committed");
}
