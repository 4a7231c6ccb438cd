//! The verbs around `run`: merge of shards, summary rebuilt from CSV, schema, validate.

mod common;

use common::{Lab, code, stderr, stdout};

const SLEEPS: &str = "repetitions = 1\n[workload]\nkind = \"sleep\"\ntasks = 4\nduration = \"1ms\"\n[matrix]\nmodel = [\"sequential\", \"thread_pool\", \"async\"]\nworkers = [1, 2]\n";

#[test]
fn merged_shards_hold_every_cell_once_and_a_summary() {
    let lab = Lab::new();
    lab.write("m.toml", SLEEPS);
    for (i, out) in [(1, "a"), (2, "b")] {
        let o = lab
            .cmd()
            .args([
                "run",
                "m.toml",
                "-q",
                "--no-charts",
                "--out",
                out,
                "--shard",
                &format!("{i}/2"),
            ])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let o = lab
        .cmd()
        .args(["merge", "a/m", "b/m", "--out", "all/m"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let runs = lab.csv("all/m/runs.csv");
    assert_eq!(
        runs.rows.len(),
        5,
        "sequential once, thread_pool and async at 2 worker counts"
    );
    assert_eq!(lab.csv("all/m/summary.csv").rows.len(), 5);
    assert_eq!(lab.csv("all/m/tasks.csv").rows.len(), 5 * 4);
    // merging again adds nothing
    let o = lab
        .cmd()
        .args(["merge", "a/m", "b/m", "--out", "all/m"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0);
    assert_eq!(lab.csv("all/m/runs.csv").rows.len(), 5);
}

#[test]
fn merged_shards_keep_the_phases_of_each_timeline_once() {
    let lab = Lab::new();
    lab.write("p.toml", "repetitions = 1\n[workload]\nkind = \"mixed\"\ntasks = 2\niterations = 2000\nduration = \"2ms\"\n[matrix]\nmodel = [\"thread_pool\", \"gil_threads\"]\nworkers = [2]\n");
    let mut shard_rows = 0;
    for (i, out) in [(1, "a"), (2, "b")] {
        let o = lab
            .cmd()
            .args(["run", "p.toml", "-q", "--no-charts", "--out", out])
            .args(["--shard", &format!("{i}/2")])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        shard_rows += lab.csv(&format!("{out}/p/phases.csv")).rows.len();
    }
    for _ in 0..2 {
        let o = lab
            .cmd()
            .args(["merge", "a/p", "b/p", "--out", "all/p"])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let phases = lab.csv("all/p/phases.csv");
        assert_eq!(phases.rows.len(), shard_rows, "every phase once");
        let mut kinds = phases.column("phase");
        kinds.sort_unstable();
        kinds.dedup();
        // thread_pool computes and waits; gil_threads holds the lock and waits outside it.
        assert!(
            ["compute", "held", "wait"]
                .iter()
                .all(|k| kinds.contains(k)),
            "{kinds:?}"
        );
    }
}

#[test]
fn chart_rebuilds_the_summary_from_runs_csv() {
    let lab = Lab::new();
    lab.write("c.toml", SLEEPS);
    assert_eq!(code(&lab.run(&["c.toml"])), 0);
    std::fs::remove_file(lab.path().join("results/c/summary.csv")).unwrap();
    let o = lab.cmd().args(["chart", "results/c"]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(lab.csv("results/c/summary.csv").rows.len(), 5);

    let missing = lab
        .cmd()
        .args(["chart", "results/nothing"])
        .output()
        .unwrap();
    assert_eq!(code(&missing), 1);
    assert!(
        stderr(&missing).contains("not a conclab results folder"),
        "{}",
        stderr(&missing)
    );
    std::fs::write(
        lab.path().join("results/c/runs.csv"),
        "experiment,cell\n\"unterminated\n",
    )
    .unwrap();
    let broken = lab.cmd().args(["chart", "results/c"]).output().unwrap();
    assert_eq!(code(&broken), 1);
    assert!(stderr(&broken).contains("runs.csv"), "{}", stderr(&broken));
}

#[test]
fn schema_is_json_and_the_shipped_experiments_validate() {
    let lab = Lab::new();
    let o = lab.cmd().arg("schema").output().unwrap();
    assert_eq!(code(&o), 0);
    let schema: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        schema["required"],
        serde_json::json!(["workload", "matrix"])
    );
    let repo = env!("CARGO_MANIFEST_DIR");
    for dir in ["experiments", "benchmarks"] {
        let v = lab
            .cmd()
            .args(["validate", &format!("{repo}/{dir}")])
            .output()
            .unwrap();
        assert_eq!(code(&v), 0, "{dir}: {}", stderr(&v));
        assert!(stdout(&v).contains("ok: "));
    }
}

#[test]
fn the_committed_schema_is_what_the_schema_verb_prints() {
    let lab = Lab::new();
    let o = lab.cmd().arg("schema").output().unwrap();
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/experiment.schema.json"
    ))
    .unwrap();
    assert_eq!(
        stdout(&o),
        committed,
        "run `cargo run -- schema > experiment.schema.json`"
    );
}

/// Every variable `--shard auto` reads, so a test sets exactly the ones it means.
const SHARD_VARIABLES: [&str; 6] = [
    "CONCLAB_SHARD",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_COUNT",
    "JOB_COMPLETION_INDEX",
    "CONCLAB_SHARDS",
];

fn run_auto(lab: &Lab, out: &str, vars: &[(&str, String)]) -> std::process::Output {
    let mut c = lab.cmd();
    c.args([
        "run",
        "m.toml",
        "-q",
        "--no-charts",
        "--out",
        out,
        "--shard",
        "auto",
    ]);
    for v in SHARD_VARIABLES {
        c.env_remove(v);
    }
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// (cell, n) of every summary row, sorted.
fn cells_and_n(lab: &Lab, rel: &str) -> Vec<(String, String)> {
    let s = lab.csv(rel);
    let mut v: Vec<(String, String)> = s
        .rows
        .iter()
        .map(|r| (r["cell"].clone(), r["n"].clone()))
        .collect();
    v.sort();
    v
}

#[test]
fn shard_auto_from_each_scheduler_merges_to_the_whole_run() {
    let lab = Lab::new();
    lab.write(
        "m.toml",
        &SLEEPS.replace("repetitions = 1", "repetitions = 2"),
    );
    let o = run_auto(&lab, "whole", &[("CONCLAB_SHARD", "1/1".into())]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let whole = cells_and_n(&lab, "whole/m/summary.csv");
    assert_eq!(whole.len(), 5);
    let env: serde_json::Value = serde_json::from_slice(
        &std::fs::read(lab.path().join("whole/m/environment.json")).unwrap(),
    )
    .unwrap();
    let id = env["host_id"].as_str().unwrap();
    assert_eq!(id.len(), 8, "{env}");
    assert!(
        env["fingerprint"]["memory_kib"].as_u64().unwrap() > 0,
        "{env}"
    );
    let runs = lab.csv("whole/m/runs.csv");
    assert!(
        runs.column("host").iter().all(|h| *h == id),
        "rows carry the host id"
    );
    type Vars = Vec<(&'static str, String)>;
    type Scheduler = (&'static str, fn(usize) -> Vars);
    fn slurm(id: usize) -> Vars {
        vec![
            ("SLURM_ARRAY_TASK_ID", (id + 3).to_string()),
            ("SLURM_ARRAY_TASK_MIN", "3".to_string()),
            ("SLURM_ARRAY_TASK_COUNT", "2".to_string()),
        ]
    }
    fn k8s(i: usize) -> Vars {
        vec![
            ("JOB_COMPLETION_INDEX", i.to_string()),
            ("CONCLAB_SHARDS", "2".to_string()),
        ]
    }
    let schedulers: [Scheduler; 2] = [("slurm", slurm), ("k8s", k8s)];
    for (name, vars) in schedulers {
        let mut shard_cells = Vec::new();
        for i in 0..2 {
            let o = run_auto(&lab, &format!("{name}-{i}"), &vars(i));
            assert_eq!(code(&o), 0, "{name} {i}: {}", stderr(&o));
            shard_cells.push(lab.csv(&format!("{name}-{i}/m/summary.csv")).rows.len());
        }
        assert!(
            shard_cells.iter().all(|&n| n > 0 && n < 5),
            "{shard_cells:?}"
        );
        let o = lab
            .cmd()
            .args(["merge", &format!("{name}-0/m"), &format!("{name}-1/m")])
            .args(["--out", &format!("{name}-all/m")])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
        assert_eq!(
            cells_and_n(&lab, &format!("{name}-all/m/summary.csv")),
            whole,
            "{name}: the merged shards hold every cell with its repetitions"
        );
    }
}

#[test]
fn shard_auto_without_a_scheduler_or_with_a_wrong_one_exits_2() {
    let lab = Lab::new();
    lab.write("m.toml", SLEEPS);
    let o = run_auto(&lab, "x", &[]);
    assert_eq!(code(&o), 2);
    for v in SHARD_VARIABLES {
        assert!(stderr(&o).contains(v), "{v} named: {}", stderr(&o));
    }
    let o = run_auto(
        &lab,
        "x",
        &[
            ("SLURM_ARRAY_TASK_ID", "2".into()),
            ("SLURM_ARRAY_TASK_MIN", "0".into()),
            ("SLURM_ARRAY_TASK_COUNT", "2".into()),
        ],
    );
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("below the count"), "{}", stderr(&o));
    let o = run_auto(&lab, "x", &[("JOB_COMPLETION_INDEX", "0".into())]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("CONCLAB_SHARDS"), "{}", stderr(&o));
    assert!(!lab.path().join("x/m/runs.csv").exists(), "nothing ran");
}

/// Runs the two shards of m.toml into a/ and b/, then makes b/ look measured on a
/// 64-core machine: its environment.json's fingerprint and host id, and its rows' host.
fn shards_of_two_machines(lab: &Lab) -> (String, String) {
    lab.write("m.toml", SLEEPS);
    for (i, out) in [(1, "a"), (2, "b")] {
        let o = lab
            .cmd()
            .args(["run", "m.toml", "-q", "--no-charts", "--out", out])
            .args(["--shard", &format!("{i}/2")])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    as_the_64_core_machine(lab, "b")
}

/// Makes the folder `out`/m look measured on a 64-core machine: its environment.json's
/// fingerprint and host id, and its rows' host.
fn as_the_64_core_machine(lab: &Lab, out: &str) -> (String, String) {
    let env_path = lab.path().join(format!("{out}/m/environment.json"));
    let mut env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&env_path).unwrap()).unwrap();
    let old = env["host_id"].as_str().unwrap().to_string();
    let new = "b16c0e64".to_string();
    env["fingerprint"]["logical_cores"] = 64.into();
    env["fingerprint"]["physical_cores"] = 32.into();
    env["logical_cores"] = 64.into();
    env["host_id"] = new.clone().into();
    std::fs::write(&env_path, serde_json::to_string_pretty(&env).unwrap()).unwrap();
    let runs_path = lab.path().join(format!("{out}/m/runs.csv"));
    let runs = std::fs::read_to_string(&runs_path).unwrap();
    std::fs::write(&runs_path, runs.replace(&old, &new)).unwrap();
    (old, new)
}

#[test]
fn merge_refuses_two_machines_unless_by_host_keeps_them_apart() {
    let lab = Lab::new();
    let (a, b) = shards_of_two_machines(&lab);
    let o = lab
        .cmd()
        .args(["merge", "a/m", "b/m", "--out", "all/m"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let cores = std::thread::available_parallelism().unwrap().get();
    let named = format!("logical_cores: {cores} vs 64");
    assert!(stderr(&o).contains(&named), "{named}: {}", stderr(&o));
    assert!(stderr(&o).contains("--by-host"), "{}", stderr(&o));
    assert!(
        !lab.path().join("all/m/runs.csv").exists(),
        "nothing merged"
    );

    let o = lab
        .cmd()
        .args(["merge", "a/m", "b/m", "--out", "all/m", "--by-host"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let summary = lab.csv("all/m/summary.csv");
    let n = summary.header.iter().position(|h| h == "n").unwrap();
    assert_eq!(summary.header[n - 1], "host", "host is the last axis");
    let mut hosts = summary.column("host");
    hosts.sort_unstable();
    hosts.dedup();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort_unstable();
    assert_eq!(hosts, want);
    assert_eq!(
        summary.rows.len(),
        5,
        "each cell once, on the machine that ran it"
    );
    let hosts_json = std::fs::read_to_string(lab.path().join("all/m/hosts.json")).unwrap();
    assert!(
        hosts_json.contains(&b) && hosts_json.contains("64"),
        "{hosts_json}"
    );
    // the summary rebuilt from the folder keeps the machines apart too
    let o = lab.cmd().args(["chart", "all/m"]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        lab.csv("all/m/summary.csv")
            .header
            .contains(&"host".to_string())
    );
    for id in [&a, &b] {
        let chart = format!("all/m/time-host={id}.png");
        assert!(
            lab.path().join(&chart).is_file(),
            "{chart}: a chart per machine"
        );
    }

    // shard 1 measured on the 64-core machine as well: its cells are on both machines,
    // and report.md compares them side by side
    let o = lab
        .cmd()
        .args(["run", "m.toml", "-q", "--no-charts", "--out", "c"])
        .args(["--shard", "1/2"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(as_the_64_core_machine(&lab, "c").1, b);
    let o = lab
        .cmd()
        .args(["merge", "c/m", "--out", "all/m", "--by-host"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let report = std::fs::read_to_string(lab.path().join("all/m/report.md")).unwrap();
    let section = report
        .split("## Machines compared")
        .nth(1)
        .unwrap_or_else(|| panic!("no Machines compared section: {report}"));
    let section = section.split("\n## ").next().unwrap();
    for id in [&a, &b] {
        assert!(section.contains(&format!("`{id}`")), "{id}: {section}");
    }
    let row = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let header = section
        .lines()
        .find(|l| l.contains("median [interval]"))
        .map(row)
        .unwrap_or_else(|| panic!("no table of shared cells: {section}"));
    let medians: Vec<usize> = [&a, &b]
        .iter()
        .map(|id| {
            header
                .iter()
                .position(|h| *h == format!("{id} median [interval]"))
                .unwrap_or_else(|| panic!("{id}'s median column: {header:?}"))
        })
        .collect();
    let shared = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.contains("median [interval]"))
        .map(row)
        .filter(|r| r.len() == header.len())
        .find(|r| medians.iter().all(|&i| r[i] != "-" && r[i].contains('[')));
    assert!(
        shared.is_some(),
        "a shared cell with both machines' medians: {section}"
    );
}

#[test]
fn merge_warns_of_overlapping_shards_and_missing_cells() {
    let lab = Lab::new();
    lab.write("m.toml", SLEEPS);
    for out in ["a", "b"] {
        let o = lab
            .cmd()
            .args(["run", "m.toml", "-q", "--no-charts", "--out", out])
            .args(["--shard", "1/2"])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let o = lab
        .cmd()
        .args(["merge", "a/m", "b/m", "--out", "all/m"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("measured by more than one shard"), "{err}");
    assert!(err.contains("in no shard"), "{err}");
}

#[test]
fn completions_and_man_pages_come_from_the_binary() {
    let lab = Lab::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let o = lab.cmd().args(["completions", shell]).output().unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let script = stdout(&o);
        for verb in [
            "run", "plan", "validate", "chart", "merge", "serve", "schema",
        ] {
            assert!(script.contains(verb), "{shell} completion lacks {verb}");
        }
    }
    let o = lab.cmd().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(code(&o), 2, "an unknown shell is a usage error");
    let o = lab.cmd().arg("man").output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains(".TH conclab 1"), "{}", stdout(&o));
    let o = lab.cmd().args(["man", "--out", "man1"]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let run = std::fs::read_to_string(lab.path().join("man1/conclab-run.1")).unwrap();
    assert!(run.contains("\\-\\-fresh"), "{run}");
}
