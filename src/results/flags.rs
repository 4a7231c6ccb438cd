//! Figures that cannot be trusted as they stand: one code per reason, and what to do.

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
/// Reported CPU time beyond what the cores could give in the wall time, with this margin
/// for clock granularity, is `impossible`: no program did that.
pub const IMPOSSIBLE_CPU_MARGIN: f64 = 1.1;
/// `slowed` is judged only on cells whose median wall time is at least this: below it a
/// process's start-up (loading, page faults, a pool's threads) is a large share of the
/// CPU time counted per hash, and the calibration is of hashing alone.
pub const SLOWED_MIN_MEDIAN_S: f64 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flag {
    Noisy,
    BeyondCores,
    BelowIdeal,
    FewRepetitions,
    Slowed,
    Impossible,
}

impl Flag {
    pub const ALL: [Flag; 6] = [
        Flag::Noisy,
        Flag::BeyondCores,
        Flag::BelowIdeal,
        Flag::FewRepetitions,
        Flag::Slowed,
        Flag::Impossible,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Noisy => "noisy",
            Flag::BeyondCores => "beyond_cores",
            Flag::BelowIdeal => "below_ideal",
            Flag::FewRepetitions => "few_repetitions",
            Flag::Slowed => "slowed",
            Flag::Impossible => "impossible",
        }
    }

    pub fn parse(s: &str) -> Option<Flag> {
        Flag::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// What the flag means for the cells listed, and what to do about it.
    pub fn advice(self, cores: usize) -> String {
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
                "each hash cost over {:.0}% more CPU time than the calibrated best: the cores slowed each other (shared caches, clock speed, the host's other guests); the speedup is capped by that, not by the model (judged only on cells of at least {:.0} ms: in shorter ones start-up dominates the CPU time)",
                (1.0 / SLOWED - 1.0) * 100.0,
                SLOWED_MIN_MEDIAN_S * 1000.0
            ),
            Flag::Impossible => format!(
                "the reported CPU time exceeds wall time x {cores} cores x {}: no machine gives that, so no cores busy or per-core speed is derived from it; check how the model's program measures its CPU time",
                IMPOSSIBLE_CPU_MARGIN
            ),
        }
    }
}
