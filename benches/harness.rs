//! What the harness itself costs: hashing against a bare sha2 loop, span recording, plan
//! speed on a 10,000-cell matrix, and memory over many repetitions.
//! Run with `cargo bench --bench harness`; the figures go in the README.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conclab::model::{ModelKind, run_workload};
use conclab::workload::hash_chain::{HashChain, HashChainConfig};
use conclab::workload::{
    AsyncWorker, BuildEnv, Cancel, TaskFuture, TaskRecord, TaskResult, Verdict, Worker, Workload,
    WorkloadConfig,
};
use sha2::{Digest, Sha512};

fn bare_chain(input: &str, iterations: u64) -> [u8; 128] {
    let mut hex = [0u8; 128];
    hex::encode_to_slice(Sha512::digest(input.as_bytes()), &mut hex).unwrap();
    for _ in 1..iterations {
        let d = Sha512::digest(hex);
        hex::encode_to_slice(d, &mut hex).unwrap();
    }
    hex
}

fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap()
}

/// CPU time of the calling thread: unlike wall time, it does not count the moments another
/// program held the core, so two loops can be compared on a busy machine.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn best_cpu_of<T>(mut f: impl FnMut() -> T) -> Duration {
    let t = thread_cpu();
    std::hint::black_box(f());
    thread_cpu() - t
}

fn hashing() {
    const N: u64 = 1_000_000;
    // Alternate the two so that a noisy moment hurts both alike; keep each one's best.
    let mut bare = Duration::MAX;
    let mut harnessed = Duration::MAX;
    let config = HashChainConfig {
        inputs: vec!["pass".into()],
        iterations: N,
        tasks: 1,
        expect: Default::default(),
    };
    let workload: Arc<dyn Workload> = Arc::new(HashChain::new(config));
    let cancel = Cancel::new();
    for _ in 0..5 {
        bare = bare.min(best_cpu_of(|| bare_chain("pass", N)));
        harnessed = harnessed.min(best_cpu_of(|| {
            run_workload(ModelKind::Sequential, &workload, 1, &cancel).unwrap()
        }));
    }
    let per = |d: Duration| d.as_secs_f64() * 1e9 / N as f64;
    println!(
        "hash chain, 1M steps (thread CPU time, best of 5): bare sha2 loop {:.0} ns/hash, conclab sequential {:.0} ns/hash ({:+.1}%)",
        per(bare),
        per(harnessed),
        (per(harnessed) / per(bare) - 1.0) * 100.0
    );
}

/// A task that does nothing, to expose what the model adds around each task.
struct Noop(WorkloadConfig);

impl Workload for Noop {
    fn config(&self) -> &WorkloadConfig {
        &self.0
    }
    fn run_blocking(&self, _task: usize, _worker: &mut Worker<'_>) -> TaskResult {
        TaskResult::done()
    }
    fn run_async<'a>(&'a self, _task: usize, _worker: &'a AsyncWorker) -> TaskFuture<'a> {
        Box::pin(async { TaskResult::done() })
    }
    fn verify(&self, _records: &[TaskRecord]) -> Verdict {
        Verdict::pass("")
    }
}

fn span_recording() {
    const TASKS: usize = 1_000_000;
    let config = WorkloadConfig::Sleep(conclab::workload::sleep::SleepConfig {
        tasks: TASKS,
        duration: Duration::ZERO,
    });
    let workload: Arc<dyn Workload> = Arc::new(Noop(config));
    let cancel = Cancel::new();
    let direct = best_of(3, || {
        let mut worker = Worker::new(0, &cancel);
        let mut results = Vec::with_capacity(TASKS);
        for t in 0..TASKS {
            results.push(workload.run_blocking(t, &mut worker));
        }
        results
    });
    // Includes what the runner does with the records afterwards: sorting and verifying.
    let recorded = best_of(3, || {
        run_workload(ModelKind::Sequential, &workload, 1, &cancel).unwrap()
    });
    let extra = (recorded.as_secs_f64() - direct.as_secs_f64()) * 1e9 / TASKS as f64;
    println!(
        "span recording: {extra:.0} ns per task on top of calling the task ({TASKS} no-op tasks, sequential model)"
    );
}

fn plan_speed() {
    let dir = tempfile::tempdir().unwrap();
    let workers: Vec<String> = (1..=1429).map(|w| w.to_string()).collect();
    let text = format!(
        "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thread_pool\", \"rayon\", \"async\", \"async_pool\", \"async_blocking\", \"gil_threads\", \"process_pool\", \"sequential\", \"threads\"]\nworkers = [{}]\n",
        workers.join(", ")
    );
    let file = dir.path().join("big.toml");
    std::fs::write(&file, text).unwrap();
    let exe = env!("CARGO_BIN_EXE_conclab");
    let run = || {
        std::process::Command::new(exe)
            .arg("plan")
            .arg(&file)
            .arg("--out")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let out = run();
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let mut times: Vec<Duration> = (0..7)
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "plan, whole process: median {:.0} ms ({last})",
        times[3].as_secs_f64() * 1e3
    );
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn memory_over_repetitions() {
    let exp = conclab::experiment::parse_experiment(
        "mem.toml",
        "[workload]\nkind = \"sleep\"\ntasks = 100\nduration = \"1us\"\n[matrix]\nmodel = [\"thread_pool\"]\nworkers = [4]\n",
        std::path::Path::new("mem.toml"),
        &[],
    )
    .unwrap();
    let cell = conclab::experiment::expand::expand(&exp).remove(0);
    let workload = cell.workload.build(&BuildEnv::default()).unwrap();
    let mut samples = Vec::new();
    let calibration = conclab::workload::Calibration {
        ns_per_hash: 570.0,
        request_latency_s: None,
    };
    for rep in 1..=2000 {
        let r = conclab::engine::measure_repetition(
            &cell,
            &workload,
            &BuildEnv::default(),
            Duration::from_secs(10),
            2,
            &calibration,
            false,
        );
        std::hint::black_box(r);
        if rep == 100 || rep == 2000 {
            samples.push(rss_kib());
        }
    }
    println!(
        "memory: resident {} KiB after 100 repetitions, {} KiB after 2000 (thread_pool, 100 tasks each)",
        samples[0], samples[1]
    );
}

/// A results folder with 100 cells and 100,000 task spans, charted.
fn chart_speed() {
    let dir = tempfile::tempdir().unwrap();
    let models = ["thread_pool", "rayon", "async", "async_pool"];
    let mut summary = String::from(
        "experiment,cell,workload,model,workers,n,median_s,mean_s,stddev_s,min_s,max_s,cv,speedup,efficiency,ideal_s,vs_ideal,user_s,sys_s,cpu_util,check,outliers\n",
    );
    let mut tasks = String::from(
        "cell,model,workers,task,lane,start_s,end_s,ok,detail,status,bytes,latency_s,error\n",
    );
    for m in models {
        for w in 1..=25usize {
            let t = 10.0 / w as f64;
            summary.push_str(&format!(
                "big,{m}{w},sleep,{m},{w},3,{t},{t},0.01,{},{},0.01,{w},1,{t},1,0,0,0.1,pass,0\n",
                t * 0.95,
                t * 1.05
            ));
            for task in 0..1000usize {
                let lane = if m == "async" { 0 } else { task % w };
                let start = (task / w) as f64 * 0.01;
                tasks.push_str(&format!(
                    "{m}{w},{m},{w},{task},{lane},{start},{},true,,,,,\n",
                    start + 0.01
                ));
            }
        }
    }
    std::fs::write(dir.path().join("summary.csv"), summary).unwrap();
    std::fs::write(dir.path().join("tasks.csv"), tasks).unwrap();
    let t = Instant::now();
    let files =
        conclab::chart::render_experiment(dir.path(), &conclab::chart::ChartOptions::default())
            .unwrap();
    println!(
        "charts: {} PNGs from 100 cells and 100,000 task spans in {:.2} s",
        files.len(),
        t.elapsed().as_secs_f64()
    );
}

/// Statistics, intervals and flags of 10,000 cells of three repetitions each, and the
/// printed comparisons.
fn summary_speed() {
    use conclab::results::cell::CellId;
    use conclab::results::runs::RunRow;
    use conclab::workload::Check;
    let models = ["sequential", "thread_pool", "rayon", "process_pool"];
    let mut cells = Vec::new();
    let mut rows = Vec::new();
    for i in 0..10_000usize {
        let model = models[i % models.len()];
        let cell = format!("c{i}");
        for rep in 1..=3u32 {
            let wall = 1.0 + (i % 7) as f64 * 0.1 + rep as f64 * 0.01;
            rows.push(RunRow {
                id: CellId {
                    experiment: "big".into(),
                    cell: cell.clone(),
                    workload: "hash_chain".into(),
                    model: model.into(),
                    workers: 1 + i % 64,
                    axes: vec![("iterations".into(), (i / 4).to_string())],
                },
                repetition: rep,
                wall_s: wall,
                setup_s: 0.0,
                user_s: wall * 1.9,
                sys_s: 0.01,
                peak_rss_kib: Some(5000),
                tasks: 6,
                ok: 6,
                failed: 0,
                check: Check::Pass,
                detail: String::new(),
                ideal_s: Some(1.0),
                task_p50_s: None,
                task_p99_s: None,
                started_at: String::new(),
                host: String::new(),
                in_flight: Some(2.0),
                hashes: Some(6_000_000),
                calibrated_ns_per_hash: Some(570.0),
                fingerprint: None,
                implementation: String::new(),
            });
        }
        cells.push(cell);
    }
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let s = conclab::results::summarize::summarize(&cells, &rows, 2, &Default::default());
            std::hint::black_box(conclab::report::warnings(&s, 2));
            std::hint::black_box(conclab::report::comparisons(&s));
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "summary: statistics, intervals and flags of 10,000 cells (30,000 rows): median {:.0} ms of 5",
        times[2].as_secs_f64() * 1e3
    );
}

fn main() {
    summary_speed();
    memory_over_repetitions();
    hashing();
    span_recording();
    plan_speed();
    chart_speed();
}
