//! The `hash_chain` workload: `b = lowercase_hex(sha512(b))`, repeated, from each input.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

use super::{
    AsyncWorker, BuildEnv, Calibration, Kind, KindConfig, Output, Part, TaskCost, TaskFuture,
    TaskRecord, TaskResult, Verdict, Worker, Workload, WorkloadConfig, task_errors,
};
use crate::workload::params::{
    Default, KindDef, MAX_TASKS, ParamDef, ParamType, Params, ParamsExt, StepUse, Work,
};

/// Hash steps between two checks for cancellation and interpreter-lock hand-over:
/// about 36 µs of work, far below any switch interval, and the check costs ~1 ns.
const STEPS_PER_TICK: u64 = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HashChainConfig {
    pub inputs: Vec<String>,
    pub iterations: u64,
    pub tasks: usize,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expect: BTreeMap<String, String>,
}

/// A hash chain of about a week at most.
pub const MAX_ITERATIONS: u64 = 1_000_000_000_000;

pub const SEED_INPUTS: &[&str] = &["pass", "passwd", "MyPassw", "MyPasswd123", "p", "a"];

impl Kind for HashChainConfig {
    const DEF: KindDef = KindDef {
        name: "hash_chain",
        doc: "each task repeats b = lowercase_hex(sha512(b)) `iterations` times from utf8(input)",
        params: &[
            ParamDef {
                name: "inputs",
                ty: ParamType::Strings,
                default: Default::Strs(SEED_INPUTS),
                doc: "seed strings, cycled over the tasks",
            },
            ParamDef {
                name: "iterations",
                ty: ParamType::Count {
                    min: 1,
                    max: MAX_ITERATIONS,
                },
                default: Default::Int(1_000_000),
                doc: "hash steps per task",
            },
            ParamDef {
                name: "tasks",
                ty: ParamType::Count {
                    min: 1,
                    max: MAX_TASKS,
                },
                default: Default::LenOf("inputs", 6),
                doc: "number of chains (inputs cycled)",
            },
            ParamDef {
                name: "expect",
                ty: ParamType::DigestTable,
                default: Default::Absent,
                doc: "input = expected final hex digest",
            },
        ],
        step: StepUse::Any,
        work: Work::Computes,
        phases: false,
    };

    fn from_params(p: &Params) -> HashChainConfig {
        HashChainConfig {
            inputs: p.strings("inputs").unwrap_or_default(),
            iterations: p.count("iterations"),
            tasks: p.count("tasks") as usize,
            expect: p.table("expect"),
        }
    }
}

impl KindConfig for HashChainConfig {
    fn tasks(&self) -> usize {
        self.tasks
    }

    fn cost(&self, calibration: &Calibration) -> Option<TaskCost> {
        Some(TaskCost::new(
            TaskCost::chain(self.iterations, calibration),
            0.0,
        ))
    }

    fn hashes(&self) -> Option<u64> {
        Some(self.tasks as u64 * self.iterations)
    }

    fn parts(&self, task: usize, _env: &BuildEnv) -> Vec<Part> {
        vec![Part::Hash {
            input: self.input(task).to_string(),
            iterations: self.iterations,
        }]
    }

    fn build(&self, _env: &BuildEnv) -> anyhow::Result<Arc<dyn Workload>> {
        Ok(Arc::new(HashChain::new(self.clone())))
    }
}

impl HashChainConfig {
    pub fn input(&self, task: usize) -> &str {
        &self.inputs[task % self.inputs.len()]
    }
}

/// A hash chain in progress: the current 128 hex characters (or the seed, before step 1).
pub struct Chain {
    buf: Vec<u8>,
    hex: [u8; 128],
    started: bool,
}

impl Chain {
    pub fn new(input: &str) -> Chain {
        Chain {
            buf: input.as_bytes().to_vec(),
            hex: [0; 128],
            started: false,
        }
    }

    /// Advances the chain by `steps` hashes.
    #[inline]
    pub fn step(&mut self, steps: u64) {
        let mut remaining = steps;
        if !self.started && remaining > 0 {
            let digest = Sha512::digest(&self.buf);
            encode_hex(&digest, &mut self.hex);
            self.started = true;
            remaining -= 1;
        }
        for _ in 0..remaining {
            let digest = Sha512::digest(self.hex);
            encode_hex(&digest, &mut self.hex);
        }
    }

    pub fn hex(&self) -> String {
        if self.started {
            String::from_utf8_lossy(&self.hex).into_owned()
        } else {
            String::from_utf8_lossy(&self.buf).into_owned()
        }
    }
}

#[inline]
fn encode_hex(bytes: &[u8], out: &mut [u8; 128]) {
    hex::encode_to_slice(bytes, out).expect("64 bytes fill 128 hex digits");
}

/// The whole chain in one call, with no checks in between (the reference, and the speed baseline).
pub fn chain_hex(input: &str, iterations: u64) -> String {
    let mut c = Chain::new(input);
    c.step(iterations);
    c.hex()
}

/// Runs `iterations` steps with a tick between slices; None if cancelled.
pub fn run_chain(input: &str, iterations: u64, mut tick: impl FnMut() -> bool) -> Option<String> {
    let mut chain = Chain::new(input);
    let mut done = 0;
    while done < iterations {
        let n = STEPS_PER_TICK.min(iterations - done);
        chain.step(n);
        done += n;
        if !tick() {
            return None;
        }
    }
    Some(chain.hex())
}

/// Nanoseconds one hash step costs on this machine (a short calibration, best of three).
pub fn calibrate_ns_per_hash() -> f64 {
    let steps = 2_000;
    (0..3)
        .map(|_| {
            let t = std::time::Instant::now();
            std::hint::black_box(chain_hex("calibrate", steps));
            t.elapsed().as_secs_f64() * 1e9 / steps as f64
        })
        .fold(f64::INFINITY, f64::min)
}

pub struct HashChain {
    config: WorkloadConfig,
    c: HashChainConfig,
}

impl HashChain {
    pub fn new(c: HashChainConfig) -> HashChain {
        HashChain {
            config: WorkloadConfig::HashChain(c.clone()),
            c,
        }
    }
}

/// A finished chain's digest, or a cancelled task when the chain was stopped.
pub(super) fn digest_result(digest: Option<String>) -> TaskResult {
    match digest {
        Some(d) => TaskResult {
            ok: true,
            output: Output::Digest(d),
        },
        None => TaskResult::cancelled(),
    }
}

impl Workload for HashChain {
    fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    fn run_blocking(&self, task: usize, worker: &mut Worker<'_>) -> TaskResult {
        digest_result(run_chain(self.c.input(task), self.c.iterations, || {
            worker.tick()
        }))
    }

    fn run_async<'a>(&'a self, task: usize, worker: &'a AsyncWorker) -> TaskFuture<'a> {
        // CPU work runs on the event loop itself: that is the lesson.
        Box::pin(async move {
            digest_result(run_chain(self.c.input(task), self.c.iterations, || {
                !worker.cancelled()
            }))
        })
    }

    fn verify(&self, records: &[TaskRecord]) -> Verdict {
        verify_digests(&self.c, records)
    }
}

/// Checks every task's digest against `expect` and fingerprints the set so that models
/// and runs can be compared.
pub fn verify_digests(c: &HashChainConfig, records: &[TaskRecord]) -> Verdict {
    if let Some(v) = task_errors(records) {
        return v;
    }
    let mut all = Sha512::new();
    let mut mismatches = Vec::new();
    for r in records {
        let digest = match &r.result.output {
            Output::Digest(d) => d.as_str(),
            _ => return Verdict::fail(format!("task {} returned no digest", r.task)),
        };
        all.update(digest.as_bytes());
        all.update(b"\n");
        let input = c.input(r.task);
        if let Some(want) = c.expect.get(input)
            && want != digest
        {
            mismatches.push(format!(
                "input {input:?}: got {}… expected {}…",
                &digest[..digest.len().min(16)],
                &want[..want.len().min(16)]
            ));
        }
    }
    let fingerprint: String = hex::encode(all.finalize())[..16].to_string();
    if !mismatches.is_empty() {
        return Verdict {
            check: super::Check::Fail,
            detail: mismatches.join("; "),
            fingerprint: Some(fingerprint),
        };
    }
    let checked = if c.expect.is_empty() {
        String::new()
    } else {
        format!(" ({} expected digests match)", c.expect.len())
    };
    Verdict {
        check: super::Check::Pass,
        detail: format!("digest {fingerprint}{checked}"),
        fingerprint: Some(fingerprint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS_1000: &str = "e907f4045ca9cdf3db84faeae1d10edc5ff5d8f306045eaf3da545af7b06316842b503f620ba85debb21fe4ecceb2adb994fb158653a62925552202c2a057855";

    #[test]
    fn matches_reference_digests() {
        let one = chain_hex("pass", 1);
        assert!(one.starts_with("5b722b307fce6c94"), "{one}");
        assert!(one.ends_with("4aed4d25"), "{one}");
        assert_eq!(chain_hex("pass", 1000), PASS_1000);
    }

    #[test]
    fn sliced_chain_equals_whole_chain() {
        assert_eq!(run_chain("pass", 1000, || true).unwrap(), PASS_1000);
        assert_eq!(
            run_chain("pass", 63, || true).unwrap(),
            chain_hex("pass", 63)
        );
    }

    #[test]
    fn cancellation_stops_the_chain() {
        assert_eq!(run_chain("pass", 1000, || false), None);
    }

    fn record(task: usize, digest: &str) -> TaskRecord {
        TaskRecord {
            task,
            lane: 0,
            start_s: 0.0,
            end_s: 0.0,
            result: TaskResult {
                ok: true,
                output: Output::Digest(digest.into()),
            },
        }
    }

    #[test]
    fn expect_mismatch_fails_and_match_passes() {
        let mut c = HashChainConfig {
            inputs: vec!["pass".into()],
            iterations: 1000,
            tasks: 1,
            expect: BTreeMap::new(),
        };
        c.expect.insert("pass".into(), PASS_1000.into());
        assert_eq!(
            verify_digests(&c, &[record(0, PASS_1000)]).check,
            super::super::Check::Pass
        );
        let bad = verify_digests(&c, &[record(0, &"0".repeat(128))]);
        assert_eq!(bad.check, super::super::Check::Fail);
        assert!(
            bad.detail.contains("expected e907f4045ca9cdf3"),
            "{}",
            bad.detail
        );
    }

    #[test]
    fn fingerprint_depends_on_every_digest() {
        let c = HashChainConfig {
            inputs: vec!["a".into(), "b".into()],
            iterations: 1,
            tasks: 2,
            expect: BTreeMap::new(),
        };
        let a = verify_digests(&c, &[record(0, "x"), record(1, "y")]).fingerprint;
        let b = verify_digests(&c, &[record(0, "x"), record(1, "z")]).fingerprint;
        assert_ne!(a, b);
    }
}
