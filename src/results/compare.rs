//! Two runs of one experiment side by side: cells matched by what they are, the ratio
//! new/old of their medians with its interval, and a verdict on each.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::files::{self, Folder};
use super::intervals::decides;
use super::rank::ratio_interval;
use super::runs::{self, RunRow};
use super::stats::{MedianCi, median, median_ci};
use crate::workload::Check;

/// The column another part of the house may add to runs.csv: what ran the cell. Cells
/// are matched on it when both runs have it.
pub const IMPLEMENTATION: &str = "implementation";

/// The smallest noise threshold a default may take: below it, a "change" is the clock's.
pub const NOISE_FLOOR: f64 = 0.01;

/// The largest: a change of more than 10% is worth naming however noisy the runs. On a
/// loaded machine the intervals of a few spikes span 10x and more; a threshold taken
/// from them would call a 15x slowdown not worth naming. Noisy cells show as `unclear`.
pub const NOISE_CEILING: f64 = 0.10;

/// What a cell is, whatever its id: a changed parameter that is not an axis (a larger
/// `iterations`) gives new ids but the same cells, which is what a comparison wants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    pub workload: String,
    pub model: String,
    pub workers: usize,
    /// The extra axes, sorted by name so that two files listing them in another order
    /// still match.
    pub axes: Vec<(String, String)>,
    pub implementation: Option<String>,
    /// Only with `--by-host`: the machine a row was measured on.
    pub host: Option<String>,
}

impl CellKey {
    /// `thread_pool w=2 iterations=1000`, with the implementation and host when they count.
    pub fn label(&self) -> String {
        let mut s = format!("{} w={}", self.model, self.workers);
        for (k, v) in &self.axes {
            s.push_str(&format!(" {k}={v}"));
        }
        if let Some(i) = &self.implementation {
            s.push_str(&format!(" [{i}]"));
        }
        if let Some(h) = &self.host {
            s.push_str(&format!(" host={h}"));
        }
        s
    }
}

/// How rows are matched to cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Matching {
    /// Keep machines apart: a cell matches only a cell of the same host.
    pub by_host: bool,
    /// Match on `implementation` (only when both runs.csv files have the column).
    pub implementation: bool,
}

/// The wall times of every measured repetition that counts (passed or raced) per cell.
pub type Times = BTreeMap<CellKey, Vec<f64>>;

/// One run's rows, read once.
pub struct RunTimes {
    pub rows: Vec<(RunRow, Option<String>)>,
    pub has_implementation: bool,
}

/// Reads runs.csv of a results folder; when the folder has its experiment.toml, only
/// rows of the experiment's current cells count (older cells stay in runs.csv but are
/// not what the folder now says it measured).
pub fn read_run(dir: &Path) -> anyhow::Result<RunTimes> {
    let folder = Folder::new(dir);
    let path = folder.runs();
    if !path.is_file() {
        anyhow::bail!(
            "{} has no {}: not a results folder",
            dir.display(),
            files::RUNS
        );
    }
    let (header, maps) = super::csv_file::read(&path)?;
    let (_, rows) = runs::read(&path)?;
    let current: Option<HashSet<String>> = if folder.experiment().is_file() {
        let exp = super::experiment_results::experiment_of(dir)?;
        Some(
            crate::experiment::expand::expand(&exp)
                .into_iter()
                .map(|c| c.id)
                .collect(),
        )
    } else {
        None
    };
    let has_implementation = header.iter().any(|h| h == IMPLEMENTATION);
    let rows = rows
        .into_iter()
        .zip(maps)
        .filter(|(r, _)| current.as_ref().is_none_or(|c| c.contains(&r.cell)))
        .filter(|(r, _)| r.check != Check::Fail && r.wall_s.is_finite() && r.wall_s > 0.0)
        .map(|(r, m)| {
            let implementation = m.get(IMPLEMENTATION).cloned().filter(|s| !s.is_empty());
            (r, implementation)
        })
        .collect();
    Ok(RunTimes {
        rows,
        has_implementation,
    })
}

impl RunTimes {
    /// The times per cell as `matching` tells cells apart.
    pub fn times(&self, matching: Matching) -> Times {
        let mut out = Times::new();
        for (r, implementation) in &self.rows {
            let mut axes = r.id.axes.clone();
            axes.sort();
            let key = CellKey {
                workload: r.id.workload.clone(),
                model: r.id.model.clone(),
                workers: r.id.workers,
                axes,
                implementation: implementation.clone().filter(|_| matching.implementation),
                host: matching.by_host.then(|| r.host.clone()),
            };
            out.entry(key).or_default().push(r.wall_s);
        }
        out
    }
}

/// One run's figures for a cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub n: usize,
    pub median: f64,
    pub ci: MedianCi,
}

impl Side {
    pub fn of(times: &[f64]) -> Option<Side> {
        let mut sorted = times.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Side {
            n: sorted.len(),
            median: median(&sorted)?,
            ci: median_ci(&sorted)?,
        })
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, strum::IntoStaticStr, strum::Display,
)]
#[strum(serialize_all = "snake_case")]
pub enum Verdict {
    Faster,
    Slower,
    Same,
    Unclear,
}

/// A matched cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    pub key: CellKey,
    pub old: Side,
    pub new: Side,
    /// new median / old median: above 1 the new run is slower.
    pub ratio: f64,
    /// The interval of the ratio from every pair of an old and a new repetition
    /// ([`ratio_interval`]), with the coverage it states.
    pub ci: MedianCi,
    pub verdict: Verdict,
}

/// The verdict on a ratio at [`super::intervals::DECISION_LEVEL`], with `noise` the
/// relative change not worth naming: `slower` (or `faster`) when the interval leaves 1 on
/// that side and the ratio is beyond the threshold; `same` when the whole interval lies
/// within the threshold, so no change worth naming fits the data; else `unclear`, which
/// is also every verdict of intervals whose coverage cannot decide (fewer than 3
/// repetitions a side). A noisy cell is `unclear`, never `same` by default.
pub fn verdict(ratio: f64, ci: &MedianCi, noise: f64) -> Verdict {
    if !decides(ci.coverage) || !ratio.is_finite() {
        return Verdict::Unclear;
    }
    let up = 1.0 + noise;
    if ratio > up && ci.low > 1.0 {
        Verdict::Slower
    } else if ratio < 1.0 / up && ci.high < 1.0 {
        Verdict::Faster
    } else if ci.low >= 1.0 / up && ci.high <= up {
        Verdict::Same
    } else {
        Verdict::Unclear
    }
}

/// A comparison of two runs of one experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub compared: Vec<Compared>,
    /// Cells measured in the old run only, and in the new run only.
    pub only_old: Vec<CellKey>,
    pub only_new: Vec<CellKey>,
    /// The relative threshold used, and whether it was the default from the runs' spread.
    pub noise: f64,
    pub noise_from_spread: bool,
}

/// The default noise threshold: the median, over the matched cells, of the relative
/// width of the ratio's interval. A rerun's interval is about that wide and lies about
/// 1, so it fits within the threshold on either side and is judged `same`; a change
/// smaller than what the runs can resolve is not worth naming. Between [`NOISE_FLOOR`]
/// and [`NOISE_CEILING`].
pub fn noise_from_spread(pairs: &[(f64, MedianCi)]) -> f64 {
    let widths: Vec<f64> = pairs
        .iter()
        .filter(|(r, ci)| *r > 0.0 && ci.high.is_finite())
        .map(|(r, ci)| (ci.high - ci.low) / r)
        .collect();
    median(&widths)
        .unwrap_or(NOISE_FLOOR)
        .clamp(NOISE_FLOOR, NOISE_CEILING)
}

/// Matches the cells of two runs and judges each; `noise` None takes the default from
/// the runs' spread.
pub fn compare(old: &Times, new: &Times, noise: Option<f64>) -> Comparison {
    let mut pairs = Vec::new();
    for (key, old_times) in old {
        let Some(new_times) = new.get(key) else {
            continue;
        };
        let (Some(o), Some(n)) = (Side::of(old_times), Side::of(new_times)) else {
            continue;
        };
        let Some(ci) = ratio_interval(old_times, new_times) else {
            continue;
        };
        let ratio = n.median / o.median;
        pairs.push((key.clone(), o, n, ratio, ci));
    }
    let noise_from_spread_ = noise.is_none();
    let noise = noise.unwrap_or_else(|| {
        let rc: Vec<(f64, MedianCi)> = pairs.iter().map(|p| (p.3, p.4)).collect();
        noise_from_spread(&rc)
    });
    let compared = pairs
        .into_iter()
        .map(|(key, old, new, ratio, ci)| Compared {
            verdict: verdict(ratio, &ci, noise),
            key,
            old,
            new,
            ratio,
            ci,
        })
        .collect();
    Comparison {
        compared,
        only_old: old
            .keys()
            .filter(|k| !new.contains_key(*k))
            .cloned()
            .collect(),
        only_new: new
            .keys()
            .filter(|k| !old.contains_key(*k))
            .cloned()
            .collect(),
        noise,
        noise_from_spread: noise_from_spread_,
    }
}

impl Comparison {
    pub fn count(&self, v: Verdict) -> usize {
        self.compared.iter().filter(|c| c.verdict == v).count()
    }
}

/// `--noise`: a relative threshold written as a percentage, `5%` or `5`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise(pub f64);

impl std::str::FromStr for Noise {
    type Err = String;
    fn from_str(s: &str) -> Result<Noise, String> {
        let t = s.trim();
        let t = t.strip_suffix('%').unwrap_or(t).trim();
        match t.parse::<f64>() {
            Ok(p) if (0.0..1000.0).contains(&p) => Ok(Noise(p / 100.0)),
            _ => Err(format!(
                "\"{s}\" is not a percentage: write e.g. 5% (a change below it is judged `same`)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(model: &str, workers: usize) -> CellKey {
        CellKey {
            workload: "sleep".into(),
            model: model.into(),
            workers,
            axes: Vec::new(),
            implementation: None,
            host: None,
        }
    }

    fn times(entries: &[(&str, usize, &[f64])]) -> Times {
        entries
            .iter()
            .map(|(m, w, t)| (key(m, *w), t.to_vec()))
            .collect()
    }

    const SIX: [f64; 6] = [1.00, 1.01, 0.99, 1.02, 0.98, 1.00];

    #[test]
    fn the_same_times_are_the_same() {
        let old = times(&[("threads", 1, &SIX)]);
        let c = compare(&old, &old.clone(), None);
        assert_eq!(c.compared.len(), 1);
        assert_eq!(c.compared[0].verdict, Verdict::Same);
        assert!((c.compared[0].ratio - 1.0).abs() < 1e-12);
    }

    #[test]
    fn twice_the_time_is_slower_and_half_is_faster() {
        let old = times(&[("threads", 1, &SIX)]);
        let doubled: Vec<f64> = SIX.iter().map(|t| t * 2.0).collect();
        let halved: Vec<f64> = SIX.iter().map(|t| t / 2.0).collect();
        let c = compare(&old, &times(&[("threads", 1, &doubled)]), None);
        assert_eq!(c.compared[0].verdict, Verdict::Slower);
        assert!(c.compared[0].ci.low > 1.0);
        let c = compare(&old, &times(&[("threads", 1, &halved)]), None);
        assert_eq!(c.compared[0].verdict, Verdict::Faster);
    }

    #[test]
    fn too_few_repetitions_decide_nothing() {
        let old = times(&[("threads", 1, &[1.0, 1.01])]);
        let new = times(&[("threads", 1, &[2.0, 2.01])]);
        let c = compare(&old, &new, None);
        assert_eq!(c.compared[0].verdict, Verdict::Unclear);
        // Three a side are enough: every new time is above every old one.
        let old = times(&[("threads", 1, &[1.0, 1.01, 0.99])]);
        let new = times(&[("threads", 1, &[2.0, 2.01, 1.99])]);
        assert_eq!(
            compare(&old, &new, None).compared[0].verdict,
            Verdict::Slower
        );
    }

    #[test]
    fn a_change_below_the_noise_is_the_same_and_overlapping_ones_unclear() {
        let ci = |low, high| MedianCi {
            low,
            high,
            coverage: 0.96,
        };
        assert_eq!(verdict(1.03, &ci(1.01, 1.05), 0.05), Verdict::Same);
        assert_eq!(verdict(1.30, &ci(0.90, 1.60), 0.05), Verdict::Unclear);
        assert_eq!(verdict(0.70, &ci(0.50, 1.10), 0.05), Verdict::Unclear);
        assert_eq!(verdict(1.30, &ci(1.20, 1.40), 0.05), Verdict::Slower);
        // A ratio near 1 with an interval far wider than the threshold says nothing.
        assert_eq!(verdict(1.00, &ci(0.50, 2.00), 0.05), Verdict::Unclear);
    }

    #[test]
    fn cells_of_one_run_only_are_listed() {
        let old = times(&[("threads", 1, &SIX), ("threads", 2, &SIX)]);
        let new = times(&[("threads", 1, &SIX), ("async", 2, &SIX)]);
        let c = compare(&old, &new, Some(0.05));
        assert_eq!(c.compared.len(), 1);
        assert_eq!(c.only_old, vec![key("threads", 2)]);
        assert_eq!(c.only_new, vec![key("async", 2)]);
        assert!(!c.noise_from_spread);
    }

    #[test]
    fn the_default_noise_follows_the_spread_within_bounds() {
        let tight = MedianCi {
            low: 0.999,
            high: 1.001,
            coverage: 0.96,
        };
        assert_eq!(noise_from_spread(&[(1.0, tight)]), NOISE_FLOOR);
        let wide = MedianCi {
            low: 0.8,
            high: 1.2,
            coverage: 0.96,
        };
        let middling = MedianCi {
            low: 0.97,
            high: 1.03,
            coverage: 0.96,
        };
        assert!((noise_from_spread(&[(1.0, middling)]) - 0.06).abs() < 1e-9);
        assert_eq!(noise_from_spread(&[(1.0, wide)]), NOISE_CEILING);
    }

    #[test]
    fn noise_reads_as_a_percentage() {
        assert_eq!("5%".parse::<Noise>(), Ok(Noise(0.05)));
        assert_eq!("2.5".parse::<Noise>(), Ok(Noise(0.025)));
        assert!("-1%".parse::<Noise>().is_err());
        assert!("lots".parse::<Noise>().is_err());
    }
}
