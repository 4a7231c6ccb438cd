//! Figures that cannot be trusted as they stand: one code per reason, and what to do.

use super::summary::SummaryRow;

/// Half-width of the median's interval, relative to the median, past which a cell is noisy.
pub const NOISY_HALF_WIDTH: f64 = 0.10;
/// A CPU speedup above `cores` times this is not physical.
pub const BEYOND_CORES_MARGIN: f64 = 1.05;
/// A median below its ideal bound times this means the bound was wrong.
pub const BELOW_IDEAL: f64 = 0.95;
/// Fewer measured repetitions give no spread worth the name.
pub const FEW_REPETITIONS: usize = 3;
/// A core speed under this: each unit of work cost noticeably more CPU than calibrated.
pub const SLOWED: f64 = 0.85;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flag {
    Noisy,
    BeyondCores,
    BelowIdeal,
    FewRepetitions,
    Slowed,
}

impl Flag {
    pub const ALL: [Flag; 5] = [
        Flag::Noisy,
        Flag::BeyondCores,
        Flag::BelowIdeal,
        Flag::FewRepetitions,
        Flag::Slowed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Noisy => "noisy",
            Flag::BeyondCores => "beyond_cores",
            Flag::BelowIdeal => "below_ideal",
            Flag::FewRepetitions => "few_repetitions",
            Flag::Slowed => "slowed",
        }
    }

    /// What the flag means for the cells listed, and what to do about it.
    fn advice(self, cores: usize) -> String {
        match self {
            Flag::Noisy => format!(
                "the 95% interval of the median is wider than ±{:.0}% of it: close other programs, or let `repetitions = \"auto\"` run until the figure is precise",
                NOISY_HALF_WIDTH * 100.0
            ),
            Flag::BeyondCores => format!(
                "a CPU-bound speedup above {cores} cores x {BEYOND_CORES_MARGIN} is not physical: the sequential baseline ran slowed (the machine was busy then); run again on a quieter machine before quoting it"
            ),
            Flag::BelowIdeal => format!(
                "the median is more than {:.0}% under its ideal bound, so the bound was off: the hash-rate calibration was taken in a slow moment, or the machine sped up",
                (1.0 - BELOW_IDEAL) * 100.0
            ),
            Flag::FewRepetitions => format!(
                "fewer than {FEW_REPETITIONS} repetitions give no spread: use repetitions >= {FEW_REPETITIONS} or \"auto\" for numbers you quote"
            ),
            Flag::Slowed => format!(
                "each hash cost over {:.0}% more CPU time than the calibrated best: the cores slowed each other (shared caches, clock speed, the host's other guests); the speedup is capped by that, not by the model",
                (1.0 / SLOWED - 1.0) * 100.0
            ),
        }
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
