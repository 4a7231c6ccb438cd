//! Statistics of each cell from its repetitions: the summary rows, with speedups over
//! the model's baseline, the digests reconciled across models, and the flags.

use std::collections::HashMap;

use super::cell::CellId;
use super::digests;
use super::flags::{
    BELOW_IDEAL, BEYOND_CORES_MARGIN, FEW_REPETITIONS, Flag, NOISY_HALF_WIDTH, SLOWED,
};
use super::runs::{RunRow, of_latest_implementation};
use super::stats::{Stats, median, ratio_interval, stats};
use super::summary::SummaryRow;
use crate::model::kind::Baselines;
use crate::workload::Check;

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
pub fn summarize(
    cells: &[String],
    rows: &[RunRow],
    cores: usize,
    baselines: &Baselines,
) -> Vec<SummaryRow> {
    let mut by_cell: HashMap<&str, Vec<&RunRow>> =
        cells.iter().map(|c| (c.as_str(), Vec::new())).collect();
    for r in rows {
        if let Some(v) = by_cell.get_mut(r.cell.as_str()) {
            v.push(r);
        }
    }
    // One reference for every cell: the best single-thread hash time the runs calibrated.
    let best_ns_per_hash = by_cell
        .values()
        .flatten()
        .filter_map(|r| r.calibrated_ns_per_hash)
        .filter(|v| *v > 0.0)
        .fold(None, |best: Option<f64>, v| {
            Some(best.map_or(v, |b| b.min(v)))
        });
    let mut out = Vec::new();
    for id in cells {
        let (implementation, all) = of_latest_implementation(&by_cell[id.as_str()]);
        let used = counted(&all);
        let Some(first) = used.first() else { continue };
        let walls: Vec<f64> = used.iter().map(|r| r.wall_s).collect();
        let Some(st) = stats(&walls) else { continue };
        let ideal_s =
            median(&used.iter().filter_map(|r| r.ideal_s).collect::<Vec<_>>()).filter(|v| *v > 0.0);
        let busy: Vec<f64> = used
            .iter()
            .filter(|r| r.wall_s > 0.0)
            .map(|r| (r.user_s + r.sys_s) / r.wall_s)
            .collect();
        let parallelism = median(&busy).unwrap_or(0.0);
        let cpu_ns_per_hash: Vec<f64> = used
            .iter()
            .filter_map(|r| r.hashes.filter(|h| *h > 0).map(|h| (r, h)))
            .map(|(r, h)| (r.user_s + r.sys_s) * 1e9 / h as f64)
            .collect();
        let core_speed = best_ns_per_hash
            .zip(median(&cpu_ns_per_hash))
            .filter(|(_, m)| *m > 0.0)
            .map(|(best, m)| best / m);
        let in_flight = median(&used.iter().filter_map(|r| r.in_flight).collect::<Vec<_>>());
        let check = used.iter().map(|r| r.check).max().unwrap_or(Check::Pass);
        let decided = used.iter().rev().find(|r| r.check == check);
        let detail = decided.map(|r| r.detail.clone()).unwrap_or_default();
        let fingerprint = decided.and_then(|r| r.fingerprint.clone());
        out.push(SummaryRow {
            id: CellId {
                cell: id.clone(),
                ..first.id.clone()
            },
            speedup: None,
            efficiency: None,
            vs_ideal: ideal_s.map(|i| st.median / i),
            ideal_s,
            user_s: median(&used.iter().map(|r| r.user_s).collect::<Vec<_>>()).unwrap_or(0.0),
            sys_s: median(&used.iter().map(|r| r.sys_s).collect::<Vec<_>>()).unwrap_or(0.0),
            cpu_util: parallelism / cores.max(1) as f64,
            check,
            detail,
            fingerprint,
            stats: st,
            speedup_ci: None,
            parallelism,
            in_flight,
            core_speed,
            baseline_core_speed: None,
            baseline_parallelism: None,
            flags: Vec::new(),
            implementation,
            baseline: String::new(),
        });
    }
    reconcile_digests(&mut out);
    // Speedup is against the sequential cell of the model's runtime (see
    // [`Baselines`]) with the same values of the extra axes; a sequential cell that
    // never passed is no baseline.
    type Key = (String, Vec<(String, String)>);
    let measured: HashMap<Key, (Stats, Option<f64>, f64)> = out
        .iter()
        .filter(|s| baselines.is_baseline(&s.model) && s.check != Check::Fail)
        .map(|s| {
            (
                (s.model.clone(), s.axes.clone()),
                (s.stats.clone(), s.core_speed, s.parallelism),
            )
        })
        .collect();
    for s in &mut out {
        s.baseline = baselines.of_model(&s.model).unwrap_or_default().to_string();
        let key = (s.baseline.clone(), s.axes.clone());
        if let Some((base, base_speed, base_busy)) = measured.get(&key)
            && s.stats.median > 0.0
        {
            let speedup = base.median / s.stats.median;
            s.speedup = Some(speedup);
            s.efficiency = Some(speedup / s.workers.max(1) as f64);
            s.speedup_ci = ratio_interval(&base.ci, &s.stats.ci);
            s.baseline_core_speed = *base_speed;
            s.baseline_parallelism = Some(*base_busy);
        }
        s.flags = flags_of(s, cores);
    }
    out
}

/// Cells of one workload configuration (same kind, same extra axes) must reach the same
/// digests: a cell that passed on its own but disagrees with the majority fails here, so
/// a wrong model that happened to run first cannot stand (see [`digests::reference`]).
fn reconcile_digests(out: &mut [SummaryRow]) {
    type Configuration<'a> = (&'a str, &'a [(String, String)]);
    let mut groups: HashMap<Configuration, Vec<usize>> = HashMap::new();
    for (i, s) in out.iter().enumerate() {
        if s.check == Check::Pass && s.fingerprint.is_some() {
            groups
                .entry((s.workload.as_str(), s.axes.as_slice()))
                .or_default()
                .push(i);
        }
    }
    let mut verdicts: Vec<(usize, String)> = Vec::new();
    for members in groups.values() {
        let votes: Vec<digests::Vote> = members
            .iter()
            .map(|&i| digests::Vote {
                cell: &out[i].cell,
                model: &out[i].model,
                fingerprint: out[i].fingerprint.as_deref().expect("grouped"),
            })
            .collect();
        let Some(reference) = digests::reference(&votes) else {
            continue;
        };
        for (&i, v) in members.iter().zip(&votes) {
            if v.fingerprint != reference {
                let why = digests::disagreement(v.fingerprint, reference, &votes);
                verdicts.push((i, format!("{}: {why}", v.model)));
            }
        }
    }
    for (i, detail) in verdicts {
        out[i].check = Check::Fail;
        out[i].detail = detail;
    }
}

/// The flags of one summary row; `speedup`, `vs_ideal` and `core_speed` already set.
pub fn flags_of(s: &SummaryRow, cores: usize) -> Vec<Flag> {
    let mut out = Vec::new();
    let st = &s.stats;
    if st.n >= 2 && st.ci.relative_half_width(st.median) > NOISY_HALF_WIDTH {
        out.push(Flag::Noisy);
    }
    // Only work that computes and nothing else is capped by the cores.
    let computes_only = crate::workload::kind(&s.workload)
        .is_some_and(|k| k.work == crate::experiment::params::Work::Computes);
    if computes_only
        && s.speedup
            .is_some_and(|x| x > cores.max(1) as f64 * BEYOND_CORES_MARGIN)
    {
        out.push(Flag::BeyondCores);
    }
    if s.vs_ideal.is_some_and(|v| v < BELOW_IDEAL) {
        out.push(Flag::BelowIdeal);
    }
    if st.n < FEW_REPETITIONS {
        out.push(Flag::FewRepetitions);
    }
    if s.core_speed.is_some_and(|c| c < SLOWED) {
        out.push(Flag::Slowed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cell: &str, model: &str, workers: usize, wall: f64, check: Check) -> RunRow {
        RunRow {
            id: CellId {
                experiment: "e".into(),
                cell: cell.into(),
                workload: "sleep".into(),
                model: model.into(),
                workers,
                axes: vec![],
            },
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
            in_flight: None,
            hashes: None,
            calibrated_ns_per_hash: None,
            fingerprint: None,
            implementation: String::new(),
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
        let s = summarize(&["s".into(), "p".into()], &rows, 2, &Baselines::default());
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
        let s = summarize(&["a".into(), "b".into()], &rows, 2, &Baselines::default());
        assert_eq!((s[0].stats.n, s[0].check), (1, Check::Pass));
        assert_eq!((s[1].stats.n, s[1].check), (1, Check::Fail));
        assert_eq!(s[0].speedup, None, "no sequential cell, no speedup");
    }

    #[test]
    fn a_failed_sequential_cell_is_no_baseline() {
        let rows = vec![
            row("s", "sequential", 1, 2.0, Check::Fail),
            row("p", "thread_pool", 2, 1.0, Check::Pass),
        ];
        let s = summarize(&["s".into(), "p".into()], &rows, 2, &Baselines::default());
        assert_eq!(s[1].speedup, None);
    }
}
