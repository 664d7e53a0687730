//! `docs/TESTING.md`'s table of test files names every file in `tests/`, and
//! every file it names exists.

use std::collections::BTreeSet;
use std::path::Path;

/// Every `*.rs` name in the first cell of the doc's table rows.
fn named_in_doc(doc: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or("");
        for (i, part) in first.split('`').enumerate() {
            if i % 2 == 1 && part.ends_with(".rs") {
                out.insert(part.to_string());
            }
        }
    }
    out
}

#[test]
fn every_test_file_has_a_row_and_every_row_a_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/TESTING.md")).unwrap();
    let named = named_in_doc(&doc);
    let files: BTreeSet<String> = std::fs::read_dir(root.join("tests"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rs"))
        .collect();
    assert!(files.len() >= 20, "found only {} test files", files.len());
    let missing: Vec<_> = files.difference(&named).collect();
    let stale: Vec<_> = named.difference(&files).collect();
    assert!(missing.is_empty(), "test files with no row in docs/TESTING.md: {missing:?}");
    assert!(stale.is_empty(), "rows of docs/TESTING.md naming no file in tests/: {stale:?}");
}
