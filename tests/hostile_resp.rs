//! Malformed RESP, as a hostile client sends it: random byte soup built from
//! the protocol's own punctuation, fed whole, byte by byte and at random cut
//! points. Every split gets the same replies (a parser state that depends on
//! where reads end would answer differently), nothing panics, and a PING
//! after the soup (past a line end) is always answered.

mod resp_util;

use proptest::prelude::*;
use resp_util::resp::server::Options;
use resp_util::resp::session::{Session, Shared};
use resp_util::show;

fn shared_with(max_bulk: usize) -> Shared {
    let o = Options { max_bulk, ..Options::default() };
    let s = resp_util::resp::server::shared(&o).expect("pool");
    std::sync::Arc::try_unwrap(s).ok().expect("sole owner")
}

fn run_cut(shared: &Shared, input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut s = Session::new(&shared.pool);
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        if c > at {
            s.feed(shared, &input[at..c]);
            out.extend(s.replies.take_all());
            at = c;
        }
        if s.quit() {
            break;
        }
    }
    out
}

/// Pieces a hostile client glues together: headers with odd counts, CRLF
/// halves, quotes, digits, signs, and real commands.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"*".to_vec()),
        Just(b"$".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"-".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"'".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"PING".to_vec()),
        Just(b"SET".to_vec()),
        Just(b"GET".to_vec()),
        Just(b"QUIT".to_vec()),
        Just(b"*2\r\n".to_vec()),
        Just(b"$3\r\n".to_vec()),
        Just(b"$-1\r\n".to_vec()),
        Just(b"*0\r\n".to_vec()),
        Just(b"*-1\r\n".to_vec()),
        Just(b"$99999999999999999999\r\n".to_vec()),
        Just(b"$1048577\r\n".to_vec()),
        Just(b"*1048577\r\n".to_vec()),
        (0u32..100_000).prop_map(|n| n.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 1..8),
        prop::collection::vec(Just(b'9'), 20..40),
    ]
}

fn soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(piece(), 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if std::env::var_os("BUFPOOL_SLOW_CHECKER").is_some() { 6 } else { 256 }))]

    #[test]
    fn malformed_input_replies_the_same_at_any_split(
        input in soup(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        // QUIT ends the session; keep it so the split cases stop alike.
        let shared = shared_with(1 << 20);
        let whole = run_cut(&shared, &input, &[]);
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(input.len().max(1))).collect();
        at.sort_unstable();
        at.dedup();
        let split = run_cut(&shared_with(1 << 20), &input, &at);
        prop_assert!(split == whole, "cuts {:?} of {:?}: {:?} vs {:?}", at, show(&input), show(&split), show(&whole));
        let all: Vec<usize> = (1..input.len()).collect();
        let bytewise = run_cut(&shared_with(1 << 20), &input, &all);
        prop_assert!(bytewise == whole, "byte by byte: {:?}: {:?} vs {:?}", show(&input), show(&bytewise), show(&whole));
    }

    #[test]
    fn after_any_soup_a_ping_on_a_fresh_line_is_answered(input in soup()) {
        // A discard in progress may eat up to a line end, or a declared bulk
        // payload; give it both, then a PING.
        let shared = shared_with(64);
        let mut s = Session::new(&shared.pool);
        s.feed(&shared, &input);
        if s.quit() {
            return Ok(());
        }
        let _ = s.replies.take_all();
        // Enough filler to finish any bulk payload the soup can declare (an
        // oversized one is skipped byte for byte: at most 1 MiB + 2 here),
        // then a line end.
        let mut tail = vec![b'x'; (1 << 20) + 16];
        tail.extend_from_slice(b"\r\n\r\n");
        s.feed(&shared, &tail);
        let _ = s.replies.take_all();
        s.feed(&shared, b"PING\r\n");
        let got = s.replies.take_all();
        prop_assert!(got.ends_with(b"+PONG\r\n") || s.quit(), "{:?} then PING gave {:?}", show(&input), show(&got));
    }
}
