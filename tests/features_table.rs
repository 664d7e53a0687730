//! The feature-flag table is written twice, in README.md and in the crate
//! docs (src/lib.rs); both must be the same table, and it must name every
//! feature of Cargo.toml with the dependencies that feature turns on.

/// The rows (lines starting with `|`) of the first table after `heading`,
/// each with `prefix` (such as `//! `) taken off first.
fn table_after(text: &str, heading: &str, prefix: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(|l| l.strip_prefix(prefix).unwrap_or(l).trim_end()).collect();
    let at = lines.iter().position(|l| *l == heading).unwrap_or_else(|| panic!("no `{heading}` heading"));
    lines[at + 1..]
        .iter()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.to_string())
        .collect()
}

/// `[features]` of Cargo.toml: (name, the `dep:` crates it turns on).
fn cargo_features() -> Vec<(String, Vec<String>)> {
    let toml = include_str!("../Cargo.toml");
    let mut in_features = false;
    let mut out = Vec::new();
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_features = line == "[features]";
            continue;
        }
        if !in_features || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once('=').expect("a `name = [...]` line");
        let deps = value
            .trim()
            .trim_matches(['[', ']'])
            .split(',')
            .filter_map(|d| d.trim().trim_matches('"').strip_prefix("dep:").map(str::to_string))
            .collect();
        out.push((name.trim().to_string(), deps));
    }
    out
}

fn cells(row: &str) -> Vec<&str> {
    row.trim_matches('|').split('|').map(str::trim).collect()
}

#[test]
fn readme_and_crate_docs_hold_the_same_table() {
    let readme = table_after(include_str!("../README.md"), "## Feature flags", "");
    let docs = table_after(include_str!("../src/lib.rs"), "# Feature flags", "//! ");
    assert!(readme.len() >= 3, "README's feature table has {} rows", readme.len());
    assert_eq!(readme, docs, "README.md and the crate docs (src/lib.rs) disagree on the feature table");
}

#[test]
fn the_table_names_every_feature_and_its_dependencies() {
    let rows = table_after(include_str!("../README.md"), "## Feature flags", "");
    let features = cargo_features();
    assert!(features.iter().any(|(f, _)| f == "uring"), "parsed no features from Cargo.toml: {features:?}");
    for (name, deps) in features.iter().filter(|(f, _)| f != "default") {
        let row = rows
            .iter()
            .find(|r| cells(r)[0] == format!("`{name}`"))
            .unwrap_or_else(|| panic!("feature `{name}` has no row in the table"));
        for dep in deps {
            assert!(cells(row)[2].contains(&format!("`{dep}`")), "the `{name}` row does not name `{dep}`: {row}");
        }
    }
    for row in &rows[2..] {
        let first = cells(row)[0];
        if first == "*(default)*" {
            continue;
        }
        let name = first.trim_matches('`');
        assert!(features.iter().any(|(f, _)| f == name), "the table names `{name}`, which Cargo.toml does not have");
    }
}
