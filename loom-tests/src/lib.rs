//! Loom models for bufpool live in `tests/`; see `docs/TESTING.md`.
