//! Statistics of each cell from its repetitions: the summary rows, with speedups over
//! the model's baseline, the digests reconciled across models, and the flags.

use std::collections::{HashMap, HashSet};

use super::cell::CellId;
use super::digests;
use super::flags::{
    BELOW_IDEAL, BEYOND_CORES_MARGIN, FEW_REPETITIONS, Flag, IMPOSSIBLE_CPU_MARGIN,
    NOISY_HALF_WIDTH, SLOWED, SLOWED_MIN_MEDIAN_S,
};
use super::runs::{RunRow, of_latest_implementation};
use super::stats::{Stats, median, stats};
use super::summary::SummaryRow;
use crate::model::kind::Baselines;
use crate::workload::Check;

/// A repetition stopped by its timeout: it counts as (at least) the timeout in its
/// cell's times, never dropped.
fn timed_out(detail: &str) -> bool {
    detail.starts_with("timeout after")
}

/// A row as its cell's summary counts it: its own check, or `fail` when its digest lost
/// the vote (runs.csv keeps what the repetition saw alone).
struct Counted<'a> {
    row: &'a RunRow,
    check: Check,
    detail: &'a str,
}

/// CPU time another program reported that no machine of `cores` could give in the wall
/// time. conclab's own models are measured by conclab, so only outsiders are bounded.
fn impossible_cpu(r: &RunRow, cores: usize) -> bool {
    let outsider = crate::model::ModelKind::from_name(&r.model).is_none();
    outsider && r.user_s + r.sys_s > r.wall_s * cores.max(1) as f64 * IMPOSSIBLE_CPU_MARGIN
}

/// Summarises the rows of the cells listed in `cells` (ids, in display order); rows of
/// other cells are ignored.
pub fn summarize(
    cells: &[String],
    rows: &[RunRow],
    cores: usize,
    baselines: &Baselines,
) -> Vec<SummaryRow> {
    let mut of_cell: HashMap<&str, Vec<&RunRow>> =
        cells.iter().map(|c| (c.as_str(), Vec::new())).collect();
    for r in rows {
        if let Some(v) = of_cell.get_mut(r.cell.as_str()) {
            v.push(r);
        }
    }
    // Rows another implementation left behind a cell's id neither pool nor vote.
    let mut implementation_of: HashMap<&str, String> = HashMap::new();
    let mut mine: Vec<&RunRow> = Vec::new();
    for id in cells {
        let (implementation, kept) = of_latest_implementation(&of_cell[id.as_str()]);
        implementation_of.insert(id.as_str(), implementation);
        mine.extend(kept);
    }
    let votes: Vec<_> = mine
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let fingerprint = r.fingerprint.as_deref()?;
            Some((
                i,
                (r.workload.as_str(), r.axes.as_slice()),
                digests::Vote {
                    cell: &r.cell,
                    model: &r.model,
                    fingerprint,
                },
            ))
        })
        .collect();
    let judged = digests::judge(&votes);
    let mut by_cell: HashMap<&str, Vec<Counted>> =
        cells.iter().map(|c| (c.as_str(), Vec::new())).collect();
    for (i, r) in mine.iter().enumerate() {
        let (check, detail) = match judged.wrong.get(&i) {
            Some(why) => (Check::Fail, why.as_str()),
            None => (r.check, r.detail.as_str()),
        };
        by_cell
            .get_mut(r.cell.as_str())
            .expect("listed")
            .push(Counted {
                row: r,
                check,
                detail,
            });
    }
    // One reference for every cell: the best single-thread hash time the runs calibrated.
    let best_ns_per_hash = mine
        .iter()
        .filter_map(|r| r.calibrated_ns_per_hash)
        .filter(|v| *v > 0.0)
        .fold(None, |best: Option<f64>, v| {
            Some(best.map_or(v, |b| b.min(v)))
        });
    let mut out = Vec::new();
    // The repetitions whose times a cell's median is of, by repetition: the speedup's
    // interval pairs them with the baseline's of the same round.
    let mut timed_by_cell: HashMap<&str, Vec<(usize, f64)>> = HashMap::new();
    for id in cells {
        let mut all: Vec<&Counted> = by_cell[id.as_str()].iter().collect();
        all.sort_by_key(|c| c.row.repetition);
        let failed: Vec<&Counted> = all
            .iter()
            .copied()
            .filter(|c| c.check == Check::Fail)
            .collect();
        let good: Vec<&RunRow> = all
            .iter()
            .filter(|c| c.check != Check::Fail)
            .map(|c| c.row)
            .collect();
        // Times: the good repetitions and the timed-out ones (as the timeout); a cell that
        // never passed shows its failed repetitions' times.
        let mut timed: Vec<&RunRow> = all
            .iter()
            .filter(|c| c.check != Check::Fail || timed_out(c.detail))
            .map(|c| c.row)
            .collect();
        if timed.is_empty() {
            timed = all.iter().map(|c| c.row).collect();
        }
        // The rest only from repetitions that did all their work.
        let used: &[&RunRow] = if good.is_empty() { &timed } else { &good };
        let Some(first) = all.first() else { continue };
        let walls: Vec<f64> = timed.iter().map(|r| r.wall_s).collect();
        timed_by_cell.insert(
            id.as_str(),
            timed
                .iter()
                .map(|r| (r.repetition as usize, r.wall_s))
                .collect(),
        );
        let Some(st) = stats(&walls) else { continue };
        let ideal_s =
            median(&used.iter().filter_map(|r| r.ideal_s).collect::<Vec<_>>()).filter(|v| *v > 0.0);
        let impossible = used.iter().any(|r| impossible_cpu(r, cores));
        let busy: Vec<f64> = used
            .iter()
            .filter(|r| r.wall_s > 0.0)
            .map(|r| (r.user_s + r.sys_s) / r.wall_s)
            .collect();
        // No cores busy are derived from CPU time no machine could give.
        let parallelism = if impossible {
            f64::NAN
        } else {
            median(&busy).unwrap_or(0.0)
        };
        let cpu_ns_per_hash: Vec<f64> = used
            .iter()
            .filter_map(|r| r.hashes.filter(|h| *h > 0).map(|h| (r, h)))
            .map(|(r, h)| (r.user_s + r.sys_s) * 1e9 / h as f64)
            .collect();
        let core_speed = best_ns_per_hash
            .zip(median(&cpu_ns_per_hash))
            .filter(|(_, m)| *m > 0.0 && !impossible)
            .map(|(best, m)| best / m);
        let in_flight = median(&used.iter().filter_map(|r| r.in_flight).collect::<Vec<_>>());
        let failure = failed.first().map(|c| c.detail.to_string());
        let (mut check, mut detail) = if failed.len() == all.len() {
            (Check::Fail, failure.clone().unwrap_or_default())
        } else if !failed.is_empty() {
            (Check::Flaky, failure.clone().unwrap_or_default())
        } else {
            let check = good.iter().map(|r| r.check).max().unwrap_or(Check::Pass);
            let decided = good.iter().rev().find(|r| r.check == check);
            (check, decided.map(|r| r.detail.clone()).unwrap_or_default())
        };
        if let Some(why) = judged.disputed.get(id.as_str())
            && check != Check::Fail
        {
            check = Check::Disputed;
            detail = why.clone();
        }
        let fingerprint = good.iter().rev().find_map(|r| r.fingerprint.clone());
        out.push(SummaryRow {
            id: CellId {
                cell: id.clone(),
                ..first.row.id.clone()
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
            flags: if impossible {
                vec![Flag::Impossible]
            } else {
                Vec::new()
            },
            failed_repetitions: failed.len(),
            failure,
            implementation: implementation_of.remove(id.as_str()).unwrap_or_default(),
            baseline: String::new(),
        });
    }
    // Speedup is against the sequential cell of the model's runtime (see
    // [`Baselines`]) with the same values of the extra axes; a sequential cell that
    // never passed is no baseline.
    type Key = (String, Vec<(String, String)>);
    // A model named as a baseline with several worker counts (a model of the user's own
    // may be its own baseline) is measured at its fewest.
    let named: HashSet<&str> = out
        .iter()
        .filter_map(|s| baselines.of_model(&s.model))
        .collect();
    let mut fewest: HashMap<Key, &SummaryRow> = HashMap::new();
    for s in out
        .iter()
        .filter(|s| named.contains(s.model.as_str()) && s.check != Check::Fail)
    {
        let slot = fewest.entry((s.model.clone(), s.axes.clone())).or_insert(s);
        if s.workers < slot.workers {
            *slot = s;
        }
    }
    let measured: HashMap<Key, (Stats, Option<f64>, f64, String)> = fewest
        .into_iter()
        .map(|(key, s)| {
            let base = (s.stats.clone(), s.core_speed, s.parallelism, s.cell.clone());
            (key, base)
        })
        .collect();
    // Repetition k of a cell and of its baseline ran in the same round: they pair.
    let repetitions =
        |cell: &str| -> Vec<(usize, f64)> { timed_by_cell.get(cell).cloned().unwrap_or_default() };
    for s in &mut out {
        s.baseline = baselines.of_model(&s.model).unwrap_or_default().to_string();
        let key = (s.baseline.clone(), s.axes.clone());
        if let Some((base, base_speed, base_busy, base_cell)) = measured.get(&key)
            && s.stats.median > 0.0
        {
            let speedup = base.median / s.stats.median;
            s.speedup = Some(speedup);
            s.efficiency = Some(speedup / s.workers.max(1) as f64);
            s.speedup_ci = super::intervals::speedup_interval(
                &repetitions(base_cell),
                &repetitions(&s.cell),
                &base.ci,
                &s.stats.ci,
            );
            s.baseline_core_speed = *base_speed;
            s.baseline_parallelism = Some(*base_busy).filter(|b| b.is_finite());
        }
        let mut flags = flags_of(s, cores);
        flags.append(&mut s.flags);
        flags.sort();
        flags.dedup();
        s.flags = flags;
    }
    out
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
        .is_some_and(|k| k.work == crate::workload::params::Work::Computes);
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
    // Under SLOWED_MIN_MEDIAN_S a process's start-up is a large part of its CPU time, so
    // a low core speed says nothing about the cores.
    if s.core_speed.is_some_and(|c| c < SLOWED) && st.median >= SLOWED_MIN_MEDIAN_S {
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
    fn failed_repetitions_are_counted_and_make_a_cell_flaky_or_failed() {
        let rows = vec![
            row("a", "async", 1, 5.0, Check::Fail),
            row("a", "async", 1, 1.0, Check::Pass),
            row("b", "async", 2, 3.0, Check::Fail),
        ];
        let s = summarize(&["a".into(), "b".into()], &rows, 2, &Baselines::default());
        assert_eq!(
            (s[0].stats.n, s[0].check, s[0].failed_repetitions),
            (1, Check::Flaky, 1),
            "a failure that is no timeout is left out of the times, not of the count"
        );
        assert_eq!(
            (s[1].stats.n, s[1].check, s[1].failed_repetitions),
            (1, Check::Fail, 1)
        );
        assert_eq!(s[0].speedup, None, "no sequential cell, no speedup");
    }

    #[test]
    fn a_timed_out_repetition_counts_as_the_timeout() {
        let mut late = row("a", "async", 1, 10.0, Check::Fail);
        late.detail = "timeout after 10s (1 of 4 tasks finished)".into();
        late.repetition = 2;
        let mut rows = vec![row("a", "async", 1, 1.0, Check::Pass), late];
        rows.push(row("a", "async", 1, 1.2, Check::Pass));
        let s = summarize(&["a".into()], &rows, 2, &Baselines::default());
        assert_eq!((s[0].stats.n, s[0].stats.max), (3, 10.0));
        assert_eq!((s[0].check, s[0].failed_repetitions), (Check::Flaky, 1));
        assert_eq!(
            s[0].failure.as_deref(),
            Some("timeout after 10s (1 of 4 tasks finished)")
        );
    }

    #[test]
    fn cpu_time_beyond_the_cores_is_flagged_and_derives_nothing() {
        let mut r = row("x", "ext", 1, 1.0, Check::Pass);
        r.user_s = 3.05;
        let s = summarize(&["x".into()], &[r], 2, &Baselines::default());
        assert!(s[0].flags.contains(&Flag::Impossible), "{:?}", s[0].flags);
        assert_eq!(s[0].cores_busy(), None);
    }

    fn chain(cell: &str, model: &str, repetition: u32, fp: &str) -> RunRow {
        let mut r = row(cell, model, 1, 1.0, Check::Pass);
        r.id.workload = "hash_chain".into();
        r.repetition = repetition;
        r.detail = format!("digest {fp}");
        r.fingerprint = Some(fp.into());
        r
    }

    fn verdicts(cells: &[String], rows: &[RunRow]) -> Vec<(String, Check, usize, String)> {
        let mut v: Vec<_> = summarize(cells, rows, 2, &Baselines::default())
            .into_iter()
            .map(|s| (s.cell.clone(), s.check, s.failed_repetitions, s.detail))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Every ordering of `items`, by Heap's algorithm.
    fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
        fn heap<T: Clone>(k: usize, a: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
            if k <= 1 {
                out.push(a.clone());
                return;
            }
            for i in 0..k {
                heap(k - 1, a, out);
                let j = if k.is_multiple_of(2) { i } else { 0 };
                a.swap(j, k - 1);
            }
        }
        let mut out = Vec::new();
        heap(items.len(), &mut items.to_vec(), &mut out);
        out
    }

    #[test]
    fn digest_verdicts_do_not_depend_on_the_model_list_or_the_running_order() {
        // Case 1 of issue 17 (a model wrong every time, listed first), case 2 (a model
        // wrong one time in three) and a tie with no baseline, in one set of rows.
        let cases: Vec<Vec<RunRow>> = vec![
            (1..=3)
                .flat_map(|k| {
                    [
                        chain("w", "wrong", k, "bad"),
                        chain("t", "thread_pool", k, "good"),
                        chain("r", "rayon", k, "good"),
                    ]
                })
                .collect(),
            (1..=3)
                .flat_map(|k| {
                    [
                        chain("x", "ext", k, if k == 2 { "bad" } else { "good" }),
                        chain("t", "thread_pool", k, "good"),
                    ]
                })
                .collect(),
            vec![chain("a", "rayon", 1, "x"), chain("b", "async", 1, "y")],
        ];
        for rows in cases {
            let mut cells: Vec<String> = rows.iter().map(|r| r.cell.clone()).collect();
            cells.sort();
            cells.dedup();
            let expected = verdicts(&cells, &rows);
            for order in permutations(&cells) {
                // The rows run in the order of the model list, round by round.
                let mut ran = rows.clone();
                ran.sort_by_key(|r| (r.repetition, order.iter().position(|c| *c == r.cell)));
                assert_eq!(verdicts(&order, &ran), expected, "{order:?}");
                ran.reverse();
                assert_eq!(verdicts(&order, &ran), expected, "{order:?} reversed");
            }
        }
    }

    #[test]
    fn the_wrong_model_fails_and_the_right_ones_pass() {
        let rows: Vec<RunRow> = (1..=3)
            .flat_map(|k| {
                [
                    chain("w", "wrong", k, "bad"),
                    chain("t", "thread_pool", k, "good"),
                    chain("r", "rayon", k, "good"),
                    chain("x", "ext", k, if k == 2 { "bad" } else { "good" }),
                ]
            })
            .collect();
        let cells: Vec<String> = ["w", "t", "r", "x"].map(String::from).to_vec();
        let s = summarize(&cells, &rows, 2, &Baselines::default());
        let checks: Vec<(Check, usize, usize)> = s
            .iter()
            .map(|s| (s.check, s.stats.n, s.failed_repetitions))
            .collect();
        assert_eq!(
            checks,
            [
                (Check::Fail, 3, 3),
                (Check::Pass, 3, 0),
                (Check::Pass, 3, 0),
                (Check::Flaky, 2, 1),
            ]
        );
        assert!(
            s[0].detail
                .contains("differs from good, reached by 3 of 4 models (ext, rayon, thread_pool)"),
            "{}",
            s[0].detail
        );
    }

    #[test]
    fn a_tie_without_a_baseline_is_disputed_and_names_both() {
        let rows = vec![chain("a", "rayon", 1, "x"), chain("b", "async", 1, "y")];
        let s = summarize(&["a".into(), "b".into()], &rows, 2, &Baselines::default());
        for r in &s {
            assert_eq!(r.check, Check::Disputed);
            assert!(r.detail.contains("x (rayon); y (async)"), "{}", r.detail);
        }
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
