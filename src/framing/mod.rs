//! Zero-copy hand-off to `bytes::Bytes` and zero-copy framing (feature `bytes`).
