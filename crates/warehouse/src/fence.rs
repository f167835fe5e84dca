//! The fencing rule both dialects enforce when a merge advances a watermark: a row is written
//! only if its stored epoch is older, or the same with a next offset that does not go
//! backwards. Which refusal a merge reports is decided here, once.

use tidemark_model::{Epoch, Watermark};
use tidemark_ports::WarehouseError;

/// Whether the stored row (`epoch`, `next offset`) lets `w` be written.
pub(crate) fn admits(w: &Watermark, stored_epoch: i64, stored_offset: Option<i64>) -> bool {
    stored_epoch < w.epoch.0
        || (stored_epoch == w.epoch.0 && stored_offset.unwrap_or(-1) <= w.next_offset)
}

/// Why `w` was refused, given the stored row (`None`: there is none, which cannot refuse it).
pub(crate) fn refusal(w: &Watermark, stored: Option<(i64, Option<i64>)>) -> WarehouseError {
    let (stored_epoch, stored_offset) = stored.unwrap_or((i64::MIN, None));
    if stored_epoch > w.epoch.0 {
        return WarehouseError::Fenced {
            tp: w.tp.clone(),
            epoch: w.epoch,
            stored: Epoch(stored_epoch),
        };
    }
    WarehouseError::WatermarkRegression {
        tp: w.tp.clone(),
        epoch: w.epoch,
        stored: stored_offset.unwrap_or(-1),
        next_offset: w.next_offset,
    }
}
