//! Nothing lost, nothing doubled: one run per results folder, folders checked before
//! anything runs, the embedded server supervised, rows intact across SIGINT and SIGKILL.

mod common;

use common::{Lab, children_of, code, spawn_run, stderr, unique_pairs, wait_for_rows};

/// Three cells of four 100 ms repetitions: about 1.2 s in all.
const SLOW: &str = "repetitions = 4\n[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"50ms\"\n[matrix]\nmodel = [\"sequential\", \"thread_pool\", \"async\"]\nworkers = [2]\n";

#[test]
fn a_second_run_of_the_same_experiment_is_refused_and_another_runs_beside_it() {
    let lab = Lab::new();
    lab.write("slow.toml", SLOW);
    lab.write(
        "other.toml",
        &SLOW.replace("repetitions = 4", "repetitions = 1"),
    );
    let first = spawn_run(&lab, "slow.toml");
    wait_for_rows(&lab, "slow", 1);
    let second = lab.run(&["slow.toml"]);
    assert_eq!(code(&second), 2, "{}", stderr(&second));
    let err = stderr(&second);
    assert!(
        err.contains("results/slow is in use by another run (pid ")
            && err.contains(&format!("pid {}", first.id()))
            && err.contains("command: "),
        "{err}"
    );
    let beside = lab.run(&["other.toml"]);
    assert_eq!(
        code(&beside),
        0,
        "another experiment, same --out: {}",
        stderr(&beside)
    );
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        unique_pairs(&lab, "results/slow/runs.csv"),
        (12, 12),
        "every row once"
    );
}

#[test]
fn an_output_folder_under_a_file_is_bad_usage_and_nothing_is_written() {
    let lab = Lab::new();
    lab.write("slow.toml", SLOW);
    lab.write("taken", "a file where a folder should be");
    let out = lab
        .cmd()
        .args(["run", "slow.toml", "--out", "taken/results", "-q"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write results to taken/results/slow: taken is a file"),
        "{}",
        stderr(&out)
    );
    let entries: Vec<_> = std::fs::read_dir(lab.path()).unwrap().collect();
    assert_eq!(entries.len(), 2, "only the two files the test wrote");
}

/// The pid of the run's embedded server (the child whose command line says `serve`).
fn server_of(run: u32) -> u32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(pid) = children_of(run).into_iter().find(|c| {
            std::fs::read(format!("/proc/{c}/cmdline"))
                .unwrap_or_default()
                .split(|b| *b == 0)
                .any(|a| a == b"serve")
        }) {
            return pid;
        }
        assert!(std::time::Instant::now() < deadline, "no server started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_killed_embedded_server_fails_one_repetition_is_restarted_and_the_rest_pass() {
    let lab = Lab::new();
    lab.write(
        "web.toml",
        "repetitions = 6\n[workload]\nkind = \"http\"\ntasks = 2\nlatency = \"100ms\"\n[matrix]\nmodel = [\"sequential\", \"async\"]\nworkers = [2]\n",
    );
    let run = spawn_run(&lab, "web.toml");
    wait_for_rows(&lab, "web", 2);
    let server = server_of(run.id());
    // SAFETY: kills the server child of the run this test started.
    unsafe { libc::kill(server as i32, libc::SIGKILL) };
    let out = run.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("the embedded server exited (signal 9); restarted it"),
        "{err}"
    );
    let runs = lab.csv("results/web/runs.csv");
    assert_eq!(runs.rows.len(), 12, "every repetition ran");
    let failed: Vec<&str> = runs
        .rows
        .iter()
        .filter(|r| r["check"] == "fail")
        .map(|r| r["detail"].as_str())
        .collect();
    assert!(
        failed.len() <= 1,
        "at most the repetition that met it: {failed:?}"
    );
    assert!(
        failed
            .iter()
            .all(|d| d.contains("embedded server exited (signal 9)")),
        "{failed:?}"
    );
    let last = &runs.rows[11];
    assert_eq!(last["check"], "pass", "later repetitions pass");
    assert_eq!(code(&out), if failed.is_empty() { 0 } else { 1 });
}

#[test]
fn sigint_and_sigkill_at_several_points_lose_and_double_nothing() {
    let lab = Lab::new();
    lab.write("slow.toml", SLOW);
    for (rows, signal) in [
        (1, libc::SIGKILL),
        (3, libc::SIGINT),
        (5, libc::SIGKILL),
        (8, libc::SIGINT),
    ] {
        let run = spawn_run(&lab, "slow.toml");
        wait_for_rows(&lab, "slow", rows);
        // SAFETY: sends a signal to the run this test started.
        unsafe { libc::kill(run.id() as i32, signal) };
        let out = run.wait_with_output().unwrap();
        let expected = if signal == libc::SIGINT {
            Some(130)
        } else {
            None
        };
        assert_eq!(out.status.code(), expected, "{}", stderr(&out));
        let (n, pairs) = unique_pairs(&lab, "results/slow/runs.csv");
        assert_eq!(n, pairs, "no (cell, repetition) twice after {rows} rows");
        assert!(n >= rows);
    }
    let last = lab.run(&["slow.toml"]);
    assert_eq!(code(&last), 0, "{}", stderr(&last));
    assert_eq!(unique_pairs(&lab, "results/slow/runs.csv"), (12, 12));
}
