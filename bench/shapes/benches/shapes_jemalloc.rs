//! The hot path in every shape with jemalloc (tikv-jemallocator) as the
//! global allocator: bufpool against zeropool, commonware-runtime, opool and
//! `Vec` under jemalloc.
//!
//! ```text
//! cargo bench --manifest-path bench/shapes/Cargo.toml --bench shapes_jemalloc
//! cargo bench --manifest-path bench/shapes/Cargo.toml --bench shapes_jemalloc --profile server
//! ```
//!
//! See `shapes/body.rs` for the shapes, the contenders and the arguments.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
#[path = "shapes/body.rs"]
mod body;

fn main() {
    body::run("jemalloc");
}
