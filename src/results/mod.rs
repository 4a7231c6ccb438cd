//! Result files of one experiment: runs, task timelines, summary, environment; resume and archive.

pub mod atomic;
pub mod cell;
pub mod claims;
pub mod compare;
pub mod csv_file;
pub mod digests;
pub mod environment;
pub mod experiment_results;
pub mod files;
pub mod flags;
pub mod intervals;
pub mod lock;
pub mod outputs;
pub mod phases;
pub mod rank;
pub mod report_md;
pub mod runs;
pub mod stats;
pub mod summarize;
pub mod summary;
pub mod tasks;

use std::path::{Path, PathBuf};

/// `20261125T074200Z`: a timestamp that sorts and is safe in file names.
pub fn file_timestamp() -> String {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    t.replace(['-', ':'], "")
}

/// Moves `runs.csv`, `tasks.csv`, `phases.csv` and `summary.csv` aside as
/// `runs-<timestamp>.csv` and so on (never deleting them);
/// returns the new names.
pub fn archive(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let stamp = file_timestamp();
    let mut moved = Vec::new();
    for name in files::ARCHIVED {
        let from = dir.join(format!("{name}.csv"));
        if !from.exists() {
            continue;
        }
        let mut to = dir.join(format!("{name}-{stamp}.csv"));
        let mut n = 1;
        while to.exists() {
            to = dir.join(format!("{name}-{stamp}-{n}.csv"));
            n += 1;
        }
        std::fs::rename(&from, &to)
            .map_err(|e| anyhow::anyhow!("cannot archive {}: {e}", from.display()))?;
        moved.push(to);
    }
    Ok(moved)
}

/// Seconds with microsecond resolution, as written in every CSV.
pub fn fmt_s(v: f64) -> String {
    format!("{v:.6}")
}

pub fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => String::new(),
    }
}
