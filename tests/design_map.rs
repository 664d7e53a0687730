//! `docs/DESIGN.md`'s module map is true to the tree: every core source file
//! has a row, and every file or folder a row names exists.

use std::path::Path;

fn map_rows() -> Vec<String> {
    let design = include_str!("../docs/DESIGN.md");
    design
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('`').nth(1).map(str::to_owned))
        .filter(|name| name.ends_with(".rs") || name.ends_with('/'))
        .collect()
}

#[test]
fn every_row_names_a_file_that_exists() {
    let rows = map_rows();
    assert!(rows.len() >= 15, "module map not found: {rows:?}");
    for name in &rows {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(name);
        assert!(p.exists(), "DESIGN.md's module map names src/{name}, which does not exist");
    }
}

#[test]
fn every_core_file_has_a_row() {
    let rows = map_rows();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for dir in ["", "local", "central"] {
        for entry in std::fs::read_dir(src.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let name = path.strip_prefix(&src).unwrap().to_str().unwrap().replace('\\', "/");
            // The crate root and the path src/io uses carry no logic of their own.
            if name == "lib.rs" || name == "thread.rs" {
                continue;
            }
            assert!(rows.contains(&name), "src/{name} has no row in DESIGN.md's module map");
        }
    }
}
