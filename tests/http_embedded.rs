//! The embedded latency server: the `serve` verb, its child-process handle, and `http`
//! experiments run against it.

mod common;

use std::time::{Duration, Instant};

use common::{Lab, code, stderr};
use conclab::server::{ServerChild, ServerConfig};

fn server(cfg: ServerConfig) -> ServerChild {
    ServerChild::spawn(std::path::Path::new(env!("CARGO_BIN_EXE_conclab")), &cfg).unwrap()
}

fn get(url: &str) -> (u16, Vec<u8>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut r = agent.get(url).call().unwrap();
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_vec().unwrap())
}

#[test]
fn serve_answers_after_the_delay_with_the_size_and_status_asked_for() {
    let s = server(ServerConfig::default());
    assert!(s.base_url().starts_with("http://127.0.0.1:"));
    let started = Instant::now();
    let (status, body) = get(&format!("{}/delay/50ms?bytes=10", s.base_url()));
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!((status, body.len()), (200, 10));
    assert_eq!(
        get(&format!("{}/delay/0ms?status=503", s.base_url())).0,
        503
    );
    let (status, body) = get(&format!("{}/delay/abc", s.base_url()));
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("bad delay"));
    assert_eq!(
        get(&format!("{}/delay/1ms?bytes=many", s.base_url())).0,
        400
    );
    // the server is still up after malformed requests
    assert_eq!(get(&format!("{}/delay/0ms", s.base_url())).0, 200);
}

#[test]
fn error_rate_one_answers_503_and_dropping_the_handle_stops_the_server() {
    let s = server(ServerConfig {
        latency: Duration::ZERO,
        error_rate: 1.0,
        ..Default::default()
    });
    assert_eq!(get(&format!("{}/", s.base_url())).0, 503);
    let pid = s.pid() as i32;
    drop(s);
    // SAFETY: signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    assert!(!alive, "the server outlived its handle");
}

#[test]
fn serve_rejects_bad_flags_with_exit_2() {
    let lab = Lab::new();
    let o = lab
        .cmd()
        .args(["serve", "--latency", "fast"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--latency"), "{}", stderr(&o));
}

#[test]
fn a_burst_of_2000_requests_on_one_event_loop_all_answer_200_and_no_server_is_left() {
    let lab = Lab::new();
    lab.write("b.toml", "repetitions = 1\n[workload]\nkind = \"http\"\ntasks = 2000\nlatency = \"100ms\"\nbody_bytes = 64\n[matrix]\nmodel = [\"async\", \"async_pool\"]\nworkers = [2000]\n");
    let out = lab.run(&["b.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let runs = lab.csv("results/b/runs.csv");
    assert_eq!(runs.column("detail"), ["200:2000", "200:2000"]);
    let tasks = lab.csv("results/b/tasks.csv");
    assert!(tasks.column("bytes").iter().all(|b| *b == "64"));
    let orphans = servers_started_in(lab.path());
    assert!(orphans.is_empty(), "orphan server(s): {orphans:?}");
}

/// Pids of `conclab serve` processes whose working folder is `dir`: the servers a run in
/// that lab started (other tests' servers run elsewhere).
fn servers_started_in(dir: &std::path::Path) -> Vec<u32> {
    let dir = dir.canonicalize().unwrap();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let serving = args.first().is_some_and(|a| a.ends_with(b"conclab"))
            && args.get(1) == Some(&&b"serve"[..]);
        if serving && std::fs::read_link(entry.path().join("cwd")).ok() == Some(dir.clone()) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn error_rate_and_timeouts_fail_cells_with_their_kinds_and_the_rest_still_run() {
    let lab = Lab::new();
    lab.write("e.toml", "repetitions = 1\n[workload]\nkind = \"http\"\ntasks = 50\nlatency = \"1ms\"\nerror_rate = 0.2\n[matrix]\nmodel = [\"thread_pool\", \"async\"]\nworkers = [10]\n");
    let out = lab.run(&["e.toml"]);
    assert_eq!(code(&out), 1);
    let runs = lab.csv("results/e/runs.csv");
    assert_eq!(runs.rows.len(), 2);
    let details = runs.column("detail");
    assert!(
        details[0].starts_with("200:") && details[0].contains(" 503:"),
        "{details:?}"
    );
    assert_eq!(
        details[0], details[1],
        "both models meet the same failing requests"
    );
    assert!(runs.column("check").iter().all(|c| *c == "fail"));

    lab.write("t.toml", "repetitions = 1\n[workload]\nkind = \"http\"\ntasks = 2\nlatency = \"3s\"\nrequest_timeout = \"200ms\"\n[matrix]\nmodel = [\"sequential\", \"async\"]\nworkers = [2]\n");
    let out = lab.run(&["t.toml"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        lab.csv("results/t/runs.csv").column("detail"),
        ["timeout:2", "timeout:2"]
    );
}

#[test]
fn over_http2_the_same_requests_fail_and_time_out_with_their_kinds() {
    // Each HTTP/2 request is a stream its own task drives: a 503 stays that request's, and
    // a timeout cancels only its stream, so the counts match HTTP/1.1's.
    let lab = Lab::new();
    lab.write("e.toml", "repetitions = 1\n[workload]\nkind = \"http\"\ntasks = 50\nlatency = \"1ms\"\nerror_rate = 0.2\n[matrix]\nmodel = [\"async\"]\nworkers = [10]\nhttp_version = [\"1.1\", \"2\"]\n");
    let out = lab.run(&["e.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let runs = lab.csv("results/e/runs.csv");
    let details = runs.column("detail");
    assert!(
        details[0].starts_with("200:") && details[0].contains(" 503:"),
        "{details:?}"
    );
    assert_eq!(details[0], details[1], "both versions meet the same 503s");

    lab.write("t.toml", "repetitions = 1\n[workload]\nkind = \"http\"\ntasks = 3\nlatency = \"3s\"\nrequest_timeout = \"200ms\"\n[matrix]\nmodel = [\"async\", \"async_pool\"]\nworkers = [3]\nhttp_version = [\"2\"]\n");
    let out = lab.run(&["t.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(
        lab.csv("results/t/runs.csv").column("detail"),
        ["timeout:3", "timeout:3"]
    );
}

#[test]
fn http2_cells_answer_every_request_as_http2_beside_http1_cells() {
    let lab = Lab::new();
    lab.write("h.toml", "repetitions = 1\n[workload]\nkind = \"http\"\ntasks = 300\nlatency = \"50ms\"\nbody_bytes = 32\n[matrix]\nmodel = [\"async\", \"async_pool\"]\nworkers = [300]\nhttp_version = [\"1.1\", 2]\n");
    let out = lab.run(&["h.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let runs = lab.csv("results/h/runs.csv");
    let mut versions = runs.column("http_version");
    versions.sort();
    assert_eq!(versions, ["1.1", "1.1", "2", "2"]);
    // The client checks the protocol of every answer: an HTTP/1.1 answer in an HTTP/2 cell
    // would be a `protocol` error here.
    assert!(
        runs.column("detail").iter().all(|d| *d == "200:300"),
        "{:?}",
        runs.column("detail")
    );
    let tasks = lab.csv("results/h/tasks.csv");
    assert_eq!(tasks.rows.len(), 4 * 300);
    assert!(tasks.column("bytes").iter().all(|b| *b == "32"));
}
