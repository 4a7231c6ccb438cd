//! Speed figures of `process_pool` and `gil_threads` (release build; see the README).

// cargo build --release && cargo run --release --example models_bench
// Starts workers from $CONCLAB_EXE, else the conclab binary beside this example's folder.

use std::time::Duration;

use conclab::model::{Execution, ModelKind, process_pool, run_alone};
use conclab::workload::hash_chain::HashChainConfig;
use conclab::workload::hash_chain::SEED_INPUTS;
use conclab::workload::sleep::SleepConfig;
use conclab::workload::{Cancel, Check, WorkloadConfig};

fn run(kind: ModelKind, config: &WorkloadConfig, workers: usize) -> (Duration, Execution) {
    let alone = run_alone(kind, config, workers, &Cancel::new()).unwrap();
    assert_ne!(
        alone.verdict.check,
        Check::Fail,
        "{kind}: {:?}",
        alone.verdict
    );
    (alone.wall, alone.execution)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn chains(iterations: u64, tasks: usize) -> WorkloadConfig {
    WorkloadConfig::HashChain(HashChainConfig {
        inputs: SEED_INPUTS.iter().map(|s| s.to_string()).collect(),
        iterations,
        tasks,
        expect: Default::default(),
    })
}

fn main() {
    let exe = std::env::var_os("CONCLAB_EXE")
        .map(Into::into)
        .unwrap_or_else(|| {
            let me = std::env::current_exe().unwrap();
            me.parent().unwrap().parent().unwrap().join("conclab")
        });
    process_pool::use_executable(exe);
    // Rounds interleave the models and each is compared with the sequential run of its
    // own round: the speed of this shared machine's cores drifts by ±25% over seconds,
    // and per-round ratios cancel most of that drift.
    let six = chains(1_000_000, 6);
    let cells = [
        ("sequential      ", ModelKind::Sequential, 1),
        ("process_pool w=2", ModelKind::ProcessPool, 2),
        ("process_pool w=3", ModelKind::ProcessPool, 3),
        ("gil_threads w=1 ", ModelKind::GilThreads, 1),
        ("gil_threads w=2 ", ModelKind::GilThreads, 2),
        ("gil_threads w=4 ", ModelKind::GilThreads, 4),
    ];
    let rounds = 5;
    let mut walls = vec![Vec::new(); cells.len()];
    let mut speedups = vec![Vec::new(); cells.len()];
    for _ in 0..rounds {
        let round: Vec<f64> = cells
            .iter()
            .map(|(_, kind, w)| run(*kind, &six, *w).0.as_secs_f64())
            .collect();
        for (i, t) in round.iter().enumerate() {
            walls[i].push(*t);
            speedups[i].push(round[0] / t);
        }
    }
    println!("six 1M-step chains, {rounds} interleaved rounds:");
    for (i, (name, _, _)) in cells.iter().enumerate() {
        let mut s = speedups[i].clone();
        s.sort_by(f64::total_cmp);
        println!(
            "  {name}  median {:.3} s   speedup: median {:.2}x  (range {:.2}..{:.2})",
            median(walls[i].clone()),
            s[s.len() / 2],
            s[0],
            s[s.len() - 1]
        );
    }

    // A pool of two that starts, answers one one-step task, and is torn down.
    let one = chains(1, 1);
    let starts: Vec<(f64, f64, f64)> = (0..30)
        .map(|_| {
            let (wall, e) = run(ModelKind::ProcessPool, &one, 2);
            (
                e.setup.as_secs_f64(),
                e.records[0].end_s,
                wall.as_secs_f64(),
            )
        })
        .collect();
    println!("process pool of 2, median of {}:", starts.len());
    println!(
        "  started {:.2} ms, first task answered {:.2} ms, torn down {:.2} ms",
        median(starts.iter().map(|s| s.0 * 1e3).collect()),
        median(starts.iter().map(|s| s.1 * 1e3).collect()),
        median(starts.iter().map(|s| s.2 * 1e3).collect()),
    );

    let tiny = chains(1, 10_000);
    for w in [1, 2] {
        let per_task: Vec<f64> = (0..3)
            .map(|_| {
                let (wall, e) = run(ModelKind::ProcessPool, &tiny, w);
                (wall - e.setup).as_secs_f64() / 10_000.0 * 1e6
            })
            .collect();
        println!(
            "  10,000 one-step tasks, w={w}: {:.1} µs per task (round trip per worker {:.1} µs)",
            median(per_task.clone()),
            median(per_task) * w as f64
        );
    }

    let sleeps = WorkloadConfig::Sleep(SleepConfig {
        tasks: 100,
        duration: Duration::from_millis(50),
    });
    let t = median(
        (0..5)
            .map(|_| run(ModelKind::GilThreads, &sleeps, 100).0.as_secs_f64())
            .collect(),
    );
    println!(
        "gil_threads w=100 on 100 sleeps of 50 ms: {:.1} ms ({:.2}x the 50 ms ideal)",
        t * 1e3,
        t / 0.05
    );
}
