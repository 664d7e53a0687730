//! The async read layer: reads that take a pooled buffer only once data is
//! ready, on futures-io readers and (feature `tokio`) tokio's.
//!
//! * `flavor`: the two `poll_read` flavours behind one private trait, and the
//!   one place a reader's or writer's count is checked.
//! * `lend`: lending a buffer for one `poll_read`; the `read` and
//!   `read_exact` state machines; limits; right-sizing.
//! * `read`: the futures-io `read` / `read_up_to` / `read_exact` surface.
//! * `copy`: the copy state machine and its futures-io surface.
//! * `bufread`: `BufReader`, an `AsyncBufRead` of both families that holds
//!   no buffer while drained.
//! * `tokio`: the `*_tokio` surface.

mod bufread;
mod copy;
pub(crate) mod flavor;
pub(crate) mod lend;
mod read;
#[cfg(feature = "tokio")]
mod tokio;

#[cfg(feature = "tokio")]
pub use self::tokio::{pooled_copy_tokio, pooled_read_tokio, TokioCopyFuture, TokioReadExactFuture, TokioReadFuture};
pub use bufread::BufReader;
pub use copy::{pooled_copy, CopyFuture};
pub use read::{pooled_read, ReadExactFuture, ReadFuture};
