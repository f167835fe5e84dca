use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use tidemark_debezium::TableDecoder;
use tidemark_model::{Change, Epoch, RankedBatch, RecordCoord, TopicPartition, Watermark};
use tidemark_ports::{MergeRequest, RawRecord, ReadEvent};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::ReceiverStream;

use crate::merger::TableMerger;
use crate::messages::{Abort, Drain, FetchedChunk, MergeBatch, SupervisorEvent};
use crate::spec::BatchLimits;
use crate::PipelineError;

/// A table as one owner sees it: where its batches go and how its records decode.
pub(crate) struct Route {
    pub merger: Addr<TableMerger>,
    pub decoder: TableDecoder,
}

/// A batch waiting for an in-flight slot.
struct Outgoing {
    merger: Addr<TableMerger>,
    request: MergeRequest,
    memory: Option<OwnedSemaphorePermit>,
}

/// Records of one table collected since the last flush.
struct Pending {
    batch: RankedBatch,
    /// Next offset per partition of this table's topic, committed with the batch.
    offsets: BTreeMap<i32, i64>,
    /// Memory permits of the records in the batch.
    memory: Option<OwnedSemaphorePermit>,
    /// When the first record arrived, for `linger`.
    since: Instant,
}

impl Pending {
    fn new() -> Self {
        Self {
            batch: RankedBatch::new(),
            offsets: BTreeMap::new(),
            memory: None,
            since: Instant::now(),
        }
    }
}

/// Owns a slice of partitions: decodes their records, ranks them per key into one micro-batch
/// per table, and sends full (or lingering) batches to the tables' mergers.
pub(crate) struct PartitionOwner {
    /// Slice number, for logs and reports.
    pub slice: usize,
    /// Fencing token written with every watermark of this owner.
    pub epoch: Epoch,
    pub limits: BatchLimits,
    /// By topic.
    pub routes: HashMap<Arc<str>, Route>,
    /// Next offset read per owned partition (starts at the resume offset).
    pub positions: HashMap<TopicPartition, i64>,
    /// `refresh` mode: the high-water marks noted at start; the owner finishes when every
    /// partition reaches its mark, and ignores records at or past it.
    pub targets: Option<HashMap<TopicPartition, i64>>,
    /// In-flight merge slots (`limits.max_in_flight` permits).
    pub slots: Arc<Semaphore>,
    /// Tells the fetch thread to stop.
    pub stop_fetch: Arc<AtomicBool>,
    /// The fetch thread's output, attached as a stream when the actor starts.
    pub chunks: Option<mpsc::Receiver<FetchedChunk>>,
    pub supervisor: mpsc::UnboundedSender<SupervisorEvent>,
    pending: HashMap<Arc<str>, Pending>,
    /// Batches ready to send, in order, waiting for an in-flight slot.
    outbox: VecDeque<Outgoing>,
    /// A wait for a slot is installed (at most one wait is ever outstanding: actix polls
    /// waits newest first, so two would reorder sends).
    pumping: bool,
    /// Set once the owner stops taking records.
    finishing: bool,
    /// The result to report once the outbox is empty and every merge is done.
    outcome: Option<Result<(), PipelineError>>,
    /// Reused buffer for the changes of one record.
    scratch: Vec<Change>,
}

impl PartitionOwner {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        slice: usize,
        epoch: Epoch,
        limits: BatchLimits,
        routes: HashMap<Arc<str>, Route>,
        positions: HashMap<TopicPartition, i64>,
        targets: Option<HashMap<TopicPartition, i64>>,
        stop_fetch: Arc<AtomicBool>,
        chunks: mpsc::Receiver<FetchedChunk>,
        supervisor: mpsc::UnboundedSender<SupervisorEvent>,
    ) -> Self {
        Self {
            slice,
            epoch,
            slots: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits,
            routes,
            positions,
            targets,
            stop_fetch,
            chunks: Some(chunks),
            supervisor,
            pending: HashMap::new(),
            outbox: VecDeque::new(),
            pumping: false,
            finishing: false,
            outcome: None,
            scratch: Vec::with_capacity(2),
        }
    }

    fn on_record(
        &mut self,
        record: RawRecord,
        memory: &mut Option<OwnedSemaphorePermit>,
    ) -> Result<(), PipelineError> {
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
        route
            .decoder
            .decode(
                record.key.as_deref(),
                record.value.as_deref(),
                coord,
                &mut self.scratch,
            )
            .map_err(|source| PipelineError::Decode {
                topic: record.topic.to_string(),
                partition: record.partition,
                offset: record.offset,
                source: Box::new(source),
            })?;
        let pending = self
            .pending
            .entry(record.topic.clone())
            .or_insert_with(Pending::new);
        for change in self.scratch.drain(..) {
            pending.batch.push(change);
        }
        pending.batch.events += 1;
        pending.offsets.insert(record.partition, record.offset + 1);
        if let Some(chunk_memory) = memory.as_mut() {
            if let Some(mine) = chunk_memory.split(record.payload_len() + 64) {
                match pending.memory.as_mut() {
                    Some(m) => m.merge(mine),
                    None => pending.memory = Some(mine),
                }
            }
        }
        self.positions.insert(tp, record.offset + 1);
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
                .or_insert_with(Pending::new)
                .offsets
                .insert(tp.partition, next_offset);
        }
    }

    /// Sends a table's pending batch to its merger, waiting for an in-flight slot if needed.
    fn flush(&mut self, topic: &Arc<str>, ctx: &mut Context<Self>) {
        let Some(pending) = self.pending.remove(topic) else {
            return;
        };
        if pending.batch.events == 0 && pending.offsets.is_empty() {
            return;
        }
        let Some(route) = self.routes.get(topic) else {
            return;
        };
        let events = pending.batch.events;
        let request = MergeRequest {
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
        };
        self.outbox.push_back(Outgoing {
            merger: route.merger.clone(),
            request,
            memory: pending.memory,
        });
        self.pump(ctx);
    }

    /// Sends queued batches in order while slots are free; otherwise waits for one. While it
    /// waits the owner handles nothing else: that is the backpressure.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.pumping {
            return;
        }
        while !self.outbox.is_empty() {
            match self.slots.clone().try_acquire_owned() {
                Ok(slot) => self.send_front(slot),
                Err(_) => {
                    self.pumping = true;
                    let slots = self.slots.clone();
                    ctx.wait(
                        async move { slots.acquire_owned().await }
                            .into_actor(self)
                            .map(|slot, act, ctx| {
                                act.pumping = false;
                                if let Ok(slot) = slot {
                                    act.send_front(slot);
                                }
                                act.pump(ctx);
                            }),
                    );
                    return;
                }
            }
        }
        self.maybe_complete(ctx);
    }

    fn send_front(&mut self, slot: OwnedSemaphorePermit) {
        if let Some(out) = self.outbox.pop_front() {
            out.merger.do_send(MergeBatch {
                request: out.request,
                slice: self.slice,
                slot,
                memory: out.memory,
            });
        }
    }

    /// Once finishing and everything is sent: waits for every merge, reports, stops.
    fn maybe_complete(&mut self, ctx: &mut Context<Self>) {
        if !self.finishing || self.pumping || !self.outbox.is_empty() {
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
                let _ = act
                    .supervisor
                    .send(SupervisorEvent::SliceFinished { slice, result });
                ctx.stop();
            }),
        );
    }

    fn flush_where(&mut self, ctx: &mut Context<Self>, due: impl Fn(&Pending) -> bool) {
        let topics: Vec<Arc<str>> = self
            .pending
            .iter()
            .filter(|(_, p)| due(p))
            .map(|(t, _)| t.clone())
            .collect();
        for topic in topics {
            self.flush(&topic, ctx);
        }
    }

    fn refresh_complete(&self) -> bool {
        match &self.targets {
            None => false,
            Some(targets) => targets
                .iter()
                .all(|(tp, target)| self.positions.get(tp).copied().unwrap_or(i64::MIN) >= *target),
        }
    }

    /// Stops fetching; flushes what is pending (unless a merge failed, when nothing after it
    /// may be applied); waits for every in-flight merge; reports; stops.
    fn finish(&mut self, ctx: &mut Context<Self>, result: Result<(), PipelineError>, flush: bool) {
        if self.finishing {
            return;
        }
        self.finishing = true;
        tracing::debug!(slice = self.slice, positions = ?self.positions, targets = ?self.targets, "owner finishing");
        self.stop_fetch.store(true, Ordering::Relaxed);
        self.outcome = Some(result);
        if flush {
            self.flush_where(ctx, |_| true);
        } else {
            self.pending.clear();
            self.outbox.clear();
        }
        self.pump(ctx);
    }
}

impl Actor for PartitionOwner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(rx) = self.chunks.take() {
            ctx.add_stream(ReceiverStream::new(rx));
        }
        let tick = (self.limits.linger / 4).max(std::time::Duration::from_millis(5));
        ctx.run_interval(tick, |act, ctx| {
            if act.finishing {
                return;
            }
            let linger = act.limits.linger;
            act.flush_where(ctx, |p| p.since.elapsed() >= linger);
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
        let (events, mut memory) = match chunk {
            FetchedChunk::Failed(e) => {
                // Records already read are sound: flush them, then stop with the error.
                self.finish(ctx, Err(e.into()), true);
                return;
            }
            FetchedChunk::Events { events, memory } => (events, memory),
        };
        for event in events {
            match event {
                ReadEvent::Record(record) => {
                    let topic = record.topic.clone();
                    if let Err(e) = self.on_record(record, &mut memory) {
                        // Everything before the bad record is applied; nothing after it.
                        self.finish(ctx, Err(e), true);
                        return;
                    }
                    let full = self.pending.get(&topic).is_some_and(|p| {
                        p.batch.len() >= self.limits.max_rows
                            || p.batch.bytes >= self.limits.max_bytes
                    });
                    if full {
                        self.flush(&topic, ctx);
                    }
                }
                ReadEvent::PartitionEof { tp, next_offset } => self.on_eof(tp, next_offset),
            }
        }
        let (max_rows, max_bytes) = (self.limits.max_rows, self.limits.max_bytes);
        self.flush_where(ctx, |p| {
            p.batch.len() >= max_rows || p.batch.bytes >= max_bytes
        });
        if self.refresh_complete() {
            self.finish(ctx, Ok(()), true);
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        if !self.finishing {
            self.finish(
                ctx,
                Err(PipelineError::FetchEnded { slice: self.slice }),
                true,
            );
        }
    }
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
