//! One repetition of an async model's `http` workload against a server already running: the conclab side of benchmarks/peer-http.py.
//!
//! cargo run --release --example peer_http -- BASE_URL MODEL WORKERS TASKS LATENCY HTTP_VERSION
//! e.g. `-- http://127.0.0.1:8080 async 3000 3000 200ms 1.1`. Prints one line of JSON:
//! the wall time (as `runs.csv` measures it: from before the model starts its runtime to
//! after its last task), the verdict and its detail, and where the time went: when the
//! last task started, when the first answer came, the slowest request (seconds). The runner starts a server of its own
//! for every run; a peer comparison needs both clients on one server, hence this example.

use std::time::Duration;

use conclab::model::{ModelKind, run_workload};
use conclab::workload::http::HttpConfig;
use conclab::workload::{BuildEnv, Cancel, WorkloadConfig};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, model, workers, tasks, latency, version] = args.as_slice() else {
        anyhow::bail!("usage: peer_http BASE_URL MODEL WORKERS TASKS LATENCY HTTP_VERSION");
    };
    let kind: ModelKind = serde_json::from_value(serde_json::Value::String(model.clone()))?;
    let config = WorkloadConfig::Http(HttpConfig {
        tasks: tasks.parse()?,
        urls: None,
        latency: humantime::parse_duration(latency)?,
        jitter: Duration::ZERO,
        body_bytes: 1024,
        error_rate: 0.0,
        request_timeout: Duration::from_secs(30),
        http2: version == "2",
    });
    let env = BuildEnv {
        server_url: Some(base.trim_end_matches('/').to_string()),
    };
    let workload = config.build(&env)?;
    let alone = run_workload(kind, &workload, workers.parse()?, &Cancel::new())?;
    let spans = &alone.execution.records;
    println!(
        "{}",
        serde_json::json!({
            "wall_s": alone.wall.as_secs_f64(),
            "check": alone.verdict.check.as_str(),
            "detail": alone.verdict.detail,
            "last_start_s": spans.iter().map(|r| r.start_s).fold(0.0, f64::max),
            "slowest_s": spans.iter().map(|r| r.end_s - r.start_s).fold(0.0, f64::max),
            "first_end_s": spans.iter().map(|r| r.end_s).fold(f64::INFINITY, f64::min),
        })
    );
    Ok(())
}
