//! The hot path in every shape under the system allocator (glibc malloc):
//! bufpool against zeropool, commonware-runtime, opool and `Vec`.
//!
//! ```text
//! cargo bench --manifest-path bench/shapes/Cargo.toml --bench shapes_glibc                    # cargo's release profile
//! cargo bench --manifest-path bench/shapes/Cargo.toml --bench shapes_glibc --profile server   # thin LTO, one codegen unit
//! cargo bench --manifest-path bench/shapes/Cargo.toml --bench shapes_glibc -- inplace,alt 1000000
//! ```
//!
//! See `shapes/body.rs` for the shapes, the contenders and the arguments.

#[path = "shapes/body.rs"]
mod body;

fn main() {
    body::run("glibc");
}
