//! The documentation against the binary: docs/reference.md is what `conclab reference`
//! prints, every TOML example passes `conclab validate`, every command shown exists.

mod common;

use std::path::{Path, PathBuf};

use common::{Lab, code, stderr, stdout};
use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// README.md and every Markdown file under docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![Path::new(REPO).join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(REPO).join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// Code of a page: (info string of its fenced block, or None for inline code; its text;
/// the line it starts on).
fn code_of(text: &str) -> Vec<(Option<String>, String, usize)> {
    let line_of = |offset: usize| text[..offset].lines().count().max(1);
    let mut found = Vec::new();
    let mut open: Option<(String, String, usize)> = None;
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let info = match kind {
                    CodeBlockKind::Fenced(info) => info.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                open = Some((info, String::new(), line_of(range.start)));
            }
            Event::Text(t) => {
                if let Some((_, body, _)) = open.as_mut() {
                    body.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((info, body, line)) = open.take() {
                    found.push((Some(info), body, line));
                }
            }
            Event::Code(c) => found.push((None, c.to_string(), line_of(range.start))),
            _ => {}
        }
    }
    found
}

#[test]
fn the_reference_is_what_the_reference_verb_prints() {
    let lab = Lab::new();
    let o = lab.cmd().arg("reference").output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let committed = std::fs::read_to_string(Path::new(REPO).join("docs/reference.md")).unwrap();
    assert!(
        stdout(&o) == committed,
        "docs/reference.md is stale: regenerate it with `{}`",
        conclab::experiment::reference::REGENERATE
    );
}

#[test]
fn every_toml_example_validates() {
    let lab = Lab::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(REPO).unwrap().display().to_string();
        for (info, body, line) in code_of(&text) {
            // `toml,ignore` marks a fragment that is not a whole experiment file.
            if info.as_deref() != Some("toml") {
                continue;
            }
            let file = lab.write(&format!("example-{checked}.toml"), &body);
            let o = lab.cmd().arg("validate").arg(&file).output().unwrap();
            assert_eq!(
                code(&o),
                0,
                "{name}:{line}: the example does not validate:\n{}",
                stderr(&o)
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} TOML examples found");
}

/// The flags among `words`, up to the end of the command (a pipe, a redirection, the next
/// command), each with its `=value` and brackets cut off.
fn flags_of(words: &[&str]) -> Vec<String> {
    words
        .iter()
        .take_while(|w| !matches!(**w, "|" | "&&" | ">" | ";" | "conclab"))
        .map(|w| w.trim_start_matches('['))
        .filter(|w| w.starts_with('-') && w.len() > 1 && *w != "--")
        .map(|w| {
            let flag = w.split('=').next().unwrap_or_default();
            flag.trim_end_matches([',', ')', ']']).to_string()
        })
        .collect()
}

/// The command lines shown in code: `conclab VERB ...` or `cargo run --release -- VERB ...`,
/// as (verb, flags). A line of flags alone continues the command above it.
fn commands(code: &str) -> Vec<(String, Vec<String>)> {
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    for line in code.lines() {
        let line = line.split(" #").next().unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first().is_some_and(|w| w.starts_with("--")) {
            if let Some((_, flags)) = found.last_mut() {
                flags.extend(flags_of(&words));
            }
            continue;
        }
        for (i, w) in words.iter().enumerate() {
            let cargo_run = *w == "--" && i >= 2 && words[i - 2..i] == ["run", "--release"];
            if *w != "conclab" && !cargo_run {
                continue;
            }
            let after = i + 1;
            let Some(verb) = words.get(after) else {
                continue;
            };
            // A path or a placeholder (`VERB`) is not a verb.
            if !verb.chars().all(|c| c.is_ascii_lowercase()) {
                continue;
            }
            found.push((verb.to_string(), flags_of(&words[after + 1..])));
        }
    }
    found
}

#[test]
fn every_command_shown_exists_with_its_flags() {
    let lab = Lab::new();
    let mut helps = std::collections::BTreeMap::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(REPO).unwrap().display().to_string();
        for (info, body, line) in code_of(&text) {
            if info.as_deref().is_some_and(|i| i.starts_with("toml")) {
                continue;
            }
            for (verb, flags) in commands(&body) {
                let help = helps.entry(verb.clone()).or_insert_with(|| {
                    let o = lab.cmd().args([&verb, "--help"]).output().unwrap();
                    (code(&o), stdout(&o))
                });
                assert_eq!(help.0, 0, "{name}:{line}: `conclab {verb}` is no verb");
                for flag in flags {
                    let known = help
                        .1
                        .split(|c: char| c.is_whitespace() || c == ',')
                        .any(|w| w == flag);
                    assert!(known, "{name}:{line}: `conclab {verb}` has no {flag}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 5, "only {checked} commands found");
}

#[test]
fn commands_are_read_from_both_spellings() {
    assert_eq!(
        commands(
            "cargo run --release -- run experiments/ --fresh # all\n  --only m=a,b  -q\n\
             conclab merge A B --out DIR [--by-host]"
        ),
        vec![
            (
                "run".to_string(),
                vec!["--fresh".into(), "--only".into(), "-q".into()]
            ),
            (
                "merge".to_string(),
                vec!["--out".into(), "--by-host".into()]
            ),
        ]
    );
}

#[test]
fn every_link_points_into_the_repository() {
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(REPO).unwrap().display().to_string();
        for event in Parser::new(&text) {
            let dest = match event {
                Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                    dest_url.to_string()
                }
                _ => continue,
            };
            // Anchors within the page are GitHub's; other sites are not checked here.
            if dest.starts_with('#') || dest.contains("://") {
                continue;
            }
            let path = dest.split('#').next().unwrap_or_default();
            let target = page.parent().unwrap().join(path);
            assert!(target.exists(), "{name}: {dest} does not exist");
        }
    }
}
