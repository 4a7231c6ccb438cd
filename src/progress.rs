//! Progress of a run on stderr: a bar on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    total: u64,
    done: u64,
    cells_total: usize,
    cells_done: usize,
}

impl Progress {
    /// `total` repetitions (warm-ups included) over `cells` cells.
    pub fn new(total: u64, cells: usize, quiet: bool) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal && total > 0).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} reps  ETA {eta}  {msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            plain: !quiet && !terminal,
            total,
            done: 0,
            cells_total: cells,
            cells_done: 0,
        }
    }

    /// A repetition of `label` is about to start.
    pub fn start(&self, experiment: &str, label: &str, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "cells {}/{}  {experiment}: {label} ({what})",
                self.cells_done, self.cells_total
            ));
        }
    }

    /// A repetition finished; `summary` is e.g. "1.234 s pass".
    pub fn finish(&mut self, experiment: &str, label: &str, what: &str, summary: &str) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        } else if self.plain {
            eprintln!(
                "[{}/{}] {experiment}: {label} {what}: {summary}",
                self.done, self.total
            );
        }
    }

    /// More repetitions than estimated at the start (`repetitions = "auto"` going on).
    pub fn extend(&mut self, more: u64) {
        self.total += more;
        if let Some(bar) = &self.bar {
            bar.inc_length(more);
        }
    }

    pub fn cell_done(&mut self) {
        self.cells_done += 1;
    }

    /// Prints a line without tearing the bar.
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
