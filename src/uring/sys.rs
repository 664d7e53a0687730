//! Thin, checked wrappers over the few raw system calls the layer makes
//! itself: dup, and the thread backend's pread/pwrite/fsync (one call each,
//! reporting like a CQE; the retry decisions are `state::on_result`'s).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// A close-on-exec duplicate of `fd`.
pub(crate) fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC only reads `fd`; an invalid one gives EBADF.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `n` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// True for the errors an operation is simply retried after.
pub(crate) fn is_transient(errno: i32) -> bool {
    errno == libc::EINTR || errno == libc::EAGAIN
}

/// A raw result as the kernel reports it in a CQE: the count, or minus the errno.
fn raw(r: isize) -> i64 {
    if r >= 0 {
        r as i64
    } else {
        -i64::from(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
    }
}

/// One `pread` into `ptr[..len]`: the count, or minus the errno (the caller
/// retries; see `state::on_result`).
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes for the whole call, and not
/// accessed by anyone else meanwhile.
pub(crate) unsafe fn pread(fd: RawFd, ptr: *mut u8, len: usize, offset: u64) -> i64 {
    // SAFETY: the caller guarantees `ptr[..len]` is writable and ours.
    raw(unsafe { libc::pread(fd, ptr.cast(), len, offset as libc::off_t) })
}

/// One `pwrite` of `ptr[..len]`: the count (maybe short), or minus the errno.
///
/// # Safety
/// `ptr` must be valid for reads of `len` bytes for the whole call.
pub(crate) unsafe fn pwrite(fd: RawFd, ptr: *const u8, len: usize, offset: u64) -> i64 {
    // SAFETY: the caller guarantees `ptr[..len]` is readable.
    raw(unsafe { libc::pwrite(fd, ptr.cast(), len, offset as libc::off_t) })
}

/// One `fsync`: 0, or minus the errno.
pub(crate) fn fsync(fd: RawFd) -> i64 {
    // SAFETY: fsync has no memory-safety preconditions.
    raw(unsafe { libc::fsync(fd) } as isize)
}
