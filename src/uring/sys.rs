//! Thin, checked wrappers over the few raw system calls the layer makes
//! itself: dup, and the thread backend's pread/pwrite/fsync.

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

/// `pread` into `ptr[..len]`, retrying `EINTR`/`EAGAIN`. One call: a short
/// count means end of file.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes for the whole call, and not
/// accessed by anyone else meanwhile.
pub(crate) unsafe fn pread(fd: RawFd, ptr: *mut u8, len: usize, offset: u64) -> io::Result<usize> {
    loop {
        // SAFETY: the caller guarantees `ptr[..len]` is writable and ours.
        let r = unsafe { libc::pread(fd, ptr.cast(), len, offset as libc::off_t) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if !is_transient(e.raw_os_error().unwrap_or(0)) {
            return Err(e);
        }
    }
}

/// `pwrite` of all of `ptr[..len]`, retrying short writes, `EINTR` and `EAGAIN`.
///
/// # Safety
/// `ptr` must be valid for reads of `len` bytes for the whole call.
pub(crate) unsafe fn pwrite_all(fd: RawFd, ptr: *const u8, len: usize, offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < len {
        // SAFETY: `done < len`, so `ptr + done .. ptr + len` lies in the range
        // the caller guarantees readable.
        let r = unsafe { libc::pwrite(fd, ptr.add(done).cast(), len - done, (offset + done as u64) as libc::off_t) };
        if r > 0 {
            done += r as usize;
        } else if r == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "pwrite wrote 0 bytes"));
        } else {
            let e = io::Error::last_os_error();
            if !is_transient(e.raw_os_error().unwrap_or(0)) {
                return Err(e);
            }
        }
    }
    Ok(done)
}

/// `fsync`, retrying `EINTR`.
pub(crate) fn fsync(fd: RawFd) -> io::Result<()> {
    loop {
        // SAFETY: fsync has no memory-safety preconditions.
        if unsafe { libc::fsync(fd) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if !is_transient(e.raw_os_error().unwrap_or(0)) {
            return Err(e);
        }
    }
}
