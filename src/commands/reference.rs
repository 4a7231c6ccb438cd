//! Shell completions and man pages, generated from the command line's own definition so
//! that they name every verb and flag `--help` does.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Writes the completion script of `shell` for every verb and flag.
pub fn completions(shell: Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "conclab", out);
}

/// Writes the man page of conclab itself (its verbs listed, each with its one line).
pub fn man_page(out: &mut dyn Write) -> anyhow::Result<()> {
    clap_mangen::Man::new(Cli::command())
        .render(out)
        .context("cannot write the man page")
}

/// Writes `conclab.1` and one page per visible verb (`conclab-run.1`, ...) into `dir`.
pub fn man_pages(dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut command = Cli::command();
    command.build();
    let mut written = Vec::new();
    let mut write = |name: String, page: clap_mangen::Man| -> anyhow::Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut bytes = Vec::new();
        page.render(&mut bytes)?;
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
        Ok(())
    };
    // `help` is clap's own verb: conclab.1 covers it.
    let verbs = command
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help");
    for verb in verbs {
        // A page's name must outlive the command that carries it; the few verbs' names are
        // kept for the life of the process.
        let name: &'static str = Box::leak(format!("conclab-{}", verb.get_name()).into_boxed_str());
        let page = clap_mangen::Man::new(verb.clone().name(name));
        write(name.to_string(), page)?;
    }
    write("conclab".into(), clap_mangen::Man::new(command))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verbs() -> Vec<String> {
        Cli::command()
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name().to_string())
            .collect()
    }

    #[test]
    fn every_shell_completes_every_verb() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell] {
            let mut out = Vec::new();
            completions(shell, &mut out);
            let text = String::from_utf8(out).unwrap();
            for verb in verbs() {
                assert!(text.contains(&verb), "{shell}: no {verb}");
            }
            assert!(
                text.contains("conclab"),
                "{shell}: the script names no conclab"
            );
        }
    }

    #[test]
    fn the_man_pages_name_every_verb_and_its_flags() {
        let mut out = Vec::new();
        man_page(&mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH conclab"),
            "{page:.200}"
        );
        for verb in verbs() {
            assert!(page.contains(&verb), "conclab.1 does not list {verb}");
        }
        let dir = tempfile::tempdir().unwrap();
        let written = man_pages(dir.path()).unwrap();
        assert_eq!(written.len(), verbs().len() + 1);
        let run = std::fs::read_to_string(dir.path().join("conclab-run.1")).unwrap();
        for flag in ["only", "shard", "fresh", "strict", "no\\-charts"] {
            assert!(run.contains(flag), "conclab-run.1 lacks --{flag}");
        }
    }
}
