//! `conclab compare` through the binary on real runs: a rerun is `same`, a larger
//! `iterations` is `slower` in every chain cell, `--fail-on slower`, unmatched cells,
//! bad input and other machines (exit 2).

mod common;

use common::{Lab, code, stderr, stdout};

/// Sleeps of `duration`: 6 repetitions a side are the fewest that decide at 95%; 12 let
/// each median's interval leave out the two slowest and fastest, which a loaded machine's
/// late wake-ups otherwise make the interval's edges.
fn sleeps(workers: &str, repetitions: u32, duration: &str) -> String {
    format!(
        "repetitions = {repetitions}\n[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"{duration}\"\n[matrix]\nmodel = [\"sequential\", \"thread_pool\"]\nworkers = [{workers}]\n"
    )
}

const CHAINS: &str = "repetitions = 6\n[workload]\nkind = \"hash_chain\"\ninputs = [\"pass\", \"a\"]\niterations = 1000\n[matrix]\nmodel = [\"sequential\", \"thread_pool\"]\nworkers = [1, 2]\n";

/// `conclab run FILE --out ROOT` plus `extra`, which must succeed.
fn run_into(lab: &Lab, file: &str, root: &str, extra: &[&str]) {
    let out = lab
        .cmd()
        .args(["run", file, "--out", root, "-q", "--no-charts"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

fn compare(lab: &Lab, args: &[&str]) -> std::process::Output {
    lab.cmd().arg("compare").args(args).output().unwrap()
}

#[test]
fn the_same_experiment_twice_is_the_same_and_passes_the_ci() {
    let lab = Lab::new();
    lab.write("naps.toml", &sleeps("2", 12, "150ms"));
    run_into(&lab, "naps.toml", "old", &[]);
    run_into(&lab, "naps.toml", "new", &[]);
    // On two cores shared with several builds a wait of 150ms wakes up to some 30ms late
    // (thread start-up and late wake-ups); 40% is beyond what a rerun of a sleep reaches
    // there, and far below the 100x of the chain test.
    let out = compare(
        &lab,
        &[
            "old/naps",
            "new/naps",
            "--noise",
            "40%",
            "--fail-on",
            "slower",
        ],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let csv = lab.csv("new/naps/compare/compare.csv");
    for col in [
        "experiment",
        "workload",
        "model",
        "workers",
        "old_median_s",
        "new_median_s",
        "ratio",
        "ratio_ci_low",
        "ratio_ci_high",
        "verdict",
    ] {
        assert!(
            csv.header.iter().any(|h| h == col),
            "{col} in {:?}",
            csv.header
        );
    }
    assert_eq!(csv.rows.len(), 2, "sequential and thread_pool w=2");
    assert!(
        csv.column("verdict").iter().all(|v| *v == "same"),
        "{:?}\n{}",
        csv.rows,
        stdout(&out)
    );
    for r in &csv.rows {
        let ratio: f64 = r["ratio"].parse().unwrap();
        let (lo, hi): (f64, f64) = (
            r["ratio_ci_low"].parse().unwrap(),
            r["ratio_ci_high"].parse().unwrap(),
        );
        assert!(lo <= ratio && ratio <= hi, "{r:?}");
    }
    let md = std::fs::read_to_string(lab.path().join("new/naps/compare/compare.md")).unwrap();
    assert!(md.contains("2 same (100%)"), "{md}");
    assert!(md.contains("compare.png"), "{md}");
    let png = lab.path().join("new/naps/compare/compare.png");
    assert!(std::fs::metadata(png).unwrap().len() > 1000);
    assert!(stdout(&out).contains("2 same"), "{}", stdout(&out));

    // Two results roots compare their experiments by name, into --out.
    let out = compare(&lab, &["old", "new", "--out", "cmp", "--noise", "40"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(lab.csv("cmp/compare.csv").rows.len(), 2);
}

#[test]
fn a_larger_iterations_is_slower_in_every_chain_cell_and_fails_the_ci() {
    let lab = Lab::new();
    lab.write("chains.toml", CHAINS);
    run_into(&lab, "chains.toml", "old", &[]);
    // 100x the work: every repetition of the new run is far slower than any of the old
    // one's, whatever else the machine is doing.
    run_into(&lab, "chains.toml", "new", &["--set", "iterations=100000"]);
    let out = compare(&lab, &["old/chains", "new/chains"]);
    assert_eq!(code(&out), 0, "without --fail-on: {}", stderr(&out));
    let csv = lab.csv("new/chains/compare/compare.csv");
    assert_eq!(csv.rows.len(), 3, "cells matched though their ids differ");
    assert!(
        csv.column("verdict").iter().all(|v| *v == "slower"),
        "{:?}",
        csv.rows
    );
    assert!(
        csv.column("ratio")
            .iter()
            .all(|r| r.parse::<f64>().unwrap() > 5.0)
    );
    let out = compare(&lab, &["old/chains", "new/chains", "--fail-on", "slower"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // The other way round the new run is faster: nothing for --fail-on slower.
    let out = compare(
        &lab,
        &[
            "new/chains",
            "old/chains",
            "--fail-on",
            "slower",
            "--out",
            "back",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        lab.csv("back/compare.csv")
            .column("verdict")
            .iter()
            .all(|v| *v == "faster")
    );
}

#[test]
fn cells_of_one_run_only_are_listed() {
    let lab = Lab::new();
    lab.write("naps.toml", &sleeps("1, 2", 1, "10ms"));
    run_into(&lab, "naps.toml", "old", &[]);
    lab.write("naps.toml", &sleeps("1, 4", 1, "10ms"));
    run_into(&lab, "naps.toml", "new", &[]);
    let out = compare(&lab, &["old/naps", "new/naps", "--fail-on", "slower"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("only in the old run: thread_pool w=2"),
        "{err}"
    );
    assert!(
        err.contains("only in the new run: thread_pool w=4"),
        "{err}"
    );
    let csv = lab.csv("new/naps/compare/compare.csv");
    assert_eq!(csv.rows.len(), 2, "sequential and thread_pool w=1 match");
    // One repetition a side decides nothing.
    assert!(csv.column("verdict").iter().all(|v| *v == "unclear"));
    let md = std::fs::read_to_string(lab.path().join("new/naps/compare/compare.md")).unwrap();
    assert!(
        md.contains("Only in the old run") && md.contains("- thread_pool w=2"),
        "{md}"
    );
}

#[test]
fn bad_input_and_other_machines_exit_2() {
    let lab = Lab::new();
    lab.write("naps.toml", &sleeps("1", 1, "10ms"));
    run_into(&lab, "naps.toml", "old", &[]);
    run_into(&lab, "naps.toml", "new", &[]);
    let out = compare(&lab, &["old/naps", "nowhere"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = compare(&lab, &["old/naps", "new"]);
    assert_eq!(code(&out), 2, "an experiment folder against a root");
    let out = compare(&lab, &["old/naps", "new/naps", "--noise", "lots"]);
    assert_eq!(code(&out), 2);

    let env = lab.path().join("new/naps/environment.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&env).unwrap()).unwrap();
    json["fingerprint"]["cpu_model"] = "Another CPU".into();
    std::fs::write(&env, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    let out = compare(&lab, &["old/naps", "new/naps"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("different machines"),
        "{}",
        stderr(&out)
    );
    let out = compare(&lab, &["old/naps", "new/naps", "--any-host"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
