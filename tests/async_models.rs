//! The async models on the precise timer and the lean HTTP client, run by the binary, every task verified from the CSV files.

mod common;

use common::{Lab, code, stderr};

const ASYNC_MODELS: &str =
    "model = [\"async\", \"async_pool\", \"async_blocking\", \"async_to_thread\"]";

/// Every row of runs.csv passes and every task of tasks.csv is ok.
fn all_verified(lab: &Lab, experiment: &str, cells: usize) {
    let runs = lab.csv(&format!("results/{experiment}/runs.csv"));
    assert_eq!(runs.rows.len(), cells, "{:?}", runs.column("detail"));
    for (check, detail) in runs.column("check").iter().zip(runs.column("detail")) {
        assert_eq!(*check, "pass", "{detail}");
    }
    let tasks = lab.csv(&format!("results/{experiment}/tasks.csv"));
    assert!(!tasks.rows.is_empty());
    assert!(tasks.column("ok").iter().all(|ok| *ok == "true"));
}

#[test]
fn every_async_model_finishes_every_wait_on_its_timer() {
    let lab = Lab::new();
    lab.write(
        "w.toml",
        &format!(
            "repetitions = 1\n[workload]\nkind = \"sleep\"\ntasks = 300\nduration = \"3ms\"\n[matrix]\n{ASYNC_MODELS}\nworkers = [1, 300]\n"
        ),
    );
    let out = lab.run(&["w.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    all_verified(&lab, "w", 8);
    // A sleep is never shorter than asked: each task span holds its whole wait.
    let tasks = lab.csv("results/w/tasks.csv");
    for (start, end) in tasks.column("start_s").iter().zip(tasks.column("end_s")) {
        let span = end.parse::<f64>().unwrap() - start.parse::<f64>().unwrap();
        assert!(span >= 0.003 - 1e-6, "a 3 ms sleep took {span} s");
    }
}

#[test]
fn waits_inside_mixed_counter_and_steps_tasks_end_and_verify() {
    let lab = Lab::new();
    lab.write(
        "m.toml",
        &format!(
            "repetitions = 1\n[workload]\nkind = \"mixed\"\ntasks = 6\niterations = 1000\nduration = \"2ms\"\n[matrix]\n{ASYNC_MODELS}\nworkers = [3]\n"
        ),
    );
    lab.write(
        "c.toml",
        &format!(
            "repetitions = 1\n[workload]\nkind = \"counter\"\ntasks = 8\nwait = \"1ms\"\nsync = \"mutex\"\n[matrix]\n{ASYNC_MODELS}\nworkers = [8]\n"
        ),
    );
    lab.write(
        "s.toml",
        &format!(
            "repetitions = 1\n[workload]\nkind = \"steps\"\ntasks = 20\nsteps = [{{ kind = \"sleep\", duration = \"2ms\" }}, {{ kind = \"http\", latency = \"5ms\", body_bytes = 16 }}, {{ kind = \"sleep\", duration = \"1ms\" }}]\n[matrix]\n{ASYNC_MODELS}\nworkers = [20]\n"
        ),
    );
    let out = lab.run(&["m.toml", "c.toml", "s.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    all_verified(&lab, "m", 4);
    all_verified(&lab, "c", 4);
    all_verified(&lab, "s", 4);
    let runs = lab.csv("results/c/runs.csv");
    assert!(
        runs.column("detail")
            .iter()
            .all(|d| *d == "final=8 expected=8")
    );
}

/// The lean client reuses its idle connections: with 4 in flight, 200 requests over
/// HTTP/1.1 all answer 200 and carry their bodies, in both event-loop models.
#[test]
fn kept_alive_connections_answer_every_request_in_both_versions() {
    let lab = Lab::new();
    lab.write(
        "k.toml",
        "repetitions = 2\n[workload]\nkind = \"http\"\ntasks = 200\nlatency = \"1ms\"\nbody_bytes = 100\n[matrix]\nmodel = [\"async\", \"async_pool\"]\nworkers = [4]\nhttp_version = [\"1.1\", \"2\"]\n",
    );
    let out = lab.run(&["k.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    all_verified(&lab, "k", 8);
    let runs = lab.csv("results/k/runs.csv");
    assert!(runs.column("detail").iter().all(|d| *d == "200:200"));
    let tasks = lab.csv("results/k/tasks.csv");
    assert!(tasks.column("bytes").iter().all(|b| *b == "100"));
}
