//! Carries out a parsed command line and maps the outcome to an exit code.

use std::io::IsTerminal;

use crate::cli::{Cli, Command, PathsArg, Selection};
use crate::commands::run::RunOptions;
use crate::error::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError};
use crate::experiment::{Experiment, SpecError};
use crate::report::say;

/// Runs the command; every error is printed here and becomes an exit code.
pub fn main(cli: Cli) -> i32 {
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(spec) = e.downcast_ref::<SpecError>() {
                eprint!("{}", spec.render(std::io::stderr().is_terminal()));
                eprintln!("{} error(s); nothing was run", spec.diagnostics.len());
                EXIT_USAGE
            } else if e.downcast_ref::<UsageError>().is_some() {
                eprintln!("error: {e}");
                EXIT_USAGE
            } else {
                eprintln!("error: {e:#}");
                EXIT_FAILED
            }
        }
    }
}

fn load(paths: &PathsArg, selection: Option<&Selection>) -> anyhow::Result<Vec<Experiment>> {
    let files = crate::experiment::discover(&paths.paths).map_err(|e| UsageError(e.to_string()))?;
    let overrides = selection.map(|s| s.set.as_slice()).unwrap_or_default();
    Ok(crate::experiment::load_all(&files, overrides)?)
}

/// The shard `--shard` names; `auto` asks the scheduler's variables (exit 2 when unclear).
fn shard_of(selection: &Selection) -> Result<Option<crate::selection::Shard>, UsageError> {
    selection
        .shard
        .map(|s| s.resolve().map_err(UsageError))
        .transpose()
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(args) => {
            let experiments = load(&args.paths, Some(&args.selection))?;
            let shard = shard_of(&args.selection)?;
            if let Err(e) = crate::signals::install() {
                eprintln!("warning: signals will stop the run at once, without cleanup: {e}");
            }
            crate::server::raise_open_file_limit();
            let opts = RunOptions {
                out: args.selection.out.clone(),
                only: args.selection.only.clone(),
                fresh: args.fresh,
                charts: !args.no_charts,
                shard,
                quiet: args.quiet,
                by_host: args.by_host,
            };
            let outcome = crate::commands::run::run(&experiments, &opts)?;
            Ok(if outcome.interrupted {
                let by = crate::signals::signal()
                    .map_or_else(String::new, |s| format!(" by {}", crate::signals::name(s)));
                eprintln!(
                    "interrupted{by}: the rows finished so far are kept; run the same command again to resume"
                );
                crate::signals::exit_code()
            } else if outcome.failed || (args.strict && outcome.claims_failed) {
                EXIT_FAILED
            } else {
                EXIT_OK
            })
        }
        Command::Plan(args) => {
            let experiments = load(&args.paths, Some(&args.selection))?;
            crate::commands::plan::plan(
                &experiments,
                &args.selection.out,
                &args.selection.only,
                shard_of(&args.selection)?,
            )?;
            Ok(EXIT_OK)
        }
        Command::Validate(paths) => {
            let experiments = load(&paths, None)?;
            for e in &experiments {
                let cells = crate::experiment::expand::expand(e).len();
                say(&format!(
                    "ok: {} ({}, {cells} cells)",
                    e.path.display(),
                    e.name
                ));
            }
            Ok(EXIT_OK)
        }
        Command::Chart(args) => {
            crate::commands::chart::rebuild_charts(
                &args.dir,
                (args.width.max(200), args.height.max(150)),
            )?;
            Ok(EXIT_OK)
        }
        Command::Merge(args) => {
            crate::commands::merge::merge(&args.dirs, &args.out, args.by_host)?;
            Ok(EXIT_OK)
        }
        Command::Compare(args) => {
            let opts = crate::commands::compare::CompareOptions {
                old: args.old,
                new: args.new,
                out: args.out,
                noise: args.noise.map(|n| n.0),
                by_host: args.by_host,
                any_host: args.any_host,
            };
            // Every failure of a comparison is its input's (or its output folder's): 2.
            let outcome = crate::commands::compare::compare(&opts)
                .map_err(|e| UsageError(format!("{e:#}")))?;
            let slower = outcome.count(crate::results::compare::Verdict::Slower);
            Ok(match args.fail_on {
                Some(crate::cli::FailOn::Slower) if slower > 0 => EXIT_FAILED,
                _ => EXIT_OK,
            })
        }
        Command::Schema => {
            say(&serde_json::to_string_pretty(
                &crate::experiment::schema::schema(),
            )?);
            Ok(EXIT_OK)
        }
        Command::Reference => {
            print!("{}", crate::experiment::reference::markdown());
            Ok(EXIT_OK)
        }
        Command::Serve(args) => {
            crate::commands::serve::serve(&args)?;
            Ok(EXIT_OK)
        }
        Command::Completions(args) => {
            crate::commands::reference::completions(args.shell, &mut std::io::stdout());
            Ok(EXIT_OK)
        }
        Command::Man(args) => {
            match &args.out {
                Some(dir) => {
                    for path in crate::commands::reference::man_pages(dir)? {
                        say(&format!("wrote {}", path.display()));
                    }
                }
                None => crate::commands::reference::man_page(&mut std::io::stdout())?,
            }
            Ok(EXIT_OK)
        }
        Command::Worker => {
            crate::model::process_pool::worker_main()?;
            Ok(EXIT_OK)
        }
    }
}
