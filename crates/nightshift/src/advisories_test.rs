//! The locked WebAssembly runtime is not older than any version a known advisory requires
//! (`security/advisories.txt`); the advisory database itself cannot be fetched here.

use std::collections::HashMap;

fn version(text: &str) -> Vec<u64> {
    text.split(['.', '-', '+'])
        .map_while(|part| part.parse().ok())
        .collect()
}

#[test]
fn locked_runtime_versions_are_past_every_known_advisory() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let lock = std::fs::read_to_string(format!("{root}/Cargo.lock")).expect("Cargo.lock");
    let mut locked: HashMap<String, Vec<String>> = HashMap::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            locked
                .entry(n)
                .or_default()
                .push(v.trim_matches('"').to_owned());
        }
    }
    let list = std::fs::read_to_string(format!("{root}/security/advisories.txt"))
        .expect("advisories list");
    let mut checked = 0;
    for line in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (krate, minimum, advisory) = (fields[0], fields[1], fields[2]);
        let versions = locked
            .get(krate)
            .unwrap_or_else(|| panic!("{krate} is not in Cargo.lock"));
        for found in versions {
            assert!(
                version(found) >= version(minimum),
                "{krate} {found} is affected by {advisory}: upgrade to {minimum} or newer"
            );
        }
        checked += 1;
    }
    assert!(checked >= 7, "the advisory list was not read");
}
