//! [`RegisteredFile`]: a file registered with every shard of a [`Ring`], so
//! the kernel finds it without taking a reference per operation.
//!
//! Without registration, every operation makes the kernel look the
//! descriptor up and take a reference to the file (`fget`) and drop it
//! (`fput`): atomic updates of one counter, which bounce between CPUs when
//! several threads work on one file (10% of CPU for 4 KiB page-cache reads
//! from two CPUs, `docs/benchmarks.md`). A registered file is named by its
//! index in the ring's file table instead. And because the table entry holds
//! the kernel's own reference to the file, its futures may leave their
//! operations queued for a later drive: they queue on their first poll and
//! submit on their second, one `io_uring_enter` for the executor's whole
//! batch (a plain descriptor's future must submit in its first poll; see
//! "Descriptors" in `backend/uring.rs`).
//!
//! A table entry holds the kernel's own reference to the file; what must not
//! happen is an operation naming an entry after it was cleared and given to
//! another file. Entries are cleared when the `RegisteredFile` drops (after
//! every future or stream borrowing it is dropped or leaked) and no queued
//! operation names them: the others were resolved when submitted (the ring
//! never forces `IOSQE_ASYNC`), and none is submitted again after its owner
//! is gone (see "Descriptors" in `backend/uring.rs`). A leaked queued
//! operation keeps its entry, and so its file, until it is submitted.

use crate::uring::fork;
use crate::uring::many::ReadMany;
use crate::uring::op::{Fsync, Op, ReadAt, WriteAt};
use crate::uring::ring::Ring;
use crate::uring::slots::Kind;
use crate::uring::sys;
use crate::PooledBuffer;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// A file registered with a [`Ring`] ([`Ring::register`]): the same
/// operations as the ring's, without a per-operation file lookup in the
/// kernel. `Send + Sync`, and owns what it needs (a clone of the ring and a
/// duplicate of the descriptor), so one `Arc<RegisteredFile>` can serve many
/// tasks.
///
/// Each shard's table has room for 64 files; a shard without room (or a
/// kernel before 5.19, or the thread backend) uses the plain descriptor,
/// with the same results. [`is_registered`](Self::is_registered) says which.
pub struct RegisteredFile {
    ring: Ring,
    fd: OwnedFd,
    /// Per shard: the entry in its file table, if it had room.
    entries: Vec<Option<u32>>,
}

impl Ring {
    /// Registers `file` with every shard of the ring (see [`RegisteredFile`]).
    /// The `RegisteredFile` keeps its own duplicate of the descriptor; `file` may be
    /// closed meanwhile.
    ///
    /// ```
    /// # use bufpool::uring::Ring;
    /// # let pool = bufpool::BufferPool::new();
    /// let ring = Ring::new(&pool, 64)?;
    /// let file = ring.register(&std::fs::File::open("Cargo.toml")?)?;
    /// let head = futures::executor::block_on(file.read_at(0, 9))?;
    /// assert_eq!(&head[..], b"[package]");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn register<F: AsFd>(&self, file: &F) -> io::Result<RegisteredFile> {
        if self.shards.forked() {
            return Err(fork::error());
        }
        let fd = sys::dup(file.as_fd().as_raw_fd())?;
        let entries =
            self.shards.iter().map(|shard| shard.register_file(&mut shard.core.lock(), fd.as_raw_fd())).collect();
        Ok(RegisteredFile { ring: self.clone(), fd, entries })
    }
}

impl RegisteredFile {
    fn op(&self, kind: Kind, offset: u64, len: usize, buf: Option<PooledBuffer>) -> Op<'_> {
        Op::new(&self.ring.shards, kind, self.fd.as_raw_fd(), offset, len, buf).with_files(&self.entries)
    }

    /// [`Ring::read_at`] on this file.
    pub fn read_at(&self, offset: u64, len: usize) -> ReadAt<'_> {
        ReadAt(self.op(Kind::Read, offset, len, None))
    }

    /// [`Ring::write_at`] on this file.
    pub fn write_at(&self, offset: u64, buf: PooledBuffer) -> WriteAt<'_> {
        let len = buf.len();
        WriteAt(self.op(Kind::Write, offset, len, Some(buf)))
    }

    /// [`Ring::fsync`] on this file.
    pub fn fsync(&self) -> Fsync<'_> {
        Fsync(self.op(Kind::Fsync, 0, 0, None))
    }

    /// [`Ring::read_many`] on this file.
    pub fn read_many<I>(&self, reads: I, depth: usize) -> io::Result<ReadMany<'_, I::IntoIter>>
    where
        I: IntoIterator<Item = (u64, usize)>,
    {
        Ok(self.ring.read_many(&self.fd, reads, depth)?.with_files(&self.entries))
    }

    /// True if every shard of the ring has the file in its table.
    pub fn is_registered(&self) -> bool {
        self.entries.iter().all(Option::is_some)
    }

    /// The ring it is registered with.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }
}

impl Drop for RegisteredFile {
    fn drop(&mut self) {
        // Every future and stream borrowing us is gone (dropped or leaked):
        // their operations are done, cancelled, or submitted (the kernel
        // resolved the entry then); none is ever submitted again
        // ("Descriptors" in `backend/uring.rs`). In a forked child the table is the
        // parent's: leave it alone.
        if self.ring.shards.forked() {
            return;
        }
        for (k, e) in self.entries.iter().enumerate() {
            if let Some(i) = *e {
                self.ring.shards.get(k).unregister_file(i);
            }
        }
    }
}

impl fmt::Debug for RegisteredFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredFile").field("fd", &self.fd).field("entries", &self.entries).finish()
    }
}
