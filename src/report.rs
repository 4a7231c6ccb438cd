//! What a run prints on stdout: a table of medians per experiment and the speedups.

use std::io::Write;

use crate::results::summary::SummaryRow;
use crate::workload::Check;

/// Writes one line to stdout; a closed pipe (`conclab plan | head`) ends output quietly.
pub fn say(line: &str) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").is_ok()
}

pub fn seconds(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} s")
    } else if v >= 1.0 {
        format!("{v:.3} s")
    } else if v >= 1e-3 {
        format!("{:.2} ms", v * 1e3)
    } else {
        format!("{:.1} µs", v * 1e6)
    }
}

/// The end-of-run table for one experiment, then "ran N.NNx faster" lines and warnings.
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
    say(&format!(
        "{name} ({}, medians of {reps} per cell, {cores} cores)",
        rows[0].workload
    ));
    let mut head = format!("  {:<15} {:>7}", "model", "workers");
    for a in &axes {
        head.push_str(&format!(" {a:>12}"));
    }
    head.push_str(&format!(
        " {:>11} {:>7} {:>8} {:>9}  {}",
        "median", "cv", "speedup", "vs ideal", "check"
    ));
    say(&head);
    for r in rows {
        let mut line = format!("  {:<15} {:>7}", r.model, r.workers);
        for (_, v) in &r.axes {
            line.push_str(&format!(" {v:>12}"));
        }
        let opt = |v: Option<f64>| v.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into());
        line.push_str(&format!(
            " {:>11} {:>6.1}% {:>8} {:>9}  {}",
            seconds(r.stats.median),
            r.stats.cv * 100.0,
            opt(r.speedup),
            opt(r.vs_ideal),
            r.check.as_str()
        ));
        if r.check != Check::Pass {
            line.push_str(&format!(" ({})", r.detail));
        }
        say(&line);
    }
    // One line per model and axis combination: its best worker count against sequential.
    let mut seen: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.model != "sequential" && r.speedup.is_some())
    {
        let key = (r.model.clone(), r.axes.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let best = rows
            .iter()
            .filter(|o| o.model == r.model && o.axes == r.axes && o.speedup.is_some())
            .max_by(|a, b| {
                a.speedup
                    .unwrap_or(0.0)
                    .total_cmp(&b.speedup.unwrap_or(0.0))
            })
            .expect("r itself qualifies");
        let s = best.speedup.unwrap_or(0.0);
        let axes: String = best.axes.iter().map(|(k, v)| format!(" {k}={v}")).collect();
        say(&format!(
            "  {} w={}{axes} {}",
            best.model,
            best.workers,
            versus_sequential(s)
        ));
    }
    for w in warnings(rows) {
        say(&format!("  warning: {w}"));
    }
}

/// A speedup in words. Within 2% is no difference worth a direction: "1.00x faster" would
/// read as a gain.
fn versus_sequential(speedup: f64) -> String {
    if (0.98..=1.02).contains(&speedup) {
        format!("ran as fast as sequential ({speedup:.2}x)")
    } else if speedup > 1.0 {
        format!("ran {speedup:.2}x faster than sequential")
    } else {
        format!("ran {:.2}x slower than sequential", 1.0 / speedup)
    }
}

/// Figures a reader should not trust without a second look, and what to do about them.
pub fn warnings(rows: &[SummaryRow]) -> Vec<String> {
    let mut out = Vec::new();
    let label = |r: &SummaryRow| format!("{} w={}", r.model, r.workers);
    let noisy: Vec<String> = rows
        .iter()
        .filter(|r| r.stats.n >= 3 && r.stats.cv > 0.10)
        .map(|r| format!("{} {:.0}%", label(r), r.stats.cv * 100.0))
        .collect();
    if !noisy.is_empty() {
        out.push(format!(
            "times vary by more than 10% (cv) in {} of {} cells ({}): close other programs or raise `repetitions`",
            noisy.len(),
            rows.len(),
            noisy.join(", ")
        ));
    }
    if let Some(r) = rows.iter().find(|r| r.stats.n < 3) {
        out.push(format!(
            "{}: {} repetition(s) give no spread; use repetitions >= 3 for numbers you quote",
            label(r),
            r.stats.n
        ));
    }
    for r in rows {
        if let Some(v) = r.vs_ideal
            && v < 0.9
        {
            out.push(format!("{}: {v:.2}x of the ideal bound, faster than it should be; the ideal's calibration may be off (CPU frequency scaling?)", label(r)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::versus_sequential;

    #[test]
    fn speedups_near_one_have_no_direction() {
        assert_eq!(versus_sequential(1.0), "ran as fast as sequential (1.00x)");
        assert_eq!(versus_sequential(0.99), "ran as fast as sequential (0.99x)");
        assert_eq!(versus_sequential(1.97), "ran 1.97x faster than sequential");
        assert_eq!(versus_sequential(0.5), "ran 2.00x slower than sequential");
    }
}
