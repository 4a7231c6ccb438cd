//! `conclab plan`: the cells a run would execute, their count and a time estimate.

use std::path::Path;

use crate::engine::schedule::{claimed, least_count};
use crate::error::UsageError;
use crate::experiment::expand::expand;
use crate::experiment::{Experiment, Repetitions};
use crate::ideal;
use crate::report::{say, seconds};
use crate::results::environment::logical_cores;
use crate::results::files;
use crate::results::runs::done_counts;
use crate::selection::{Filter, Shard, check_filters, select};
use crate::workload::{Calibration, hash_chain};

/// Fixed cost of one repetition that the ideal leaves out (runtime and thread start-up).
const OVERHEAD_S: f64 = 0.002;
/// An external program's start-up, outside the measured time but not the run's.
const EXTERNAL_START_S: f64 = 0.2;

/// Prints the plan; returns the number of cells listed. Output stops quietly on a closed pipe.
pub fn plan(
    experiments: &[Experiment],
    out: &Path,
    only: &[Filter],
    shard: Option<Shard>,
) -> Result<usize, UsageError> {
    for exp in experiments {
        check_filters(exp, only).map_err(UsageError)?;
    }
    let cores = logical_cores();
    let calibration = Calibration {
        ns_per_hash: hash_chain::calibrate_ns_per_hash(),
        request_latency_s: None,
    };
    let (mut cells_total, mut seconds_total) = (0usize, 0.0f64);
    for exp in experiments {
        let cells = select(expand(exp), only, shard);
        let existing = crate::results::runs::read(&out.join(&exp.name).join(files::RUNS))
            .map(|(_, rows)| rows)
            .unwrap_or_default();
        let counts = done_counts(&existing);
        let axes: Vec<&str> = exp.axes.iter().map(|a| a.name.as_str()).collect();
        let reps = least_count(exp.repetitions, false);
        let claimed = claimed(&exp.claims, &cells, &exp.baselines());
        let estimated_with = match exp.repetitions {
            Repetitions::Fixed(_) => String::new(),
            Repetitions::Auto { .. } => format!(" (estimated with the pilot, {reps})"),
        };
        if !say(&format!(
            "{} ({}): {} cells x {} repetitions{estimated_with} + {} warm-up, {}",
            exp.name,
            exp.path.display(),
            cells.len(),
            exp.repetitions.describe(),
            exp.warmup,
            exp.kind.name
        )) {
            return Ok(cells_total);
        }
        let width = cells
            .iter()
            .map(|c| c.model.name().len())
            .max()
            .unwrap_or(0)
            .max(15);
        let mut head = format!("  {:<12} {:<width$} {:>7}", "cell", "model", "workers");
        for a in &axes {
            head.push_str(&format!(" {a:>12}"));
        }
        head.push_str(&format!(" {:>11} {:>11}  status", "ideal", "estimate"));
        if !say(&head) {
            return Ok(cells_total);
        }
        for (index, cell) in cells.iter().enumerate() {
            let reps = least_count(exp.repetitions, claimed.contains(&index));
            // Real URLs have no known latency before they are measured.
            let ideal = ideal::of_cell(cell, &calibration, cores);
            let done = counts.get(cell.id.as_str()).map_or(0, |c| c.0);
            let unavailable = cell.model.unavailable(&exp.settings);
            let skipped = unavailable.is_some();
            let todo = if skipped {
                0
            } else {
                reps.saturating_sub(done)
            };
            let warm = if todo > 0 { exp.warmup } else { 0 };
            let overhead = if cell.model.is_external() {
                OVERHEAD_S + EXTERNAL_START_S
            } else {
                OVERHEAD_S
            };
            let estimate = (ideal.unwrap_or(0.0) + overhead) * (todo + warm) as f64;
            seconds_total += estimate;
            cells_total += 1;
            let mut line = format!(
                "  {:<12} {:<width$} {:>7}",
                cell.id,
                cell.model.name(),
                cell.workers
            );
            for (_, v) in &cell.axes {
                line.push_str(&format!(" {v:>12}"));
            }
            let status = if let Some(u) = &unavailable {
                format!("skipped: {}", u.what)
            } else if todo == 0 {
                "done".to_string()
            } else if done > 0 {
                format!("{done}/{reps} done")
            } else {
                "to run".into()
            };
            let estimate = if todo == 0 {
                "-".to_string()
            } else {
                seconds(estimate)
            };
            line.push_str(&format!(
                " {:>11} {:>11}  {status}",
                ideal.map_or_else(|| "?".to_string(), seconds),
                estimate
            ));
            if !say(&line) {
                return Ok(cells_total);
            }
        }
    }
    say(&format!(
        "{cells_total} cells; estimated run time {} (ideal bounds plus start-up; real runs take longer)",
        humantime::format_duration(std::time::Duration::from_secs(seconds_total.ceil() as u64))
    ));
    Ok(cells_total)
}
