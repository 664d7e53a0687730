//! Kernel async file I/O on io_uring with pool buffers, and a thread-pool fallback (feature `uring`).
