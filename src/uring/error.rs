//! Turning kernel results into `io::Error`s that say what went wrong.
//!
//! A bare `EINVAL` from a direct-I/O file almost always means a misaligned
//! offset, length or buffer. When an operation fails that way on a file opened
//! with `O_DIRECT`, the error becomes `InvalidInput` and names the alignment
//! required and the values that broke it.

use std::io;
use std::os::fd::RawFd;

/// The alignment `O_DIRECT` needs on `fd`'s file: its preferred I/O block size
/// (`st_blksize`, 4096 on common file systems), a multiple of the device's
/// logical block size; 4096 if it cannot be read.
pub(crate) fn direct_alignment(fd: RawFd) -> usize {
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a live, writable `stat`; fstat writes only into it.
    if unsafe { libc::fstat(fd, &mut st) } == 0 && st.st_blksize > 0 {
        let b = st.st_blksize as usize;
        if b.is_power_of_two() {
            return b;
        }
    }
    4096
}

/// Whether `fd` was opened with `O_DIRECT`.
pub(crate) fn is_direct(fd: RawFd) -> bool {
    // SAFETY: F_GETFL only reads the descriptor's flags.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    fl >= 0 && fl & libc::O_DIRECT != 0
}

/// The error for a failed operation. Only the cold `EINVAL` path makes extra
/// system calls.
pub(crate) fn op_error(errno: i32, fd: RawFd, offset: u64, len: usize, buf_addr: usize) -> io::Error {
    if errno == libc::EINVAL && fd >= 0 && is_direct(fd) {
        let a = direct_alignment(fd);
        let bad = |v: u64| v % a as u64 != 0;
        if bad(offset) || bad(len as u64) || bad(buf_addr as u64) {
            return io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "O_DIRECT requires the offset, length and buffer address to be multiples of {a} bytes \
                     (got offset {offset}, length {len}, buffer address {buf_addr:#x}); \
                     use a pool built with .alignment({a}) and aligned offsets and lengths"
                ),
            );
        }
    }
    io::Error::from_raw_os_error(errno)
}
