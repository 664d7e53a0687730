//! Helpers for the `resp_*` tests: the example's server started in-process on
//! a loopback port, and a blocking raw-TCP client.
#![allow(dead_code)]

#[path = "../../examples/resp/mod.rs"]
pub mod resp;

use resp::server::{bind, serve, shared, Options};
use resp::session::Shared;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The server running on its own thread and current-thread runtime, as
/// `resp_server` runs it; stopped and joined on drop.
pub struct Server {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start() -> Server {
        Server::with(Options::default())
    }

    /// Listens on 127.0.0.1 at a free port (`o.addr` is ignored).
    pub fn with(o: Options) -> Server {
        let shared = shared(&o).expect("pool");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let listener = bind("127.0.0.1:0").await.expect("bind");
                tx.send(listener.local_addr().expect("addr")).expect("send");
                let quiet = Options { quiet: true, ..o };
                serve(listener, s, async move { stopped.await.unwrap_or(()) }, &quiet).await;
            });
        });
        let addr = rx.recv_timeout(Duration::from_secs(10)).expect("server started");
        Server { addr, shared, stop: Some(stop), thread: Some(thread) }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Waits (up to 5 s) until the pool has no buffer handed out, which
    /// holds once every connection is idle and nothing stored pins a buffer.
    pub fn wait_no_buffers_out(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = self.shared.pool.stats().outstanding_buffers;
            if out == 0 || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A blocking client that writes raw bytes and reads exact replies.
pub struct Client {
    pub stream: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads exactly `n` bytes.
    pub fn recv(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.stream.read_exact(&mut buf).expect("reply in time");
        buf
    }

    /// Sends `request` and checks the reply is exactly `expect`.
    pub fn check(&mut self, request: &[u8], expect: &[u8]) {
        self.send(request);
        let got = self.recv(expect.len());
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(expect), "reply to {:?}", show(request));
    }

    /// True if the server closed the connection (reads EOF within 5 s).
    pub fn closed(&mut self) -> bool {
        self.stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0))
    }
}

/// A multibulk request.
pub fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A bulk-string reply.
pub fn bulk(v: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", v.len()).into_bytes();
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
    out
}

/// Bytes for an assertion message, shortened.
pub fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned();
    if b.len() > 200 {
        format!("{s}... ({} bytes)", b.len())
    } else {
        s
    }
}
