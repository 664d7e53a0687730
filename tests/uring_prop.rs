//! Random sequences of `read_at`/`write_at`/`fsync` on both backends, checked
//! against the same sequence through `std::fs`.
mod uring_common;

use bufpool::uring::Ring;
use bufpool::BufferPool;
use proptest::prelude::*;
use std::os::unix::fs::FileExt;
use uring_common::*;

#[derive(Debug, Clone)]
enum Step {
    Read {
        off: u64,
        len: usize,
    },
    Write {
        off: u64,
        len: usize,
        byte: u8,
    },
    Fsync,
    /// Several reads at once, to mix batches.
    Burst {
        off: u64,
        len: usize,
        n: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u64..300_000, 0usize..70_000).prop_map(|(off, len)| Step::Read { off, len }),
        4 => (0u64..300_000, 0usize..70_000, any::<u8>()).prop_map(|(off, len, byte)| Step::Write { off, len, byte }),
        1 => Just(Step::Fsync),
        1 => (0u64..300_000, 1usize..9000, 1usize..40).prop_map(|(off, len, n)| Step::Burst { off, len, n }),
    ]
}

fn run(ring: &Ring, pool: &BufferPool, steps: &[Step], tag: &str) {
    let dir = scratch("prop");
    let a = dir.join(format!("{tag}-ring"));
    let b = dir.join(format!("{tag}-std"));
    let fa = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&a).unwrap();
    let fb = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&b).unwrap();
    futures::executor::block_on(async {
        for s in steps {
            match *s {
                Step::Read { off, len } => {
                    let got = ring.read_at(&fa, off, len).await.unwrap();
                    let mut want = vec![0; len];
                    let n = read_full(&fb, &mut want, off);
                    assert_eq!(&got[..], &want[..n], "{s:?}");
                }
                Step::Write { off, len, byte } => {
                    let mut buf = pool.get(len);
                    buf.fill(byte);
                    let (n, buf) = ring.write_at(&fa, off, buf).await.unwrap();
                    assert_eq!((n, buf.len()), (len, len));
                    fb.write_all_at(&vec![byte; len], off).unwrap();
                }
                Step::Fsync => ring.fsync(&fa).await.unwrap(),
                Step::Burst { off, len, n } => {
                    let futs = (0..n as u64).map(|i| ring.read_at(&fa, off + i * 777, len));
                    for (i, r) in futures::future::join_all(futs).await.into_iter().enumerate() {
                        let mut want = vec![0; len];
                        let k = read_full(&fb, &mut want, off + i as u64 * 777);
                        assert_eq!(&r.unwrap()[..], &want[..k]);
                    }
                }
            }
        }
    });
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

/// `pread` until full or end of file, like one `read_at` on a regular file.
fn read_full(f: &std::fs::File, buf: &mut [u8], off: u64) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], off + n as u64).unwrap() {
            0 => break,
            k => n += k,
        }
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig { cases: scale(48) as u32, ..ProptestConfig::default() })]
    #[test]
    fn matches_std_fs(steps in proptest::collection::vec(step(), 1..40)) {
        let pool = BufferPool::new();
        for (k, ring) in rings(&pool, 16).iter().enumerate() {
            run(ring, &pool, &steps, &format!("{k}"));
        }
        let pinned = BufferPool::builder().pinned_memory(true).build().unwrap();
        let ring = Ring::builder(&pinned).entries(16).registered_buffers(4, 16 << 10).build().unwrap();
        run(&ring, &pinned, &steps, "fixed");
    }
}
