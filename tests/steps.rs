//! Tasks made of steps, run by the binary across the models, read back from the CSV files.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Csv, Lab, PASS_1000, code, stderr};

const MODELS: &str = "\"sequential\", \"threads\", \"thread_pool\", \"async\", \"async_blocking\", \"async_to_thread\", \"process_pool\", \"gil_threads\"";

fn f(row: &BTreeMap<&str, &str>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column}: {row:?}"))
}

/// Rounds of task spans per model: the extent of its timeline over one task's (median)
/// time. A model that overlaps its tasks takes one round; one that runs them one by one
/// takes one per task. Slowness stretches rounds alike, so the ratio holds on a busy machine.
fn rounds(tasks: &Csv) -> BTreeMap<String, f64> {
    let mut spans: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &tasks.rows {
        let row: BTreeMap<&str, &str> = r.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        spans
            .entry(r["model"].clone())
            .or_default()
            .push((f(&row, "start_s"), f(&row, "end_s")));
    }
    spans
        .into_iter()
        .map(|(model, s)| {
            let first = s.iter().map(|x| x.0).fold(f64::INFINITY, f64::min);
            let last = s.iter().map(|x| x.1).fold(0.0, f64::max);
            let mut lengths: Vec<f64> = s.iter().map(|x| x.1 - x.0).collect();
            lengths.sort_by(f64::total_cmp);
            (model, (last - first) / lengths[lengths.len() / 2])
        })
        .collect()
}

#[test]
fn a_request_then_a_wait_overlaps_in_every_model_but_the_blocking_ones() {
    let lab = Lab::new();
    lab.write(
        "io.toml",
        &format!(
            "repetitions = 1\n[workload]\nkind = \"steps\"\ntasks = 5\nsteps = [{{ kind = \"http\", latency = \"100ms\" }}, {{ kind = \"sleep\", duration = \"100ms\" }}]\n[matrix]\nmodel = [{MODELS}]\nworkers = [5]\n"
        ),
    );
    let out = lab.run(&["io.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let runs = lab.csv("results/io/runs.csv");
    assert_eq!(runs.rows.len(), 8);
    for r in &runs.rows {
        assert_eq!(
            (r["check"].as_str(), r["detail"].as_str()),
            (
                "pass",
                "step 1 http: 200:5; step 2 sleep: 5 of 5 tasks finished"
            ),
            "{}",
            r["model"]
        );
        assert_eq!(r["workload"], "steps");
        // Each task is 0.1 s of request and 0.1 s of sleep: one round of 0.2 s where
        // they overlap, five of them where they cannot.
        let ideal: f64 = r["ideal_s"].parse().unwrap();
        let serial = matches!(r["model"].as_str(), "sequential" | "async_blocking");
        let want = if serial { 1.0 } else { 0.2 };
        assert!((ideal - want).abs() < 1e-9, "{}: ideal {ideal}", r["model"]);
    }
    let tasks = lab.csv("results/io/tasks.csv");
    assert!(tasks.column("detail").iter().all(|d| *d == "200 | done"));
    assert!(tasks.column("status").iter().all(|s| *s == "200"));
    let rounds = rounds(&tasks);
    for (model, r) in &rounds {
        if matches!(model.as_str(), "sequential" | "async_blocking") {
            assert!(*r > 3.5, "{model}: {r:.2} rounds; five expected");
        } else {
            assert!(*r < 2.0, "{model}: {r:.2} rounds; one expected");
        }
    }
    let lanes = |model: &str| -> BTreeSet<&str> {
        tasks
            .rows
            .iter()
            .filter(|r| r["model"] == model)
            .map(|r| r["lane"].as_str())
            .collect()
    };
    assert_eq!(lanes("async").len(), 1, "one event loop");
    assert!(lanes("async_to_thread").len() > 1, "the pool's threads");
}

#[test]
fn a_chain_step_with_expect_gives_the_same_digests_in_every_model() {
    let lab = Lab::new();
    let steps = format!(
        "[{{ kind = \"hash_chain\", inputs = [\"pass\", \"a\"], iterations = 1000, expect = {{ pass = \"{PASS_1000}\" }} }}, {{ kind = \"sleep\", duration = \"10ms\" }}, {{ kind = \"counter\", sync = \"mutex\", wait = \"2ms\" }}]"
    );
    lab.write(
        "cpu.toml",
        &format!(
            "repetitions = 1\n[workload]\nkind = \"steps\"\ntasks = 4\nsteps = {steps}\n[matrix]\nmodel = [{MODELS}]\nworkers = [2]\n"
        ),
    );
    let out = lab.run(&["cpu.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let runs = lab.csv("results/cpu/runs.csv");
    assert_eq!(runs.rows.len(), 8);
    let details: BTreeSet<&str> = runs.column("detail").into_iter().collect();
    assert_eq!(details.len(), 1, "one result for every model: {details:?}");
    let detail = details.first().unwrap();
    assert!(detail.starts_with("digest "), "{detail}");
    for part in [
        "step 1 hash_chain: digest ",
        "(1 expected digests match)",
        "step 2 sleep: 4 of 4 tasks finished",
        "step 3 counter: final=4 expected=4",
    ] {
        assert!(detail.contains(part), "{detail}");
    }
    assert!(runs.column("check").iter().all(|c| *c == "pass"));
    let summary = lab.csv("results/cpu/summary.csv");
    assert!(summary.column("check").iter().all(|c| *c == "pass"));
    // The chain's work is known, so the rows say how many hashes a repetition took.
    assert!(runs.column("hashes").iter().all(|h| *h == "4000"));

    // A wrong expected digest fails every model and names the step.
    let wrong = steps.replace(PASS_1000, &"0".repeat(128));
    lab.write(
        "wrong.toml",
        &format!(
            "repetitions = 1\n[workload]\nkind = \"steps\"\ntasks = 2\nsteps = {wrong}\n[matrix]\nmodel = [\"sequential\", \"async_to_thread\", \"process_pool\"]\nworkers = [2]\n"
        ),
    );
    let out = lab.run(&["wrong.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    for d in lab.csv("results/wrong/runs.csv").column("detail") {
        assert!(
            d.contains("step 1 hash_chain: input \"pass\": got e907f4045ca9cdf3… expected 0000"),
            "{d}"
        );
    }
}

#[test]
fn a_bad_step_is_refused_with_its_position() {
    let lab = Lab::new();
    lab.write(
        "bad.toml",
        "[workload]\nkind = \"steps\"\nsteps = [{ kind = \"sleep\" }, { kind = \"htp\", latency = \"1ms\" }]\n[matrix]\nmodel = [\"async_to_thread\"]\n",
    );
    let out = lab.cmd().args(["validate", "bad.toml"]).output().unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains(
            "bad.toml:3:39: workload.steps[2].kind: \"htp\" is not allowed; allowed: sleep, http, hash_chain, counter; did you mean \"http\"?"
        ),
        "{}",
        stderr(&out)
    );
}
