//! Partition assignment: which slice of which replica owns each partition.
//!
//! [`assign`] is a pure function of (live slices, partitions, previous assignment). Every
//! replica computes it from the same etcd view and claims what it is given, so it must be
//! deterministic, complete, balanced, and must move as few partitions as possible when
//! replicas join or leave (a move costs a flush and a handoff).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::TopicPartition;

/// One partition-owner slot: slice `slice` of replica `member`.
///
/// Ordered by member, then slice; that order breaks every tie in [`assign`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SliceId {
    /// The replica's member name (its registration in the coordinator).
    pub member: String,
    /// The slice's index within the replica (0-based).
    pub slice: u32,
}

impl SliceId {
    /// Slice `slice` of replica `member`.
    pub fn new(member: impl Into<String>, slice: u32) -> Self {
        Self {
            member: member.into(),
            slice,
        }
    }
}

impl fmt::Display for SliceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.member, self.slice)
    }
}

/// Which slice owns each partition.
pub type Assignment = BTreeMap<TopicPartition, SliceId>;

/// Assigns every partition to exactly one of `slices` (empty slices → empty assignment).
///
/// Guarantees:
/// - **Deterministic**: the result depends only on the *sets* `partitions` and `slices` (order
///   and duplicates are ignored) and on `previous`; no hashing is involved.
/// - **Complete**: every partition of `partitions` is assigned exactly once, only to a slice of
///   `slices`; partitions of `previous` that are not in `partitions` are dropped.
/// - **Balanced**: with `P` partitions and `S` slices every slice gets `P / S` or `P / S + 1`.
/// - **Sticky**: a partition keeps its previous slice whenever balance allows, so the number of
///   moved partitions is the minimum any balanced assignment needs. In particular, when slices
///   only join, moved partitions go only to the new slices; when slices only leave, only the
///   partitions of the departed slices move; when partitions are only added to a balanced
///   assignment, no existing partition moves.
/// - **Idempotent**: `assign(p, s, &assign(p, s, prev)) == assign(p, s, prev)`.
///
/// How: quotas are `base = P / S` and, for `P % S` slices, `base + 1`; the slices that get the
/// larger quota are the ones currently holding the most live partitions (ties by [`SliceId`]
/// order). A slice holding more than its quota sheds its highest partitions
/// ([`TopicPartition`] order). Unassigned partitions (new ones, ones of departed slices, shed
/// ones), in sorted order, each go to the slice below its quota that holds the fewest (ties by
/// [`SliceId`] order).
pub fn assign(
    partitions: &[TopicPartition],
    slices: &[SliceId],
    previous: &Assignment,
) -> Assignment {
    let partitions: BTreeSet<&TopicPartition> = partitions.iter().collect();
    let slices: Vec<&SliceId> = slices
        .iter()
        .collect::<BTreeSet<&SliceId>>()
        .into_iter()
        .collect();
    if slices.is_empty() {
        return Assignment::new();
    }
    let index: BTreeMap<&SliceId, usize> =
        slices.iter().enumerate().map(|(i, s)| (*s, i)).collect();

    // What each live slice holds now, in partition order (`previous` iterates sorted).
    let mut held: Vec<Vec<&TopicPartition>> = vec![Vec::new(); slices.len()];
    for (tp, owner) in previous {
        if let (Some(tp), Some(&i)) = (partitions.get(tp), index.get(owner)) {
            held[i].push(tp);
        }
    }

    let base = partitions.len() / slices.len();
    let extra = partitions.len() % slices.len();
    let mut by_holding: Vec<usize> = (0..slices.len()).collect();
    // Most held first; index order is SliceId order, so ties go to the smaller SliceId.
    by_holding.sort_by(|&a, &b| held[b].len().cmp(&held[a].len()).then(a.cmp(&b)));
    let mut quota = vec![base; slices.len()];
    for &i in by_holding.iter().take(extra) {
        quota[i] += 1;
    }

    let mut result = Assignment::new();
    for (i, tps) in held.iter_mut().enumerate() {
        // Shed the highest partitions beyond the quota.
        tps.truncate(quota[i]);
        for tp in tps.iter() {
            result.insert((*tp).clone(), slices[i].clone());
        }
    }

    // Slices with room, fewest held first (ties by SliceId). The total room equals the number
    // of unassigned partitions because the quotas sum to P.
    let mut open: BTreeSet<(usize, usize)> = (0..slices.len())
        .filter(|&i| held[i].len() < quota[i])
        .map(|i| (held[i].len(), i))
        .collect();
    for tp in partitions {
        if result.contains_key(tp) {
            continue;
        }
        let Some((count, i)) = open.pop_first() else {
            break;
        };
        result.insert(tp.clone(), slices[i].clone());
        if count + 1 < quota[i] {
            open.insert((count + 1, i));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    fn sid(member: &str, slice: u32) -> SliceId {
        SliceId::new(member, slice)
    }

    /// Partition count per slice (slices holding none included).
    fn counts(a: &Assignment, slices: &[SliceId]) -> BTreeMap<SliceId, usize> {
        let mut c: BTreeMap<SliceId, usize> = slices.iter().map(|s| (s.clone(), 0)).collect();
        for s in a.values() {
            *c.entry(s.clone()).or_default() += 1;
        }
        c
    }

    /// Partitions that had an owner in `before` and have a different one in `after`.
    fn moved(before: &Assignment, after: &Assignment) -> Vec<(TopicPartition, SliceId, SliceId)> {
        after
            .iter()
            .filter_map(|(tp, to)| match before.get(tp) {
                Some(from) if from != to => Some((tp.clone(), from.clone(), to.clone())),
                _ => None,
            })
            .collect()
    }

    fn check_complete_balanced(a: &Assignment, partitions: &[TopicPartition], slices: &[SliceId]) {
        let ps: BTreeSet<&TopicPartition> = partitions.iter().collect();
        let ss: BTreeSet<&SliceId> = slices.iter().collect();
        if ss.is_empty() {
            assert!(a.is_empty());
            return;
        }
        let keys: BTreeSet<&TopicPartition> = a.keys().collect();
        assert_eq!(keys, ps, "not every partition exactly once");
        assert!(a.values().all(|s| ss.contains(s)), "a dead slice was used");
        let base = ps.len() / ss.len();
        let c = counts(a, slices);
        assert_eq!(c.len(), ss.len());
        for (s, n) in &c {
            assert!(*n == base || *n == base + 1, "{s} holds {n}, base {base}");
        }
    }

    /// The most partitions of `previous` any balanced assignment can leave in place, found by
    /// trying every choice of the slices that get `base + 1` (only for few slices).
    fn max_keepable_brute(
        partitions: &[TopicPartition],
        slices: &[SliceId],
        previous: &Assignment,
    ) -> usize {
        let ps: BTreeSet<&TopicPartition> = partitions.iter().collect();
        let ss: Vec<&SliceId> = slices.iter().collect::<BTreeSet<_>>().into_iter().collect();
        let held: Vec<usize> = ss
            .iter()
            .map(|s| {
                previous
                    .iter()
                    .filter(|(tp, o)| ps.contains(tp) && o == s)
                    .count()
            })
            .collect();
        let (base, extra) = (ps.len() / ss.len(), ps.len() % ss.len());
        (0u32..(1 << ss.len()))
            .filter(|mask| mask.count_ones() as usize == extra)
            .map(|mask| {
                (0..ss.len())
                    .map(|i| held[i].min(base + ((mask >> i) & 1) as usize))
                    .sum::<usize>()
            })
            .max()
            .unwrap_or(0)
    }

    fn kept(previous: &Assignment, next: &Assignment) -> usize {
        next.iter()
            .filter(|(tp, s)| previous.get(*tp) == Some(*s))
            .count()
    }

    #[test]
    fn empty_inputs() {
        let ps = vec![tp("a", 0), tp("a", 1)];
        assert!(assign(&ps, &[], &Assignment::new()).is_empty());
        assert!(assign(&[], &[sid("m", 0)], &Assignment::new()).is_empty());
    }

    #[test]
    fn fresh_assignment_round_robins_in_order() {
        let ps: Vec<_> = (0..5).map(|p| tp("t", p)).collect();
        let ss = vec![sid("b", 0), sid("a", 1), sid("a", 0)];
        let a = assign(&ps, &ss, &Assignment::new());
        let owners: Vec<String> = a.values().map(ToString::to_string).collect();
        assert_eq!(owners, ["a/0", "a/1", "b/0", "a/0", "a/1"]);
    }

    #[test]
    fn over_quota_slice_sheds_its_highest_partitions() {
        let ps: Vec<_> = (0..4).map(|p| tp("t", p)).collect();
        let prev: Assignment = ps.iter().map(|p| (p.clone(), sid("a", 0))).collect();
        let a = assign(&ps, &[sid("a", 0), sid("b", 0)], &prev);
        assert_eq!(a[&tp("t", 0)], sid("a", 0));
        assert_eq!(a[&tp("t", 1)], sid("a", 0));
        assert_eq!(a[&tp("t", 2)], sid("b", 0));
        assert_eq!(a[&tp("t", 3)], sid("b", 0));
    }

    #[test]
    fn extra_quota_goes_to_the_slice_holding_most() {
        // 3 partitions, 2 slices: b holds 2 so b keeps them; a gets the rest.
        let ps: Vec<_> = (0..3).map(|p| tp("t", p)).collect();
        let prev: Assignment = [(tp("t", 1), sid("b", 0)), (tp("t", 2), sid("b", 0))]
            .into_iter()
            .collect();
        let a = assign(&ps, &[sid("a", 0), sid("b", 0)], &prev);
        assert_eq!(kept(&prev, &a), 2);
        assert_eq!(a[&tp("t", 0)], sid("a", 0));
    }

    // ---- property tests -------------------------------------------------------------------

    /// Members 1..8 with 1..4 slices each, as the sorted list of their slices.
    fn slices_strategy() -> impl Strategy<Value = Vec<SliceId>> {
        prop::collection::btree_map(0u8..16, 1u32..=4, 1..8).prop_map(|members| {
            members
                .into_iter()
                .flat_map(|(m, n)| (0..n).map(move |s| sid(&format!("m{m}"), s)))
                .collect()
        })
    }

    /// 0..200 partitions over 1..4 topics.
    fn partitions_strategy() -> impl Strategy<Value = Vec<TopicPartition>> {
        prop::collection::btree_set((0u8..4, 0i32..100), 0..200).prop_map(|set| {
            set.into_iter()
                .map(|(t, p)| tp(&format!("t{t}"), p))
                .collect()
        })
    }

    /// Any previous assignment: stale partitions and dead slices.
    fn stale_strategy() -> impl Strategy<Value = Assignment> {
        prop::collection::vec((0u8..4, 0i32..100, 0u8..16, 0u32..5), 0..100).prop_map(|v| {
            v.into_iter()
                .map(|(t, p, m, s)| (tp(&format!("t{t}"), p), sid(&format!("m{m}"), s)))
                .collect()
        })
    }

    /// Partitions, live slices and a previous assignment over them: some partitions
    /// unassigned, some on dead slices, the rest on the first `concentration` live slices, so
    /// some slices hold far more than their quota (where the choice of the `base + 1` slices
    /// and the shedding matter); plus stale entries.
    fn case_strategy() -> impl Strategy<Value = (Vec<TopicPartition>, Vec<SliceId>, Assignment)> {
        (
            partitions_strategy(),
            slices_strategy(),
            prop::collection::vec(any::<u8>(), 200),
            1usize..=32,
            stale_strategy(),
        )
            .prop_map(|(ps, ss, picks, concentration, stale)| {
                let mut prev = stale;
                let live = concentration.min(ss.len());
                for (p, pick) in ps.iter().zip(picks) {
                    match pick {
                        0..=19 => {
                            prev.remove(p);
                        }
                        20..=39 => {
                            prev.insert(p.clone(), sid("dead", u32::from(pick)));
                        }
                        _ => {
                            prev.insert(p.clone(), ss[usize::from(pick) % live].clone());
                        }
                    }
                }
                (ps, ss, prev)
            })
    }

    /// Splits `all` by `mask` into (chosen, rest).
    fn split(all: &[SliceId], mask: &[bool]) -> (Vec<SliceId>, Vec<SliceId>) {
        let (a, b): (Vec<_>, Vec<_>) = all
            .iter()
            .enumerate()
            .partition(|(i, _)| mask.get(*i).copied().unwrap_or(false));
        (
            a.into_iter().map(|(_, s)| s.clone()).collect(),
            b.into_iter().map(|(_, s)| s.clone()).collect(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// (e) Balanced and complete for random inputs and any previous assignment, and
        /// minimal: keeps as many previous placements as any balanced assignment could.
        #[test]
        fn balanced_complete_minimal((ps, ss, prev) in case_strategy()) {
            let a = assign(&ps, &ss, &prev);
            check_complete_balanced(&a, &ps, &ss);
            if ss.len() <= 10 {
                prop_assert_eq!(kept(&prev, &a), max_keepable_brute(&ps, &ss, &prev));
            }
        }

        /// Deterministic: input order and duplicates do not matter.
        #[test]
        fn order_and_duplicates_do_not_matter(
            (ps, shuffled_ps, ss, shuffled_ss, prev) in case_strategy().prop_flat_map(
                |(ps, ss, prev)| {
                    (
                        Just(ps.clone()),
                        Just(ps).prop_shuffle(),
                        Just(ss.clone()),
                        Just(ss).prop_shuffle(),
                        Just(prev),
                    )
                }
            ),
        ) {
            let a = assign(&ps, &ss, &prev);
            let mut dup_ps = shuffled_ps.clone();
            dup_ps.extend(shuffled_ps.iter().rev().cloned());
            let mut dup_ss = shuffled_ss.clone();
            dup_ss.extend(shuffled_ss.iter().take(3).cloned());
            prop_assert_eq!(&a, &assign(&shuffled_ps, &shuffled_ss, &prev));
            prop_assert_eq!(&a, &assign(&dup_ps, &dup_ss, &prev));
        }

        /// (d) Idempotent from any previous assignment.
        #[test]
        fn idempotent((ps, ss, prev) in case_strategy()) {
            let once = assign(&ps, &ss, &prev);
            prop_assert_eq!(&assign(&ps, &ss, &once), &once);
        }

        /// (a) Slices join: moved partitions go only to new slices, and as many move as the
        /// new slices end up holding.
        #[test]
        fn join_moves_only_to_new_slices(
            ps in partitions_strategy(),
            all in slices_strategy(),
            mask in prop::collection::vec(any::<bool>(), 32),
        ) {
            let (old, _joined) = split(&all, &mask);
            prop_assume!(!old.is_empty());
            let before = assign(&ps, &old, &Assignment::new());
            let after = assign(&ps, &all, &before);
            check_complete_balanced(&after, &ps, &all);
            let old_set: BTreeSet<&SliceId> = old.iter().collect();
            let m = moved(&before, &after);
            for (tp, from, to) in &m {
                prop_assert!(!old_set.contains(to), "{} moved from {} to old slice {}", tp, from, to);
            }
            let held_by_new = after.values().filter(|s| !old_set.contains(s)).count();
            prop_assert_eq!(m.len(), held_by_new);
        }

        /// (b) Slices leave: only partitions of departed slices move.
        #[test]
        fn leave_moves_only_departed_partitions(
            ps in partitions_strategy(),
            all in slices_strategy(),
            mask in prop::collection::vec(any::<bool>(), 32),
        ) {
            let (survivors, _left) = split(&all, &mask);
            prop_assume!(!survivors.is_empty());
            let before = assign(&ps, &all, &Assignment::new());
            let after = assign(&ps, &survivors, &before);
            check_complete_balanced(&after, &ps, &survivors);
            let alive: BTreeSet<&SliceId> = survivors.iter().collect();
            for (tp, from, to) in moved(&before, &after) {
                prop_assert!(!alive.contains(&from), "{} moved from surviving {} to {}", tp, from, to);
            }
        }

        /// (c) Partitions added: from a balanced assignment nothing moves; from any previous
        /// assignment every slice keeps at least min(old count, new count) of its partitions.
        #[test]
        fn added_partitions_move_nothing_balance_does_not_force(
            (ps, ss, prev) in case_strategy(),
            added in partitions_strategy(),
        ) {
            let mut grown = ps.clone();
            grown.extend(added);

            let before = assign(&ps, &ss, &prev);
            let after = assign(&grown, &ss, &before);
            check_complete_balanced(&after, &grown, &ss);
            prop_assert!(moved(&before, &after).is_empty());

            let after = assign(&grown, &ss, &prev);
            let new_counts = counts(&after, &ss);
            let grown_set: BTreeSet<&TopicPartition> = grown.iter().collect();
            for s in &ss {
                let held: Vec<&TopicPartition> = prev
                    .iter()
                    .filter(|(tp, o)| *o == s && grown_set.contains(tp))
                    .map(|(tp, _)| tp)
                    .collect();
                let kept_by_s = held.iter().filter(|tp| after.get(**tp) == Some(s)).count();
                prop_assert!(
                    kept_by_s >= held.len().min(new_counts[s]),
                    "{} kept {} of {}, now holds {}", s, kept_by_s, held.len(), new_counts[s]
                );
            }
        }
    }
}
