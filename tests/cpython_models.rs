//! The built-in cpython_* models on every workload, through the real binary: digests equal
//! Rust's, counters right with a lock and racing without, statuses counted.

mod common;

use common::{Lab, PASS_1000, code, stderr};

const CPYTHON: &str = "\"cpython_sequential\", \"cpython_threads\", \"cpython_thread_pool\", \"cpython_process_pool\", \"cpython_asyncio\", \"cpython_asyncio_blocking\", \"cpython_to_thread\"";

fn python3() -> bool {
    let found = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: no python3 on PATH");
    }
    found
}

/// Runs `workload` (the lines after `[workload]`) under Rust's sequential and every
/// cpython model at 3 workers, plus any extra `[matrix]` lines; returns runs.csv.
fn run(lab: &Lab, name: &str, workload: &str, matrix: &str) -> common::Csv {
    lab.write(
        &format!("{name}.toml"),
        &format!(
            "repetitions = 1\ntimeout = \"1m\"\n[workload]\n{workload}\n[matrix]\nmodel = [\"sequential\", {CPYTHON}]\nworkers = [3]\n{matrix}"
        ),
    );
    let out = lab.run(&[&format!("{name}.toml")]);
    assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
    lab.csv(&format!("results/{name}/runs.csv"))
}

#[test]
fn every_cpython_model_hashes_to_rusts_digests() {
    if !python3() {
        return;
    }
    let lab = Lab::new();
    let runs = run(
        &lab,
        "chains",
        &format!(
            "kind = \"hash_chain\"\ninputs = [\"pass\", \"пароль\", \"a\"]\niterations = 1000\nexpect = {{ pass = \"{PASS_1000}\" }}"
        ),
        "",
    );
    assert_eq!(runs.rows.len(), 8);
    let details = runs.column("detail");
    assert!(
        runs.column("check").iter().all(|c| *c == "pass"),
        "{details:?}"
    );
    assert!(
        details.iter().all(|d| *d == details[0]),
        "one fingerprint for every model: {details:?}"
    );
    let setup: Vec<f64> = runs
        .column("setup_s")
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(
        setup[1..].iter().all(|s| *s > 0.0),
        "the interpreter's start-up: {setup:?}"
    );
}

#[test]
fn every_cpython_model_counts_right_with_a_lock_and_races_without() {
    if !python3() {
        return;
    }
    let lab = Lab::new();
    let runs = run(
        &lab,
        "race",
        "kind = \"counter\"\ntasks = 6\nwait = \"30ms\"",
        "sync = [\"none\", \"mutex\", \"atomic\"]",
    );
    for r in &runs.rows {
        let (model, sync, check) = (&r["model"], &r["sync"], &r["check"]);
        let serial = model == "sequential"
            || model == "cpython_sequential"
            || model == "cpython_asyncio_blocking";
        let want = if sync == "none" && !serial {
            "race"
        } else {
            "pass"
        };
        assert_eq!(check, want, "{model} sync={sync}: {}", r["detail"]);
    }
}

/// Many updates per task all count; a tight `+= 1` (no wait between read and write)
/// under the GIL loses none, since a thread is switched out only between iterations.
#[test]
fn every_increment_counts_and_the_gil_keeps_a_tight_loop_whole() {
    if !python3() {
        return;
    }
    let lab = Lab::new();
    let runs = run(
        &lab,
        "tight",
        "kind = \"counter\"\ntasks = 3\nincrements = 5_000\nwait = \"0s\"",
        "sync = [\"none\", \"atomic\"]",
    );
    for r in &runs.rows {
        let (model, sync) = (&r["model"], &r["sync"]);
        let detail = &r["detail"];
        if model == "cpython_asyncio" || model == "cpython_asyncio_blocking" {
            // Coroutines read, await (a wait of zero is still an await), then write.
            assert!(
                detail.contains("expected=15000"),
                "{model} sync={sync}: {detail}"
            );
            continue;
        }
        if model == "cpython_process_pool" && sync == "none" {
            // The counter lives in a Manager: a read and a write are two round trips.
            assert!(detail.contains("expected=15000"), "{model}: {detail}");
            continue;
        }
        assert_eq!(
            (r["check"].as_str(), detail.as_str()),
            ("pass", "final=15000 expected=15000"),
            "{model} sync={sync}"
        );
    }
}

#[test]
fn every_cpython_model_sleeps_fetches_and_runs_steps() {
    if !python3() {
        return;
    }
    let lab = Lab::new();
    let sleeps = run(
        &lab,
        "sleeps",
        "kind = \"sleep\"\ntasks = 4\nduration = \"50ms\"",
        "",
    );
    assert!(sleeps.column("check").iter().all(|c| *c == "pass"));
    let gets = run(
        &lab,
        "gets",
        "kind = \"http\"\ntasks = 4\nlatency = \"50ms\"\nbody_bytes = 100",
        "",
    );
    assert!(
        gets.column("detail").iter().all(|d| *d == "200:4"),
        "{:?}",
        gets.column("detail")
    );
    let tasks = lab.csv("results/gets/tasks.csv");
    assert!(tasks.column("bytes").iter().all(|b| *b == "100"));
    let mixed = run(
        &lab,
        "mixed",
        "kind = \"mixed\"\ntasks = 4\niterations = 500\nduration = \"20ms\"",
        "",
    );
    let details = mixed.column("detail");
    assert!(
        mixed.column("check").iter().all(|c| *c == "pass"),
        "{details:?}"
    );
    assert!(details.iter().all(|d| *d == details[0]), "{details:?}");
    let steps = run(
        &lab,
        "steps",
        "kind = \"steps\"\ntasks = 3\nsteps = [{ kind = \"http\", latency = \"50ms\" }, { kind = \"sleep\", duration = \"20ms\" }, { kind = \"hash_chain\", iterations = 500 }]",
        "",
    );
    let details = steps.column("detail");
    assert!(
        steps.column("check").iter().all(|c| *c == "pass"),
        "{details:?}"
    );
    assert!(details.iter().all(|d| *d == details[0]), "{details:?}");
}

#[test]
fn without_the_interpreter_the_cpython_cells_are_skipped_in_one_line() {
    let lab = Lab::new();
    lab.write(
        "none.toml",
        "repetitions = 1\n[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"1ms\"\n[matrix]\nmodel = [\"sequential\", \"cpython_threads\", \"cpython_asyncio\"]\n[models.cpython]\npython = \"/nonexistent/python3\"\n",
    );
    let out = lab.run(&["none.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("skipping").count(), 1, "{err}");
    assert_eq!(lab.csv("results/none/runs.csv").rows.len(), 1);
}
