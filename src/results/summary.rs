//! `summary.csv`: one row per cell, with statistics, speedup over sequential and the ideal.

use std::path::Path;

use anyhow::Context;

use super::runs::RunRow;
use super::stats::{Stats, median, stats};
use super::{fmt_opt, fmt_s};
use crate::workload::Check;

#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub experiment: String,
    pub cell: String,
    pub workload: String,
    pub model: String,
    pub workers: usize,
    pub axes: Vec<(String, String)>,
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
}

/// The rows that count for a cell: its passing (or racing) repetitions, or if it never
/// passed, its failed ones so the failure shows.
fn counted<'a>(rows: &[&'a RunRow]) -> Vec<&'a RunRow> {
    let good: Vec<&RunRow> = rows
        .iter()
        .copied()
        .filter(|r| r.check != Check::Fail)
        .collect();
    if good.is_empty() { rows.to_vec() } else { good }
}

/// Summarises the rows of the cells listed in `cells` (ids, in display order); rows of
/// other cells are ignored.
pub fn summarize(cells: &[String], rows: &[RunRow], cores: usize) -> Vec<SummaryRow> {
    let by_cell = |id: &str| -> Vec<&RunRow> { rows.iter().filter(|r| r.cell == id).collect() };
    let mut out = Vec::new();
    for id in cells {
        let all = by_cell(id);
        let used = counted(&all);
        let Some(first) = used.first() else { continue };
        let walls: Vec<f64> = used.iter().map(|r| r.wall_s).collect();
        let Some(st) = stats(&walls) else { continue };
        let ideal_s =
            median(&used.iter().filter_map(|r| r.ideal_s).collect::<Vec<_>>()).filter(|v| *v > 0.0);
        let util: Vec<f64> = used
            .iter()
            .map(|r| (r.user_s + r.sys_s) / (r.wall_s * cores.max(1) as f64))
            .collect();
        let check = used.iter().map(|r| r.check).max().unwrap_or(Check::Pass);
        let detail = used
            .iter()
            .rev()
            .find(|r| r.check == check)
            .map(|r| r.detail.clone())
            .unwrap_or_default();
        out.push(SummaryRow {
            experiment: first.experiment.clone(),
            cell: id.clone(),
            workload: first.workload.clone(),
            model: first.model.clone(),
            workers: first.workers,
            axes: first.axes.clone(),
            speedup: None,
            efficiency: None,
            vs_ideal: ideal_s.map(|i| st.median / i),
            ideal_s,
            user_s: median(&used.iter().map(|r| r.user_s).collect::<Vec<_>>()).unwrap_or(0.0),
            sys_s: median(&used.iter().map(|r| r.sys_s).collect::<Vec<_>>()).unwrap_or(0.0),
            cpu_util: median(&util).unwrap_or(0.0),
            check,
            detail,
            stats: st,
        });
    }
    // Speedup is against the sequential cell with the same values of the extra axes.
    let baselines: Vec<(Vec<(String, String)>, f64)> = out
        .iter()
        .filter(|s| s.model == "sequential")
        .map(|s| (s.axes.clone(), s.stats.median))
        .collect();
    for s in &mut out {
        if let Some((_, base)) = baselines.iter().find(|(axes, _)| *axes == s.axes)
            && s.stats.median > 0.0
        {
            let speedup = base / s.stats.median;
            s.speedup = Some(speedup);
            s.efficiency = Some(speedup / s.workers.max(1) as f64);
        }
    }
    out
}

pub fn header(axes: &[String]) -> Vec<String> {
    let lead = ["experiment", "cell", "workload", "model", "workers"];
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
    ];
    super::csv_file::header_with_axes(&lead, axes, &tail)
}

/// Rewrites summary.csv (it is derived from runs.csv, so replacing it loses nothing).
pub fn write(path: &Path, axes: &[String], rows: &[SummaryRow]) -> anyhow::Result<()> {
    let tmp = path.with_extension("csv.tmp");
    let mut w =
        csv::Writer::from_path(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    w.write_record(header(axes))?;
    for s in rows {
        let mut rec = vec![
            s.experiment.clone(),
            s.cell.clone(),
            s.workload.clone(),
            s.model.clone(),
            s.workers.to_string(),
        ];
        rec.extend(axes.iter().map(|a| {
            s.axes
                .iter()
                .find(|(k, _)| k == a)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        }));
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
        ]);
        w.write_record(rec)?;
    }
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cell: &str, model: &str, workers: usize, wall: f64, check: Check) -> RunRow {
        RunRow {
            experiment: "e".into(),
            cell: cell.into(),
            workload: "sleep".into(),
            model: model.into(),
            workers,
            axes: vec![],
            repetition: 1,
            wall_s: wall,
            setup_s: 0.0,
            user_s: wall,
            sys_s: 0.0,
            peak_rss_kib: None,
            tasks: 4,
            ok: 4,
            failed: 0,
            check,
            detail: String::new(),
            ideal_s: Some(0.5),
            task_p50_s: None,
            task_p99_s: None,
            started_at: String::new(),
            host: String::new(),
        }
    }

    #[test]
    fn speedup_efficiency_and_vs_ideal() {
        let rows = vec![
            row("s", "sequential", 1, 2.0, Check::Pass),
            row("s", "sequential", 1, 2.2, Check::Pass),
            row("s", "sequential", 1, 1.8, Check::Pass),
            row("p", "thread_pool", 2, 1.0, Check::Pass),
            row("gone", "thread_pool", 3, 9.0, Check::Pass),
        ];
        let s = summarize(&["s".into(), "p".into()], &rows, 2);
        assert_eq!(
            s.len(),
            2,
            "rows of cells no longer in the file are left out"
        );
        assert_eq!(s[0].stats.median, 2.0);
        assert_eq!(s[0].speedup, Some(1.0));
        assert_eq!(s[1].speedup, Some(2.0));
        assert_eq!(s[1].efficiency, Some(1.0));
        assert_eq!(s[1].vs_ideal, Some(2.0));
        assert!((s[1].cpu_util - 0.5).abs() < 1e-9);
    }

    #[test]
    fn failed_rows_count_only_when_nothing_passed() {
        let rows = vec![
            row("a", "async", 1, 5.0, Check::Fail),
            row("a", "async", 1, 1.0, Check::Pass),
            row("b", "async", 2, 3.0, Check::Fail),
        ];
        let s = summarize(&["a".into(), "b".into()], &rows, 2);
        assert_eq!((s[0].stats.n, s[0].check), (1, Check::Pass));
        assert_eq!((s[1].stats.n, s[1].check), (1, Check::Fail));
        assert_eq!(s[0].speedup, None, "no sequential cell, no speedup");
    }
}
