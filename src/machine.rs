//! What the machine delivers during a run: one thread's hash speed and the cores' worth that `cores` busy threads get.

use std::collections::BTreeMap;
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::workload::hash_chain::{Chain, chain_hex};

/// Samples of each kind in one probe: a probe keeps the best, so one sample slowed by a
/// neighbour on the host does not speak for the whole moment.
const SAMPLES_PER_PROBE: usize = 3;

/// Steps one calibration sample times, as `hash_chain::calibrate_ns_per_hash` does.
const CALIBRATION_STEPS: u64 = 2_000;

/// How long one thread, then `cores` threads, hash for one capacity sample: long enough
/// to span many scheduler slices, short enough to keep a probe well under half a second.
const WINDOW: Duration = Duration::from_millis(40);

/// Hash steps between two clock readings: about 150 µs of work, so reading the clock costs
/// nothing and a window overshoots by at most that (the rate uses the real elapsed time).
const STEPS_PER_CHECK: u64 = 256;

/// A probe whose best capacity falls below this share of the cores makes the run's warning.
const WARN_BELOW: f64 = 0.9;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SampleKind {
    /// Nanoseconds per SHA-512 chain step on one thread.
    NsPerHash,
    /// Cores' worth delivered: the hash rate of `cores` threads over that of one.
    Capacity,
}

/// One measurement, as written to `environment.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// When the sample was taken: RFC 3339 with milliseconds.
    pub at: String,
    /// The moment of the run the probe was taken at: "start", "between", "end".
    pub probe: String,
    /// Which probe of the run (0 = the first): tells apart the `between` probes.
    pub probe_index: usize,
    pub what: SampleKind,
    /// ns per hash step on one thread, or cores' worth delivered.
    pub value: f64,
}

/// The probes taken during one run, for a machine with `cores` cores.
#[derive(Debug, Clone)]
pub struct Watch {
    cores: usize,
    samples: Vec<Sample>,
}

impl Watch {
    pub fn new(cores: usize) -> Watch {
        Watch::from_samples(cores, Vec::new())
    }

    /// A watch over samples already taken (read back from `environment.json`, or made by hand).
    pub fn from_samples(cores: usize, samples: Vec<Sample>) -> Watch {
        Watch {
            cores: cores.max(1),
            samples,
        }
    }

    /// Takes one probe: `SAMPLES_PER_PROBE` calibration samples and as many capacity
    /// samples, interleaved, and records them all.
    ///
    /// Cost: each capacity sample hashes for three 40 ms windows (one thread, `cores`
    /// threads, one thread) and each calibration sample for 2,000 steps (1-5 ms), so a
    /// probe takes about 0.4 s of wall time and keeps every core busy for a third of it.
    pub fn probe(&mut self, moment: &str) {
        let probe_index = self
            .samples
            .iter()
            .map(|s| s.probe_index + 1)
            .max()
            .unwrap_or(0);
        for _ in 0..SAMPLES_PER_PROBE {
            self.record(moment, probe_index, SampleKind::NsPerHash, ns_per_hash());
            self.record(
                moment,
                probe_index,
                SampleKind::Capacity,
                capacity(self.cores),
            );
        }
    }

    fn record(&mut self, moment: &str, probe_index: usize, what: SampleKind, value: f64) {
        self.samples.push(Sample {
            at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            probe: moment.to_string(),
            probe_index,
            what,
            value,
        });
    }

    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The fastest single-thread hash step seen in the run.
    pub fn best_ns_per_hash(&self) -> Option<f64> {
        self.values(SampleKind::NsPerHash).reduce(f64::min)
    }

    /// Best capacity of each probe, in probe order (one value per probe).
    pub fn capacities(&self) -> Vec<f64> {
        let mut best: BTreeMap<usize, f64> = BTreeMap::new();
        for s in self
            .samples
            .iter()
            .filter(|s| s.what == SampleKind::Capacity)
        {
            best.entry(s.probe_index)
                .and_modify(|b| *b = b.max(s.value))
                .or_insert(s.value);
        }
        best.into_values().collect()
    }

    /// Says what the machine delivered when some probe's best fell below 90% of its cores.
    pub fn warning(&self) -> Option<String> {
        let bests = self.capacities();
        let floor = WARN_BELOW * self.cores as f64;
        if !bests.iter().any(|&c| c < floor) {
            return None;
        }
        let low = format!("{:.2}", bests.iter().copied().fold(f64::INFINITY, f64::min));
        let high = format!("{:.2}", bests.iter().copied().fold(0.0, f64::max));
        let range = if low == high {
            low
        } else {
            format!("{low}-{high}")
        };
        Some(format!(
            "the machine delivered {range} of its {} cores during this run; \
             CPU speedups are capped by that, not by the models",
            self.cores
        ))
    }

    fn values(&self, what: SampleKind) -> impl Iterator<Item = f64> + '_ {
        self.samples
            .iter()
            .filter(move |s| s.what == what)
            .map(|s| s.value)
    }
}

/// One calibration sample: a short chain on this thread, timed.
fn ns_per_hash() -> f64 {
    let t = Instant::now();
    std::hint::black_box(chain_hex("calibrate", CALIBRATION_STEPS));
    t.elapsed().as_secs_f64() * 1e9 / CALIBRATION_STEPS as f64
}

/// One capacity sample: what `cores` threads hashing together deliver, in single threads.
/// One thread is timed before and after, and the faster of the two is the unit: a single
/// thread slowed by the host would otherwise inflate the ratio past the core count.
fn capacity(cores: usize) -> f64 {
    let before = steps_per_second(1);
    let together = steps_per_second(cores);
    let after = steps_per_second(1);
    together / before.max(after)
}

/// Hash steps per second that `threads` threads deliver together over one window each.
///
/// The rate divides all steps by the span from the first thread's start to the last
/// thread's end, so threads that the host runs one after another (not side by side)
/// count as one thread's worth, not as `threads`.
fn steps_per_second(threads: usize) -> f64 {
    let go = Barrier::new(threads);
    let runs: Vec<(u64, Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut chain = Chain::new("capacity");
                    go.wait();
                    let start = Instant::now();
                    let mut steps = 0;
                    loop {
                        chain.step(STEPS_PER_CHECK);
                        steps += STEPS_PER_CHECK;
                        let now = Instant::now();
                        if now - start >= WINDOW {
                            std::hint::black_box(&mut chain);
                            return (steps, start, now);
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a hashing thread panicked"))
            .collect()
    });
    let steps: u64 = runs.iter().map(|r| r.0).sum();
    let first = runs.iter().map(|r| r.1).min().expect("at least one thread");
    let last = runs.iter().map(|r| r.2).max().expect("at least one thread");
    steps as f64 / (last - first).as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(probe_index: usize, what: SampleKind, value: f64) -> Sample {
        Sample {
            at: "2026-12-01T10:00:00.000Z".into(),
            probe: if probe_index == 0 { "start" } else { "between" }.into(),
            probe_index,
            what,
            value,
        }
    }

    fn capacities(per_probe: &[&[f64]]) -> Vec<Sample> {
        per_probe
            .iter()
            .enumerate()
            .flat_map(|(i, values)| {
                values
                    .iter()
                    .map(move |&v| sample(i, SampleKind::Capacity, v))
            })
            .collect()
    }

    #[test]
    fn warning_gives_the_range_of_probe_bests() {
        let w = Watch::from_samples(2, capacities(&[&[1.9, 2.06, 2.0], &[1.3, 1.44, 1.2]]));
        assert_eq!(
            w.warning().as_deref(),
            Some(
                "the machine delivered 1.44-2.06 of its 2 cores during this run; \
                 CPU speedups are capped by that, not by the models"
            )
        );
    }

    #[test]
    fn one_low_probe_names_one_value() {
        let w = Watch::from_samples(4, capacities(&[&[2.5, 3.1]]));
        let warning = w.warning().unwrap();
        assert!(
            warning.starts_with("the machine delivered 3.10 of its 4 cores"),
            "{warning}"
        );
    }

    #[test]
    fn no_warning_at_or_above_ninety_percent() {
        let w = Watch::from_samples(2, capacities(&[&[1.5, 1.8], &[1.95], &[2.01, 1.0]]));
        assert_eq!(w.warning(), None);
        assert_eq!(Watch::new(2).warning(), None);
    }

    #[test]
    fn best_ns_per_hash_is_the_fastest() {
        let w = Watch::from_samples(
            2,
            vec![
                sample(0, SampleKind::NsPerHash, 610.0),
                sample(0, SampleKind::Capacity, 1.0),
                sample(1, SampleKind::NsPerHash, 580.5),
                sample(1, SampleKind::NsPerHash, 700.0),
            ],
        );
        assert_eq!(w.best_ns_per_hash(), Some(580.5));
        assert_eq!(Watch::new(2).best_ns_per_hash(), None);
    }

    #[test]
    fn capacities_are_the_best_of_each_probe_in_order() {
        let mut samples = capacities(&[&[1.2, 1.9, 1.5], &[2.0], &[0.8, 0.7]]);
        samples.push(sample(1, SampleKind::NsPerHash, 9999.0));
        samples.swap(0, 5);
        let w = Watch::from_samples(2, samples);
        assert_eq!(w.capacities(), vec![1.9, 2.0, 0.8]);
    }

    #[test]
    fn sample_round_trips_with_a_snake_case_kind() {
        let s = sample(3, SampleKind::NsPerHash, 612.25);
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""what":"ns_per_hash""#), "{json}");
        assert_eq!(serde_json::from_str::<Sample>(&json).unwrap(), s);
        let cap = serde_json::to_string(&SampleKind::Capacity).unwrap();
        assert_eq!(cap, r#""capacity""#);
    }

    #[test]
    fn a_probe_records_every_sample() {
        let mut w = Watch::new(2);
        w.probe("start");
        w.probe("between");
        let samples = w.samples();
        assert_eq!(samples.len(), 4 * SAMPLES_PER_PROBE);
        assert!(samples.iter().all(|s| s.value > 0.0), "{samples:?}");
        let (start, between) = samples.split_at(2 * SAMPLES_PER_PROBE);
        assert!(
            start
                .iter()
                .all(|s| s.probe == "start" && s.probe_index == 0)
        );
        assert!(
            between
                .iter()
                .all(|s| s.probe == "between" && s.probe_index == 1)
        );
        for kind in [SampleKind::NsPerHash, SampleKind::Capacity] {
            let n = start.iter().filter(|s| s.what == kind).count();
            assert_eq!(n, SAMPLES_PER_PROBE);
        }
        assert!(humantime::parse_rfc3339(&samples[0].at).is_ok());
        assert_eq!(w.capacities().len(), 2);
    }
}
