//! The command line: one clap struct per verb, with the help text; no logic.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::experiment::Override;
use crate::results::compare::Noise;
use crate::selection::{Filter, ShardArg};

/// A lab for concurrency experiments: declare a workload and the execution models to
/// compare in a TOML file; conclab measures every cell, verifies it, and charts it.
#[derive(Debug, Parser)]
#[command(name = "conclab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every cell of the experiments; append rows to runs.csv, write summary and charts.
    Run(RunArgs),
    /// Print the cells a run would execute, their count and a time estimate; run nothing.
    Plan(PlanArgs),
    /// Check experiment files; exit 0, or 2 with every error found.
    Validate(PathsArg),
    /// Re-render the summary and charts of an experiment's results folder from its CSV files.
    Chart(ChartArgs),
    /// Combine the outputs of shards (`run --shard I/N`) of one experiment.
    Merge(MergeArgs),
    /// Compare two runs cell by cell: the ratio of medians with its interval, and a
    /// verdict (faster, slower, same, unclear); exit 1 with --fail-on slower when a cell
    /// got slower.
    Compare(CompareArgs),
    /// Serve the embedded latency server on 127.0.0.1.
    Serve(ServeArgs),
    /// Print the JSON Schema of experiment files.
    Schema,
    /// Print the experiment-file reference (docs/reference.md) in Markdown.
    #[command(hide = true)]
    Reference,
    /// Print shell completions, e.g. `conclab completions bash > ~/.local/share/bash-completion/completions/conclab`.
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per verb into a folder with --out.
    Man(ManArgs),
    /// Internal: a process-pool child, fed tasks over stdin.
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Args)]
pub struct PathsArg {
    /// Experiment files or folders of *.toml files.
    #[arg(default_value = "experiments")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Selection {
    /// Run only cells whose KEY (model, workers, cell or an axis) has one of the values,
    /// e.g. --only model=async,threads. Repeat to narrow further.
    #[arg(long, value_name = "KEY=V[,V]...")]
    pub only: Vec<Filter>,
    /// Run only this deterministic share of the cells, e.g. --shard 1/2 (1-based). `auto`
    /// takes it from the scheduler: CONCLAB_SHARD=I/N, a Slurm array task
    /// (SLURM_ARRAY_TASK_ID, _MIN, _COUNT) or a Kubernetes Indexed Job
    /// (JOB_COMPLETION_INDEX with CONCLAB_SHARDS).
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<ShardArg>,
    /// Override a top-level or workload key (or fix a matrix axis), e.g. --set repetitions=1.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<Override>,
    /// Results root.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub paths: PathsArg,
    #[command(flatten)]
    pub selection: Selection,
    /// Move runs.csv to runs-<timestamp>.csv (never deleted) and start over.
    #[arg(long)]
    pub fresh: bool,
    /// Do not render PNG charts.
    #[arg(long)]
    pub no_charts: bool,
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Exit 1 when a claim fails (its whole interval on the wrong side); an unclear
    /// claim leaves the exit code alone.
    #[arg(long)]
    pub strict: bool,
    /// Resume a results folder measured on another machine, keeping each machine apart
    /// (`host` becomes an axis); without it such a folder is refused.
    #[arg(long)]
    pub by_host: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub paths: PathsArg,
    #[command(flatten)]
    pub selection: Selection,
}

#[derive(Debug, Args)]
pub struct ChartArgs {
    /// An experiment's results folder, e.g. results/cpu-bound.
    pub dir: PathBuf,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1600)]
    pub width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 1000)]
    pub height: u32,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Results folders of the shards of one experiment.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// The folder to write the combined results into.
    #[arg(long)]
    pub out: PathBuf,
    /// Merge shards measured on different machines (fingerprints in environment.json),
    /// keeping them apart: `host` becomes an axis of summary.csv and the charts.
    #[arg(long)]
    pub by_host: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The earlier run: an experiment's results folder, or a results root.
    pub old: PathBuf,
    /// The later run, of the same kind as OLD.
    pub new: PathBuf,
    /// Where compare.csv, compare.md and the chart go (default: NEW/compare/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A change smaller than this is judged `same`, e.g. 5% (default: the runs' own spread).
    #[arg(long, value_name = "PCT")]
    pub noise: Option<Noise>,
    /// Exit 1 when a cell got slower (for CI).
    #[arg(long, value_enum, value_name = "VERDICT")]
    pub fail_on: Option<FailOn>,
    /// Match only cells measured on the same machine (runs of several machines).
    #[arg(long, conflicts_with = "any_host")]
    pub by_host: bool,
    /// Compare runs of different machines anyway.
    #[arg(long)]
    pub any_host: bool,
}

/// The verdict `--fail-on` turns into exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Slower,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1; 0 picks a free one (printed on start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Delay before answering a request that does not name its own.
    #[arg(long, default_value = "100ms")]
    pub latency: String,
    /// Uniform +- jitter on that delay.
    #[arg(long, default_value = "0ms")]
    pub jitter: String,
    /// Response body size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub body_bytes: usize,
    /// Share of requests answered 503, 0.0 to 1.0.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Exit when standard input closes (how `run` ties the server's life to its own).
    #[arg(long, hide = true)]
    pub exit_on_stdin_eof: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write conclab.1 and a page per verb (conclab-run.1, ...) into this folder instead
    /// of printing conclab.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}
