//! The map checks itself: every `use crate::…`, `super::…` and fully
//! qualified `crate::x::…` path in `src/**/*.rs`, resolved to an absolute
//! module path, is held against the rules in [`RULES`] (the invariants
//! ARCHITECTURE.md states). A violation is one line: file, line, the edge,
//! and the rule's reason.
//!
//! Dependency-free on purpose (std only, no `syn`): a small tokenizer that
//! drops comments, doc comments and string/char literals, then reads `use`
//! trees (groups, `self`, globs, renames, multi-line) and every other path.
//! The module tree is walked from `src/lib.rs` and `src/main.rs` through
//! `mod` declarations (honouring `#[path]`), so `super::` resolves as rustc
//! resolves it and `#[cfg(test)]` reaches the files it gates. Rules are
//! written per top-level module (`src/verify/**`), so they hold however the
//! files inside a module are split.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test fails loudly

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The one file of `policy/` that may read the disk: the policy directory,
/// trust-root files and keys referenced by path. Everything else in
/// `policy/` is pure, so loading is the only I/O and matching never is.
const POLICY_IO_EDGE: &str = "src/policy/source.rs";

/// What "does no I/O" means: a path starting with any of these (after
/// `use` resolution). `upstream` and `store` are the crate's own I/O.
const IO: &[&[&str]] = &[
    &["std", "fs"],
    &["tokio", "fs"],
    &["std", "net"],
    &["tokio", "net"],
    &["std", "process"],
    &["tokio", "process"],
    &["hyper"],
    &["hyper_util"],
    &["hyper_rustls"],
    &["tokio_rustls"],
    &["File", "open"],
    &["File", "create"],
    &["OpenOptions"],
    &["crate", "upstream"],
    &["crate", "store"],
];

/// What a rule forbids of the module it binds.
enum Check {
    /// Crate paths outside these modules (its own is always allowed).
    OnlyCrate(&'static [&'static str]),
    /// Crate paths into these modules.
    NotCrate(&'static [&'static str]),
    /// Only the types and constants of these modules (a path ending in a
    /// CamelCase or UPPER_CASE name): their vocabulary, never a function
    /// or a whole module, so never their I/O.
    TypesOnly(&'static [&'static str]),
    /// Any path in [`IO`], except in these files.
    NoIo { except: &'static [&'static str] },
}

struct Rule {
    /// A top-level module: `src/<module>.rs` or `src/<module>/**`.
    module: &'static str,
    check: Check,
    reason: &'static str,
}

/// The invariants, one line each (ARCHITECTURE.md, "Invariants checked").
/// Test code (`#[cfg(test)]` modules, `tests.rs`, `*_tests.rs`) is exempt:
/// a test may build its fixtures from anywhere.
const RULES: &[Rule] = &[
    Rule {
        module: "oci",
        check: Check::OnlyCrate(&[]),
        reason: "oci is the shared vocabulary: it imports nothing of the crate, so every stage can use it",
    },
    Rule {
        module: "oci",
        check: Check::NoIo { except: &[] },
        reason: "oci is pure vocabulary: values and parsers, no I/O",
    },
    Rule {
        module: "verify",
        check: Check::NoIo { except: &[] },
        reason: "verify is a pure function of bytes and trust material: no disk, network or process",
    },
    Rule {
        module: "verify",
        check: Check::NotCrate(&["upstream", "store", "proxy", "server", "signature", "policy", "cache", "trust"]),
        reason: "verify mints proofs below discovery and policy: nothing it uses can fetch, decide or cache",
    },
    Rule {
        module: "policy",
        check: Check::NoIo { except: &[POLICY_IO_EDGE] },
        reason: "policy reads its files in one edge file (POLICY_IO_EDGE); matching and evaluating are pure",
    },
    Rule {
        module: "policy",
        check: Check::NotCrate(&["upstream", "store", "proxy", "server", "cache", "trust"]),
        reason: "policy judges evidence handed to it: it never fetches, caches or serves (the roots in force are handed to it too)",
    },
    Rule {
        module: "policy",
        check: Check::TypesOnly(&["signature"]),
        reason: "policy may name the evidence signature discovers (its types), never call discovery",
    },
    Rule {
        module: "route",
        check: Check::NoIo { except: &[] },
        reason: "route is a pure parse of method, path and query",
    },
    Rule {
        module: "route",
        check: Check::OnlyCrate(&["oci", "config"]),
        reason: "route knows the vocabulary and the configured upstreams, nothing downstream",
    },
    Rule {
        module: "respond",
        check: Check::NotCrate(&["proxy"]),
        reason: "respond frames responses from primitives; the error mapping lives in proxy/error.rs",
    },
    Rule {
        module: "upstream",
        check: Check::NotCrate(&["policy", "proxy", "cache", "signature", "verify"]),
        reason: "upstream fetches bytes: it never consults policy, the gate's caches or verification",
    },
    Rule {
        module: "store",
        check: Check::NotCrate(&["upstream", "signature", "verify", "policy", "proxy", "cache", "server"]),
        reason: "the store keeps bytes under their digest and decides nothing about trust; upstream uses it, not the reverse",
    },
    Rule {
        module: "mirror",
        check: Check::NotCrate(&["upstream", "signature"]),
        reason: "mirror takes manifests and blobs only through the App, so everything it copies passed the gate",
    },
    Rule {
        module: "trust",
        check: Check::NotCrate(&["proxy", "route", "server", "respond"]),
        reason: "trust is the I/O edge for trust material: it knows nothing of requests; the server holds it, not the reverse",
    },
    Rule {
        module: "doctor",
        check: Check::OnlyCrate(&["oci", "config"]),
        reason: "doctor reads a node's runtime configuration, off the request path: it touches nothing of the gate",
    },
];

/// Known edges that break a rule today: (where: a file or a module's
/// directory, path prefix, why). Each must still occur, so the list only
/// shrinks: when an edge is gone, delete its entry.
const KNOWN_DEBT: &[(&str, &str, &str)] = &[];

// === the check ===

#[test]
fn every_module_keeps_its_invariants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = crate_files(root);
    let modules: BTreeSet<&str> = files.iter().map(|f| f.top()).collect();
    let mut out = String::new();
    for rule in RULES {
        if !modules.contains(rule.module) {
            writeln!(
                out,
                "src/{}: no such module: the rule \"{}\" binds nothing",
                rule.module, rule.reason
            )
            .unwrap();
        }
        if let Check::NoIo { except } = rule.check {
            for file in except {
                if !root.join(file).is_file() {
                    writeln!(
                        out,
                        "{file}: no such file: the I/O edge of {} is elsewhere",
                        rule.module
                    )
                    .unwrap();
                }
            }
        }
    }
    let mut used = vec![false; KNOWN_DEBT.len()];
    for file in &files {
        if file.test {
            continue;
        }
        for edge in file.scan.edges.iter().filter(|e| !e.test) {
            for rule in RULES.iter().filter(|r| r.module == file.top()) {
                if !violates(rule, file, &edge.path) {
                    continue;
                }
                let shown = edge.path.join("::");
                let debt = KNOWN_DEBT.iter().position(|(at, prefix, _)| {
                    (file.rel == *at || file.rel.starts_with(&format!("{at}/")))
                        && (shown == *prefix || shown.starts_with(&format!("{prefix}::")))
                });
                match debt {
                    Some(i) => used[i] = true,
                    None => writeln!(
                        out,
                        "{}:{}: {} -> {shown}: {}",
                        file.rel, edge.line, rule.module, rule.reason
                    )
                    .unwrap(),
                }
            }
        }
    }
    for (i, (file, prefix, why)) in KNOWN_DEBT.iter().enumerate() {
        if !used[i] {
            writeln!(
                out,
                "{file}: the known debt {prefix} is paid ({why}): delete it from KNOWN_DEBT"
            )
            .unwrap();
        }
    }
    assert!(
        out.is_empty(),
        "architecture invariants violated (tests/architecture.rs):\n{out}"
    );
}

/// Longest file under `src/`: small files with one job. Test modules
/// (files the module tree compiles only under `cfg(test)`) are exempt.
const MAX_LINES: usize = 450;

#[test]
fn no_file_is_longer_than_a_page_or_two() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = String::new();
    for file in crate_files(root).iter().filter(|f| !f.test) {
        let lines = std::fs::read_to_string(root.join(&file.rel))
            .unwrap()
            .lines()
            .count();
        if lines > MAX_LINES {
            writeln!(
                out,
                "{}: {lines} lines (at most {MAX_LINES}: split it by concern)",
                file.rel
            )
            .unwrap();
        }
    }
    assert!(out.is_empty(), "files too long:\n{out}");
}

fn violates(rule: &Rule, file: &SourceFile, path: &[String]) -> bool {
    let crate_module = match path {
        [first, module, ..] if first == "crate" => Some(module.as_str()),
        _ => None,
    };
    let foreign = crate_module.filter(|m| *m != rule.module);
    match rule.check {
        Check::OnlyCrate(allowed) => foreign.is_some_and(|m| !allowed.contains(&m)),
        Check::NotCrate(forbidden) => foreign.is_some_and(|m| forbidden.contains(&m)),
        Check::TypesOnly(modules) => {
            let named = path.last().and_then(|s| s.chars().next());
            foreign.is_some_and(|m| modules.contains(&m)) && !named.is_some_and(char::is_uppercase)
        }
        Check::NoIo { except } => {
            !except.contains(&file.rel.as_str())
                && IO.iter().any(|io| {
                    path.len() >= io.len() && path.iter().zip(io.iter()).all(|(a, b)| a == b)
                })
        }
    }
}

// === the module tree ===

struct SourceFile {
    /// Relative to the package root, `/`-separated: `src/verify/key.rs`.
    rel: String,
    /// The module path rustc gives it: `["verify", "key"]`.
    module: Vec<String>,
    /// Declared under `#[cfg(test)]` (or a file named like a test module).
    test: bool,
    scan: Scan,
}

impl SourceFile {
    /// The top-level module: what the rules bind; `""` for a crate root.
    fn top(&self) -> &str {
        self.module.first().map_or("", String::as_str)
    }
}

/// Every `.rs` file under `src/`: those `mod` declarations reach from the
/// crate roots with their real module paths, any other by its location.
fn crate_files(root: &Path) -> Vec<SourceFile> {
    let mut files = BTreeMap::new();
    for crate_root in ["src/lib.rs", "src/main.rs"] {
        if root.join(crate_root).is_file() {
            walk(
                root,
                PathBuf::from(crate_root),
                Vec::new(),
                false,
                &mut files,
            );
        }
    }
    let mut all = Vec::new();
    list_rs(&root.join("src"), &mut all);
    for path in all {
        let rel = relative(root, &path);
        if !files.contains_key(&rel) {
            let module = module_by_location(&rel);
            let text = std::fs::read_to_string(&path).unwrap();
            let test = is_test_name(&module);
            let scan = scan(&text, &module);
            files.insert(
                rel.clone(),
                SourceFile {
                    rel,
                    module,
                    test,
                    scan,
                },
            );
        }
    }
    files.into_values().collect()
}

fn walk(
    root: &Path,
    rel: PathBuf,
    module: Vec<String>,
    test: bool,
    files: &mut BTreeMap<String, SourceFile>,
) {
    let key = rel.to_string_lossy().replace('\\', "/");
    if files.contains_key(&key) {
        return;
    }
    let text = std::fs::read_to_string(root.join(&rel)).unwrap_or_else(|e| panic!("{key}: {e}"));
    let scan = scan(&text, &module);
    let test = test || is_test_name(&module);
    let dir = rel.parent().map(Path::to_path_buf).unwrap_or_default();
    let owns_dir = matches!(
        rel.file_name().and_then(|n| n.to_str()),
        Some("lib.rs" | "main.rs" | "mod.rs")
    );
    let children_dir = if owns_dir {
        dir.clone()
    } else {
        dir.join(rel.file_stem().unwrap_or_default())
    };
    let decls = scan.mods.clone();
    files.insert(
        key.clone(),
        SourceFile {
            rel: key,
            module: module.clone(),
            test,
            scan,
        },
    );
    for decl in decls {
        let child = match &decl.path_attr {
            Some(p) => dir.join(p),
            None => {
                let mut d = children_dir.clone();
                d.extend(&decl.inline);
                let flat = d.join(format!("{}.rs", decl.name));
                if root.join(&flat).is_file() {
                    flat
                } else {
                    d.join(&decl.name).join("mod.rs")
                }
            }
        };
        if root.join(&child).is_file() {
            let mut m = module.clone();
            m.extend(decl.inline.iter().cloned());
            m.push(decl.name.clone());
            walk(root, child, m, test || decl.test, files);
        }
    }
}

fn module_by_location(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_start_matches("src/")
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn is_test_name(module: &[String]) -> bool {
    module.iter().any(|m| m == "tests" || m.ends_with("_tests"))
}

fn list_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            list_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

// === the scanner ===

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A string literal's contents (kept only for `#[path = "…"]`).
    Str(String),
    /// `::`
    Sep,
    Punct(char),
}

/// Tokens with their line numbers; comments, doc comments, char literals
/// and numbers dropped, lifetimes kept as punctuation.
fn tokenize(src: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = at(i);
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && at(i) != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                if i >= c.len() {
                    break;
                } else if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if at(i) == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if let Some((start, hashes)) = raw_string_start(&c, i) {
            // r"…", r#"…"#, br"…", cr"…": ends at a quote and as many #.
            let first = line;
            let mut j = start;
            let mut text = String::new();
            while j < c.len() && !(at(j) == '"' && (1..=hashes).all(|k| at(j + k) == '#')) {
                if at(j) == '\n' {
                    line += 1;
                }
                text.push(at(j));
                j += 1;
            }
            out.push((Tok::Str(text), first));
            i = j + 1 + hashes;
        } else if ch == '"' || ((ch == 'b' || ch == 'c') && at(i + 1) == '"') {
            let first = line;
            let mut j = if ch == '"' { i + 1 } else { i + 2 };
            let mut text = String::new();
            while j < c.len() && at(j) != '"' {
                if at(j) == '\\' {
                    text.push(at(j));
                    j += 1;
                }
                if at(j) == '\n' {
                    line += 1;
                }
                text.push(at(j));
                j += 1;
            }
            out.push((Tok::Str(text), first));
            i = j + 1;
        } else if ch == '\'' || (ch == 'b' && at(i + 1) == '\'') {
            let q = if ch == '\'' { i } else { i + 1 };
            if at(q + 1) == '\\' {
                // '\n', '\'', '\u{…}': to the closing quote.
                let mut j = q + 3;
                while j < c.len() && at(j) != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if at(q + 2) == '\'' {
                i = q + 3;
            } else {
                // A lifetime or label: the quote is punctuation.
                out.push((Tok::Punct('\''), line));
                i = q + 1;
            }
        } else if ch == 'r' && at(i + 1) == '#' && is_ident_start(at(i + 2)) {
            let mut j = i + 2;
            while is_ident_char(at(j)) {
                j += 1;
            }
            out.push((Tok::Ident(c[i + 2..j].iter().collect()), line));
            i = j;
        } else if is_ident_start(ch) {
            let mut j = i;
            while is_ident_char(at(j)) {
                j += 1;
            }
            out.push((Tok::Ident(c[i..j].iter().collect()), line));
            i = j;
        } else if ch.is_ascii_digit() {
            while is_ident_char(at(i)) || (at(i) == '.' && at(i + 1).is_ascii_digit()) {
                i += 1;
            }
        } else if ch == ':' && at(i + 1) == ':' {
            out.push((Tok::Sep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

/// Where a raw string's contents start, and its number of `#`.
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    if i > 0 && is_ident_char(at(i - 1)) {
        return None;
    }
    let mut j = i;
    if at(j) == 'b' || at(j) == 'c' {
        j += 1;
    }
    if at(j) != 'r' {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while at(j) == '#' {
        hashes += 1;
        j += 1;
    }
    (at(j) == '"').then_some((j + 1, hashes))
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// A path the file names, resolved: `["crate", "oci", "Digest"]`,
/// `["std", "fs", "read"]`.
#[derive(Debug, Clone, PartialEq)]
struct Edge {
    line: usize,
    path: Vec<String>,
    /// Inside a `#[cfg(test)]` item or a `tests` module.
    test: bool,
}

/// A `mod name;` declaration (a file to walk into).
#[derive(Debug, Clone)]
struct ModDecl {
    name: String,
    /// Inline modules it sits in (`mod a { mod b; }` → `["a"]`).
    inline: Vec<String>,
    path_attr: Option<String>,
    test: bool,
}

#[derive(Debug, Default)]
struct Scan {
    edges: Vec<Edge>,
    mods: Vec<ModDecl>,
}

/// One open brace: the inline module it opens, and whether it is test code.
struct Frame {
    module: Option<String>,
    test: bool,
}

/// The paths a file at `module` names, and the files it declares.
fn scan(src: &str, module: &[String]) -> Scan {
    let toks = tokenize(src);
    let tok = |i: usize| toks.get(i).map(|(t, _)| t);
    let ident = |i: usize| match tok(i) {
        Some(Tok::Ident(s)) => Some(s.as_str()),
        _ => None,
    };
    let mut out = Scan::default();
    let mut frames: Vec<Frame> = Vec::new();
    // Attributes seen before the next item: cfg(test), path = "…".
    let (mut attr_test, mut attr_path) = (false, None::<String>);
    // The current item is test code up to this brace depth's `;` or `}`.
    let mut item_test: Option<usize> = None;
    let mut i = 0;
    while i < toks.len() {
        let line = toks[i].1;
        let in_test = frames.iter().any(|f| f.test) || item_test.is_some();
        let current: Vec<String> = module
            .iter()
            .cloned()
            .chain(frames.iter().filter_map(|f| f.module.clone()))
            .collect();
        match &toks[i].0 {
            Tok::Punct('#') => {
                let mut j = i + 1;
                if tok(j) == Some(&Tok::Punct('!')) {
                    j += 1;
                }
                if tok(j) == Some(&Tok::Punct('[')) {
                    let end = matching(&toks, j, '[', ']');
                    let inner: Vec<&Tok> = toks[j + 1..end].iter().map(|(t, _)| t).collect();
                    if let [Tok::Ident(cfg), Tok::Punct('('), Tok::Ident(test), Tok::Punct(')')] =
                        inner.as_slice()
                    {
                        attr_test |= cfg == "cfg" && test == "test";
                    }
                    if let [Tok::Ident(p), Tok::Punct('='), Tok::Str(file)] = inner.as_slice() {
                        if p == "path" {
                            attr_path = Some(file.clone());
                        }
                    }
                    i = end + 1;
                    continue;
                }
            }
            Tok::Punct('{') => {
                let opens_mod = i >= 2 && ident(i - 2) == Some("mod");
                let name = opens_mod.then(|| ident(i - 1).unwrap_or_default().to_owned());
                let test = in_test
                    || name
                        .as_deref()
                        .is_some_and(|n| n == "tests" || n.ends_with("_tests"));
                frames.push(Frame { module: name, test });
            }
            Tok::Punct('}') => {
                frames.pop();
                if item_test == Some(frames.len()) {
                    item_test = None;
                }
            }
            Tok::Punct(';') if item_test == Some(frames.len()) => item_test = None,
            _ => {}
        }
        let test_attr = std::mem::take(&mut attr_test);
        let path_attr = attr_path.take();
        if test_attr && item_test.is_none() {
            item_test = Some(frames.len());
        }
        let test = in_test || test_attr;
        if ident(i) == Some("mod") {
            if let (Some(name), Some(Tok::Punct(';'))) = (ident(i + 1), tok(i + 2)) {
                out.mods.push(ModDecl {
                    name: name.to_owned(),
                    inline: frames.iter().filter_map(|f| f.module.clone()).collect(),
                    path_attr,
                    test,
                });
            }
            i += 1;
        } else if ident(i) == Some("use") {
            let mut j = i + 1;
            let mut paths = Vec::new();
            use_tree(&toks, &mut j, Vec::new(), &mut paths);
            for (path, line) in paths {
                if let Some(path) = resolve(path, &current) {
                    out.edges.push(Edge { line, path, test });
                }
            }
            i = j;
        } else if matches!(tok(i), Some(Tok::Ident(_)) | Some(Tok::Sep))
            && !(i > 0 && tok(i - 1) == Some(&Tok::Sep))
        {
            // A path in an expression or type: identifiers joined by `::`.
            let mut j = i;
            if tok(j) == Some(&Tok::Sep) {
                j += 1;
            }
            let mut path = Vec::new();
            while let Some(s) = ident(j) {
                path.push(s.to_owned());
                if tok(j + 1) != Some(&Tok::Sep) {
                    j += 1;
                    break;
                }
                j += 2;
            }
            let qualified = path.len() > 1 || path.first().is_some_and(|s| s == "crate");
            if qualified {
                if let Some(path) = resolve(path.clone(), &current) {
                    out.edges.push(Edge { line, path, test });
                }
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The index of the bracket closing the one at `open`.
fn matching(toks: &[(Tok, usize)], open: usize, l: char, r: char) -> usize {
    let mut depth = 0;
    for (k, (t, _)) in toks.iter().enumerate().skip(open) {
        if *t == Tok::Punct(l) {
            depth += 1;
        } else if *t == Tok::Punct(r) {
            depth -= 1;
            if depth == 0 {
                return k;
            }
        }
    }
    toks.len().saturating_sub(1)
}

/// Reads one use tree at `*j` below `prefix`: `a::b`, `a::{b, c::d}`,
/// `a::*`, `a as b`, `{self, x}`. Leaves `*j` after the tree.
fn use_tree(
    toks: &[(Tok, usize)],
    j: &mut usize,
    mut prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, usize)>,
) {
    let tok = |i: usize| toks.get(i).map(|(t, _)| t);
    let line = |i: usize| toks.get(i).map_or(0, |(_, l)| *l);
    if tok(*j) == Some(&Tok::Sep) {
        *j += 1;
    }
    loop {
        match tok(*j) {
            Some(Tok::Ident(s)) if s == "self" && !prefix.is_empty() => *j += 1,
            Some(Tok::Ident(s)) => {
                prefix.push(s.clone());
                *j += 1;
            }
            Some(Tok::Punct('{')) => {
                *j += 1;
                while !matches!(tok(*j), Some(Tok::Punct('}')) | None) {
                    let before = *j;
                    use_tree(toks, j, prefix.clone(), out);
                    if tok(*j) == Some(&Tok::Punct(',')) || *j == before {
                        *j += 1;
                    }
                }
                *j += 1;
                return;
            }
            Some(Tok::Punct('*')) => {
                out.push((prefix, line(*j)));
                *j += 1;
                return;
            }
            _ => return,
        }
        match tok(*j) {
            Some(Tok::Sep) => *j += 1,
            _ => {
                if let Some(Tok::Ident(a)) = tok(*j) {
                    if a == "as" {
                        *j += 2;
                    }
                }
                out.push((prefix, line(j.saturating_sub(1))));
                return;
            }
        }
    }
}

/// `crate::`, `self::`, `super::` and `$crate::` made absolute
/// (`["crate", …]`); other paths as written. `None` past the crate root.
fn resolve(path: Vec<String>, current: &[String]) -> Option<Vec<String>> {
    let mut rest = path.as_slice();
    let mut base: Vec<String> = match rest.first().map(String::as_str) {
        Some("crate") => {
            rest = &rest[1..];
            Vec::new()
        }
        Some("self") => {
            rest = &rest[1..];
            current.to_vec()
        }
        Some("super") => current.to_vec(),
        _ => return Some(path),
    };
    while let Some("super") = rest.first().map(String::as_str) {
        base.pop()?;
        rest = &rest[1..];
    }
    let mut out = vec!["crate".to_owned()];
    out.extend(base);
    out.extend(rest.iter().cloned());
    Some(out)
}

// === the scanner's own tests ===

#[cfg(test)]
mod scanner {
    use super::*;

    fn paths(src: &str, module: &[&str]) -> Vec<String> {
        let module: Vec<String> = module.iter().map(|s| s.to_string()).collect();
        scan(src, &module)
            .edges
            .iter()
            .map(|e| e.path.join("::"))
            .filter(|p| p.starts_with("crate") || p.starts_with("std"))
            .collect()
    }

    #[test]
    fn groups_self_globs_and_renames_expand() {
        let got = paths("pub use crate::{a, b::{self, c as d, *}, e::f};", &[]);
        assert_eq!(
            got,
            [
                "crate::a",
                "crate::b",
                "crate::b::c",
                "crate::b",
                "crate::e::f"
            ]
        );
    }

    #[test]
    fn a_multi_line_use_keeps_each_leaf_line() {
        let src = "use crate::upstream::{\n    Manifest,\n    UpstreamError,\n};\n";
        let edges = scan(src, &[]).edges;
        let lines: Vec<(String, usize)> =
            edges.iter().map(|e| (e.path.join("::"), e.line)).collect();
        assert_eq!(
            lines,
            [
                ("crate::upstream::Manifest".to_owned(), 2),
                ("crate::upstream::UpstreamError".to_owned(), 3)
            ]
        );
    }

    #[test]
    fn comments_doc_comments_and_strings_are_not_code() {
        let src = r##"
            // use crate::upstream::A;
            /// crate::upstream::B
            /* use crate::upstream::C; /* nested crate::store::D */ */
            const S: &str = "crate::upstream::E";
            const R: &str = r#"use crate::store::F; "quoted""#;
            const C: char = '"';
            fn f<'a>(x: &'a str) -> char { '\'' }
            use crate::oci::Digest;
        "##;
        assert_eq!(paths(src, &[]), ["crate::oci::Digest"]);
    }

    #[test]
    fn qualified_paths_in_expressions_count() {
        let src = "fn f() { let d = crate::oci::Digest::sha256_of(b\"x\"); std::fs::read(p); x.y(); Vec::<u8>::new(); }";
        assert_eq!(
            paths(src, &[]),
            ["crate::oci::Digest::sha256_of", "std::fs::read"]
        );
    }

    #[test]
    fn super_and_self_resolve_against_the_module_and_inline_mods() {
        let src = "use super::trust::TrustRoot;\nuse self::key::K;\nmod inner { use super::super::oci::X; }";
        assert_eq!(
            paths(src, &["verify", "pki"]),
            [
                "crate::verify::trust::TrustRoot",
                "crate::verify::pki::key::K",
                "crate::verify::oci::X"
            ]
        );
    }

    #[test]
    fn cfg_test_items_and_tests_modules_are_marked() {
        let src = "#[cfg(test)]\nuse crate::a::A;\nuse crate::b::B;\n#[cfg(test)]\nfn t() { crate::c::C; }\nfn p() { crate::d::D; }\nmod tests { use crate::e::E; }\n#[cfg(test)]\n#[path = \"x_tests.rs\"]\nmod x;\nmod y;";
        let scan = scan(src, &[]);
        let marked: Vec<(String, bool)> = scan
            .edges
            .iter()
            .map(|e| (e.path.join("::"), e.test))
            .collect();
        assert_eq!(
            marked,
            [
                ("crate::a::A", true),
                ("crate::b::B", false),
                ("crate::c::C", true),
                ("crate::d::D", false),
                ("crate::e::E", true)
            ]
            .map(|(p, t)| (p.to_owned(), t))
        );
        let mods: Vec<(String, Option<String>, bool)> = scan
            .mods
            .iter()
            .map(|m| (m.name.clone(), m.path_attr.clone(), m.test))
            .collect();
        assert_eq!(
            mods,
            [
                ("x".to_owned(), Some("x_tests.rs".to_owned()), true),
                ("y".to_owned(), None, false)
            ]
        );
    }

    #[test]
    fn a_forbidden_edge_is_reported_and_an_allowed_one_is_not() {
        let file = |src: &str, rel: &str, module: &[&str]| {
            let module: Vec<String> = module.iter().map(|s| s.to_string()).collect();
            SourceFile {
                rel: rel.to_owned(),
                scan: scan(src, &module),
                module,
                test: false,
            }
        };
        let verify = RULES
            .iter()
            .find(|r| r.module == "verify" && matches!(r.check, Check::NotCrate(_)))
            .unwrap();
        let io = RULES
            .iter()
            .find(|r| r.module == "policy" && matches!(r.check, Check::NoIo { .. }))
            .unwrap();
        let bad = file(
            "use crate::upstream::Upstream;",
            "src/verify/key.rs",
            &["verify", "key"],
        );
        let good = file(
            "use crate::oci::Digest; use super::trust::TrustRoot;",
            "src/verify/key.rs",
            &["verify", "key"],
        );
        assert!(bad
            .scan
            .edges
            .iter()
            .any(|e| violates(verify, &bad, &e.path)));
        assert!(!good
            .scan
            .edges
            .iter()
            .any(|e| violates(verify, &good, &e.path)));
        let read = "fn f() { std::fs::read_to_string(p); }";
        let pure = file(read, "src/policy/evaluate.rs", &["policy", "evaluate"]);
        let edge = file(read, POLICY_IO_EDGE, &["policy", "source"]);
        assert!(pure.scan.edges.iter().any(|e| violates(io, &pure, &e.path)));
        assert!(!edge.scan.edges.iter().any(|e| violates(io, &edge, &e.path)));
        let types = RULES
            .iter()
            .find(|r| matches!(r.check, Check::TypesOnly(_)))
            .unwrap();
        let evidence = file(
            "use crate::signature::{self, Discovered, discover, MAX_MATERIAL_BYTES};",
            "src/policy/evaluate.rs",
            &["policy", "evaluate"],
        );
        let flagged: Vec<String> = evidence
            .scan
            .edges
            .iter()
            .filter(|e| violates(types, &evidence, &e.path))
            .map(|e| e.path.join("::"))
            .collect();
        assert_eq!(flagged, ["crate::signature", "crate::signature::discover"]);
    }
}
