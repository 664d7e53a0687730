//! The command line, the listener and the per-connection loop on tokio.

use super::session::{Session, Shared};
use bufpool::{BufferPool, PooledBuffer};
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

pub const USAGE: &str = "\
usage: resp_server [--addr 127.0.0.1:6380] [--seconds 60] [--max-bulk BYTES]
                   [--workers 1] [--read-size 16384] [--quiet]

A Redis-protocol (RESP2) server on bufpool: PING ECHO SET(EX/PX/NX/XX) GET DEL
EXISTS INCR MGET MSET CONFIG GET QUIT. Drive it with redis-cli or
redis-benchmark, e.g. `redis-benchmark -p 6380 -t set,get -P 16 -q`.

  --addr ADDR        address to listen on (default 127.0.0.1:6380)
  --seconds N        stop after N seconds (default 60; 0 = until Ctrl-C)
  --max-bulk BYTES   longest bulk string accepted (default 536870912, as Redis)
  --workers N        tokio worker threads (default 1, like redis-server;
                     1 = a current-thread runtime)
  --read-size BYTES  size of the pooled read buffers (default 16384)
  --quiet            no progress line each second
  -h, --help         this text";

#[derive(Debug, Clone)]
pub struct Options {
    pub addr: String,
    pub seconds: u64,
    pub max_bulk: usize,
    pub workers: usize,
    pub read_size: usize,
    pub quiet: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: "127.0.0.1:6380".into(),
            seconds: 60,
            max_bulk: 512 << 20,
            workers: 1,
            read_size: 16 << 10,
            quiet: false,
        }
    }
}

#[derive(Debug)]
pub enum Cli {
    Help,
    Run(Options),
}

/// Parses the arguments after the program name.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Cli, String> {
    let mut o = Options::default();
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let mut value = |what: &str| it.next().ok_or_else(|| format!("{flag} needs {what}"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(Cli::Help),
            "--quiet" => o.quiet = true,
            "--addr" => o.addr = value("an address such as 127.0.0.1:6380")?,
            "--seconds" => o.seconds = number(&flag, &value("a number of seconds")?)?,
            "--max-bulk" => o.max_bulk = number(&flag, &value("a size in bytes")?)?,
            "--workers" => o.workers = number(&flag, &value("a thread count")?)?,
            "--read-size" => o.read_size = number(&flag, &value("a size in bytes")?)?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.workers == 0 || o.read_size == 0 {
        return Err("--workers and --read-size must be at least 1".into());
    }
    Ok(Cli::Run(o))
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    v.parse().map_err(|e| format!("{flag} {v:?}: {e}"))
}

/// Binds the listener; the error names the address, with a hint.
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            io::ErrorKind::AddrInUse => {
                " (is another server, such as redis-server, using that port? pick another with --addr)"
            }
            io::ErrorKind::InvalidInput => " (expected HOST:PORT, such as 127.0.0.1:6380)",
            _ => "",
        };
        io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}{hint}"))
    })
}

/// The pool and key space the server uses for these options.
pub fn shared(o: &Options) -> io::Result<Arc<Shared>> {
    // Reads are parsed and dropped at once, so moving a short read into a
    // smaller buffer (`right_size`) would only add a copy; a stored value
    // that could pin a big buffer is copied by `Args::keep` instead.
    let pool = BufferPool::builder()
        .read_size(o.read_size)
        .right_size(false)
        .build()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    Ok(Arc::new(Shared::new(pool, o.max_bulk)))
}

/// Runs the server for `o.seconds` (or until Ctrl-C) on its own runtime.
pub fn run(o: Options) -> io::Result<()> {
    let rt = if o.workers == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(o.workers).enable_all().build()?
    };
    rt.block_on(async {
        let listener = bind(&o.addr).await?;
        let shared = shared(&o)?;
        let local = listener.local_addr()?;
        eprintln!("resp_server listening on {local} for {} s (try: redis-cli -p {} ping)", o.seconds, local.port());
        let stop = async {
            if o.seconds == 0 {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(Duration::from_secs(o.seconds)).await
            }
        };
        let started = Instant::now();
        let summary = serve(listener, shared.clone(), stop, &o).await;
        let keys = shared.store.len();
        eprintln!(
            "resp_server: {} connections, {} commands in {:.1} s, {keys} keys stored",
            summary.connections,
            shared.commands.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        );
        eprintln!("pool: {}", shared.pool.stats());
        Ok(())
    })
}

pub struct Summary {
    pub connections: u64,
}

/// Accepts connections until `stop` finishes or Ctrl-C, then returns
/// (connection tasks end with the runtime). Unless `options.quiet`, prints
/// a line a second.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: impl Future<Output = ()>,
    options: &Options,
) -> Summary {
    let progress = !options.quiet;
    tokio::pin!(stop);
    let open = Arc::new(AtomicU64::new(0));
    let mut connections = 0u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (started, mut last) = (Instant::now(), 0u64);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        // EMFILE and the like: say so, breathe, go on.
                        eprintln!("resp_server: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                connections += 1;
                let (shared, open) = (shared.clone(), open.clone());
                tokio::spawn(async move {
                    open.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = handle(stream, &shared).await {
                        if !matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe) {
                            eprintln!("resp_server: connection: {e}");
                        }
                    }
                    open.fetch_sub(1, Ordering::Relaxed);
                });
            }
            _ = tick.tick() => {
                shared.store.sweep();
                if progress && started.elapsed() >= Duration::from_millis(500) {
                    let n = shared.commands.load(Ordering::Relaxed);
                    eprintln!(
                        "resp_server: {:>4} s, {} connections open, {n} commands (+{}/s)",
                        started.elapsed().as_secs(),
                        open.load(Ordering::Relaxed),
                        n - last
                    );
                    last = n;
                }
            }
            _ = &mut stop => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Summary { connections }
}

/// One connection: read, run every complete command, write every reply in
/// one vectored write, repeat.
///
/// While the connection is idle and no command is half-received it holds no
/// buffer: `read_tokio` lends a pooled buffer to each read attempt and takes
/// it back if the socket has nothing.
pub async fn handle(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut session = Session::new(&shared.pool);
    loop {
        let got = match session.partial() {
            Some(buf) => append(&mut stream, buf).await?,
            None => match shared.pool.read_tokio(&mut stream).await? {
                Some(buf) => {
                    let n = buf.len();
                    session.set_input(buf);
                    n
                }
                None => 0,
            },
        };
        if got == 0 {
            // End of input: whatever was half-sent is dropped, as Redis does.
            return Ok(());
        }
        session.process(shared);
        // The rest of a pipelined batch that ended mid-command is most
        // likely waiting already: read it now (without waiting), so the
        // batch's replies go out in one write rather than one per read.
        let mut more = MORE_READS;
        while more > 0 && !session.quit() {
            let Some(buf) = session.partial() else { break };
            match try_append(&stream, buf) {
                Ok(0) => break,
                Ok(_) => session.process(shared),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            };
            more -= 1;
        }
        session.replies.flush(&mut stream).await?;
        if session.quit() {
            return Ok(());
        }
    }
}

/// Reads that may follow one without waiting before the replies are
/// written, which bounds how long replies wait and how many gather.
const MORE_READS: usize = 8;

/// A read into the spare room of `buf` that does not wait (`WouldBlock`
/// when nothing is there).
fn try_append(stream: &TcpStream, buf: &mut PooledBuffer) -> io::Result<usize> {
    let len = buf.len();
    let n = stream.try_read(buf.spare_mut())?;
    buf.set_len(len + n);
    Ok(n)
}

/// Reads into the spare room of the buffer holding an unfinished command.
async fn append(stream: &mut TcpStream, buf: &mut PooledBuffer) -> io::Result<usize> {
    let len = buf.len();
    let n = stream.read(buf.spare_mut()).await?;
    buf.set_len(len + n);
    Ok(n)
}
