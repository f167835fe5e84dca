use tidemark_model::TopicPartition;

/// Spreads partitions over `slices` owners, round robin over the sorted partitions so every
/// slice gets partitions of every topic. Pure and deterministic.
pub fn assign_round_robin(mut tps: Vec<TopicPartition>, slices: usize) -> Vec<Vec<TopicPartition>> {
    let slices = slices.max(1);
    tps.sort();
    let mut out = vec![Vec::new(); slices];
    for (i, tp) in tps.into_iter().enumerate() {
        out[i % slices].push(tp);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_and_complete() {
        let tps: Vec<_> = (0..7).map(|p| TopicPartition::new("t", p)).collect();
        let out = assign_round_robin(tps.clone(), 3);
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 2, 2]);
        let mut all: Vec<_> = out.into_iter().flatten().collect();
        all.sort();
        assert_eq!(all, tps);
    }
}
