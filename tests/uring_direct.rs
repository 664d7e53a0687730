//! O_DIRECT with an aligned pool, clear alignment errors, and registered
//! (fixed) buffers with a pinned pool.
mod uring_common;

use bufpool::uring::{Backend, Ring};
use bufpool::BufferPool;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use uring_common::*;

/// Opens `path` with O_DIRECT, or says why not (tmpfs and some others refuse).
fn open_direct(path: &std::path::Path) -> Option<File> {
    match OpenOptions::new().read(true).write(true).custom_flags(libc::O_DIRECT).open(path) {
        Ok(f) => Some(f),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            eprintln!("skipping: {} does not support O_DIRECT ({e})", path.display());
            None
        }
        Err(e) => panic!("open O_DIRECT: {e}"),
    }
}

#[test]
fn direct_reads_and_alignment_errors() {
    let dir = scratch("direct");
    let pool = BufferPool::builder().alignment(4096).build().unwrap();
    let path = dir.join("f");
    make_file(&path, 1 << 20);
    let Some(file) = open_direct(&path) else { return };
    for ring in rings(&pool, 32) {
        futures::executor::block_on(async {
            for off in [0u64, 4096, 65536, (1 << 20) - 8192] {
                let b = ring.read_at(&file, off, 8192).await.unwrap();
                assert_eq!(b.len(), 8192);
                assert_eq!(b.as_ptr() as usize % 4096, 0);
                assert!(b.iter().enumerate().all(|(j, &x)| x == pattern(off + j as u64)));
            }
            // Aligned write, then read back.
            let mut w = pool.get(4096);
            w.fill(0x5A);
            let (n, _) = ring.write_at(&file, 49 * 4096, w).await.unwrap();
            assert_eq!(n, 4096);
            assert!(ring.read_at(&file, 49 * 4096, 4096).await.unwrap().iter().all(|&x| x == 0x5A));
            // Misaligned offset, then length: a clear InvalidInput.
            for (off, len) in [(100u64, 4096usize), (0, 1000)] {
                let e = ring.read_at(&file, off, len).await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
                let msg = e.to_string();
                assert!(msg.contains("4096") && msg.contains("O_DIRECT"), "{msg}");
                println!("{:?}: {msg}", ring.backend());
            }
        });
    }
    // A pool without alignment: the buffer address is named in the error.
    let unaligned = BufferPool::builder().min_buffer_size(1).build().unwrap();
    let ring = Ring::new(&unaligned, 8).unwrap();
    let r = futures::executor::block_on(ring.read_at(&file, 0, 4096));
    if let Err(e) = r {
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
}

#[test]
fn registered_buffers_with_a_pinned_pool() {
    let dir = scratch("fixed");
    let pool = BufferPool::builder().pinned_memory(true).build().unwrap();
    let ring = Ring::builder(&pool).registered_buffers(16, 16 << 10).build().unwrap();
    if ring.backend() != Backend::IoUring || ring.registered_buffers() == 0 {
        eprintln!("skipping: no io_uring or registration refused ({ring:?})");
        return;
    }
    assert_eq!(ring.registered_buffers(), 16);
    let path = dir.join("f");
    let file = make_file(&path, 1 << 20);
    let direct = open_direct(&path);
    futures::executor::block_on(async {
        // Fixed reads (<= 16 KiB) and a plain one (too big for the arena).
        let futs = (0..200u64).map(|i| {
            let (ring, file) = (&ring, &file);
            async move {
                let len = if i % 10 == 0 { 100_000 } else { 1 + (i as usize * 997) % (16 << 10) };
                let off = i * 3001;
                let b = ring.read_at(file, off, len).await.unwrap();
                assert_eq!(b.len(), len);
                assert!(b.iter().enumerate().all(|(j, &x)| x == pattern(off + j as u64)), "read {i}");
            }
        });
        futures::future::join_all(futs).await;
        // Fixed writes.
        let mut w = pool.get(10_000);
        w.fill(0x77);
        let (n, w) = ring.write_at(&file, 50_000, w).await.unwrap();
        assert_eq!((n, w.len()), (10_000, 10_000));
        let mut back = vec![0; 10_000];
        file.read_exact_at(&mut back, 50_000).unwrap();
        assert!(back.iter().all(|&x| x == 0x77));
        if let Some(d) = &direct {
            let b = ring.read_at(d, 4096, 8192).await.unwrap();
            assert_eq!(b[0], pattern(4096));
        }
    });
    let s = ring.stats();
    println!("{s:?}");
    assert!(s.fixed_ops >= 16, "{s:?}");
    drop(ring);
    wait_quiescent(&pool);
}
