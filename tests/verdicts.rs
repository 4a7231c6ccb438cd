//! Verdicts that cannot lie (issue 17): a wrong model listed first, and a model wrong one
//! time in three, run through the binary beside conclab's own models.

mod common;

use std::collections::HashMap;

use common::{Lab, code, stderr, stdout};

/// A sequential external model; `argv[1]` says on which repetitions (1-based, counted in
/// a file beside the program) it returns a wrong digest: `always`, or a number.
const WRONG_AT: &str = r#"
import hashlib, json, os, sys, time

wrong_at = sys.argv[1]
count_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs.count")
try:
    with open(count_file) as f:
        run_no = int(f.read()) + 1
except FileNotFoundError:
    run_no = 1
with open(count_file, "w") as f:
    f.write(str(run_no))
wrong = wrong_at == "always" or wrong_at == str(run_no)
print(json.dumps({"ready": True, "implementation": "wrong at " + wrong_at}), flush=True)
run = json.loads(sys.stdin.readline())
for t in run["tasks"]:
    start = time.monotonic_ns()
    results = []
    for s in t["steps"]:
        b = s["input"].encode()
        for _ in range(s["iterations"]):
            b = hashlib.sha512(b).hexdigest().encode()
        if wrong:
            b = b"0" * 128
        results.append({"digest": b.decode()})
    print(json.dumps({"task": t["task"], "lane": 0, "start_ns": start,
                      "end_ns": time.monotonic_ns(), "ok": True, "steps": results}), flush=True)
print(json.dumps({"done": True, "user_s": 0.0, "sys_s": 0.0, "max_rss_kib": 1}), flush=True)
"#;

/// A sequential external model of sleeps and counters that misreports as `argv[1]` says:
/// `hang2` hangs on its second run, `cpu` claims 100 s of CPU, `overcount` a counter
/// above the task count, `short` spans that did not wait.
const OUTSIDER: &str = r#"
import json, os, sys, time

mode = sys.argv[1]
count_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), "outsider.count")
try:
    with open(count_file) as f:
        run_no = int(f.read()) + 1
except FileNotFoundError:
    run_no = 1
with open(count_file, "w") as f:
    f.write(str(run_no))
print(json.dumps({"ready": True, "implementation": mode}), flush=True)
run = json.loads(sys.stdin.readline())
if mode == "hang2" and run_no == 2:
    time.sleep(60)
counter = 0
for t in run["tasks"]:
    start = time.monotonic_ns()
    results = []
    for s in t["steps"]:
        if s["kind"] == "sleep" and mode != "short":
            time.sleep(s["seconds"])
        elif s["kind"] == "counter":
            counter += 1
        results.append({})
    print(json.dumps({"task": t["task"], "lane": 0, "start_ns": start,
                      "end_ns": time.monotonic_ns(), "ok": True, "steps": results}), flush=True)
done = {"done": True, "user_s": 100.0 if mode == "cpu" else 0.0, "sys_s": 0.0, "max_rss_kib": 1}
if run.get("counter") is not None:
    done["counter"] = counter + (2 if mode == "overcount" else 0)
print(json.dumps(done), flush=True)
"#;

/// The summary row of the outsider, after a run of it in `mode` on `workload`.
fn outsider(mode: &str, head: &str, workload: &str) -> (i32, HashMap<String, String>) {
    let lab = Lab::new();
    lab.write("outsider.py", OUTSIDER);
    lab.write(
        "o.toml",
        &format!(
            "{head}\n[workload]\n{workload}\n[matrix]\nmodel = [\"outsider\"]\n\
             [models.outsider]\ncommand = [\"python3\", \"outsider.py\", \"{mode}\"]\n"
        ),
    );
    let out = lab.run(&["o.toml"]);
    let mut rows = by_model(&lab, "results/o/summary.csv");
    (code(&out), rows.remove("outsider").expect("a row"))
}

#[test]
fn a_timed_out_repetition_counts_as_the_timeout_in_its_cell() {
    if !python3("a_timed_out_repetition_counts_as_the_timeout_in_its_cell") {
        return;
    }
    let (code, r) = outsider(
        "hang2",
        "repetitions = 3\ntimeout = \"1s\"",
        "kind = \"sleep\"\ntasks = 2\nduration = \"1ms\"",
    );
    assert_eq!(code, 1);
    assert_eq!(
        (
            r["check"].as_str(),
            r["n"].as_str(),
            r["failed_repetitions"].as_str()
        ),
        ("flaky", "3", "1"),
        "{r:?}"
    );
    assert_eq!(r["max_s"].parse::<f64>().unwrap(), 1.0, "{r:?}");
    assert!(r["failure"].starts_with("timeout after 1s"), "{r:?}");
}

#[test]
fn what_an_outsider_reports_is_bounded() {
    if !python3("what_an_outsider_reports_is_bounded") {
        return;
    }
    let sleep = "kind = \"sleep\"\ntasks = 2\nduration = \"20ms\"";
    let (code, r) = outsider("cpu", "repetitions = 1", sleep);
    assert_eq!(code, 0, "{r:?}");
    assert!(r["flags"].split(';').any(|f| f == "impossible"), "{r:?}");
    assert_eq!(
        r["parallelism"], "",
        "no cores busy from impossible CPU time"
    );

    let (code, r) = outsider("short", "repetitions = 1", sleep);
    assert_eq!((code, r["check"].as_str()), (1, "fail"), "{r:?}");
    assert!(r["failure"].contains("waited less than 20ms"), "{r:?}");

    let counter = "kind = \"counter\"\ntasks = 3\nwait = \"1ms\"\nsync = \"none\"";
    let (code, r) = outsider("overcount", "repetitions = 1", counter);
    assert_eq!((code, r["check"].as_str()), (1, "fail"), "{r:?}");
    assert!(
        r["failure"].contains("final=5 expected=3: more increments than tasks"),
        "{r:?}"
    );
}

fn python3(test: &str) -> bool {
    let found = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("{test}: skipped: no python3 on this machine");
    }
    found
}

fn lab(models: &str, wrong_at: &str, claims: &str) -> Lab {
    let lab = Lab::new();
    lab.write("wrong.py", WRONG_AT);
    lab.write(
        "v.toml",
        &format!(
            "repetitions = 3\n[workload]\nkind = \"hash_chain\"\ninputs = [\"a\", \"b\"]\niterations = 200\n\
             [matrix]\nmodel = [{models}]\nworkers = [2]\n\
             [models.wrong]\ncommand = [\"python3\", \"wrong.py\", \"{wrong_at}\"]\n{claims}"
        ),
    );
    lab
}

fn by_model(lab: &Lab, file: &str) -> HashMap<String, HashMap<String, String>> {
    lab.csv(file)
        .rows
        .into_iter()
        .map(|r| (r["model"].clone(), r))
        .collect()
}

#[test]
fn a_wrong_model_listed_first_fails_alone() {
    if !python3("a_wrong_model_listed_first_fails_alone") {
        return;
    }
    let lab = lab("\"wrong\", \"thread_pool\", \"rayon\"", "always", "");
    let out = lab.run(&["v.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let summary = by_model(&lab, "results/v/summary.csv");
    for right in ["thread_pool", "rayon"] {
        let r = &summary[right];
        assert_eq!(r["check"], "pass", "{right}: {r:?}");
        assert_eq!(
            (
                r["check"].as_str(),
                r["n"].as_str(),
                r["failed_repetitions"].as_str()
            ),
            ("pass", "3", "0"),
            "{right}: {r:?}"
        );
    }
    let w = &summary["wrong"];
    assert_eq!(w["check"], "fail", "{w:?}");
    assert_eq!(
        (w["check"].as_str(), w["failed_repetitions"].as_str()),
        ("fail", "3")
    );
    assert!(
        w["failure"].contains("reached by 2 of 3 models (rayon, thread_pool)"),
        "{}",
        w["failure"]
    );
}

#[test]
fn a_model_wrong_one_time_in_three_is_flaky_and_its_claims_do_not_hold() {
    if !python3("a_model_wrong_one_time_in_three_is_flaky_and_its_claims_do_not_hold") {
        return;
    }
    let claims = "[[claims]]\nsay = \"the outsider finishes\"\ncell = { model = \"wrong\" }\nexpect = \"median_s < 100\"\n\
                  [[claims]]\nsay = \"the outsider is right\"\ncell = { model = \"wrong\" }\nexpect = \"check == pass\"\n";
    // A claimed cell runs at least five repetitions: the second of five is wrong.
    let lab = lab("\"wrong\", \"thread_pool\"", "2", claims);
    let out = lab.run(&["v.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let summary = by_model(&lab, "results/v/summary.csv");
    let w = &summary["wrong"];
    assert_eq!(
        (w["check"].as_str(), w["n"].as_str()),
        ("flaky", "4"),
        "{w:?}"
    );
    assert_eq!(
        (
            w["check"].as_str(),
            w["n"].as_str(),
            w["failed_repetitions"].as_str()
        ),
        ("flaky", "4", "1"),
        "{w:?}"
    );
    assert!(w["failure"].contains("differs from"), "{}", w["failure"]);
    assert_eq!(summary["thread_pool"]["check"], "pass");
    let table = stdout(&out);
    assert!(
        table.contains("flaky (1 failed repetition, first: wrong: digest"),
        "{table}"
    );
    let claims = lab.csv("results/v/claims.csv");
    assert_eq!(claims.column("verdict"), ["unclear", "fails"]);
    assert!(
        claims.rows[0]["value"].contains("1 of its repetitions failed (flaky)"),
        "{:?}",
        claims.rows[0]
    );
    let report = std::fs::read_to_string(lab.path().join("results/v/report.md")).unwrap();
    assert!(report.contains("flaky (1 failed repetition"), "{report}");
    assert!(
        report.contains(
            "## Failures\n\n- wrong w=2: **flaky**, 1 failed repetition, first: wrong: digest"
        ),
        "{report}"
    );
}
