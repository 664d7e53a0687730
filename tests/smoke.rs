use bufpool::BufferPool;
#[test]
fn smoke() {
    let pool = BufferPool::builder().build().unwrap();
    for _ in 0..1000 {
        let mut b = pool.get(64 * 1024);
        b[0] = 1;
    }
    let s = pool.stats();
    assert_eq!(s.gets, 1000);
    assert_eq!(s.fresh_allocations, 1, "{s}");
    assert_eq!(s.outstanding_buffers, 0);
    let bufs: Vec<_> = (0..100).map(|_| pool.get(10_000)).collect();
    let p2 = pool.clone();
    std::thread::spawn(move || drop(bufs)).join().unwrap();
    let s = p2.stats();
    assert_eq!(s.outstanding_buffers, 0, "{s}");
    println!("{s}");
    drop(pool);
    let v = p2.get(5000).into_vec();
    assert_eq!(v.len(), 5000);
    drop(p2);
}
