//! What a crash or a signal leaves behind, and how the next run recovers from it.

mod common;

use common::{
    Lab, children_of, code, conclab_alive, spawn_run, stderr, unique_pairs, wait_for_rows,
};

/// Two cells of two quick repetitions each.
const QUICK: &str = "repetitions = 2\n[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"1ms\"\n[matrix]\nmodel = [\"sequential\", \"thread_pool\"]\nworkers = [2]\n";

fn files_starting(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".csv"))
        .collect()
}

#[test]
fn a_torn_last_row_is_moved_aside_and_the_run_and_the_chart_verb_go_on() {
    let lab = Lab::new();
    lab.write("t.toml", QUICK);
    assert_eq!(code(&lab.run(&["t.toml"])), 0);
    let dir = lab.path().join("results/t");
    let runs = dir.join("runs.csv");
    let whole = std::fs::read_to_string(&runs).unwrap();
    let torn = "tamp,deadbeef,sleep,sequ";
    std::fs::write(&runs, format!("{whole}{torn}")).unwrap();

    // A reader leaves the file alone and skips the torn row.
    let chart = lab.cmd().args(["chart", "results/t"]).output().unwrap();
    assert_eq!(code(&chart), 0, "{}", stderr(&chart));
    assert!(stderr(&chart).contains("cut short"), "{}", stderr(&chart));
    assert_eq!(lab.csv("results/t/summary.csv").rows.len(), 2);

    let again = lab.run(&["t.toml"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(
        stderr(&again).contains("runs-torn-") && stderr(&again).contains("line 6"),
        "{}",
        stderr(&again)
    );
    let aside = files_starting(&dir, "runs-torn-");
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read_to_string(dir.join(&aside[0])).unwrap(), torn);
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), whole);
    assert_eq!(unique_pairs(&lab, "results/t/runs.csv"), (4, 4));
}

#[test]
fn a_real_row_cut_in_half_is_run_again_and_tasks_csv_is_repaired_too() {
    let lab = Lab::new();
    lab.write("h.toml", QUICK);
    assert_eq!(code(&lab.run(&["h.toml"])), 0);
    let dir = lab.path().join("results/h");
    let runs = dir.join("runs.csv");
    let whole = std::fs::read_to_string(&runs).unwrap();
    let cut = whole.trim_end().len() - 30;
    std::fs::write(&runs, &whole[..cut]).unwrap();
    let tasks = dir.join("tasks.csv");
    let text = std::fs::read_to_string(&tasks).unwrap();
    std::fs::write(&tasks, format!("{text}abc,\"half")).unwrap();

    let again = lab.run(&["h.toml"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(files_starting(&dir, "runs-torn-").len(), 1);
    assert_eq!(files_starting(&dir, "tasks-torn-").len(), 1);
    assert_eq!(
        unique_pairs(&lab, "results/h/runs.csv"),
        (4, 4),
        "the cut repetition ran again, once"
    );
    assert_eq!(lab.csv("results/h/tasks.csv").rows.len(), 4);
}

#[test]
fn a_malformed_row_in_the_middle_stops_the_run_with_its_line() {
    let lab = Lab::new();
    lab.write("m.toml", QUICK);
    assert_eq!(code(&lab.run(&["m.toml"])), 0);
    let runs = lab.path().join("results/m/runs.csv");
    let text = std::fs::read_to_string(&runs).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(2, "oops,3");
    std::fs::write(&runs, lines.join("\n") + "\n").unwrap();
    let again = lab.run(&["m.toml"]);
    assert_ne!(code(&again), 0);
    assert!(
        stderr(&again).contains("runs.csv: line 3: malformed CSV"),
        "{}",
        stderr(&again)
    );
    assert!(files_starting(&lab.path().join("results/m"), "runs-torn-").is_empty());
}

/// Starts `conclab run FILE`, waits (bounded) until runs.csv holds `rows` rows, sends
/// `signal`, and returns the output with the pids of the children it had then.
fn interrupt_after(
    lab: &Lab,
    file: &str,
    rows: usize,
    signal: i32,
) -> (std::process::Output, Vec<u32>) {
    let child = spawn_run(lab, file);
    wait_for_rows(lab, file.trim_end_matches(".toml"), rows);
    let children = children_of(child.id());
    // SAFETY: sends a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, signal) };
    (child.wait_with_output().unwrap(), children)
}

#[test]
fn sigterm_stops_the_run_and_its_server_exits_143_and_the_next_run_resumes() {
    let lab = Lab::new();
    // 3 cells x 3 repetitions of two 150 ms requests to the embedded server: ~2 s in all.
    lab.write("term.toml", "repetitions = 3\n[workload]\nkind = \"http\"\ntasks = 2\nlatency = \"150ms\"\n[matrix]\nmodel = [\"sequential\", \"thread_pool\", \"async\"]\nworkers = [2]\n");
    let (out, children) = interrupt_after(&lab, "term.toml", 1, libc::SIGTERM);
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );
    assert!(!children.is_empty(), "the embedded server was running");
    for pid in &children {
        assert!(!conclab_alive(*pid), "child {pid} outlived the run");
    }
    let (kept, unique) = unique_pairs(&lab, "results/term/runs.csv");
    assert!((1..9).contains(&kept), "{kept} rows kept");
    assert_eq!(kept, unique);

    let again = lab.run(&["term.toml"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(
        unique_pairs(&lab, "results/term/runs.csv"),
        (9, 9),
        "the rest ran, nothing twice"
    );
    assert!(
        lab.csv("results/term/runs.csv")
            .column("check")
            .iter()
            .all(|c| *c == "pass")
    );
}

#[test]
fn sighup_stops_the_run_with_exit_129_and_the_next_run_resumes() {
    let lab = Lab::new();
    lab.write("hup.toml", "repetitions = 3\n[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"150ms\"\n[matrix]\nmodel = [\"sequential\", \"thread_pool\"]\nworkers = [2]\n");
    let (out, _) = interrupt_after(&lab, "hup.toml", 1, libc::SIGHUP);
    assert_eq!(out.status.code(), Some(129), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("interrupted by SIGHUP"),
        "{}",
        stderr(&out)
    );
    let (kept, unique) = unique_pairs(&lab, "results/hup/runs.csv");
    assert!((1..6).contains(&kept), "{kept} rows kept");
    assert_eq!(kept, unique);
    assert_eq!(code(&lab.run(&["hup.toml"])), 0);
    assert_eq!(unique_pairs(&lab, "results/hup/runs.csv"), (6, 6));
}
