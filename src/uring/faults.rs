//! Test support (feature `test-util`): the backend's raw results altered on
//! purpose, so tests drive the `EINTR`/`EAGAIN`/short-count paths through
//! the public API. Without the feature, [`Faults`] is empty and
//! [`Faults::apply`] returns its argument.

#[cfg(feature = "test-util")]
use parking_lot::Mutex;
#[cfg(feature = "test-util")]
use std::collections::VecDeque;

/// A fault for [`RingBuilder::inject_faults`](crate::uring::RingBuilder::inject_faults).
#[cfg(feature = "test-util")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Report this errno instead of the real result (which is discarded: the
    /// transfer happened, and a retry repeats it).
    Errno(i32),
    /// Report at most this many bytes transferred (a short count).
    Short(usize),
}

/// The faults still to inject, one per raw result, ring-wide.
#[derive(Default)]
pub(crate) struct Faults {
    /// `None` unless asked for, so the hot path pays one branch.
    #[cfg(feature = "test-util")]
    queue: Option<Mutex<VecDeque<Fault>>>,
}

impl Faults {
    #[cfg(feature = "test-util")]
    pub(crate) fn new(faults: Vec<Fault>) -> Self {
        Faults { queue: if faults.is_empty() { None } else { Some(Mutex::new(faults.into())) } }
    }

    /// The raw result `res` (a count, or minus an errno) as the backend
    /// should see it: changed by the next fault, if any is left.
    #[inline]
    pub(crate) fn apply(&self, res: i64) -> i64 {
        #[cfg(feature = "test-util")]
        if let Some(q) = &self.queue {
            return match q.lock().pop_front() {
                None => res,
                Some(Fault::Errno(e)) => -i64::from(e),
                Some(Fault::Short(k)) if res >= 0 => res.min(i64::try_from(k).unwrap_or(i64::MAX)),
                Some(Fault::Short(_)) => res,
            };
        }
        res
    }
}
