//! The commands: PING, ECHO, SET (EX/PX/NX/XX), GET, DEL, EXISTS, INCR,
//! MGET, MSET, CONFIG GET and QUIT, with Redis's error replies.

use super::parse::parse_i64;
use super::reply::Replies;
use super::session::{Args, Shared};
use super::store::Store;
use std::time::{Duration, Instant};

/// Whether the connection goes on after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Go,
    Quit,
}

/// The settings `CONFIG GET` reports: the two redis-benchmark asks for, and
/// the limits this server enforces. `proto-max-bulk-len` is filled in from
/// `--max-bulk`.
const CONFIG: &[(&str, &str)] = &[("save", ""), ("appendonly", "no"), ("maxmemory", "0"), ("databases", "1")];

pub fn execute(shared: &Shared, args: &mut Args<'_>, out: &mut Replies) -> Flow {
    let mut name = [0u8; 8];
    let raw = args.get(0);
    if raw.len() > name.len() {
        unknown(args, out);
        return Flow::Go;
    }
    for (d, s) in name.iter_mut().zip(raw) {
        *d = s.to_ascii_lowercase();
    }
    let argc = args.len();
    let arity_ok = match &name[..raw.len()] {
        b"ping" => argc <= 2,
        b"echo" | b"get" | b"incr" => argc == 2,
        b"set" => argc >= 3,
        b"del" | b"exists" | b"mget" => argc >= 2,
        b"mset" => argc >= 3 && argc % 2 == 1,
        b"config" => argc >= 2,
        b"quit" => true,
        _ => {
            unknown(args, out);
            return Flow::Go;
        }
    };
    if !arity_ok {
        let lower = String::from_utf8_lossy(&name[..raw.len()]).into_owned();
        out.error(&format!("ERR wrong number of arguments for '{lower}' command"));
        return Flow::Go;
    }
    match &name[..raw.len()] {
        b"ping" if argc == 1 => out.raw(b"+PONG\r\n"),
        b"ping" | b"echo" => out.bulk(args.get(1)),
        b"set" => set(shared, args, out),
        b"get" => {
            let key = args.get(1);
            let mut map = shared.store.shard(key);
            match map.get(key) {
                Some(e) if e.live() => out.value(&e.value),
                Some(_) => {
                    map.remove(key);
                    out.nil();
                }
                None => out.nil(),
            }
        }
        b"del" | b"exists" => {
            let del = raw[0].eq_ignore_ascii_case(&b'd');
            let mut n = 0;
            for i in 1..argc {
                let key = args.get(i);
                let mut map = shared.store.shard(key);
                let hit = if del { Store::remove(&mut map, key) } else { Store::get(&mut map, key).is_some() };
                n += i64::from(hit);
            }
            out.int(n);
        }
        b"incr" => incr(shared, args, out),
        b"mget" => {
            out.array(argc - 1);
            for i in 1..argc {
                let key = args.get(i);
                match Store::get(&mut shared.store.shard(key), key) {
                    Some(v) => out.value(&v),
                    None => out.nil(),
                }
            }
        }
        b"mset" => {
            for i in (1..argc).step_by(2) {
                let value = args.keep(i + 1);
                let key = args.get(i);
                Store::set(&mut shared.store.shard(key), key, value, None);
            }
            out.ok();
        }
        b"config" => config(shared, args, out),
        _ => {
            out.ok();
            return Flow::Quit;
        }
    }
    Flow::Go
}

/// `SET key value [EX seconds | PX milliseconds] [NX | XX]`.
fn set(shared: &Shared, args: &mut Args<'_>, out: &mut Replies) {
    let mut ttl = None;
    let (mut nx, mut xx) = (false, false);
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        if opt.eq_ignore_ascii_case(b"nx") {
            nx = true;
        } else if opt.eq_ignore_ascii_case(b"xx") {
            xx = true;
        } else if (opt.eq_ignore_ascii_case(b"ex") || opt.eq_ignore_ascii_case(b"px")) && ttl.is_none() {
            let per_unit = if opt.eq_ignore_ascii_case(b"ex") { 1000 } else { 1 };
            if i + 1 >= args.len() {
                return out.error("ERR syntax error");
            }
            let ms = parse_i64(args.get(i + 1)).and_then(|v| v.checked_mul(per_unit)).filter(|&ms| ms > 0);
            let Some(ms) = ms else { return out.error("ERR invalid expire time in 'set' command") };
            ttl = Some(Duration::from_millis(ms as u64));
            i += 1;
        } else {
            return out.error("ERR syntax error");
        }
        i += 1;
    }
    if nx && xx {
        return out.error("ERR syntax error");
    }
    let expires = ttl.map(|d| Instant::now() + d);
    if expires.is_some() {
        shared.store.note_expiring();
    }
    let key = args.get(1);
    if nx || xx {
        let exists = Store::get(&mut shared.store.shard(key), key).is_some();
        if exists == nx {
            return out.nil();
        }
    }
    let value = args.keep(2);
    let key = args.get(1);
    Store::set(&mut shared.store.shard(key), key, value, expires);
    out.ok();
}

/// `INCR key`: the stored value must be a decimal `i64`; the result must be
/// one too. A key's expiry survives, as in Redis.
fn incr(shared: &Shared, args: &mut Args<'_>, out: &mut Replies) {
    let key = args.get(1);
    let mut map = shared.store.shard(key);
    let (current, expires) = match map.get(key) {
        Some(e) if e.live() => match parse_i64(&e.value) {
            Some(v) => (v, e.expires),
            None => return out.error("ERR value is not an integer or out of range"),
        },
        _ => (0, None),
    };
    let Some(next) = current.checked_add(1) else {
        return out.error("ERR increment or decrement would overflow");
    };
    Store::set(&mut map, key, bytes::Bytes::from(next.to_string()), expires);
    out.int(next);
}

/// `CONFIG GET pattern [pattern ...]`, with `*` and `?` globs.
fn config(shared: &Shared, args: &mut Args<'_>, out: &mut Replies) {
    if !args.get(1).eq_ignore_ascii_case(b"get") {
        let sub = String::from_utf8_lossy(args.get(1)).into_owned();
        return out.error(&format!("ERR unknown subcommand '{sub}'. Only CONFIG GET is supported."));
    }
    if args.len() < 3 {
        return out.error("ERR wrong number of arguments for 'config|get' command");
    }
    let max_bulk = shared.max_bulk.to_string();
    let table = CONFIG.iter().copied().chain([("proto-max-bulk-len", max_bulk.as_str())]);
    let hits: Vec<(&str, &str)> =
        table.filter(|(name, _)| (2..args.len()).any(|i| glob(args.get(i), name.as_bytes()))).collect();
    out.array(hits.len() * 2);
    for (name, value) in hits {
        out.bulk(name.as_bytes());
        out.bulk(value.as_bytes());
    }
}

/// A case-insensitive match of `text` against `pattern` (`*` any run, `?`
/// any byte). Patterns longer than 64 bytes match nothing, which bounds the
/// backtracking (the names matched are short).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    pattern.len() <= 64 && glob_at(pattern, text)
}

fn glob_at(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) if rest.first() == Some(&b'*') => glob_at(rest, text),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob_at(rest, &text[i..])),
        Some((&p, rest)) => match text.split_first() {
            Some((&t, text)) if p == b'?' || p.eq_ignore_ascii_case(&t) => glob_at(rest, text),
            _ => false,
        },
    }
}

/// Redis's reply to an unknown command, naming it and its first arguments.
fn unknown(args: &Args<'_>, out: &mut Replies) {
    let show = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(128)]).into_owned();
    let mut msg = format!("ERR unknown command '{}', with args beginning with:", show(args.get(0)));
    for i in 1..args.len().min(4) {
        msg.push_str(&format!(" '{}'", show(args.get(i))));
    }
    out.error(&msg);
}
