//! The async read layer (futures-io, and tokio behind the `tokio` feature).
