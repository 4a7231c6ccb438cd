//! Never pooling different places: resuming or merging rows of another machine is refused
//! unless `--by-host`; environment.json must be readable and keeps its samples.

mod common;

use common::{Lab, code, stderr};

const SLEEPS: &str = "repetitions = 2\n[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"1ms\"\n[matrix]\nmodel = [\"sequential\", \"thread_pool\"]\nworkers = [2]\n";

/// Rewrites the host id a results folder's environment.json and rows name: the folder now
/// looks measured on another machine.
fn fake_host(lab: &Lab, dir: &str, id: &str) {
    let runs = lab.path().join(dir).join("runs.csv");
    let mut r = csv::Reader::from_path(&runs).unwrap();
    let header = r.headers().unwrap().clone();
    let host = header.iter().position(|h| h == "host").unwrap();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header).unwrap();
    for rec in r.records() {
        let mut rec: Vec<String> = rec.unwrap().iter().map(str::to_string).collect();
        rec[host] = id.to_string();
        w.write_record(&rec).unwrap();
    }
    std::fs::write(&runs, w.into_inner().unwrap()).unwrap();
    let path = lab.path().join(dir).join("environment.json");
    let mut env: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    env["host_id"] = id.into();
    env["fingerprint"]["cpu_model"] = "another CPU".into();
    std::fs::write(&path, serde_json::to_string_pretty(&env).unwrap()).unwrap();
}

fn my_host(lab: &Lab, dir: &str) -> String {
    lab.csv(&format!("{dir}/runs.csv")).column("host")[0].to_string()
}

#[test]
fn resuming_a_folder_of_another_machine_is_refused_unless_by_host() {
    let lab = Lab::new();
    lab.write("s.toml", SLEEPS);
    assert_eq!(code(&lab.run(&["s.toml"])), 0);
    let mine = my_host(&lab, "results/s");
    fake_host(&lab, "results/s", "0ther1d0");
    let before = lab.csv("results/s/runs.csv").rows.len();
    let out = lab.run(&["s.toml", "--set", "repetitions=3"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("0ther1d0") && err.contains(&mine), "{err}");
    assert!(err.contains("--by-host"), "{err}");
    assert_eq!(
        lab.csv("results/s/runs.csv").rows.len(),
        before,
        "nothing run"
    );
    let out = lab.run(&["s.toml", "--set", "repetitions=3", "--by-host"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let hosts = std::fs::read_to_string(lab.path().join("results/s/hosts.json")).unwrap();
    assert!(
        hosts.contains("0ther1d0") && hosts.contains(&mine),
        "{hosts}"
    );
    // This machine's rows were counted alone: it ran its 3 of each cell anew.
    let rows = lab.csv("results/s/runs.csv").rows.len();
    assert_eq!(rows, before + 6);
}

#[test]
fn an_unreadable_environment_is_an_error_naming_it() {
    let lab = Lab::new();
    lab.write("s.toml", SLEEPS);
    assert_eq!(code(&lab.run(&["s.toml"])), 0);
    lab.write("results/s/environment.json", "{ not json");
    let out = lab.run(&["s.toml", "--set", "repetitions=3"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("results/s/environment.json"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn merging_rows_of_another_machine_is_refused_unless_by_host() {
    let lab = Lab::new();
    lab.write("s.toml", SLEEPS);
    let shard = |i: &str, out: &str| {
        let o = lab
            .cmd()
            .args([
                "run",
                "s.toml",
                "--out",
                out,
                "-q",
                "--no-charts",
                "--shard",
                i,
            ])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    };
    shard("1/2", "a");
    shard("2/2", "b");
    let mine = my_host(&lab, "a/s");
    fake_host(&lab, "b/s", "0ther1d0");
    let merge = |extra: &[&str]| {
        lab.cmd()
            .args(["merge", "a/s", "b/s", "--out", "m"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = merge(&[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("0ther1d0") && err.contains(&mine), "{err}");
    let out = merge(&["--by-host"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A folder merged from this machine refuses the other's rows too.
    let out = lab
        .cmd()
        .args(["merge", "a/s", "--out", "mine"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = lab
        .cmd()
        .args(["merge", "b/s", "--out", "mine"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn machine_samples_accumulate_across_runs_of_a_folder() {
    let lab = Lab::new();
    lab.write(
        "h.toml",
        "repetitions = 1\n[workload]\nkind = \"hash_chain\"\ninputs = [\"a\"]\niterations = 1000\n[matrix]\nmodel = [\"sequential\"]\n",
    );
    let samples = || {
        let text = std::fs::read_to_string(lab.path().join("results/h/environment.json")).unwrap();
        let env: serde_json::Value = serde_json::from_str(&text).unwrap();
        env["samples"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(code(&lab.run(&["h.toml"])), 0);
    let first = samples();
    assert!(first > 0);
    assert_eq!(code(&lab.run(&["h.toml", "--set", "repetitions=2"])), 0);
    assert!(samples() > first, "{} after {first}", samples());
}
