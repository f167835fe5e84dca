//! The partition owner: decodes a slice's records, ranks them per key into one pending batch
//! per table, and sends batches to the tables' mergers.
//!
//! Group commit: a table's pending records go as a batch as soon as none of this owner's
//! batches of the table is being merged (after each fetched chunk, and when a merge ends);
//! while one is, records accumulate and go as the next batch. Batches so grow with load by
//! themselves, and `batch.linger` only bounds how long a partial batch waits behind a merge.
//!
//! Backpressure is exact: a batch is cut from its pending records only when an in-flight slot
//! is in hand, so at most `batch.max_in_flight` batches of an owner exist (waiting in a
//! merger's mailbox or being merged) at any time. When a table's pending batch is full and no
//! slot is free, the owner stops decoding — the rest of the fetched chunk waits, unread, with
//! its memory — until a merge finishes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use tidemark_debezium::{Decoded, TableDecoder};
use tidemark_model::{
    Change, Epoch, RankedBatch, RecordCoord, TableName, TopicPartition, Watermark,
};
use tidemark_ports::{DeadLetter, LandedRecord, Landing, MergeRequest, RawRecord, ReadEvent};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};

use crate::budget::accounted_bytes;
use crate::in_flight::InFlight;
use crate::merger::TableMerger;
use crate::messages::{Abort, Drain, FetchedChunk, MergeBatch, Merged, SupervisorEvent};
use crate::spec::BatchLimits;
use crate::PipelineError;

/// A table as one owner sees it: where its batches go and how its records decode.
pub(crate) struct Route {
    pub merger: Addr<TableMerger>,
    pub decoder: TableDecoder,
    /// `truncate = "apply"`: a source truncate empties the target.
    pub apply_truncates: bool,
    /// `errors.mode = "dead_letter"`: a record that cannot be decoded goes to the dead-letter
    /// table with the batch instead of stopping the owner.
    pub dead_letters: bool,
    /// `raw_table`: every decoded record is also written as read to this table.
    pub raw_table: Option<TableName>,
    /// Counts the topic's records read (`tidemark_events_read_total`).
    pub events: tidemark_telemetry::IntCounter,
}

/// Records of one table collected since the last batch was cut.
struct Pending {
    batch: RankedBatch,
    /// Next offset per partition of this table's topic, committed with the batch.
    offsets: BTreeMap<i32, i64>,
    /// Memory permits of the records in the batch.
    memory: Option<OwnedSemaphorePermit>,
    /// When the first record arrived, for `linger`.
    since: Instant,
    /// A source truncate was read: the target is emptied before `batch` is applied.
    truncate: bool,
    /// Records that could not be decoded, written with the batch.
    dead_letters: Vec<DeadLetter>,
    /// Records as read, for the raw landing table.
    landed: Vec<LandedRecord>,
    /// The memory of records kept whole (dead letters, landed), counted against `max_bytes`
    /// like rows (one may be 10 MB).
    whole_bytes: usize,
    /// The records' Kafka timestamps (ms), for the freshness of each at commit.
    timestamps: Vec<i64>,
    /// The records' `source.ts_ms` (ms), for the freshness from the source database.
    source_timestamps: Vec<i64>,
    /// The batch's trace (see `trace.rs`), and how many producer links it has.
    span: tracing::Span,
    links: usize,
    /// The first offset of each partition in the batch, for the trace.
    first_offsets: BTreeMap<i32, i64>,
}

impl Pending {
    fn new(topic: &str) -> Self {
        Self {
            batch: RankedBatch::new(),
            offsets: BTreeMap::new(),
            memory: None,
            since: Instant::now(),
            truncate: false,
            dead_letters: Vec::new(),
            landed: Vec::new(),
            whole_bytes: 0,
            timestamps: Vec::new(),
            source_timestamps: Vec::new(),
            span: trace::batch_span(topic),
            links: 0,
            first_offsets: BTreeMap::new(),
        }
    }

    /// The one "batch is full" rule: `max_rows` ranked rows and dead letters (or landed
    /// records), or `max_bytes` of them.
    fn is_full(&self, limits: &BatchLimits) -> bool {
        (self.batch.len() + self.dead_letters.len()).max(self.landed.len()) >= limits.max_rows
            || self.batch.bytes + self.whole_bytes >= limits.max_bytes
    }
}

/// Everything an owner is started with.
pub(crate) struct OwnerConfig {
    /// Slice number, for logs and reports.
    pub slice: usize,
    /// Fencing token written with every watermark of this owner.
    pub epoch: Epoch,
    pub limits: BatchLimits,
    /// By topic.
    pub routes: HashMap<Arc<str>, Route>,
    /// Next offset per owned partition (the resume offsets).
    pub positions: HashMap<TopicPartition, i64>,
    /// `refresh` mode: the high-water marks noted at start; the owner finishes when every
    /// partition reaches its mark, and ignores records at or past it.
    pub targets: Option<HashMap<TopicPartition, i64>>,
    /// Tells the fetch thread to stop.
    pub stop_fetch: Arc<AtomicBool>,
    /// The fetch thread's output.
    pub chunks: mpsc::Receiver<FetchedChunk>,
    pub supervisor: mpsc::UnboundedSender<SupervisorEvent>,
    /// The owner's batches in flight (for tests and metrics).
    pub in_flight: Arc<InFlight>,
}

/// Owns a slice of partitions (see the module documentation).
pub(crate) struct PartitionOwner {
    slice: usize,
    epoch: Epoch,
    limits: BatchLimits,
    routes: HashMap<Arc<str>, Route>,
    /// Next offset read per owned partition.
    positions: HashMap<TopicPartition, i64>,
    targets: Option<HashMap<TopicPartition, i64>>,
    /// In-flight batch slots (`limits.max_in_flight` permits); a batch holds one until merged.
    slots: Arc<Semaphore>,
    stop_fetch: Arc<AtomicBool>,
    /// Attached as a stream when the actor starts.
    chunks: Option<mpsc::Receiver<FetchedChunk>>,
    supervisor: mpsc::UnboundedSender<SupervisorEvent>,
    in_flight: Arc<InFlight>,
    pending: HashMap<Arc<str>, Pending>,
    /// Tables whose pending batch is due (full, lingered, or flushed by a drain), in the order
    /// they became due: each is cut and sent when a slot is free.
    due: VecDeque<Arc<str>>,
    /// The unread rest of a fetched chunk while a full batch waits for a slot, and the memory
    /// permit of those records.
    deferred: VecDeque<ReadEvent>,
    deferred_memory: Option<OwnedSemaphorePermit>,
    /// A wait for a slot is installed (the owner reads nothing until it resolves).
    blocked: bool,
    /// Set once the owner stops taking records.
    finishing: bool,
    /// The result to report once every due batch is sent and every merge is done.
    outcome: Option<Result<(), PipelineError>>,
    /// Reused buffer for the changes of one record.
    scratch: Vec<Change>,
    /// Batches of each table sent and not yet done (see the group commit above).
    merging: HashMap<Arc<str>, usize>,
    /// Given to each batch, which sends its table back when it is done.
    merged_tx: mpsc::UnboundedSender<Arc<str>>,
    /// Attached as a stream when the actor starts.
    merged_rx: Option<mpsc::UnboundedReceiver<Arc<str>>>,
}

impl PartitionOwner {
    pub(crate) fn new(config: OwnerConfig) -> Self {
        let (merged_tx, merged_rx) = mpsc::unbounded_channel();
        Self {
            merging: HashMap::new(),
            merged_tx,
            merged_rx: Some(merged_rx),
            slice: config.slice,
            epoch: config.epoch,
            slots: Arc::new(Semaphore::new(config.limits.max_in_flight)),
            limits: config.limits,
            routes: config.routes,
            positions: config.positions,
            targets: config.targets,
            stop_fetch: config.stop_fetch,
            chunks: Some(config.chunks),
            supervisor: config.supervisor,
            in_flight: config.in_flight,
            pending: HashMap::new(),
            due: VecDeque::new(),
            deferred: VecDeque::new(),
            deferred_memory: None,
            blocked: false,
            finishing: false,
            outcome: None,
            scratch: Vec::with_capacity(2),
        }
    }

    fn on_record(&mut self, record: RawRecord) -> Result<(), PipelineError> {
        let tp = TopicPartition::new(record.topic.clone(), record.partition);
        if let Some(target) = self.targets.as_ref().and_then(|t| t.get(&tp)) {
            if record.offset >= *target {
                return Ok(()); // past what this refresh applies; read again next time
            }
        }
        let Some(route) = self.routes.get_mut(&record.topic) else {
            return Err(PipelineError::UnconfiguredTopic {
                topic: record.topic.to_string(),
                partition: record.partition,
                offset: record.offset,
            });
        };
        let coord = RecordCoord {
            partition: record.partition,
            offset: record.offset,
        };
        self.scratch.clear();
        let decoded = route.decoder.decode(
            record.key.as_deref(),
            record.value.as_deref(),
            coord,
            &mut self.scratch,
        );
        route.events.inc();
        let apply_truncates = route.apply_truncates;
        let landing = route.raw_table.is_some();
        let (decoded, letter) = match decoded {
            Ok(decoded) => (Some(decoded), None),
            Err(source) if route.dead_letters => {
                tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset, error = %source, "record cannot be decoded: it goes to the dead-letter table");
                let letter = DeadLetter {
                    tp: tp.clone(),
                    offset: record.offset,
                    key: record.key.clone(),
                    value: record.value.clone(),
                    error: source.to_string(),
                };
                (None, Some(letter))
            }
            Err(source) => {
                return Err(PipelineError::Decode {
                    topic: record.topic.to_string(),
                    partition: record.partition,
                    offset: record.offset,
                    source: Box::new(source),
                })
            }
        };
        let pending = self
            .pending
            .entry(record.topic.clone())
            .or_insert_with(|| Pending::new(&record.topic));
        pending
            .first_offsets
            .entry(record.partition)
            .or_insert(record.offset);
        trace::link_producer(&pending.span, &record.headers, &mut pending.links);
        if let Some(letter) = letter {
            pending.whole_bytes += letter.bytes();
            pending.dead_letters.push(letter);
        }
        match decoded {
            None | Some(Decoded::Rows { source_ts_ms: None }) => {}
            Some(Decoded::Rows {
                source_ts_ms: Some(ts),
            }) => pending.source_timestamps.push(ts),
            Some(Decoded::Truncate) if apply_truncates => {
                // Everything collected before the truncate is void; what follows applies to
                // the emptied table.
                tracing::info!(topic = %record.topic, partition = record.partition, offset = record.offset, "source table truncated: the target is emptied in this batch");
                pending.batch.discard_changes();
                pending.truncate = true;
            }
            Some(Decoded::Truncate) => {
                tracing::info!(topic = %record.topic, partition = record.partition, offset = record.offset, "source table truncated: ignored (truncate = \"ignore\")");
            }
            Some(Decoded::Control(control)) => {
                tracing::debug!(topic = %record.topic, partition = record.partition, offset = record.offset, ?control, "Debezium control record: not a row");
            }
            Some(Decoded::Message) => {
                tracing::debug!(topic = %record.topic, partition = record.partition, offset = record.offset, "logical decoding message: not a row");
            }
        }
        for change in self.scratch.drain(..) {
            pending.batch.push(change);
        }
        pending.batch.events += 1;
        if let Some(ts) = record.timestamp_ms {
            pending.timestamps.push(ts);
        }
        pending.offsets.insert(record.partition, record.offset + 1);
        // The record's share of its chunk's memory moves into the batch that holds it.
        if let Some(chunk_memory) = self.deferred_memory.as_mut() {
            if let Some(mine) = chunk_memory.split(accounted_bytes(&record)) {
                match pending.memory.as_mut() {
                    Some(m) => m.merge(mine),
                    None => pending.memory = Some(mine),
                }
            }
        }
        self.positions.insert(tp.clone(), record.offset + 1);
        if landing && decoded.is_some() {
            let landed = LandedRecord {
                tp,
                offset: record.offset,
                timestamp_ms: record.timestamp_ms,
                key: record.key,
                value: record.value,
                headers: record.headers,
            };
            pending.whole_bytes += landed.bytes();
            pending.landed.push(landed);
        }
        Ok(())
    }

    fn on_eof(&mut self, tp: TopicPartition, mut next_offset: i64) {
        if let Some(target) = self.targets.as_ref().and_then(|t| t.get(&tp)) {
            next_offset = next_offset.min(*target);
        }
        let current = self.positions.get(&tp).copied().unwrap_or(i64::MIN);
        if next_offset > current && self.routes.contains_key(&tp.topic) {
            self.positions.insert(tp.clone(), next_offset);
            self.pending
                .entry(tp.topic.clone())
                .or_insert_with(|| Pending::new(&tp.topic))
                .offsets
                .insert(tp.partition, next_offset);
        }
    }

    /// Decodes the deferred events until they are done or a full batch must wait for a slot.
    fn process(&mut self, ctx: &mut Context<Self>) {
        while !self.finishing {
            let Some(event) = self.deferred.pop_front() else {
                break;
            };
            match event {
                ReadEvent::Record(record) => {
                    let topic = record.topic.clone();
                    if let Err(e) = self.on_record(record) {
                        // Everything before the bad record is applied; nothing after it.
                        self.finish(ctx, Err(e), true);
                        return;
                    }
                    if self.is_full(&topic) {
                        self.mark_due(&topic);
                        self.send_due();
                        if self.is_full(&topic) {
                            // No slot: read nothing more until a merge finishes.
                            self.wait_for_slot(ctx);
                            return;
                        }
                    }
                }
                ReadEvent::PartitionEof { tp, next_offset } => self.on_eof(tp, next_offset),
            }
        }
        // The chunk is done: release what was not moved into a batch (tombstones' overhead,
        // records past a refresh target).
        self.deferred_memory = None;
        self.send_idle();
        if self.refresh_complete() {
            self.finish(ctx, Ok(()), true);
        }
    }

    /// Whether the table's pending batch is full.
    fn is_full(&self, topic: &Arc<str>) -> bool {
        self.pending
            .get(topic)
            .is_some_and(|p| p.is_full(&self.limits))
    }

    fn mark_due(&mut self, topic: &Arc<str>) {
        if self.pending.contains_key(topic) && !self.due.contains(topic) {
            self.due.push_back(topic.clone());
        }
    }

    /// Makes due every table with pending records and no batch being merged, and sends
    /// what slots allow (group commit).
    fn send_idle(&mut self) {
        let idle: Vec<Arc<str>> = self
            .pending
            .keys()
            .filter(|t| self.merging.get(*t).copied().unwrap_or(0) == 0)
            .cloned()
            .collect();
        idle.iter().for_each(|t| self.mark_due(t));
        self.send_due();
    }

    /// Cuts and sends due batches, in order, while slots are free.
    fn send_due(&mut self) {
        while !self.due.is_empty() {
            match self.slots.clone().try_acquire_owned() {
                Ok(slot) => self.send_first_due(slot),
                Err(_) => return,
            }
        }
    }

    /// Cuts the first due table's batch and sends it with `slot`.
    fn send_first_due(&mut self, slot: OwnedSemaphorePermit) {
        let Some(topic) = self.due.pop_front() else {
            return; // the slot is released: nothing is due any more
        };
        let (Some(pending), Some(route)) = (self.pending.remove(&topic), self.routes.get(&topic))
        else {
            return;
        };
        if pending.batch.events == 0 && pending.offsets.is_empty() {
            return;
        }
        let events = pending.batch.events;
        let span = pending.span.clone();
        span.record("messaging.batch.message_count", events);
        span.record("tidemark.rows", pending.batch.len());
        span.record("tidemark.dead_letters", pending.dead_letters.len());
        let partitions: Vec<String> = pending.offsets.keys().map(i32::to_string).collect();
        span.record("messaging.destination.partition.id", partitions.join(","));
        // `partition:first-last` of the records in the batch.
        let offsets: Vec<String> = pending
            .offsets
            .iter()
            .filter_map(|(p, next)| {
                let first = pending.first_offsets.get(p)?;
                Some(format!("{p}:{first}-{}", next - 1))
            })
            .collect();
        span.record("tidemark.offsets", offsets.join(","));
        let request = MergeRequest {
            truncate: pending.truncate,
            changes: pending.batch.into_winners().collect(),
            watermarks: pending
                .offsets
                .into_iter()
                .map(|(partition, next_offset)| Watermark {
                    tp: TopicPartition::new(topic.clone(), partition),
                    next_offset,
                    epoch: self.epoch,
                })
                .collect(),
            events,
            dead_letters: pending.dead_letters,
            landing: route.raw_table.clone().map(|table| Landing {
                table,
                records: pending.landed,
            }),
        };
        *self.merging.entry(topic.clone()).or_insert(0) += 1;
        route.merger.do_send(MergeBatch {
            request,
            slice: self.slice,
            slot,
            memory: pending.memory,
            timestamps: pending.timestamps,
            source_timestamps: pending.source_timestamps,
            span,
            counted: self.in_flight.enter(),
            merged: Merged {
                topic,
                to_owner: self.merged_tx.clone(),
            },
        });
    }

    /// Waits for a slot, handling nothing else meanwhile (this is the backpressure), sends the
    /// first due batch with it, and goes on. At most one wait is ever installed: the semaphore
    /// hands permits out in order, and a second waiter that actix does not poll while the first
    /// blocks the context would hold a permit forever.
    fn wait_for_slot(&mut self, ctx: &mut Context<Self>) {
        if self.blocked {
            return;
        }
        self.blocked = true;
        let slots = self.slots.clone();
        ctx.wait(
            async move { slots.acquire_owned().await }
                .into_actor(self)
                .map(|slot, act, ctx| {
                    act.blocked = false;
                    if let Ok(slot) = slot {
                        act.send_first_due(slot);
                    }
                    act.send_due();
                    act.resume(ctx);
                }),
        );
    }

    /// After batches were sent: continue reading, wait for another slot, or complete. A batch
    /// that is due only by `linger` does not hold up reading: it grows until the next tick
    /// finds a slot for it.
    fn resume(&mut self, ctx: &mut Context<Self>) {
        let must_wait =
            self.finishing || !self.deferred.is_empty() && self.due.iter().any(|t| self.is_full(t));
        if !self.due.is_empty() && must_wait {
            self.wait_for_slot(ctx);
        } else {
            // Also with nothing left to decode: a refresh whose last record filled a batch
            // that had to wait for this slot is complete now (found by a run that hung there).
            self.process(ctx);
        }
        self.maybe_complete(ctx);
    }

    /// Once finishing and every due batch is sent: waits for every merge, reports, stops.
    fn maybe_complete(&mut self, ctx: &mut Context<Self>) {
        if !self.finishing || self.blocked || !self.due.is_empty() {
            return;
        }
        let Some(result) = self.outcome.take() else {
            return;
        };
        let slots = self.slots.clone();
        let all = u32::try_from(self.limits.max_in_flight).unwrap_or(u32::MAX);
        let slice = self.slice;
        ctx.wait(
            async move {
                let _ = slots.acquire_many_owned(all).await;
            }
            .into_actor(self)
            .map(move |_, act, ctx| {
                tracing::debug!(
                    slice,
                    in_flight_peak = act.in_flight.peak(),
                    "owner finished"
                );
                let _ = act
                    .supervisor
                    .send(SupervisorEvent::SliceFinished { slice, result });
                ctx.stop();
            }),
        );
    }

    fn refresh_complete(&self) -> bool {
        match &self.targets {
            None => false,
            Some(targets) => targets
                .iter()
                .all(|(tp, target)| self.positions.get(tp).copied().unwrap_or(i64::MIN) >= *target),
        }
    }

    /// Stops fetching; sends what is pending (unless `flush` is false: a merge failed or the
    /// lease is gone, and nothing more may be applied); waits for every merge; reports; stops.
    fn finish(&mut self, ctx: &mut Context<Self>, result: Result<(), PipelineError>, flush: bool) {
        if self.finishing {
            return;
        }
        self.finishing = true;
        tracing::debug!(slice = self.slice, positions = ?self.positions, targets = ?self.targets, "owner finishing");
        self.stop_fetch.store(true, Ordering::Relaxed);
        self.outcome = Some(result);
        // Records fetched but not decoded are not applied; they are read again next time.
        self.deferred.clear();
        self.deferred_memory = None;
        if flush {
            let topics: Vec<Arc<str>> = self.pending.keys().cloned().collect();
            topics.iter().for_each(|t| self.mark_due(t));
            self.send_due();
        } else {
            self.pending.clear();
            self.due.clear();
        }
        self.resume(ctx);
    }
}

impl Actor for PartitionOwner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(rx) = self.chunks.take() {
            ctx.add_stream(ReceiverStream::new(rx));
        }
        if let Some(rx) = self.merged_rx.take() {
            ctx.add_stream(UnboundedReceiverStream::new(rx));
        }
        let tick = (self.limits.linger / 4).max(std::time::Duration::from_millis(5));
        ctx.run_interval(tick, |act, _ctx| {
            if act.finishing {
                return;
            }
            let linger = act.limits.linger;
            let lingered: Vec<Arc<str>> = act
                .pending
                .iter()
                .filter(|(_, p)| p.since.elapsed() >= linger)
                .map(|(t, _)| t.clone())
                .collect();
            lingered.iter().for_each(|t| act.mark_due(t));
            act.send_due();
        });
        if self.refresh_complete() {
            self.finish(ctx, Ok(()), true);
        }
    }
}

impl StreamHandler<FetchedChunk> for PartitionOwner {
    fn handle(&mut self, chunk: FetchedChunk, ctx: &mut Context<Self>) {
        if self.finishing {
            return;
        }
        match chunk {
            FetchedChunk::Failed(e) => {
                // Records already read are sound: send them, then stop with the error.
                self.finish(ctx, Err(e.into()), true);
            }
            FetchedChunk::Events { events, memory } => {
                // Never blocked here: a blocking wait holds back the stream.
                self.deferred.extend(events);
                self.deferred_memory = memory;
                self.process(ctx);
            }
        }
    }

    /// The fetch thread ended. Before the owner finishes, only because the session stopped it
    /// (`SliceHandle::abort` sets the flag, then sends `Abort`, which decides how the owner
    /// finishes: the stream can end before that message is handled); otherwise it crashed.
    fn finished(&mut self, ctx: &mut Context<Self>) {
        if self.finishing || self.stop_fetch.load(Ordering::Relaxed) {
            return;
        }
        self.finish(
            ctx,
            Err(PipelineError::FetchEnded { slice: self.slice }),
            true,
        );
    }
}

/// A batch of the table is done: what accumulated meanwhile goes now if nothing else of the
/// table is being merged.
impl StreamHandler<Arc<str>> for PartitionOwner {
    fn handle(&mut self, topic: Arc<str>, _ctx: &mut Context<Self>) {
        if let Some(n) = self.merging.get_mut(&topic) {
            *n = n.saturating_sub(1);
        }
        if self.finishing || self.blocked {
            return;
        }
        self.send_idle();
    }

    /// Never ends while the owner lives (it holds a sender); not a reason to stop.
    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl Handler<Drain> for PartitionOwner {
    type Result = ();

    fn handle(&mut self, _msg: Drain, ctx: &mut Context<Self>) {
        self.finish(ctx, Ok(()), true);
    }
}

impl Handler<Abort> for PartitionOwner {
    type Result = ();

    fn handle(&mut self, _msg: Abort, ctx: &mut Context<Self>) {
        self.finish(ctx, Ok(()), false);
    }
}

#[cfg(test)]
mod tests;
mod trace;
