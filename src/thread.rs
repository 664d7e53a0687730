//! The path `src/io` counts right-sizing copies through; the thread caches
//! themselves are in `local/`.

pub(crate) use crate::local::count_right_sized;
