//! domain-monitor: a Kubernetes operator that watches domain names and tells
//! its users' API the moment one becomes available for registration.
//!
//! A domain's journey: [`resource`] (the `MonitoredDomain` it lives in) →
//! [`controller`] (reconcile and schedule) → the checks → the verdict → status
//! and notifications. [`config`] holds every setting; [`domain_name`] turns user
//! input into the A-labels everything else works on.
//!
//! # Layers
//!
//! A module imports only from the layers below its own, so there is no
//! cycle and each layer can be read without the ones above it (a unit test
//! reads every `crate::` path in `src/` and fails on an arrow that points
//! up or sideways). Bottom to top:
//!
//! 1. [`words`](mod@words), [`backoff`], [`domain_name`], [`net`]: leaves.
//! 2. [`resource`] (the custom resources: data, words, predicates),
//!    [`schedule`].
//! 3. [`config`]: every setting (it reads the resource's words, such as
//!    the DNSSEC policy of `check --dnssec`).
//! 4. [`ratelimit`].
//! 5. [`check`]: the checkers, the DNS engine and the evidence they
//!    report.
//! 6. [`verdict`] and [`health`]: the pure judgements of that evidence.
//! 7. [`standing`], [`metrics`].
//! 8. [`layered`] (the checkers run layer by layer, the health probers
//!    built on their sockets), [`otel`], [`shard`].
//! 9. [`telemetry`], [`notify`], [`dhc`].
//! 10. [`sync`].
//! 11. [`web`].
//! 12. [`check_command`] and [`controller`]: the wiring; `main.rs` above
//!     them all.

pub mod backoff;
pub mod check;
pub mod check_command;
pub mod config;
pub mod controller;
pub mod dhc;
pub mod domain_name;
pub mod health;
pub mod layered;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod otel;
pub mod ratelimit;
pub mod resource;
pub mod schedule;
pub mod shard;
pub mod standing;
pub mod sync;
pub mod telemetry;
pub mod verdict;
pub mod web;
pub mod words;

/// Each module's layer (see "Layers" above), bottom first.
#[cfg(test)]
const LAYERS: &[&[&str]] = &[
    &["words", "backoff", "domain_name", "net"],
    &["resource", "schedule"],
    &["config"],
    &["ratelimit"],
    &["check"],
    &["verdict", "health"],
    &["standing", "metrics"],
    &["layered", "otel", "shard"],
    &["telemetry", "notify", "dhc"],
    &["sync"],
    &["web"],
    &["check_command", "controller"],
];

#[cfg(test)]
mod tests {
    use std::{
        collections::BTreeSet,
        path::{Path, PathBuf},
    };

    use super::LAYERS;

    /// The layer of the top-level module `name`.
    fn layer(name: &str) -> Option<usize> {
        LAYERS.iter().position(|layer| layer.contains(&name))
    }

    /// Every `.rs` file below `dir`.
    fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }

    /// The top-level modules a source names by `crate::` paths, outside
    /// comments: `crate::a::b`, `crate::{a, b::{c}}`, `$crate::a`.
    fn imported(source: &str) -> BTreeSet<String> {
        let code: String = source
            .lines()
            .map(|line| line.find("//").map_or(line, |at| &line[..at]))
            .collect::<Vec<_>>()
            .join("\n");
        let mut names = BTreeSet::new();
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let tree = if rest.starts_with('{') {
                let mut depth = 0;
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '{' => 1,
                            '}' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map_or(rest.len(), |(i, _)| i);
                &rest[1..end]
            } else {
                rest
            };
            // The first name of each top-level item of the use tree.
            let mut depth = 0;
            let mut start = true;
            for (i, c) in tree.char_indices() {
                if start && depth == 0 {
                    let name: String = tree[i..]
                        .trim_start()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != "self" {
                        names.insert(name);
                    }
                    start = false;
                }
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 && rest.starts_with('{') => start = true,
                    _ => {}
                }
                if !rest.starts_with('{') {
                    break;
                }
            }
        }
        names
    }

    #[test]
    fn modules_import_only_from_lower_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let mut wrong = Vec::new();
        for file in &files {
            let relative = file.strip_prefix(&src).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let module = first.to_str().unwrap().trim_end_matches(".rs");
            if module == "lib" || module == "main" {
                continue;
            }
            let Some(own) = layer(module) else {
                wrong.push(format!("{module} has no layer in LAYERS (src/lib.rs)"));
                continue;
            };
            let source = std::fs::read_to_string(file).unwrap();
            for name in imported(&source) {
                if name == module {
                    continue;
                }
                match layer(&name) {
                    Some(theirs) if theirs < own => {}
                    Some(_) => wrong.push(format!(
                        "{} imports crate::{name}, which is not in a lower layer",
                        relative.display()
                    )),
                    None => wrong.push(format!(
                        "{} imports crate::{name}, which has no layer",
                        relative.display()
                    )),
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_import_reader_finds_every_top_level_name() {
        let names = imported(
            "use crate::{\n    check::{self, dns::X},\n    resource::{a, b},\n    words,\n};\n\
             // crate::controller in a comment\n\
             fn f() -> crate::metrics::Metrics { $crate::net::x() }",
        );
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["check", "metrics", "net", "resource", "words"]
        );
    }
}
