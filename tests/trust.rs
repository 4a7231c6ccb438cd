//! Figures a user can trust: intervals, the speedup explained, flags, `repetitions = "auto"`.

mod common;

use common::{Lab, code, stderr, stdout};

const CHAINS: &str = "repetitions = 3\n[workload]\nkind = \"hash_chain\"\ninputs = [\"a\", \"b\"]\niterations = 1000\n[matrix]\nmodel = [\"sequential\", \"thread_pool\"]\nworkers = [2]\n";

/// The cell ids `plan` lists for an experiment file, by model.
fn cell_ids(lab: &Lab, file: &str) -> Vec<(String, String)> {
    let out = lab.cmd().args(["plan", file]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stdout(&out)
        .lines()
        .skip(2)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .filter(|(id, _)| id.len() == 12)
        .collect()
}

fn run_row(cell: &str, model: &str, workers: usize, rep: u32, wall: f64) -> String {
    // 8M hashes at the calibrated 500 ns: 4 s of CPU when one core computes at full speed.
    format!(
        "t,{cell},hash_chain,{model},{workers},{rep},{wall},0,{cpu},0,,2,2,0,pass,digest 00,,,,2026-11-30T00:00:00Z,vm,1,8000000,500\n",
        cpu = wall * workers as f64
    )
}

#[test]
fn chart_flags_a_speedup_no_two_cores_can_give() {
    let lab = Lab::new();
    lab.write("t.toml", CHAINS);
    let ids = cell_ids(&lab, "t.toml");
    let id = |model: &str| ids.iter().find(|(_, m)| m == model).unwrap().0.clone();
    let dir = "results/t";
    lab.write(
        &format!("{dir}/experiment.toml"),
        &format!("name = \"t\"\n{CHAINS}"),
    );
    lab.write(
        &format!("{dir}/environment.json"),
        r#"{"host":"vm","os":"Linux","logical_cores":2,"physical_cores":2,"cpu_model":"test","conclab_version":"0","started_at":"2026-11-30T00:00:00Z"}"#,
    );
    let mut runs = String::from(
        "experiment,cell,workload,model,workers,repetition,wall_s,setup_s,user_s,sys_s,peak_rss_kib,tasks,ok,failed,check,detail,ideal_s,task_p50_s,task_p99_s,started_at,host,in_flight,hashes,calibrated_ns_per_hash\n",
    );
    for (rep, (seq, pool)) in [(4.0, 1.5), (3.98, 1.49), (4.02, 1.51)].iter().enumerate() {
        runs.push_str(&run_row(
            &id("sequential"),
            "sequential",
            1,
            rep as u32 + 1,
            *seq,
        ));
        runs.push_str(&run_row(
            &id("thread_pool"),
            "thread_pool",
            2,
            rep as u32 + 1,
            *pool,
        ));
    }
    lab.write(&format!("{dir}/runs.csv"), &runs);

    let out = lab.cmd().args(["chart", dir]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary = lab.csv(&format!("{dir}/summary.csv"));
    let pool = summary
        .rows
        .iter()
        .find(|r| r["model"] == "thread_pool")
        .unwrap();
    assert_eq!(pool["speedup"], "2.667");
    assert_eq!(pool["flags"], "beyond_cores");
    assert_eq!(
        (
            pool["speedup_ci_low"].as_str(),
            pool["speedup_ci_high"].as_str()
        ),
        ("2.662", "2.671"),
        "paired by round: 4.02 / 1.51 and 3.98 / 1.49, min to max of three ratios"
    );
    assert_eq!(pool["speedup_ci_coverage"], "0.7500");
    assert_eq!(pool["parallelism"], "2.000");
    let seq = summary
        .rows
        .iter()
        .find(|r| r["model"] == "sequential")
        .unwrap();
    assert_eq!(seq["flags"], "", "a clean cell has no flags");
    assert_eq!(seq["median_ci_low_s"], "3.980000");
    assert_eq!(seq["ci_coverage"], "0.7500");
    let text = stdout(&out);
    assert!(
        text.contains("beyond_cores in 1 of 2 cells (thread_pool w=2 2.67x)"),
        "{text}"
    );
}

#[test]
fn summary_has_the_intervals_and_flags_after_the_old_columns() {
    let lab = Lab::new();
    lab.write("t.toml", CHAINS);
    let out = lab.run(&["t.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary = lab.csv("results/t/summary.csv");
    let at = |c: &str| summary.header.iter().position(|h| h == c).unwrap();
    let added = [
        "median_ci_low_s",
        "median_ci_high_s",
        "speedup_ci_low",
        "speedup_ci_high",
        "parallelism",
        "core_speed",
        "flags",
    ];
    assert!(added.windows(2).all(|w| at(w[0]) < at(w[1])));
    assert!(at("outliers") < at("median_ci_low_s"));
    for r in &summary.rows {
        let f = |c: &str| r[c].parse::<f64>().unwrap();
        assert!(f("median_ci_low_s") <= f("median_s") && f("median_s") <= f("median_ci_high_s"));
        assert!(
            f("core_speed") > 0.0,
            "hash chains have a known amount of work"
        );
        assert!(f("parallelism") > 0.0);
    }
    let runs = lab.csv("results/t/runs.csv");
    assert!(runs.column("hashes").iter().all(|h| *h == "2000"));
    let env: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.path().join("results/t/environment.json")).unwrap(),
    )
    .unwrap();
    let samples = env["samples"].as_array().unwrap();
    for what in ["ns_per_hash", "capacity"] {
        assert!(
            samples.iter().filter(|s| s["what"] == what).count() >= 6,
            "a probe at the start and one at the end, several samples each"
        );
    }
    assert!(
        samples
            .iter()
            .all(|s| s["at"].as_str().unwrap().ends_with('Z'))
    );
}

#[test]
fn auto_repetitions_take_the_count_their_pilot_gives_and_resume_counts_rows() {
    let lab = Lab::new();
    // Two 30 ms sleeps: steady well within 25% on any machine.
    lab.write(
        "a.toml",
        "repetitions = \"auto\"\nprecision = \"25%\"\nmin_repetitions = 3\nmax_repetitions = 9\n[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"30ms\"\n[matrix]\nmodel = [\"sequential\", \"async\"]\nworkers = [2]\n",
    );
    let out = lab.run(&["a.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let runs = lab.csv("results/a/runs.csv");
    // A pilot of 5, then at least the 6 whose interval reaches 95%, at most 9.
    for model in ["sequential", "async"] {
        let n = runs.column("model").iter().filter(|&&m| m == model).count();
        assert!((6..=9).contains(&n), "{model}: {n}");
    }
    let written = runs.rows.len();
    let resolved = std::fs::read_to_string(lab.path().join("results/a/experiment.toml")).unwrap();
    assert!(
        resolved.contains("repetitions = \"auto\"\nprecision = \"25%\""),
        "{resolved}"
    );
    let again = lab.run(&["a.toml"]);
    assert_eq!(code(&again), 0);
    assert_eq!(
        lab.csv("results/a/runs.csv").rows.len(),
        written,
        "its count reached: nothing to run"
    );
}

#[test]
fn auto_keys_are_checked_with_positions() {
    let lab = Lab::new();
    lab.write(
        "bad.toml",
        "repetitions = 4294967296\nprecision = \"5%\"\n[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"async\"]\n",
    );
    lab.write(
        "bad2.toml",
        "repetitions = \"auto\"\nprecision = \"five\"\nmin_repetitions = 5\nmax_repetitions = 2\n[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"async\"]\n",
    );
    let out = lab
        .cmd()
        .args(["validate", "bad.toml", "bad2.toml"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    for want in [
        "bad.toml:1:15: repetitions: must be at most 100000, got 4294967296",
        "bad.toml:2:1: precision: precision goes with repetitions = \"auto\"",
        "bad2.toml:2:13: precision: must be a percentage",
        "bad2.toml:4:19: max_repetitions: must be at least min_repetitions (5), got 2",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

/// Issue 10: numbers that overflowed, wrapped or panicked are refused with their position.
#[test]
fn every_number_is_range_checked() {
    let lab = Lab::new();
    lab.write(
        "huge.toml",
        "warmup = 4294967296\n[workload]\nkind = \"sleep\"\ntasks = 99999999999\nduration = \"99999999999999999999999h\"\n[matrix]\nmodel = [\"thread_pool\"]\nworkers = [1, 60000000]\n",
    );
    let out = lab.cmd().args(["validate", "huge.toml"]).output().unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    for want in [
        "huge.toml:1:10: warmup: must be at most 100000",
        "huge.toml:4:9: workload.tasks: must be at most 1000000",
        "huge.toml:5:12: workload.duration: \"99999999999999999999999h\" is longer than 168h",
        "huge.toml:8:15: matrix.workers: must be at most 1000000",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(!lab.path().join("results").exists());
}

/// Issue 10: a wrong result that happens to be written first does not make every right
/// one fail; the majority decides, and the wrong model is named.
#[test]
fn a_wrong_model_among_right_ones_is_the_one_that_fails() {
    let lab = Lab::new();
    let file = CHAINS
        .replace("repetitions = 3", "repetitions = 1")
        .replace(
            "\"sequential\", \"thread_pool\"",
            "\"sequential\", \"thread_pool\", \"rayon\"",
        );
    lab.write("t.toml", &file);
    // rayon alone first, then its digest corrupted as a broken model would write it.
    let first = lab.run(&["t.toml", "--only", "model=rayon"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let runs = lab.path().join("results/t/runs.csv");
    let text = std::fs::read_to_string(&runs).unwrap();
    let right = text
        .lines()
        .nth(1)
        .unwrap()
        .split(",digest ")
        .nth(1)
        .unwrap()[..16]
        .to_string();
    std::fs::write(&runs, text.replace(&right, "0123456789abcdef")).unwrap();

    let out = lab.run(&["t.toml"]);
    assert_eq!(
        code(&out),
        1,
        "the wrong cell fails the run: {}",
        stderr(&out)
    );
    let summary = lab.csv("results/t/summary.csv");
    for r in &summary.rows {
        let want = if r["model"] == "rayon" {
            "fail"
        } else {
            "pass"
        };
        assert_eq!(r["check"], want, "{}", r["model"]);
    }
    let runs = lab.csv("results/t/runs.csv");
    assert!(
        runs.column("check").iter().skip(1).all(|c| *c == "pass"),
        "{:?}",
        runs.column("detail")
    );
    let text = stdout(&out);
    assert!(
        text.contains(&format!("rayon: digest 0123456789abcdef differs from {right}, reached by 2 of 3 models (sequential, thread_pool)")),
        "{text}"
    );
}
