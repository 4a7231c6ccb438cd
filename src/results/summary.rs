//! `summary.csv`: one row per cell, with statistics, speedup over its baseline and the ideal.

use std::path::Path;

use super::cell::{CellId, LEADING};
use super::flags::Flag;
use super::stats::{MedianCi, Stats};
use super::{fmt_opt, fmt_s};
use crate::workload::Check;

#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub id: CellId,
    pub stats: Stats,
    pub speedup: Option<f64>,
    pub efficiency: Option<f64>,
    pub ideal_s: Option<f64>,
    pub vs_ideal: Option<f64>,
    pub user_s: f64,
    pub sys_s: f64,
    pub cpu_util: f64,
    pub check: Check,
    /// The detail of the latest row that decided `check`.
    pub detail: String,
    /// That row's result fingerprint, which the cells of one workload must share.
    pub fingerprint: Option<String>,
    /// The speedup's interval with its coverage: from paired repetitions where the cell
    /// and its baseline share their rounds (see `intervals::speedup_interval`).
    pub speedup_ci: Option<MedianCi>,
    /// Cores kept busy: (user + sys CPU of conclab and its children) / wall, median.
    pub parallelism: f64,
    /// Tasks in flight on average (task spans' total / wall), median.
    pub in_flight: Option<f64>,
    /// Calibrated best CPU time per hash / this cell's CPU time per hash; for workloads
    /// whose work is known (hash chains, mixed).
    pub core_speed: Option<f64>,
    /// The sequential baseline's core speed and cores busy, to explain a speedup
    /// relative to it.
    pub baseline_core_speed: Option<f64>,
    pub baseline_parallelism: Option<f64>,
    pub flags: Vec<Flag>,
    /// Repetitions that failed (a task, the timeout, a digest outvoted); `runs.csv`'s
    /// `failed` counts tasks instead.
    pub failed_repetitions: usize,
    /// The first failed repetition's detail.
    pub failure: Option<String>,
    /// What ran the cell's pooled rows (see [`super::runs::RunRow::implementation`]).
    pub implementation: String,
    /// The model its speedup is measured against; empty where it has none, and in a
    /// summary read back from its file (not a column).
    pub baseline: String,
}

impl SummaryRow {
    /// Cores kept busy, unless the CPU time it comes from is impossible.
    pub fn cores_busy(&self) -> Option<f64> {
        Some(self.parallelism).filter(|p| p.is_finite())
    }

    /// What a cell's check stands on: its failed repetitions (how many, the first one's
    /// reason) beside the deciding detail.
    pub fn check_detail(&self) -> String {
        match (self.failed_repetitions, &self.failure) {
            (0, _) | (_, None) => self.detail.clone(),
            (k, Some(first)) if self.check == Check::Disputed => format!(
                "{}; {k} failed repetition{} (first: {first})",
                self.detail,
                if k == 1 { "" } else { "s" }
            ),
            (k, Some(first)) => format!(
                "{k} failed repetition{}, first: {first}",
                if k == 1 { "" } else { "s" }
            ),
        }
    }
}

/// A row is of its cell: `row.model`, `row.label()` read through to the identity.
impl std::ops::Deref for SummaryRow {
    type Target = CellId;
    fn deref(&self) -> &CellId {
        &self.id
    }
}

pub fn header(axes: &[String]) -> Vec<String> {
    let tail = [
        "n",
        "median_s",
        "mean_s",
        "stddev_s",
        "min_s",
        "max_s",
        "cv",
        "speedup",
        "efficiency",
        "ideal_s",
        "vs_ideal",
        "user_s",
        "sys_s",
        "cpu_util",
        "check",
        "outliers",
        "median_ci_low_s",
        "median_ci_high_s",
        "speedup_ci_low",
        "speedup_ci_high",
        "parallelism",
        "core_speed",
        "flags",
        "in_flight",
        "ci_coverage",
        "failed_repetitions",
        "failure",
        "speedup_ci_coverage",
        "implementation",
    ];
    super::csv_file::header_with_axes(&LEADING, axes, &tail)
}

/// Rewrites summary.csv (it is derived from runs.csv, so replacing it loses nothing).
pub fn write(path: &Path, axes: &[String], rows: &[SummaryRow]) -> anyhow::Result<()> {
    let records = rows.iter().map(|s| {
        let mut rec = s.id.record(axes);
        let st = &s.stats;
        rec.extend([
            st.n.to_string(),
            fmt_s(st.median),
            fmt_s(st.mean),
            fmt_s(st.stddev),
            fmt_s(st.min),
            fmt_s(st.max),
            format!("{:.4}", st.cv),
            fmt_opt(s.speedup, 3),
            fmt_opt(s.efficiency, 3),
            fmt_opt(s.ideal_s, 6),
            fmt_opt(s.vs_ideal, 3),
            fmt_s(s.user_s),
            fmt_s(s.sys_s),
            format!("{:.3}", s.cpu_util),
            s.check.as_str().to_string(),
            st.outliers.to_string(),
            fmt_s(st.ci.low),
            fmt_s(st.ci.high),
            fmt_opt(s.speedup_ci.map(|c| c.low), 3),
            fmt_opt(s.speedup_ci.map(|c| c.high), 3),
            s.cores_busy()
                .map(|p| format!("{p:.3}"))
                .unwrap_or_default(),
            fmt_opt(s.core_speed, 3),
            s.flags
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(";"),
            fmt_opt(s.in_flight, 3),
            format!("{:.4}", st.ci.coverage),
            s.failed_repetitions.to_string(),
            s.failure.clone().unwrap_or_default(),
            fmt_opt(s.speedup_ci.map(|c| c.coverage), 4),
            s.implementation.clone(),
        ]);
        rec
    });
    super::atomic::write_csv(path, &header(axes), records)
}

/// Reads a summary.csv as written, by any version: the intervals of files written before
/// them are the min and max, and columns they lack are empty. Returns its axes and rows.
pub fn read(path: &Path) -> anyhow::Result<(Vec<String>, Vec<SummaryRow>)> {
    super::csv_file::read_typed(path, ("workers", "n"), |r, axes| {
        let median = r.number("median_s")?;
        let min = r.number("min_s")?;
        let max = r.number("max_s")?;
        let ci = MedianCi {
            low: r.optional("median_ci_low_s").unwrap_or(min),
            high: r.optional("median_ci_high_s").unwrap_or(max),
            // Files written before the column: the coverage their count of repetitions gives.
            coverage: r.optional("ci_coverage").unwrap_or_else(|| {
                super::stats::median_coverage(r.number("n").unwrap_or(0.0) as usize)
            }),
        };
        let check = r.text("check");
        Ok(SummaryRow {
            id: CellId::read(r, axes)?,
            stats: Stats {
                n: r.number("n")? as usize,
                median,
                mean: r.optional("mean_s").unwrap_or(median),
                stddev: r.optional("stddev_s").unwrap_or(0.0),
                min,
                max,
                cv: r.optional("cv").unwrap_or(0.0),
                outliers: r.optional("outliers").unwrap_or(0.0) as usize,
                ci,
            },
            speedup: r.optional("speedup"),
            efficiency: r.optional("efficiency"),
            ideal_s: r.optional("ideal_s"),
            vs_ideal: r.optional("vs_ideal"),
            user_s: r.optional("user_s").unwrap_or(0.0),
            sys_s: r.optional("sys_s").unwrap_or(0.0),
            cpu_util: r.optional("cpu_util").unwrap_or(0.0),
            check: Check::parse(&check)
                .ok_or_else(|| anyhow::anyhow!("column check: \"{check}\" is not a check"))?,
            detail: String::new(),
            fingerprint: None,
            // Written before its coverage was: the extremes of two min–max intervals.
            speedup_ci: r
                .optional("speedup_ci_low")
                .zip(r.optional("speedup_ci_high"))
                .map(|(low, high)| MedianCi {
                    low,
                    high,
                    coverage: r.optional("speedup_ci_coverage").unwrap_or(0.0),
                }),
            parallelism: r.optional("parallelism").unwrap_or(f64::NAN),
            in_flight: r.optional("in_flight"),
            core_speed: r.optional("core_speed"),
            baseline_core_speed: None,
            baseline_parallelism: None,
            flags: r.text("flags").split(';').filter_map(Flag::parse).collect(),
            failed_repetitions: r.optional("failed_repetitions").unwrap_or(0.0) as usize,
            failure: Some(r.text("failure")).filter(|f| !f.is_empty()),
            implementation: r.text("implementation"),
            baseline: String::new(),
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_summary_from_before_intervals_reads_its_min_and_max_as_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.csv");
        std::fs::write(
            &path,
            "experiment,cell,workload,model,workers,sync,n,median_s,mean_s,stddev_s,min_s,max_s,cv,speedup,efficiency,ideal_s,vs_ideal,user_s,sys_s,cpu_util,check,outliers\n\
             e,c1,counter,threads,4,mutex,3,1.0,1.0,0.1,0.9,1.2,0.1,2.000,0.5,,,0.5,0.1,0.3,pass,0\n",
        )
        .unwrap();
        let (axes, rows) = super::read(&path).unwrap();
        assert_eq!(axes, ["sync"]);
        let r = &rows[0];
        assert_eq!((r.model.as_str(), r.workers), ("threads", 4));
        assert_eq!(r.axes, [("sync".to_string(), "mutex".to_string())]);
        assert_eq!((r.stats.ci.low, r.stats.ci.high), (0.9, 1.2));
        assert_eq!((r.speedup, r.ideal_s), (Some(2.0), None));
        assert!(r.flags.is_empty());
    }
}
