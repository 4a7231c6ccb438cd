//! `conclab run` end to end: columns, verification, resume, --fresh, --only, --shard, exit codes.

mod common;

use common::{Lab, PASS_1000, code, stderr, stdout};

const RUNS_HEADER: &str = "experiment,cell,workload,model,workers,repetition,wall_s,setup_s,user_s,sys_s,peak_rss_kib,tasks,ok,failed,check,detail,ideal_s,task_p50_s,task_p99_s,started_at,host";

fn chains(models: &str, workers: &str, expect: &str) -> String {
    format!(
        "description = \"tiny chains\"\nrepetitions = 2\n[workload]\nkind = \"hash_chain\"\ninputs = [\"pass\", \"a\", \"b\"]\niterations = 1000\nexpect = {{ pass = \"{expect}\" }}\n[matrix]\nmodel = [{models}]\nworkers = [{workers}]\n"
    )
}

const ALL: &str = "\"sequential\", \"threads\", \"thread_pool\", \"rayon\", \"async\", \"async_pool\", \"async_blocking\"";

#[test]
fn every_model_verifies_the_same_digests_and_writes_the_documented_columns() {
    let lab = Lab::new();
    lab.write("tiny.toml", &chains(ALL, "1, 2", PASS_1000));
    let out = lab.run(&["tiny.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let text = std::fs::read_to_string(lab.path().join("results/tiny/runs.csv")).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        format!("{RUNS_HEADER},in_flight,hashes,calibrated_ns_per_hash,implementation"),
        "SPEC's columns in order; the added ones follow at the end"
    );
    let runs = lab.csv("results/tiny/runs.csv");
    let conclab = format!("conclab {}", env!("CARGO_PKG_VERSION"));
    assert!(
        runs.column("implementation").iter().all(|i| *i == conclab),
        "conclab's own models record conclab's version"
    );
    // sequential and threads ignore workers: 1 + 1 + 5 models x 2 workers = 12 cells, 2 repetitions each
    assert_eq!(runs.rows.len(), 12 * 2);
    assert!(
        runs.column("check").iter().all(|c| *c == "pass"),
        "{:?}",
        runs.column("detail")
    );
    let details = runs.column("detail");
    assert!(
        details.iter().all(|d| *d == details[0]),
        "one digest across models: {details:?}"
    );
    assert_eq!(
        runs.column("workers").iter().filter(|w| **w == "3").count(),
        2,
        "threads records the 3 threads it used"
    );

    let tasks = lab.csv("results/tiny/tasks.csv");
    assert_eq!(tasks.rows.len(), 12 * 3, "one timeline (3 tasks) per cell");
    let pass_rows: Vec<_> = tasks.rows.iter().filter(|r| r["task"] == "0").collect();
    assert!(
        pass_rows
            .iter()
            .all(|r| PASS_1000.starts_with(&r["detail"])),
        "task 0 hashes \"pass\""
    );

    let summary = lab.csv("results/tiny/summary.csv");
    assert_eq!(summary.rows.len(), 12);
    assert_eq!(
        &summary.header[..6],
        &["experiment", "cell", "workload", "model", "workers", "n"]
    );
    assert!(
        summary
            .column("speedup")
            .iter()
            .all(|s| s.parse::<f64>().is_ok()),
        "every cell has a speedup"
    );
    assert!(summary.column("n").iter().all(|n| *n == "2"));
    assert!(
        [
            "faster than sequential",
            "slower than sequential",
            "as fast as sequential",
            "not distinguishable from sequential"
        ]
        .iter()
        .any(|s| stdout(&out).contains(s))
    );
    assert!(lab.path().join("results/tiny/experiment.toml").is_file());
    let env: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.path().join("results/tiny/environment.json")).unwrap(),
    )
    .unwrap();
    assert!(env["logical_cores"].as_u64().unwrap() >= 1);
}

#[test]
fn a_wrong_expected_digest_fails_its_cells_and_the_rest_still_run() {
    let lab = Lab::new();
    let wrong = "0".repeat(128);
    lab.write(
        "bad.toml",
        &chains("\"sequential\", \"thread_pool\"", "2", &wrong),
    );
    let out = lab.run(&["bad.toml"]);
    assert_eq!(code(&out), 1);
    let runs = lab.csv("results/bad/runs.csv");
    assert_eq!(runs.rows.len(), 4, "both cells ran both repetitions");
    assert!(runs.column("check").iter().all(|c| *c == "fail"));
    assert!(
        runs.column("detail")[0].contains("expected 0000"),
        "{}",
        runs.column("detail")[0]
    );
}

#[test]
fn resume_skips_finished_cells_and_runs_only_new_ones() {
    let lab = Lab::new();
    lab.write("r.toml", &chains("\"thread_pool\"", "1, 2", PASS_1000));
    assert_eq!(code(&lab.run(&["r.toml"])), 0);
    assert_eq!(lab.csv("results/r/runs.csv").rows.len(), 4);
    // the same file again: nothing to do
    assert_eq!(code(&lab.run(&["r.toml"])), 0);
    assert_eq!(lab.csv("results/r/runs.csv").rows.len(), 4);
    // one more worker count: only its cell runs
    lab.write("r.toml", &chains("\"thread_pool\"", "1, 2, 3", PASS_1000));
    assert_eq!(code(&lab.run(&["r.toml"])), 0);
    let runs = lab.csv("results/r/runs.csv");
    assert_eq!(runs.rows.len(), 6);
    assert_eq!(runs.column("workers")[4..], ["3", "3"]);
    // a description edit changes no cell
    let edited = chains("\"thread_pool\"", "1, 2, 3", PASS_1000).replace("tiny chains", "edited");
    lab.write("r.toml", &edited);
    assert_eq!(code(&lab.run(&["r.toml"])), 0);
    assert_eq!(lab.csv("results/r/runs.csv").rows.len(), 6);
    // more repetitions top the cells up
    assert_eq!(code(&lab.run(&["r.toml", "--set", "repetitions=3"])), 0);
    let runs = lab.csv("results/r/runs.csv");
    assert_eq!(runs.rows.len(), 9);
    assert_eq!(runs.column("repetition")[6..], ["3", "3", "3"]);
}

#[test]
fn fresh_archives_the_old_rows_instead_of_deleting_them() {
    let lab = Lab::new();
    lab.write("f.toml", &chains("\"sequential\"", "1", PASS_1000));
    assert_eq!(code(&lab.run(&["f.toml"])), 0);
    assert_eq!(code(&lab.run(&["f.toml", "--fresh"])), 0);
    let archived: Vec<_> = std::fs::read_dir(lab.path().join("results/f"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("runs-") && n.ends_with(".csv"))
        .collect();
    assert_eq!(archived.len(), 1, "{archived:?}");
    assert_eq!(lab.csv(&format!("results/f/{}", archived[0])).rows.len(), 2);
    assert_eq!(lab.csv("results/f/runs.csv").rows.len(), 2);
}

#[test]
fn only_and_shard_select_cells() {
    let lab = Lab::new();
    lab.write("o.toml", &chains(ALL, "1, 2", PASS_1000));
    assert_eq!(
        code(&lab.run(&[
            "o.toml",
            "--only",
            "model=async,rayon",
            "--only",
            "workers=2",
            "--set",
            "repetitions=1"
        ])),
        0
    );
    let runs = lab.csv("results/o/runs.csv");
    let mut models: Vec<&str> = runs.column("model");
    models.sort();
    assert_eq!(models, ["async", "rayon"]);

    let lab = Lab::new();
    lab.write("s.toml", &chains(ALL, "1, 2", PASS_1000));
    let one = lab
        .cmd()
        .args([
            "run",
            "s.toml",
            "--out",
            "a",
            "-q",
            "--no-charts",
            "--shard",
            "1/2",
            "--set",
            "repetitions=1",
        ])
        .output()
        .unwrap();
    let two = lab
        .cmd()
        .args([
            "run",
            "s.toml",
            "--out",
            "b",
            "-q",
            "--no-charts",
            "--shard",
            "2/2",
            "--set",
            "repetitions=1",
        ])
        .output()
        .unwrap();
    assert_eq!((code(&one), code(&two)), (0, 0));
    let mut cells: Vec<String> = lab
        .csv("a/s/runs.csv")
        .column("cell")
        .iter()
        .chain(lab.csv("b/s/runs.csv").column("cell").iter())
        .map(|s| s.to_string())
        .collect();
    cells.sort();
    let n = cells.len();
    cells.dedup();
    assert_eq!(
        (n, cells.len()),
        (12, 12),
        "the shards split the 12 cells without overlap"
    );

    let bad = lab.run(&["s.toml", "--only", "modle=async"]);
    assert_eq!(code(&bad), 2);
    assert!(
        stderr(&bad).contains("did you mean \"model\""),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn a_timeout_fails_the_cell_with_a_reason() {
    let lab = Lab::new();
    lab.write("t.toml", "timeout = \"100ms\"\nrepetitions = 1\n[workload]\nkind = \"sleep\"\ntasks = 3\nduration = \"5s\"\n[matrix]\nmodel = [\"sequential\", \"async\"]\nworkers = [3]\n");
    let started = std::time::Instant::now();
    let out = lab.run(&["t.toml"]);
    assert_eq!(code(&out), 1);
    // Generous bound: the 5 s waits must have been cut short, not waited out.
    assert!(
        started.elapsed().as_secs() < 5,
        "took {:?}",
        started.elapsed()
    );
    let runs = lab.csv("results/t/runs.csv");
    assert_eq!(runs.rows.len(), 2);
    assert!(
        runs.column("detail")
            .iter()
            .all(|d| d.contains("timeout after 100ms")),
        "{:?}",
        runs.column("detail")
    );
}

#[test]
fn lanes_show_threads_side_by_side_and_one_event_loop() {
    let lab = Lab::new();
    lab.write("l.toml", "repetitions = 1\n[workload]\nkind = \"sleep\"\ntasks = 8\nduration = \"10ms\"\n[matrix]\nmodel = [\"threads\", \"async\", \"thread_pool\"]\nworkers = [4]\n");
    assert_eq!(code(&lab.run(&["l.toml"])), 0);
    let tasks = lab.csv("results/l/tasks.csv");
    let lanes = |model: &str| -> std::collections::BTreeSet<String> {
        tasks
            .rows
            .iter()
            .filter(|r| r["model"] == model)
            .map(|r| r["lane"].clone())
            .collect()
    };
    assert_eq!(lanes("threads").len(), 8);
    assert_eq!(lanes("async").len(), 1);
    assert!(lanes("thread_pool").len() <= 4);
    let ideal: Vec<f64> = lab
        .csv("results/l/runs.csv")
        .column("ideal_s")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(
        ideal,
        [0.01, 0.02, 0.02],
        "threads overlap all 8 waits; async with 4 in flight and a pool of 4 need two rounds"
    );
}

#[test]
fn bad_files_exit_2_with_positions_and_write_nothing() {
    let lab = Lab::new();
    lab.write("bad.toml", "repetitons = 3\n[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thred_pool\"]\nworkers = [0]\n");
    let out = lab.run(&["bad.toml"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml:1:1: repetitons: unknown key"),
        "{err}"
    );
    assert!(err.contains("did you mean \"repetitions\"?"), "{err}");
    assert!(err.contains("bad.toml:5:10: matrix.model"), "{err}");
    assert!(err.contains("did you mean \"thread_pool\"?"), "{err}");
    assert!(
        err.contains("bad.toml:6:12: matrix.workers: must be a whole number >= 1, got 0"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!lab.path().join("results").exists(), "nothing written");

    let v = lab.cmd().args(["validate", "bad.toml"]).output().unwrap();
    assert_eq!(code(&v), 2);
    lab.write("syntax.toml", "[workload\n");
    let s = lab
        .cmd()
        .args(["validate", "syntax.toml"])
        .output()
        .unwrap();
    assert_eq!(code(&s), 2);
    assert!(stderr(&s).contains("syntax.toml:1:"), "{}", stderr(&s));
    let missing = lab.cmd().args(["run", "nope.toml"]).output().unwrap();
    assert_eq!(code(&missing), 2);
}

/// The caret line under `source` in `err`: the line after the one that shows `source`
/// behind its gutter (`5 | `), with the gutter's width.
fn caret_under<'e>(err: &'e str, source: &str) -> (usize, &'e str) {
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.ends_with(&format!(" | {source}")))
        .unwrap_or_else(|| panic!("no source line {source:?} in\n{err}"));
    (lines[at].len() - source.len(), lines[at + 1])
}

#[test]
fn bad_files_point_at_the_span_with_a_caret_below_the_first_line() {
    let lab = Lab::new();
    lab.write("bad.toml", "repetitions = 1\n[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thred_pool\"]\nworkers = [0]\n");
    let out = lab.run(&["bad.toml"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(!err.contains('\x1b'), "no colour in a pipe: {err:?}");
    let lines: Vec<&str> = err.lines().collect();
    let allowed = conclab::model::Model::builtin_names().join(", ");
    assert_eq!(
        lines[0],
        format!(
            "error: bad.toml:5:10: matrix.model: \"thred_pool\" is not allowed; allowed: {allowed}; did you mean \"thread_pool\"?"
        ),
        "{err}"
    );
    let source = "model = [\"thred_pool\"]";
    assert_eq!(lines[2], format!("5 | {source}"), "{err}");
    let (gutter, carets) = caret_under(&err, source);
    // Column 10 of the first line: the caret sits 9 characters past the gutter.
    let column = gutter + 10 - 1;
    assert_eq!(carets.find('^'), Some(column), "{err}");
    assert_eq!(
        &carets[column..],
        "^^^^^^^^^^^^ \"thred_pool\" is not allowed",
        "one caret per character of \"thred_pool\": {err}"
    );
    assert!(
        err.contains(&format!("= help: allowed: {allowed}\n")),
        "{err}"
    );
    assert!(
        err.contains("= help: did you mean \"thread_pool\"?\n"),
        "{err}"
    );
    // A message without hints shows the caret alone; the first line says the rest.
    assert!(
        err.contains("error: bad.toml:6:12: matrix.workers: must be a whole number >= 1, got 0\n"),
        "{err}"
    );
    let (gutter, carets) = caret_under(&err, "workers = [0]");
    assert_eq!(&carets[gutter..], "           ^", "{err}");
    assert!(err.ends_with("\n2 error(s); nothing was run\n"), "{err}");
}

#[test]
fn a_bad_set_value_is_shown_with_a_caret() {
    let lab = Lab::new();
    lab.write(
        "ok.toml",
        "repetitions = 1\n[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"sequential\"]\n",
    );
    let out = lab.run(&["ok.toml", "--set", "model=thred", "--set", "tasks=many"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(!err.contains('\x1b'), "no colour in a pipe: {err:?}");
    assert!(
        err.contains("error: --set model:1:1: matrix.model: \"thred\" is not allowed; allowed: "),
        "{err}"
    );
    let (gutter, carets) = caret_under(&err, "thred");
    assert_eq!(&carets[gutter..], "^^^^^ \"thred\" is not allowed", "{err}");
    let (gutter, carets) = caret_under(&err, "many");
    assert_eq!(&carets[gutter..], "^^^^", "{err}");
}

#[test]
fn plan_lists_cells_and_survives_a_closed_pipe() {
    let lab = Lab::new();
    lab.write("p.toml", &chains(ALL, "1, 2, 3, 4, 5, 6, 7, 8", PASS_1000));
    let out = lab.cmd().args(["plan", "p.toml"]).output().unwrap();
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("42 cells"), "{}", stdout(&out));
    let exe = assert_cmd::cargo::cargo_bin("conclab");
    let piped = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' plan p.toml | head -1", exe.display()))
        .current_dir(lab.path())
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(!stderr(&piped).contains("panicked"), "{}", stderr(&piped));
    assert_eq!(stdout(&piped).lines().count(), 1);
}

#[test]
fn ctrl_c_keeps_finished_rows_exits_130_and_the_next_run_resumes() {
    let lab = Lab::new();
    // Each repetition takes 200 ms; 3 cells x 3 repetitions would take ~2 s.
    lab.write("i.toml", "repetitions = 3\n[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"200ms\"\n[matrix]\nmodel = [\"thread_pool\"]\nworkers = [1, 2, 3]\n");
    let exe = assert_cmd::cargo::cargo_bin("conclab");
    let child = std::process::Command::new(exe)
        .args(["run", "i.toml", "--out", "results", "-q", "--no-charts"])
        .current_dir(lab.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let runs = lab.path().join("results/i/runs.csv");
    // Wait (bounded) until the first row is on disk, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_to_string(&runs)
        .map(|t| t.lines().count())
        .unwrap_or(0)
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "no row written");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: sends SIGINT to the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let kept = lab.csv("results/i/runs.csv").rows.len();
    assert!((1..9).contains(&kept), "{kept} rows kept");
    assert!(stderr(&out).contains("resume"), "{}", stderr(&out));
    let again = lab.run(&["i.toml"]);
    assert_eq!(code(&again), 0);
    let runs = lab.csv("results/i/runs.csv");
    assert_eq!(runs.rows.len(), 9, "the rest ran, nothing twice");
    assert!(runs.column("check").iter().all(|c| *c == "pass"));
}

#[test]
fn the_counter_race_is_recorded_not_failed_and_locks_fix_it_in_every_model() {
    let lab = Lab::new();
    lab.write(
        "race.toml",
        "repetitions = 1\n[workload]\nkind = \"counter\"\ntasks = 6\nwait = \"20ms\"\n[matrix]\nmodel = [\"sequential\", \"threads\", \"thread_pool\", \"rayon\", \"process_pool\", \"gil_threads\", \"async\", \"async_pool\", \"async_blocking\"]\nworkers = [3]\nsync = [\"none\", \"mutex\", \"atomic\"]\n",
    );
    let out = lab.run(&["race.toml"]);
    assert_eq!(
        code(&out),
        0,
        "a race is the lesson, not a failure: {}",
        stderr(&out)
    );
    let runs = lab.csv("results/race/runs.csv");
    assert_eq!(runs.rows.len(), 27);
    for r in &runs.rows {
        match r["sync"].as_str() {
            "none" => assert!(["race", "pass"].contains(&r["check"].as_str()), "{r:?}"),
            _ => {
                assert_eq!(r["check"], "pass", "{r:?}");
                assert!(r["detail"].contains("final=6"), "{r:?}");
            }
        }
    }
    let summary = lab.csv("results/race/summary.csv");
    assert!(summary.header.contains(&"sync".to_string()));
}
