//! The module map of docs/architecture.md, enforced: each top-level module of `src/` may use only
//! modules of a lower layer, so dependencies point one way (web → federation → managers,
//! identity, stores → domain and config) and no two modules import each other. A new module must
//! be given its layer here.

use std::collections::BTreeMap;
use std::path::Path;

/// Every top-level module and its layer (0 is the bottom).
const LAYERS: &[(&str, u8)] = &[
    ("domain", 0),
    ("clock", 0),
    ("crypto", 0),
    ("password", 0),
    ("metrics", 0),
    ("config", 1),
    ("compact", 1),
    ("telemetry", 2),
    ("store", 2),
    ("manager", 2),
    ("managed_identity", 2),
    ("secrets", 3),
    ("credentials", 4),
    ("sso", 4),
    ("catalog", 4),
    ("federation", 5),
    ("state", 6),
    ("web", 7),
    ("replicas", 7),
    ("simulator", 7),
    ("startup", 8),
    ("demo", 9),
    ("cli", 10),
];

/// `crate::name` references of one file, outside comments.
fn references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            found.push(name);
        }
    }
    found
}

fn rust_files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

#[test]
fn modules_only_use_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        let Some(&layer) = layers.get(name.as_str()) else {
            wrong.push(format!(
                "src/{name} has no layer in tests/api/architecture.rs and docs/architecture.md"
            ));
            continue;
        };
        let mut files = Vec::new();
        rust_files(&path, &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for used in references(&text) {
                match layers.get(used.as_str()) {
                    Some(&other) if used != name && other >= layer => wrong.push(format!(
                        "{} (layer {layer}) uses crate::{used} (layer {other})",
                        file.strip_prefix(&src).unwrap().display()
                    )),
                    _ => {}
                }
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "dependencies that point up or sideways:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_an_upward_import() {
    let upward = "use crate::web::WebError;\n// crate::startup in a comment is no import\n";
    assert_eq!(references(upward), ["web"]);
}
