//! `docs/ORDERING.md` lists every atomic in `src/`, and nothing else.
//!
//! The source is scanned as text: an atomic is a struct field whose type
//! names an `Atomic*` type (keyed `Struct::field`), or a `static` of such a
//! type (keyed `function::NAME` inside a function, `NAME` at module level).
//! Fields declared through a macro (`$name: AtomicU64`) are keyed by the
//! struct with `*` (`Counters::*`). Each table row of the doc names its keys
//! in backticks in its first cell. The test fails when an atomic has no row,
//! or a row names a key that no longer exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The identifier after `word ` in `line`, if `line` declares one.
fn declared(line: &str, word: &str) -> Option<String> {
    let mut rest = line.trim_start();
    for prefix in ["pub(crate) ", "pub(super) ", "pub ", "unsafe ", "const ", "async "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix(word)?.strip_prefix(' ')?;
    let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

fn names_atomic(ty: &str) -> bool {
    let ty = ty.split("//").next().unwrap_or("");
    ty.contains("Atomic") && !ty.contains("Ordering")
}

/// Every atomic key declared in `src`.
fn atomics_in_source(root: &Path) -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut keys = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let (mut item, mut func): (Option<String>, Option<String>) = (None, None);
        for line in text.lines() {
            let t = line.trim_start();
            if t.starts_with("//") {
                continue;
            }
            if let Some(s) = declared(t, "struct") {
                item = Some(s);
            }
            if let Some(s) = declared(t, "fn") {
                func = Some(s);
            }
            if line.starts_with('}') {
                item = None;
                func = None;
            }
            if let Some(rest) = t.strip_prefix("static ").or_else(|| t.strip_prefix("pub(crate) static ")) {
                let (name, ty) = rest.split_once(':').unwrap_or((rest, ""));
                let name = name.trim().trim_start_matches("ref ").trim();
                if names_atomic(ty) {
                    keys.insert(match (&func, line.starts_with("static")) {
                        (Some(f), false) => format!("{f}::{name}"),
                        _ => name.to_string(),
                    });
                }
                continue;
            }
            let Some(s) = &item else { continue };
            let field =
                t.trim_start_matches("pub(crate) ").trim_start_matches("pub(super) ").trim_start_matches("pub ");
            if let Some((name, ty)) = field.split_once(':') {
                let name = name.trim();
                let macro_field = field.starts_with("$(") || name.starts_with('$');
                if names_atomic(ty) && !ty.contains("::new(") {
                    if macro_field {
                        keys.insert(format!("{s}::*"));
                    } else if name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        keys.insert(format!("{s}::{name}"));
                    }
                }
            }
        }
    }
    keys
}

/// Every key the doc's table rows name in their first cell.
fn keys_in_doc(root: &Path) -> BTreeSet<String> {
    let doc = std::fs::read_to_string(root.join("docs/ORDERING.md")).unwrap();
    let mut keys = BTreeSet::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap();
        for (i, part) in first.split('`').enumerate() {
            if i % 2 == 1 {
                keys.insert(part.to_string());
            }
        }
    }
    keys
}

#[test]
fn every_atomic_has_a_row_and_every_row_an_atomic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = atomics_in_source(root);
    let doc = keys_in_doc(root);
    assert!(src.len() >= 10, "the scan found too few atomics to be working: {src:?}");
    let missing: Vec<_> = src.difference(&doc).collect();
    let stale: Vec<_> = doc.difference(&src).collect();
    assert!(missing.is_empty(), "atomics with no row in docs/ORDERING.md: {missing:?}");
    assert!(stale.is_empty(), "rows of docs/ORDERING.md naming no atomic in src/: {stale:?}");
}
