//! `claims.csv`: each claim of the experiment judged against the summary rows it selects.

use super::intervals::{DECISION_LEVEL, decides, fewest_deciding};
use super::stats::MedianCi;
use super::summary::SummaryRow;
use crate::experiment::claims::{Claim, Metric, Op, Target};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The whole interval is on the claimed side.
    Holds,
    /// The whole interval is on the other side.
    Fails,
    /// The interval straddles the bound, or there is nothing to judge yet.
    Unclear,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Fails => "fails",
            Verdict::Unclear => "unclear",
        }
    }
}

/// One row of `claims.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimResult {
    pub experiment: String,
    /// 1-based, in file order.
    pub claim: usize,
    pub say: String,
    pub cell: String,
    pub expect: String,
    pub value: String,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub verdict: Verdict,
    /// The least coverage of the intervals judged (one-sided, a verdict needs 95%).
    pub ci_coverage: Option<f64>,
}

impl SummaryRow {
    /// The value of a column a claim selects on: `model`, `workers` or an axis.
    pub fn column(&self, key: &str) -> Option<String> {
        match key {
            "model" => Some(self.model.clone()),
            "workers" => Some(self.workers.to_string()),
            _ => self
                .axes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone()),
        }
    }
}

/// A metric of one row: its value, interval and the interval's coverage; None when the
/// row lacks it (a speedup without a sequential baseline, a core speed of waiting work).
/// Cores busy and core speed are medians without an interval of their own: they are
/// judged as points, with the coverage the cell's count of repetitions gives its median.
fn measure(metric: Metric, r: &SummaryRow) -> Option<(f64, MedianCi)> {
    let ci = r.stats.ci;
    let point = |v: f64| MedianCi {
        low: v,
        high: v,
        coverage: ci.coverage,
    };
    match metric {
        Metric::Speedup => {
            let v = r.speedup?;
            Some((
                v,
                r.speedup_ci.unwrap_or(MedianCi {
                    coverage: 0.0,
                    ..point(v)
                }),
            ))
        }
        Metric::MedianS => Some((r.stats.median, ci)),
        // The ideal is a bound, not a measurement: the median's interval scaled by it.
        Metric::VsIdeal => {
            let ideal = r.ideal_s.filter(|i| *i > 0.0)?;
            Some((
                r.stats.median / ideal,
                MedianCi {
                    low: ci.low / ideal,
                    high: ci.high / ideal,
                    coverage: ci.coverage,
                },
            ))
        }
        Metric::Parallelism => Some((r.parallelism, point(r.parallelism))),
        Metric::CoreSpeed => r.core_speed.map(|v| (v, point(v))),
        Metric::Check => None,
    }
}

/// Why an interval too short of 95% decides nothing: `unclear: n=3 (needs 5 for 95%)`.
fn short_of_decision(n: usize) -> String {
    format!(
        "unclear: n={n} (needs {} for {:.0}%)",
        fewest_deciding(),
        DECISION_LEVEL * 100.0
    )
}

/// Where the interval `[lo, hi]` lies against `op target`.
pub fn judge_interval(lo: f64, hi: f64, op: Op, target: f64) -> Verdict {
    let (holds, fails) = match op {
        Op::Ge => (lo >= target, hi < target),
        Op::Gt => (lo > target, hi <= target),
        Op::Le => (hi <= target, lo > target),
        Op::Lt => (hi < target, lo >= target),
        Op::Eq => (lo == target && hi == target, target < lo || target > hi),
    };
    if holds {
        Verdict::Holds
    } else if fails {
        Verdict::Fails
    } else {
        Verdict::Unclear
    }
}

fn number(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// One claim against the summary: holds only if it holds for every selected cell; fails
/// if it fails for any.
pub fn judge(experiment: &str, index: usize, claim: &Claim, rows: &[SummaryRow]) -> ClaimResult {
    let selected: Vec<&SummaryRow> = rows
        .iter()
        .filter(|r| claim.selects(|k| r.column(k)))
        .collect();
    let mut verdicts = Vec::new();
    let mut values = Vec::new();
    let (mut low, mut high): (Option<f64>, Option<f64>) = (None, None);
    let mut coverage: Option<f64> = None;
    for r in &selected {
        let (verdict, shown) = match (claim.metric, claim.target) {
            (Metric::Check, Target::Check(want)) => {
                let v = if r.check == want {
                    Verdict::Holds
                } else {
                    Verdict::Fails
                };
                (v, r.check.as_str().to_string())
            }
            // A figure that leaves out failed repetitions cannot support a claim.
            (_, Target::Number(_)) if r.failed_repetitions > 0 => (
                Verdict::Unclear,
                format!(
                    "{} of its repetitions failed ({})",
                    r.failed_repetitions,
                    r.check.as_str()
                ),
            ),
            (metric, Target::Number(t)) => match measure(metric, r) {
                Some((v, ci)) => {
                    low = Some(low.map_or(ci.low, |l| l.min(ci.low)));
                    high = Some(high.map_or(ci.high, |h| h.max(ci.high)));
                    coverage = Some(coverage.map_or(ci.coverage, |c| c.min(ci.coverage)));
                    // A verdict only where the interval covers at least 95% one-sided.
                    if decides(ci.coverage) {
                        (judge_interval(ci.low, ci.high, claim.op, t), number(v))
                    } else {
                        (
                            Verdict::Unclear,
                            format!("{}; {}", number(v), short_of_decision(r.stats.n)),
                        )
                    }
                }
                None => (Verdict::Unclear, "-".to_string()),
            },
            _ => (Verdict::Unclear, "-".to_string()),
        };
        verdicts.push(verdict);
        values.push(if selected.len() > 1 {
            format!("{} {}", r.label(), shown)
        } else {
            shown
        });
    }
    let verdict = if verdicts.is_empty() {
        Verdict::Unclear
    } else if verdicts.contains(&Verdict::Fails) {
        Verdict::Fails
    } else if verdicts.contains(&Verdict::Unclear) {
        Verdict::Unclear
    } else {
        Verdict::Holds
    };
    let value = match selected.len() {
        0 => "no results yet".to_string(),
        1 => values.remove(0),
        n => {
            let held = verdicts.iter().filter(|v| **v == Verdict::Holds).count();
            format!("{}; holds for {held} of {n} cells", values.join("; "))
        }
    };
    ClaimResult {
        experiment: experiment.to_string(),
        claim: index + 1,
        say: claim.say.clone(),
        cell: claim.cell_text(),
        expect: claim.expect_text(),
        value,
        ci_low: low,
        ci_high: high,
        verdict,
        ci_coverage: coverage,
    }
}

pub fn judge_all(experiment: &str, claims: &[Claim], rows: &[SummaryRow]) -> Vec<ClaimResult> {
    claims
        .iter()
        .enumerate()
        .map(|(i, c)| judge(experiment, i, c, rows))
        .collect()
}

/// "4 of 4 claims hold", with the others counted.
pub fn one_line(results: &[ClaimResult]) -> String {
    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
    if results.is_empty() {
        return "no claims".to_string();
    }
    let mut s = format!(
        "{} of {} claim{} hold",
        count(Verdict::Holds),
        results.len(),
        if results.len() == 1 { "" } else { "s" }
    );
    for v in [Verdict::Fails, Verdict::Unclear] {
        let n = count(v);
        if n > 0 {
            s.push_str(&format!(", {n} {}", v.as_str()));
        }
    }
    s
}

pub const HEADER: &[&str] = &[
    "experiment",
    "claim",
    "say",
    "cell",
    "expect",
    "value",
    "ci_low",
    "ci_high",
    "verdict",
    "ci_coverage",
];

/// Rewrites claims.csv (derived from the summary, so replacing it loses nothing).
pub fn write(path: &Path, results: &[ClaimResult]) -> anyhow::Result<()> {
    let header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    let records = results.iter().map(|r| {
        [
            r.experiment.clone(),
            r.claim.to_string(),
            r.say.clone(),
            r.cell.clone(),
            r.expect.clone(),
            r.value.clone(),
            super::fmt_opt(r.ci_low, 6),
            super::fmt_opt(r.ci_high, 6),
            r.verdict.as_str().to_string(),
            super::fmt_opt(r.ci_coverage, 4),
        ]
    });
    super::atomic::write_csv(path, &header, records)
}

/// The verdict column of a `claims.csv` (for index.md); empty when there is none.
pub fn read_verdicts(path: &Path) -> Vec<Verdict> {
    let Ok(mut r) = csv::Reader::from_path(path) else {
        return Vec::new();
    };
    let Ok(headers) = r.headers().cloned() else {
        return Vec::new();
    };
    let Some(col) = headers.iter().position(|h| h == "verdict") else {
        return Vec::new();
    };
    r.records()
        .filter_map(|rec| rec.ok())
        .filter_map(|rec| match rec.get(col) {
            Some("holds") => Some(Verdict::Holds),
            Some("fails") => Some(Verdict::Fails),
            Some("unclear") => Some(Verdict::Unclear),
            _ => None,
        })
        .collect()
}

/// Verdict lines printed after the table.
pub fn print(results: &[ClaimResult]) {
    if results.is_empty() {
        return;
    }
    crate::console::say(&format!("  claims: {}", one_line(results)));
    for r in results {
        crate::console::say(&format!(
            "    {:<7} {}: {} {} ({})",
            r.verdict.as_str(),
            r.say,
            r.cell,
            r.expect,
            r.value
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::claims::{Selector, parse_expect};
    use crate::results::stats::{MedianCi, Stats};
    use crate::workload::Check;

    fn row(model: &str, workers: usize, median: f64, ci: (f64, f64)) -> SummaryRow {
        SummaryRow {
            id: crate::results::cell::CellId {
                experiment: "e".into(),
                cell: format!("{model}{workers}"),
                workload: "sleep".into(),
                model: model.into(),
                workers,
                axes: vec![("sync".into(), "none".into())],
            },
            stats: Stats {
                n: 6,
                median,
                mean: median,
                stddev: 0.0,
                min: ci.0,
                max: ci.1,
                cv: 0.0,
                outliers: 0,
                ci: MedianCi {
                    low: ci.0,
                    high: ci.1,
                    coverage: 0.96875,
                },
            },
            speedup: None,
            efficiency: None,
            ideal_s: Some(0.5),
            vs_ideal: Some(median / 0.5),
            user_s: 0.0,
            sys_s: 0.0,
            cpu_util: 0.0,
            check: Check::Pass,
            detail: String::new(),
            fingerprint: None,
            speedup_ci: None,
            parallelism: 0.4,
            in_flight: None,
            core_speed: None,
            baseline_core_speed: None,
            baseline_parallelism: None,
            flags: vec![],
            failed_repetitions: 0,
            failure: None,
            implementation: String::new(),
            baseline: String::new(),
        }
    }

    #[test]
    fn a_cell_with_a_failed_repetition_holds_no_claim() {
        let mut flaky = row("pool", 5, 0.55, (0.52, 0.6));
        flaky.check = Check::Flaky;
        flaky.failed_repetitions = 1;
        let rows = [flaky];
        let j = |e: &str| judge("e", 0, &claim(&[("model", "pool")], e), &rows);
        let r = j("median_s < 0.7");
        assert_eq!(r.verdict, Verdict::Unclear);
        assert_eq!(r.value, "1 of its repetitions failed (flaky)");
        assert_eq!(j("check == pass").verdict, Verdict::Fails);
    }

    fn claim(cell: &[(&str, &str)], expect: &str) -> Claim {
        let (metric, op, target) = parse_expect(expect).unwrap();
        Claim {
            say: "s".into(),
            cell: cell
                .iter()
                .map(|(k, v)| Selector {
                    key: k.to_string(),
                    text: v.to_string(),
                    value: crate::workload::params::ParamValue::Str(v.to_string()),
                })
                .collect(),
            metric,
            op,
            target,
        }
    }

    fn with_speedup(mut r: SummaryRow, v: f64, lo: f64, hi: f64) -> SummaryRow {
        r.speedup = Some(v);
        r.speedup_ci = Some(MedianCi {
            low: lo,
            high: hi,
            coverage: r.stats.ci.coverage,
        });
        r
    }

    #[test]
    fn an_interval_decides_by_where_it_lies() {
        assert_eq!(judge_interval(1.7, 1.9, Op::Ge, 1.6), Verdict::Holds);
        assert_eq!(judge_interval(1.5, 1.9, Op::Ge, 1.6), Verdict::Unclear);
        assert_eq!(judge_interval(1.2, 1.5, Op::Ge, 1.6), Verdict::Fails);
        assert_eq!(judge_interval(1.6, 1.6, Op::Gt, 1.6), Verdict::Fails);
        assert_eq!(judge_interval(0.9, 1.1, Op::Le, 1.2), Verdict::Holds);
        assert_eq!(judge_interval(1.1, 1.3, Op::Lt, 1.2), Verdict::Unclear);
        assert_eq!(judge_interval(1.2, 1.3, Op::Lt, 1.2), Verdict::Fails);
        assert_eq!(judge_interval(2.0, 2.0, Op::Eq, 2.0), Verdict::Holds);
        assert_eq!(judge_interval(1.0, 3.0, Op::Eq, 2.0), Verdict::Unclear);
        assert_eq!(judge_interval(1.0, 1.5, Op::Eq, 2.0), Verdict::Fails);
    }

    #[test]
    fn speedup_is_judged_on_its_interval() {
        let rows = [
            with_speedup(row("pool", 2, 1.0, (0.9, 1.1)), 1.9, 1.8, 2.0),
            with_speedup(row("pool", 4, 1.0, (0.9, 1.1)), 1.7, 1.5, 1.8),
        ];
        let r = judge(
            "e",
            0,
            &claim(&[("model", "pool"), ("workers", "2")], "speedup >= 1.6"),
            &rows,
        );
        assert_eq!((r.verdict, r.value.as_str()), (Verdict::Holds, "1.90"));
        assert_eq!((r.ci_low, r.ci_high), (Some(1.8), Some(2.0)));
        let r = judge(
            "e",
            0,
            &claim(&[("model", "pool"), ("workers", "4")], "speedup >= 1.6"),
            &rows,
        );
        assert_eq!(r.verdict, Verdict::Unclear);
        let r = judge(
            "e",
            0,
            &claim(&[("model", "pool"), ("workers", "4")], "speedup >= 1.9"),
            &rows,
        );
        assert_eq!(r.verdict, Verdict::Fails);
    }

    #[test]
    fn several_cells_must_all_hold() {
        let rows = [
            with_speedup(row("pool", 2, 1.0, (0.9, 1.1)), 1.9, 1.8, 2.0),
            with_speedup(row("pool", 4, 1.0, (0.9, 1.1)), 1.7, 1.5, 1.8),
        ];
        let r = judge(
            "e",
            0,
            &claim(&[("model", "pool")], "speedup >= 1.4"),
            &rows,
        );
        assert_eq!(r.verdict, Verdict::Holds);
        assert!(r.value.ends_with("holds for 2 of 2 cells"), "{}", r.value);
        let r = judge(
            "e",
            0,
            &claim(&[("model", "pool")], "speedup >= 1.6"),
            &rows,
        );
        assert_eq!(r.verdict, Verdict::Unclear);
        assert!(r.value.contains("pool w=4 sync=none 1.70"), "{}", r.value);
        assert_eq!((r.ci_low, r.ci_high), (Some(1.5), Some(2.0)));
    }

    #[test]
    fn vs_ideal_scales_the_median_interval_and_check_compares_exactly() {
        let mut raced = row("pool", 5, 0.55, (0.52, 0.6));
        raced.check = Check::Race;
        let rows = [raced];
        let v = |e: &str| judge("e", 0, &claim(&[("model", "pool")], e), &rows).verdict;
        assert_eq!(v("vs_ideal <= 1.25"), Verdict::Holds);
        assert_eq!(v("vs_ideal <= 1.1"), Verdict::Unclear);
        assert_eq!(v("vs_ideal < 1.0"), Verdict::Fails);
        assert_eq!(v("median_s < 0.7"), Verdict::Holds);
        assert_eq!(v("parallelism >= 0.5"), Verdict::Fails);
        assert_eq!(v("check == race"), Verdict::Holds);
        assert_eq!(v("check == pass"), Verdict::Fails);
        // No baseline, no core speed: nothing to judge.
        assert_eq!(v("speedup >= 1"), Verdict::Unclear);
        assert_eq!(v("core_speed >= 0.5"), Verdict::Unclear);
        let none = judge("e", 0, &claim(&[("model", "other")], "median_s < 1"), &rows);
        assert_eq!(
            (none.verdict, none.value.as_str()),
            (Verdict::Unclear, "no results yet")
        );
    }

    #[test]
    fn an_interval_short_of_95_decides_nothing_and_says_what_it_needs() {
        let mut few = with_speedup(row("pool", 2, 1.0, (0.9, 1.1)), 1.9, 1.8, 2.0);
        few.stats.n = 3;
        few.stats.ci.coverage = 0.75;
        few.speedup_ci = few.speedup_ci.map(|c| MedianCi {
            coverage: 0.75,
            ..c
        });
        let rows = [few];
        for expect in ["speedup >= 1.6", "median_s <= 2", "vs_ideal <= 9"] {
            let r = judge("e", 0, &claim(&[("model", "pool")], expect), &rows);
            assert_eq!(r.verdict, Verdict::Unclear, "{expect}");
            assert!(
                r.value.ends_with("unclear: n=3 (needs 5 for 95%)"),
                "{}",
                r.value
            );
        }
        let check = judge("e", 0, &claim(&[("model", "pool")], "check == pass"), &rows);
        assert_eq!(check.verdict, Verdict::Holds, "a check needs no interval");
    }

    #[test]
    fn one_line_counts_verdicts() {
        let r = |v| ClaimResult {
            experiment: String::new(),
            claim: 1,
            say: String::new(),
            cell: String::new(),
            expect: String::new(),
            value: String::new(),
            ci_low: None,
            ci_high: None,
            verdict: v,
            ci_coverage: None,
        };
        assert_eq!(
            one_line(&[r(Verdict::Holds), r(Verdict::Holds)]),
            "2 of 2 claims hold"
        );
        assert_eq!(
            one_line(&[r(Verdict::Holds), r(Verdict::Fails), r(Verdict::Unclear)]),
            "1 of 3 claims hold, 1 fails, 1 unclear"
        );
    }
}
