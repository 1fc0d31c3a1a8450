//! A per-process cap on concurrent heavy work (renders, media generation). Beyond it a call is
//! refused at once, so the caller retries elsewhere or later, instead of queuing work that
//! would push the process past its memory limit.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The cap, and the value a refused call carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("all {capacity} {what} slots of this process are busy ({setting}); retry later")]
pub struct SlotsBusy {
    pub capacity: u32,
    /// What a slot runs, e.g. "render".
    pub what: &'static str,
    /// The setting that sizes the cap, e.g. "composer.max_concurrent_renders".
    pub setting: &'static str,
}

#[derive(Debug, Clone)]
pub struct WorkSlots {
    semaphore: Arc<Semaphore>,
    full: SlotsBusy,
}

/// A taken slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    /// Slots taken when this one was, this one included.
    pub running: u32,
}

impl WorkSlots {
    /// `capacity` slots (at least 1) of `what`, sized by `setting`.
    pub fn new(capacity: u32, what: &'static str, setting: &'static str) -> Self {
        let capacity = capacity.max(1);
        WorkSlots {
            semaphore: Arc::new(Semaphore::new(capacity as usize)),
            full: SlotsBusy { capacity, what, setting },
        }
    }

    pub fn capacity(&self) -> u32 {
        self.full.capacity
    }

    /// A free slot, or at once [`SlotsBusy`] when every slot is taken.
    pub fn try_take(&self) -> Result<Slot, SlotsBusy> {
        let permit = self.semaphore.clone().try_acquire_owned().map_err(|_| self.full)?;
        let free = u32::try_from(self.semaphore.available_permits()).unwrap_or(0);
        Ok(Slot { _permit: permit, running: self.full.capacity.saturating_sub(free) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_refused_beyond_the_capacity_and_freed_on_drop() {
        let slots = WorkSlots::new(2, "render", "composer.max_concurrent_renders");
        let first = slots.try_take().expect("first slot");
        assert_eq!(first.running, 1);
        let second = slots.try_take().expect("second slot");
        assert_eq!(second.running, 2);
        let refused = slots.try_take().expect_err("a third is refused");
        assert_eq!(refused.capacity, 2);
        assert!(refused.to_string().contains("composer.max_concurrent_renders"), "{refused}");
        drop(first);
        assert_eq!(slots.try_take().expect("a freed slot").running, 2);
    }
}
