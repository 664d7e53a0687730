//! When does a pool pay, with mimalloc as the global allocator: the pool against
//! `Vec::with_capacity` and `vec![0; n]`, 4 KiB to 256 MiB, four shapes.
//!
//! ```text
//! cargo bench -p bench --bench pays_mimalloc            # the whole table (about a minute)
//! PAYS_SIZES=4,64 PAYS_SHAPES=cross-thread cargo bench -p bench --bench pays_mimalloc
//! ```
//!
//! See `pays/body.rs` for the shapes and the environment variables.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[path = "pays/body.rs"]
mod body;

fn main() {
    body::run("mimalloc");
}
