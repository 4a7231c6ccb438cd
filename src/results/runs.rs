//! `runs.csv`: one row per measured repetition of a cell, appended and flushed as it finishes.

use std::collections::HashMap;
use std::path::Path;

use super::cell::CellId;
use super::csv_file::AppendCsv;
use super::digests::fingerprint_of;
use super::{fmt_opt, fmt_s};
use crate::workload::Check;

pub use super::cell::LEADING;
pub const TRAILING: [&str; 20] = [
    "repetition",
    "wall_s",
    "setup_s",
    "user_s",
    "sys_s",
    "peak_rss_kib",
    "tasks",
    "ok",
    "failed",
    "check",
    "detail",
    "ideal_s",
    "task_p50_s",
    "task_p99_s",
    "started_at",
    "host",
    "in_flight",
    "hashes",
    "calibrated_ns_per_hash",
    "implementation",
];

/// The header for an experiment with these extra axes.
pub fn header(axes: &[String]) -> Vec<String> {
    super::csv_file::header_with_axes(&LEADING, axes, &TRAILING)
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: CellId,
    pub repetition: u32,
    pub wall_s: f64,
    pub setup_s: f64,
    pub user_s: f64,
    pub sys_s: f64,
    pub peak_rss_kib: Option<u64>,
    pub tasks: usize,
    pub ok: usize,
    pub failed: usize,
    pub check: Check,
    pub detail: String,
    pub ideal_s: Option<f64>,
    pub task_p50_s: Option<f64>,
    pub task_p99_s: Option<f64>,
    pub started_at: String,
    pub host: String,
    /// Tasks running at once, on average: the task spans' total time over the wall time.
    pub in_flight: Option<f64>,
    /// SHA-512 steps the repetition computed, where the workload's work is known.
    pub hashes: Option<u64>,
    /// The best single-thread time per hash known to the run when the row was written:
    /// the reference of `core_speed`.
    pub calibrated_ns_per_hash: Option<f64>,
    /// What a passing repetition's result fingerprints to, where models must agree on it
    /// (not a column: `detail` leads with `digest <fingerprint>`, and old rows are read so).
    pub fingerprint: Option<String>,
    /// What ran the tasks: `conclab <version>` for conclab's own models, an external
    /// program's own word from its ready line (`CPython 3.13.5 free-threading (GIL
    /// disabled)`); empty where it said nothing, and in rows written before the column.
    pub implementation: String,
}

/// The implementation conclab's own models record.
pub fn conclab_implementation() -> String {
    format!("conclab {}", env!("CARGO_PKG_VERSION"))
}

/// The rows of one cell that pool: those of the implementation of its latest row that
/// names one, and those that name none (old rows, a program that failed before its ready
/// line). Rows of another implementation stay in runs.csv but are kept apart, so two
/// interpreters behind one cell id never pool. Returns that implementation and the rows.
pub fn of_latest_implementation<'a>(rows: &[&'a RunRow]) -> (String, Vec<&'a RunRow>) {
    let latest = rows
        .iter()
        .rev()
        .map(|r| r.implementation.as_str())
        .find(|i| !i.is_empty())
        .unwrap_or_default()
        .to_string();
    let kept = rows
        .iter()
        .copied()
        .filter(|r| r.implementation.is_empty() || r.implementation == latest)
        .collect();
    (latest, kept)
}

/// A row is of its cell: `row.model`, `row.cell` read through to the identity.
impl std::ops::Deref for RunRow {
    type Target = CellId;
    fn deref(&self) -> &CellId {
        &self.id
    }
}

impl RunRow {
    pub fn columns(&self) -> Vec<(&str, String)> {
        let mut c = self.id.columns();
        c.extend([
            ("repetition", self.repetition.to_string()),
            ("wall_s", fmt_s(self.wall_s)),
            ("setup_s", fmt_s(self.setup_s)),
            ("user_s", fmt_s(self.user_s)),
            ("sys_s", fmt_s(self.sys_s)),
            (
                "peak_rss_kib",
                self.peak_rss_kib.map(|v| v.to_string()).unwrap_or_default(),
            ),
            ("tasks", self.tasks.to_string()),
            ("ok", self.ok.to_string()),
            ("failed", self.failed.to_string()),
            ("check", self.check.as_str().to_string()),
            ("detail", self.detail.clone()),
            ("ideal_s", fmt_opt(self.ideal_s, 6)),
            ("task_p50_s", fmt_opt(self.task_p50_s, 6)),
            ("task_p99_s", fmt_opt(self.task_p99_s, 6)),
            ("started_at", self.started_at.clone()),
            ("host", self.host.clone()),
            ("in_flight", fmt_opt(self.in_flight, 3)),
            (
                "hashes",
                self.hashes.map(|v| v.to_string()).unwrap_or_default(),
            ),
            (
                "calibrated_ns_per_hash",
                fmt_opt(self.calibrated_ns_per_hash, 2),
            ),
            ("implementation", self.implementation.clone()),
        ]);
        c
    }

    /// Reads a row written by any version of this header; `axes` names the axis columns.
    pub fn from_map(m: &HashMap<String, String>, axes: &[String]) -> Option<RunRow> {
        let s = |k: &str| m.get(k).cloned().unwrap_or_default();
        let f = |k: &str| m.get(k).and_then(|v| v.parse::<f64>().ok());
        let check = Check::parse(&s("check"))?;
        let detail = s("detail");
        Some(RunRow {
            id: CellId::from_map(m, axes)?,
            repetition: s("repetition").parse().unwrap_or(0),
            wall_s: f("wall_s")?,
            setup_s: f("setup_s").unwrap_or(0.0),
            user_s: f("user_s").unwrap_or(0.0),
            sys_s: f("sys_s").unwrap_or(0.0),
            peak_rss_kib: m.get("peak_rss_kib").and_then(|v| v.parse().ok()),
            tasks: s("tasks").parse().unwrap_or(0),
            ok: s("ok").parse().unwrap_or(0),
            failed: s("failed").parse().unwrap_or(0),
            ideal_s: f("ideal_s"),
            task_p50_s: f("task_p50_s"),
            task_p99_s: f("task_p99_s"),
            started_at: s("started_at"),
            host: s("host"),
            in_flight: f("in_flight"),
            hashes: m.get("hashes").and_then(|v| v.parse().ok()),
            calibrated_ns_per_hash: f("calibrated_ns_per_hash"),
            implementation: s("implementation"),
            fingerprint: (check == Check::Pass)
                .then(|| fingerprint_of(&detail).map(str::to_string))
                .flatten(),
            check,
            detail,
        })
    }
}

/// The axis columns of a runs.csv header: those between `workers` and `repetition`.
pub fn axes_of(header: &[String]) -> Vec<String> {
    let start = header
        .iter()
        .position(|h| h == "workers")
        .map_or(0, |i| i + 1);
    let end = header
        .iter()
        .position(|h| h == "repetition")
        .unwrap_or(start);
    header
        .get(start..end)
        .map(|s| s.to_vec())
        .unwrap_or_default()
}

/// Opens runs.csv for appending; returns the rows already there. A row that does not
/// parse is an error naming its line, never skipped: resume would run it again unseen.
pub fn open(path: &Path, axes: &[String]) -> anyhow::Result<(AppendCsv, Vec<RunRow>)> {
    let (file, maps) = AppendCsv::open(path, &header(axes))?;
    let rows = parse_rows(path, &maps, axes)?;
    Ok((file, rows))
}

fn parse_rows(
    path: &Path,
    maps: &[HashMap<String, String>],
    axes: &[String],
) -> anyhow::Result<Vec<RunRow>> {
    maps.iter()
        .enumerate()
        .map(|(i, m)| {
            RunRow::from_map(m, axes).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: line {}: a value is missing or malformed",
                    path.display(),
                    i + 2
                )
            })
        })
        .collect()
}

/// Reads every row of a runs.csv, with the axes its own header names.
pub fn read(path: &Path) -> anyhow::Result<(Vec<String>, Vec<RunRow>)> {
    let (header, maps) = super::csv_file::read(path)?;
    for col in ["cell", "model", "workers", "wall_s", "check"] {
        if !header.iter().any(|h| h == col) {
            anyhow::bail!(
                "{}: not a conclab runs.csv (no \"{col}\" column)",
                path.display()
            );
        }
    }
    let axes = axes_of(&header);
    let rows = parse_rows(path, &maps, &axes)?;
    Ok((axes, rows))
}

/// Counts the repetitions a cell already has that count as done (passed or raced).
pub fn done_counts(rows: &[RunRow]) -> HashMap<&str, (u32, u32)> {
    let mut counts: HashMap<&str, (u32, u32)> = HashMap::new();
    for r in rows {
        let e = counts.entry(r.cell.as_str()).or_default();
        e.1 = e.1.max(r.repetition);
        if r.check != Check::Fail {
            e.0 += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_has_axes_between_workers_and_repetition() {
        let h = header(&["iterations".into()]);
        assert_eq!(
            &h[..6],
            &[
                "experiment",
                "cell",
                "workload",
                "model",
                "workers",
                "iterations"
            ]
        );
        assert_eq!(h[6], "repetition");
        assert!(
            h.iter().position(|c| c == "host") < h.iter().position(|c| c == "in_flight"),
            "new columns follow SPEC's last one"
        );
        assert_eq!(h.last().unwrap(), "implementation");
        assert_eq!(axes_of(&h), vec!["iterations".to_string()]);
    }

    #[test]
    fn rows_of_another_implementation_are_kept_apart_and_unnamed_ones_pool() {
        let axes: Vec<String> = Vec::new();
        let row = |implementation: &str| {
            let mut m: HashMap<String, String> = [
                ("cell", "c1"),
                ("model", "cpython_thread_pool"),
                ("workers", "2"),
                ("wall_s", "1.0"),
                ("check", "pass"),
                ("implementation", implementation),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            if implementation.is_empty() {
                m.remove("implementation");
            }
            RunRow::from_map(&m, &axes).unwrap()
        };
        let rows = [
            row(""),
            row("CPython 3.11.7"),
            row("CPython 3.13.5 free-threading (GIL disabled)"),
        ];
        let refs: Vec<&RunRow> = rows.iter().collect();
        let (implementation, kept) = of_latest_implementation(&refs);
        assert_eq!(
            implementation,
            "CPython 3.13.5 free-threading (GIL disabled)"
        );
        assert_eq!(kept, [&rows[0], &rows[2]]);
        let (none, all) = of_latest_implementation(&refs[..1]);
        assert_eq!(
            (none.as_str(), all.len()),
            ("", 1),
            "an old folder pools as it did"
        );
    }

    #[test]
    fn a_passing_rows_fingerprint_is_read_from_its_detail() {
        let axes: Vec<String> = Vec::new();
        let row = |check: &str, detail: &str| {
            let m: HashMap<String, String> = [
                ("cell", "c"),
                ("model", "threads"),
                ("workers", "2"),
                ("wall_s", "1.0"),
                ("check", check),
                ("detail", detail),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            RunRow::from_map(&m, &axes).unwrap().fingerprint
        };
        assert_eq!(
            row("pass", "digest 5c415cc8aa01 (2 expected digests match)").as_deref(),
            Some("5c415cc8aa01")
        );
        assert_eq!(row("fail", "digest 5c415cc8aa01; step 2 http: 503"), None);
        assert_eq!(row("pass", "12 of 12 requests ok"), None);
    }
}
