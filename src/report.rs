//! What a run prints on stdout: a table of medians per experiment and the speedups.

use std::collections::HashMap;

pub use crate::console::{say, seconds, seconds_range};
use crate::machine::Watch;
use crate::results::experiment_results::ExperimentResults;
use crate::results::flags::Flag;
use crate::results::outputs::Output;
use crate::results::summary::SummaryRow;
use crate::workload::Check;

/// The end-of-run table on stdout, as an output of the results.
pub struct Table {
    /// Also warn when the machine's capacity moved during the run (the run itself warns
    /// once at its end instead).
    pub machine_warning: bool,
}

impl Output for Table {
    fn name(&self) -> &str {
        "the table"
    }

    fn write(&self, results: &ExperimentResults) -> anyhow::Result<()> {
        print_summary(results.name(), &results.summary, results.cores);
        if self.machine_warning {
            let samples = results
                .environment
                .as_ref()
                .map(|e| e.samples.clone())
                .unwrap_or_default();
            if let Some(w) = Watch::from_samples(results.cores, samples).warning() {
                say(&format!("  warning: {w}"));
            }
        }
        Ok(())
    }
}

fn ratio(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into())
}

fn ratio_range(v: Option<crate::results::stats::MedianCi>) -> String {
    v.map(|c| format!("[{:.2}-{:.2}]", c.low, c.high))
        .unwrap_or_default()
}

/// The end-of-run table for one experiment, then one line per model explaining its best
/// speedup, and the warnings.
pub fn print_summary(name: &str, rows: &[SummaryRow], cores: usize) {
    if rows.is_empty() {
        return;
    }
    let axes: Vec<&str> = rows[0].axes.iter().map(|(k, _)| k.as_str()).collect();
    say("");
    let (fewest, most) = rows.iter().fold((usize::MAX, 0), |(lo, hi), r| {
        (lo.min(r.stats.n), hi.max(r.stats.n))
    });
    let reps = match (fewest, most) {
        (1, 1) => "1 repetition".to_string(),
        (lo, hi) if lo == hi => format!("{hi} repetitions"),
        (lo, hi) => format!("{lo} to {hi} repetitions"),
    };
    let interval = crate::results::intervals::interval_legend(rows);
    say(&format!(
        "{name} ({}, medians of {reps} per cell, {cores} cores; {interval})",
        rows[0].workload
    ));
    let width = rows
        .iter()
        .map(|r| r.model.len())
        .max()
        .unwrap_or(0)
        .max(15);
    let mut head = format!("  {:<width$} {:>7}", "model", "workers");
    for a in &axes {
        head.push_str(&format!(" {a:>12}"));
    }
    head.push_str(&format!(
        " {:>10} {:<20} {:>8} {:<13} {:>5} {:>8} {:>8}  {}",
        "median", "", "speedup", "", "busy", "per-core", "vs ideal", "check"
    ));
    say(&head);
    for r in rows {
        let mut line = format!("  {:<width$} {:>7}", r.model, r.workers);
        for (_, v) in &r.axes {
            line.push_str(&format!(" {v:>12}"));
        }
        let per_core = r
            .core_speed
            .map(|c| format!("{c:.2}"))
            .unwrap_or_else(|| "-".into());
        line.push_str(&format!(
            " {:>10} {:<20} {:>8} {:<13} {:>5} {:>8} {:>8}  {}",
            seconds(r.stats.median),
            format!("[{}]", seconds_range(r.stats.ci.low, r.stats.ci.high)),
            ratio(r.speedup),
            ratio_range(r.speedup_ci),
            r.cores_busy()
                .map(|p| format!("{p:.2}"))
                .unwrap_or_else(|| "-".into()),
            per_core,
            ratio(r.vs_ideal),
            r.check.as_str()
        ));
        if r.check != Check::Pass {
            line.push_str(&format!(" ({})", r.check_detail()));
        }
        if !r.flags.is_empty() {
            let codes: Vec<&str> = r.flags.iter().map(|f| f.as_str()).collect();
            line.push_str(&format!("  [{}]", codes.join(";")));
        }
        say(&line);
    }
    for line in implementations(rows) {
        say(&format!("  {line}"));
    }
    for line in comparisons(rows) {
        say(&format!("  {line}"));
    }
    for w in warnings(rows, cores) {
        say(&format!("  warning: {w}"));
    }
}

/// What ran the cells, one line per implementation with its models, where any cell ran
/// outside conclab: `CPython 3.13.5 free-threading (GIL disabled): ft_pool, ft_sequential`.
pub fn implementations(rows: &[SummaryRow]) -> Vec<String> {
    let mut seen: Vec<(&str, Vec<&str>)> = Vec::new();
    for r in rows.iter().filter(|r| !r.implementation.is_empty()) {
        match seen.iter_mut().find(|(i, _)| *i == r.implementation) {
            Some((_, models)) if models.contains(&r.model.as_str()) => {}
            Some((_, models)) => models.push(&r.model),
            None => seen.push((&r.implementation, vec![&r.model])),
        }
    }
    if seen.len() < 2 {
        return Vec::new();
    }
    seen.into_iter()
        .map(|(i, models)| format!("{i}: {}", models.join(", ")))
        .collect()
}

/// The best worker count of each model (per combination of extra axes), set against
/// sequential and explained; then which models the fastest cannot be told apart from.
pub fn comparisons(rows: &[SummaryRow]) -> Vec<String> {
    type Axes = Vec<(String, String)>;
    let mut out = Vec::new();
    // The best cell of each (model, axes), in the order models first appear.
    let mut best: Vec<&SummaryRow> = Vec::new();
    let mut index: HashMap<(&str, &Axes), usize> = HashMap::new();
    let mut baselines: HashMap<(&str, &Axes), &SummaryRow> = HashMap::new();
    for r in rows {
        if r.baseline == r.model {
            baselines.entry((r.model.as_str(), &r.axes)).or_insert(r);
            continue;
        }
        let Some(s) = r.speedup else { continue };
        match index.get(&(r.model.as_str(), &r.axes)) {
            Some(&i) if best[i].speedup.unwrap_or(0.0) >= s => {}
            Some(&i) => best[i] = r,
            None => {
                index.insert((r.model.as_str(), &r.axes), best.len());
                best.push(r);
            }
        }
    }
    for b in &best {
        out.push(format!(
            "{} {}",
            b.label(),
            explain(b, baselines.get(&(b.baseline.as_str(), &b.axes)).copied())
        ));
    }
    // Per combination of axes: the fastest cell, and the others it cannot be told from.
    let mut groups: Vec<(&Axes, Vec<&SummaryRow>)> = Vec::new();
    let mut group_of: HashMap<&Axes, usize> = HashMap::new();
    for b in &best {
        let i = *group_of.entry(&b.axes).or_insert_with(|| {
            groups.push((&b.axes, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(b);
    }
    for (_, group) in groups.iter().filter(|(_, g)| g.len() > 1) {
        let fastest = group
            .iter()
            .min_by(|x, y| x.stats.median.total_cmp(&y.stats.median))
            .expect("a group has cells");
        let ties: Vec<String> = group
            .iter()
            .filter(|o| o.cell != fastest.cell && o.stats.ci.overlaps(&fastest.stats.ci))
            .map(|o| o.label())
            .collect();
        if !ties.is_empty() {
            out.push(format!(
                "fastest: {}; not distinguishable from it: {}",
                fastest.label(),
                ties.join(", ")
            ));
        }
    }
    out
}

/// One cell against its sequential baseline, in words, with the reason where known:
/// speedup = cores busy x per-core speed (relative to sequential's).
fn explain(r: &SummaryRow, baseline: Option<&SummaryRow>) -> String {
    let s = r.speedup.unwrap_or(0.0);
    let range = ratio_range(r.speedup_ci);
    let base = r.baseline.as_str();
    let overlaps = baseline.is_some_and(|b| b.stats.ci.overlaps(&r.stats.ci));
    let mut text = if overlaps {
        format!("is not distinguishable from {base} ({s:.2}x {range})")
    } else {
        versus(base, s, &range)
    };
    if let (Some(speed), Some(base_speed)) =
        (r.core_speed, r.baseline_core_speed.filter(|b| *b > 0.0))
    {
        // speedup = (busy / sequential's busy) x (speed / sequential's speed), exactly per
        // repetition; sequential's busy is shown only when it was not a whole core.
        let relative = speed / base_speed;
        let busy = match r.baseline_parallelism {
            Some(b) if (b - 1.0).abs() > 0.03 => {
                format!("{:.2} cores busy (sequential: {b:.2})", r.parallelism)
            }
            _ => format!("{:.2} cores busy", r.parallelism),
        };
        text.push_str(&format!(" = {busy} x {relative:.2} per-core speed"));
        if relative < 0.9 {
            text.push_str(" (the cores slowed each other)");
        }
    } else if let Some(f) = r.in_flight.filter(|_| r.core_speed.is_none()) {
        text.push_str(&format!("; {f:.1} tasks in flight on average"));
    }
    text
}

/// A speedup in words. Within 2% is no difference worth a direction: "1.00x faster" would
/// read as a gain.
fn versus(base: &str, speedup: f64, range: &str) -> String {
    let range = if range.is_empty() {
        String::new()
    } else {
        format!(" {range}")
    };
    if (0.98..=1.02).contains(&speedup) {
        format!("ran as fast as {base} ({speedup:.2}x{range})")
    } else if speedup > 1.0 {
        format!("ran {speedup:.2}x{range} faster than {base}")
    } else {
        format!(
            "ran {:.2}x slower than {base} ({speedup:.2}x{range})",
            1.0 / speedup
        )
    }
}

/// One warning per flag raised anywhere: its code, the cells, and what to do.
pub fn warnings(rows: &[SummaryRow], cores: usize) -> Vec<String> {
    Flag::ALL
        .iter()
        .filter_map(|&flag| {
            let cells: Vec<String> = rows
                .iter()
                .filter(|r| r.flags.contains(&flag))
                .map(|r| match flag {
                    Flag::Noisy => format!(
                        "{} ±{:.0}%",
                        r.label(),
                        r.stats.ci.relative_half_width(r.stats.median) * 100.0
                    ),
                    Flag::BeyondCores => {
                        format!("{} {:.2}x", r.label(), r.speedup.unwrap_or(0.0))
                    }
                    Flag::BelowIdeal => {
                        format!("{} {:.2}x of ideal", r.label(), r.vs_ideal.unwrap_or(0.0))
                    }
                    Flag::FewRepetitions => format!("{} n={}", r.label(), r.stats.n),
                    Flag::Slowed => {
                        format!("{} {:.2}", r.label(), r.core_speed.unwrap_or(0.0))
                    }
                    Flag::Impossible => format!(
                        "{} CPU {:.2}x its wall time",
                        r.label(),
                        (r.user_s + r.sys_s) / r.stats.median.max(f64::MIN_POSITIVE)
                    ),
                })
                .collect();
            (!cells.is_empty()).then(|| {
                format!(
                    "{} in {} of {} cells ({}): {}",
                    flag.as_str(),
                    cells.len(),
                    rows.len(),
                    cells.join(", "),
                    flag.advice(cores)
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::versus;

    fn versus_sequential(speedup: f64, range: &str) -> String {
        versus("sequential", speedup, range)
    }

    #[test]
    fn speedups_near_one_have_no_direction() {
        assert_eq!(
            versus_sequential(1.0, ""),
            "ran as fast as sequential (1.00x)"
        );
        assert_eq!(
            versus_sequential(0.99, ""),
            "ran as fast as sequential (0.99x)"
        );
        assert_eq!(
            versus_sequential(1.97, "[1.90-2.01]"),
            "ran 1.97x [1.90-2.01] faster than sequential"
        );
        assert_eq!(
            versus_sequential(0.5, ""),
            "ran 2.00x slower than sequential (0.50x)"
        );
    }
}
