//! The hot path in every shape with mimalloc as the global allocator:
//! bufpool against zeropool, commonware-runtime, opool and `Vec` (here
//! mimalloc's `Vec`, the target's third peer).
//!
//! ```text
//! cargo bench --manifest-path bench/shapes/Cargo.toml --bench shapes_mimalloc
//! cargo bench --manifest-path bench/shapes/Cargo.toml --bench shapes_mimalloc --profile server
//! ```
//!
//! See `shapes/body.rs` for the shapes, the contenders and the arguments.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[path = "shapes/body.rs"]
mod body;

fn main() {
    body::run("mimalloc");
}
