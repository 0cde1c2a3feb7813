//! The engine's layers stay layers: every folder of `crates/engine/src` imports only the folders
//! its `mod.rs` says it may ("May import: ..."), and the folders import each other without a
//! cycle. A new `use crate::...` that reaches up a layer fails here, naming the file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The engine's folders (its layers), by name.
fn layers() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(src())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// What a folder's `mod.rs` says it may import.
fn declared(layer: &str, all: &[String]) -> BTreeSet<String> {
    let text = std::fs::read_to_string(src().join(layer).join("mod.rs")).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("//! May import:"))
        .unwrap_or_else(|| panic!("src/{layer}/mod.rs has no `//! May import:` line"));
    if line.contains("every other layer") {
        return all.iter().filter(|l| *l != layer).cloned().collect();
    }
    line.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Every `crate::LAYER` a file names outside comments, with its line number.
fn imports(file: &Path, all: &[String]) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if all.contains(&name) {
                out.push((i + 1, name));
            }
        }
    }
    out
}

/// A cycle among the edges, if there is one (depth-first search with colors).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(c) = visit(node, edges, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_engine_is_folders_only() {
    let loose: Vec<String> = std::fs::read_dir(src())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rs") && n != "lib.rs")
        .collect();
    assert!(
        loose.is_empty(),
        "modules outside a layer folder: {loose:?}; put each in the folder of its layer"
    );
    assert!(layers().len() >= 6, "the layers were found: {:?}", layers());
}

#[test]
fn each_folder_imports_only_what_its_doc_allows() {
    let all = layers();
    let mut wrong = Vec::new();
    for layer in &all {
        let allowed = declared(layer, &all);
        let mut files = Vec::new();
        rust_files(&src().join(layer), &mut files);
        for file in files {
            for (line, target) in imports(&file, &all) {
                if &target != layer && !allowed.contains(&target) {
                    wrong.push(format!(
                        "{}:{line}: `{layer}` imports `{target}` (its mod.rs allows {allowed:?})",
                        file.strip_prefix(src()).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports across layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_folders_import_each_other_without_a_cycle() {
    let all = layers();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for layer in &all {
        let mut files = Vec::new();
        rust_files(&src().join(layer), &mut files);
        let entry = edges.entry(layer.clone()).or_default();
        for file in files {
            entry.extend(
                imports(&file, &all)
                    .into_iter()
                    .map(|(_, t)| t)
                    .filter(|t| t != layer),
            );
        }
    }
    assert_eq!(find_cycle(&edges), None, "folder imports: {edges:#?}");
}

#[test]
fn a_cycle_is_found() {
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("plan", vec!["state"]),
        ("state", vec!["provider"]),
        ("provider", vec!["plan"]),
        ("base", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    let cycle = find_cycle(&edges).expect("the cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4, "{cycle:?}");
    let acyclic: BTreeMap<String, BTreeSet<String>> = [("plan", vec!["state"]), ("state", vec![])]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
    assert_eq!(find_cycle(&acyclic), None);
}
