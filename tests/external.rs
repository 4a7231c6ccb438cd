//! External models (docs/external-models.md): small Python programs that speak the
//! protocol, correctly or not, run as `[models.NAME] command = [...]` beside sequential.

mod common;

use std::time::{Duration, Instant};

use common::{Csv, Lab, code, stderr};

/// A sequential model in Python that speaks the protocol; `argv[1]` says how to misbehave.
const FAKE: &str = r#"
import hashlib, json, os, resource, subprocess, sys, time, urllib.error, urllib.request

mode = sys.argv[1]
if mode == "ok":
    time.sleep(0.3)  # start-up: setup_s, outside the measured wall time
print(json.dumps({"ready": True, "implementation": "fake " + mode}), flush=True)
if mode == "garbage":
    print("this is not json, it is garbage", flush=True)
run = json.loads(sys.stdin.readline())
if mode == "hang":
    sleeper = subprocess.Popen(["sleep", "60"])
    with open("hang.pids", "w") as f:
        f.write("%d %d" % (os.getpid(), sleeper.pid))
    time.sleep(60)

def usage():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + c.ru_utime, s.ru_stime + c.ru_stime

user0, sys0 = usage()
counter = 0
for n, t in enumerate(run["tasks"]):
    if mode == "crash" and n == 1:
        sys.exit(3)
    start = time.monotonic_ns()
    results = []
    for s in t["steps"]:
        if s["kind"] == "sleep":
            time.sleep(s["seconds"])
            results.append({})
        elif s["kind"] == "hash":
            b = s["input"].encode()
            for _ in range(s["iterations"]):
                b = hashlib.sha512(b).hexdigest().encode()
            if mode == "lie" and n == 0:
                b = b"0" * 128
            results.append({"digest": b.decode()})
        elif s["kind"] == "counter":
            value = counter
            time.sleep(s["wait_s"])
            counter = value + 1
            results.append({})
        elif s["kind"] == "http":
            try:
                with urllib.request.urlopen(s["url"], timeout=s["timeout_s"]) as r:
                    results.append({"status": r.status, "bytes": len(r.read())})
            except urllib.error.HTTPError as e:
                results.append({"status": e.code, "bytes": len(e.read())})
    line = {"task": t["task"], "lane": 0, "start_ns": start, "end_ns": time.monotonic_ns(),
            "ok": True, "steps": results}
    print(json.dumps(line), flush=True)
user, system = usage()
print(json.dumps({"done": True, "counter": counter, "user_s": user - user0,
                  "sys_s": system - sys0, "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)
"#;

/// Whether python3 can run the fakes; tests that need it say so and pass without it.
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

/// A lab with the fake program and one experiment of `workload` comparing sequential
/// with the fake in `mode`.
fn lab_with(name: &str, head: &str, workload: &str, mode: &str) -> Lab {
    let lab = Lab::new();
    lab.write("fake.py", FAKE);
    lab.write(
        &format!("{name}.toml"),
        &format!(
            "repetitions = 1\n{head}\n[workload]\n{workload}\n[matrix]\nmodel = [\"sequential\", \"fake\"]\n[models.fake]\ncommand = [\"python3\", \"fake.py\", \"{mode}\"]\n"
        ),
    );
    lab
}

fn row<'c>(runs: &'c Csv, model: &str) -> &'c std::collections::HashMap<String, String> {
    runs.rows
        .iter()
        .find(|r| r["model"] == model)
        .unwrap_or_else(|| panic!("no row of {model}"))
}

fn seconds(row: &std::collections::HashMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} = {:?}", row[column]))
}

#[test]
fn a_correct_program_passes_every_workload_beside_sequential() {
    if !python3("a_correct_program_passes_every_workload_beside_sequential") {
        return;
    }
    let lab = Lab::new();
    lab.write("fake.py", FAKE);
    let workloads = [
        ("sleep", "kind = \"sleep\"\ntasks = 2\nduration = \"10ms\""),
        (
            "chains",
            "kind = \"hash_chain\"\ninputs = [\"pass\", \"a\", \"π\"]\niterations = 1000",
        ),
        (
            "counter",
            "kind = \"counter\"\ntasks = 3\nwait = \"5ms\"\nsync = \"mutex\"",
        ),
        (
            "http",
            "kind = \"http\"\ntasks = 3\nlatency = \"20ms\"\nbody_bytes = 100",
        ),
        (
            "mixed",
            "kind = \"mixed\"\ntasks = 2\niterations = 500\nduration = \"5ms\"",
        ),
    ];
    let mut files = Vec::new();
    for (name, workload) in workloads {
        lab.write(
            &format!("{name}.toml"),
            &format!(
                "repetitions = 1\n[workload]\n{workload}\n[matrix]\nmodel = [\"sequential\", \"fake\"]\n[models.fake]\ncommand = [\"python3\", \"fake.py\", \"ok\"]\n"
            ),
        );
        files.push(format!("{name}.toml"));
    }
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = lab.run(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for (name, _) in workloads {
        let runs = lab.csv(&format!("results/{name}/runs.csv"));
        let (sequential, fake) = (row(&runs, "sequential"), row(&runs, "fake"));
        assert_eq!(fake["check"], "pass", "{name}: {fake:?}");
        // The same digests, the same counter, the same statuses as conclab's own.
        assert_eq!(fake["detail"], sequential["detail"], "{name}");
        assert_eq!(fake["tasks"], sequential["tasks"], "{name}");
        let wall = seconds(fake, "wall_s");
        let setup = seconds(fake, "setup_s");
        assert!(
            (0.3..30.0).contains(&setup),
            "{name}: the 300 ms start-up is setup_s: {setup}"
        );
        if name == "sleep" {
            // Two 10 ms sleeps: the start-up would make it 0.3 s at least.
            assert!(
                (0.02..0.3).contains(&wall),
                "{name}: the start-up is outside wall_s: {wall}"
            );
        }
        let tasks = lab.csv(&format!("results/{name}/tasks.csv"));
        let spans: Vec<_> = tasks.rows.iter().filter(|r| r["model"] == "fake").collect();
        assert_eq!(spans.len().to_string(), fake["tasks"], "{name}");
        let mut last_end = 0.0;
        for s in spans {
            let (start, end) = (seconds(s, "start_s"), seconds(s, "end_s"));
            assert!(
                0.0 <= start && start <= end && end <= wall + 1e-6,
                "{name}: span {start}..{end} outside 0..{wall}"
            );
            assert_eq!(s["lane"], "0");
            assert!(
                start >= last_end - 1e-6,
                "{name}: one lane, one task at a time"
            );
            last_end = end;
        }
    }
    let http = lab.csv("results/http/runs.csv");
    assert_eq!(row(&http, "fake")["detail"], "200:3");
    assert_eq!(
        row(&lab.csv("results/counter/runs.csv"), "fake")["detail"],
        "final=3 expected=3"
    );
}

/// A model of one's own is measured against the baseline it declares, here its own run at
/// its fewest workers; without one, against conclab's `sequential`, absent here.
#[test]
fn a_program_declares_its_own_baseline() {
    if !python3("a_program_declares_its_own_baseline") {
        return;
    }
    let lab = Lab::new();
    lab.write("fake.py", FAKE);
    let file = |name: &str, baseline: &str| {
        lab.write(
            &format!("{name}.toml"),
            &format!(
                "repetitions = 1\n[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"10ms\"\n[matrix]\nmodel = [\"fake\"]\nworkers = [1, 2]\n[models.fake]\ncommand = [\"python3\", \"fake.py\", \"ok\"]\n{baseline}"
            ),
        );
    };
    file("own", "baseline = \"fake\"\n");
    file("none", "");
    let out = lab.run(&["own.toml", "none.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let speedups = |name: &str| -> Vec<(String, String)> {
        let summary = lab.csv(&format!("results/{name}/summary.csv"));
        summary
            .rows
            .iter()
            .map(|r| (r["workers"].clone(), r["speedup"].clone()))
            .collect()
    };
    let own = speedups("own");
    assert_eq!(own.len(), 2, "{own:?}");
    for (workers, speedup) in &own {
        let s: f64 = speedup.parse().unwrap_or_else(|_| panic!("{own:?}"));
        if workers == "1" {
            assert_eq!(s, 1.0, "the baseline's own cell: {own:?}");
        } else {
            assert!(s > 0.0, "{own:?}");
        }
    }
    let none = speedups("none");
    assert!(none.iter().all(|(_, s)| s.is_empty()), "{none:?}");
    let resolved = std::fs::read_to_string(lab.path().join("results/own/experiment.toml")).unwrap();
    assert!(resolved.contains("baseline = \"fake\""), "{resolved}");
}

#[test]
fn a_program_that_crashes_fails_its_cell_with_its_exit_status() {
    if !python3("a_program_that_crashes_fails_its_cell_with_its_exit_status") {
        return;
    }
    let lab = lab_with(
        "crash",
        "",
        "kind = \"hash_chain\"\ninputs = [\"a\", \"b\", \"c\"]\niterations = 100",
        "crash",
    );
    let out = lab.run(&["crash.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let runs = lab.csv("results/crash/runs.csv");
    assert_eq!(row(&runs, "sequential")["check"], "pass");
    let fake = row(&runs, "fake");
    assert_eq!(fake["check"], "fail");
    let detail = &fake["detail"];
    assert!(
        detail.contains("exited after 1 of 3 tasks without its done line (exit status 3)"),
        "{detail}"
    );
    assert!(
        detail.contains("its last line: \"{\\\"task\\\": 0"),
        "{detail}"
    );
}

#[test]
fn a_program_that_hangs_is_killed_with_its_children_at_the_timeout() {
    if !python3("a_program_that_hangs_is_killed_with_its_children_at_the_timeout") {
        return;
    }
    let lab = lab_with(
        "hang",
        "timeout = \"2s\"",
        "kind = \"sleep\"\ntasks = 2\nduration = \"1ms\"",
        "hang",
    );
    let t = Instant::now();
    let out = lab.run(&["hang.toml"]);
    let took = t.elapsed();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // 2 s of timeout, a 100 ms reaction, the sequential cell and start-ups: far below
    // the 60 s the program would hang for.
    assert!(took < Duration::from_secs(20), "{took:?}");
    let runs = lab.csv("results/hang/runs.csv");
    assert_eq!(row(&runs, "sequential")["check"], "pass");
    let fake = row(&runs, "fake");
    assert_eq!(fake["check"], "fail");
    assert!(
        fake["detail"].starts_with("timeout after 2s (0 of 2 tasks finished)"),
        "{}",
        fake["detail"]
    );
    // The program and the child it started were in one process group, killed together.
    let pids = std::fs::read_to_string(lab.path().join("hang.pids")).unwrap();
    for pid in pids.split_whitespace() {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            let gone = state.is_none_or(|s| s.starts_with('Z'));
            if gone {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "process {pid} still runs: {stat}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_program_that_lies_about_a_digest_fails_with_the_digest() {
    if !python3("a_program_that_lies_about_a_digest_fails_with_the_digest") {
        return;
    }
    let lab = lab_with(
        "lie",
        "",
        "kind = \"hash_chain\"\ninputs = [\"a\", \"b\"]\niterations = 100",
        "lie",
    );
    let out = lab.run(&["lie.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // A digest is judged beside the other models' once all have run: in the summary.
    let summary = lab.csv("results/lie/summary.csv");
    assert_eq!(row(&summary, "sequential")["check"], "pass");
    let fake = row(&summary, "fake");
    assert_eq!(fake["check"], "fail");
    assert!(
        fake["failure"].starts_with("fake: digest ") && fake["failure"].contains("differs from"),
        "{}",
        fake["failure"]
    );
}

#[test]
fn a_program_that_writes_garbage_fails_naming_the_line() {
    if !python3("a_program_that_writes_garbage_fails_naming_the_line") {
        return;
    }
    let lab = lab_with(
        "garbage",
        "",
        "kind = \"sleep\"\ntasks = 2\nduration = \"1ms\"",
        "garbage",
    );
    let out = lab.run(&["garbage.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let runs = lab.csv("results/garbage/runs.csv");
    assert_eq!(row(&runs, "sequential")["check"], "pass");
    let detail = &row(&runs, "fake")["detail"];
    assert_eq!(
        detail,
        "fake wrote a line that is not JSON: \"this is not json, it is garbage\""
    );
}

#[test]
fn a_command_that_cannot_start_fails_its_cells_and_the_run_goes_on() {
    let lab = Lab::new();
    lab.write(
        "missing.toml",
        "repetitions = 1\n[workload]\nkind = \"sleep\"\ntasks = 1\nduration = \"1ms\"\n[matrix]\nmodel = [\"sequential\", \"mine\"]\n[models.mine]\ncommand = [\"./no-such-model\", \"--fast\"]\n",
    );
    let out = lab.run(&["missing.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let runs = lab.csv("results/missing/runs.csv");
    assert_eq!(row(&runs, "sequential")["check"], "pass");
    let detail = &row(&runs, "mine")["detail"];
    assert!(
        detail.starts_with("cannot start mine (") && detail.contains("no-such-model"),
        "{detail}"
    );
}

#[test]
fn an_unknown_model_name_is_refused_with_the_nearest() {
    let lab = Lab::new();
    lab.write(
        "typo.toml",
        "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"sequential\", \"cpython_threadz\"]\n",
    );
    let out = lab.run(&["typo.toml"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("typo.toml:4:24: matrix.model: \"cpython_threadz\" is not allowed;")
            && err.contains("did you mean \"cpython_threads\"?"),
        "{err}"
    );
    assert!(!lab.path().join("results").exists());
}

#[test]
fn without_an_interpreter_the_cpython_cells_are_skipped_with_one_line() {
    let lab = Lab::new();
    lab.write(
        "nopython.toml",
        "repetitions = 1\n[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"1ms\"\n[matrix]\nmodel = [\"sequential\", \"cpython_threads\", \"cpython_thread_pool\"]\nworkers = [1, 2]\n[models.cpython]\npython = \"/nonexistent/python3\"\n",
    );
    let out = lab.run(&["nopython.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    let said: Vec<&str> = err.lines().filter(|l| l.contains("not found")).collect();
    assert_eq!(
        said,
        [
            "nopython: /nonexistent/python3 not found: skipping 3 cpython_* cells; set [models.cpython] python = \"/path/to/python3\""
        ],
        "{err}"
    );
    let runs = lab.csv("results/nopython/runs.csv");
    assert_eq!(runs.column("model"), ["sequential"]);
}

#[test]
fn the_cpython_models_start_the_carried_script_under_the_interpreter() {
    if !python3("the_cpython_models_start_the_carried_script_under_the_interpreter") {
        return;
    }
    let lab = Lab::new();
    lab.write(
        "py.toml",
        "repetitions = 1\n[workload]\nkind = \"sleep\"\ntasks = 3\nduration = \"1ms\"\n[matrix]\nmodel = [\"cpython_sequential\", \"cpython_thread_pool\"]\nworkers = [2]\n",
    );
    let out = lab.run(&["py.toml"]);
    assert!([0, 1].contains(&code(&out)), "{}", stderr(&out));
    let runs = lab.csv("results/py/runs.csv");
    assert_eq!(
        runs.column("model"),
        ["cpython_sequential", "cpython_thread_pool"]
    );
    assert_eq!(runs.column("workers"), ["1", "2"]);
    for r in &runs.rows {
        // The placeholder script fails every task; the real one passes them.
        assert!(
            r["check"] == "pass"
                || r["detail"] == "3 of 3 tasks failed (not_implemented: placeholder:3)",
            "{r:?}"
        );
        assert_eq!(r["tasks"], "3");
        assert!(seconds(r, "setup_s") > 0.0, "{r:?}");
    }
}

/// A shell program that speaks just enough of the protocol to break it in `$1`'s way:
/// its spans sit at the run line's `epoch_ns`, so only the fault is wrong.
const BROKEN: &str = r#"
[ "$1" = startup ] && { echo 'warming up' >&2; exit 4; }
echo '{"ready": true}'
read -r line
epoch=$(echo "$line" | sed 's/.*"epoch_ns":\([0-9]*\).*/\1/')
task() { echo "{\"task\": $1, \"lane\": 0, \"start_ns\": $2, \"end_ns\": $2, \"ok\": true, \"steps\": [{}]}"; }
case "$1" in
  twice) task 0 "$epoch"; task 0 "$epoch"; sleep 5 ;;
  never) task 1 "$epoch"; echo '{"done": true}' ;;
  stranger) task 7 "$epoch"; sleep 5 ;;
  clock) task 0 1 ;;
  unfinished) task 0 "$epoch"; printf '{"task": 1, "la' ;;
  after) task 0 "$epoch"; task 1 "$epoch"; echo '{"done": true}'; exit 5 ;;
esac
"#;

#[test]
fn every_broken_promise_fails_its_cell_with_what_the_program_wrote() {
    let lab = Lab::new();
    lab.write("broken.sh", BROKEN);
    let faults = [
        (
            "startup",
            "startup exited during its start-up without its ready line (exit status 4); it wrote nothing",
        ),
        (
            "twice",
            "twice reported task 0 twice: \"{\\\"task\\\": 0, \\\"lane\\\": 0, \\\"start_ns\\\": ",
        ),
        (
            "never",
            "never wrote its done line without reporting task 0 (1 of 2 tasks reported)",
        ),
        (
            "stranger",
            "stranger reported task 7, which it was not given (tasks 0 to 1): ",
        ),
        (
            "clock",
            "clock wrote a task line that is wrong: task 0 starts before the run line (start_ns 1 < epoch_ns ",
        ),
        (
            "unfinished",
            "unfinished exited after 1 of 2 tasks without its done line (exit status 0); it last wrote an unfinished line: \"{\\\"task\\\": 1, \\\"la\"",
        ),
        (
            "after",
            "after ended with exit status 5 after its done line",
        ),
    ];
    let mut file = String::from(
        "repetitions = 1\n[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"1ms\"\n[matrix]\nmodel = [\"sequential\"",
    );
    for (name, _) in faults {
        file.push_str(&format!(", \"{name}\""));
    }
    file.push_str("]\n");
    for (name, _) in faults {
        file.push_str(&format!(
            "[models.{name}]\ncommand = [\"sh\", \"broken.sh\", \"{name}\"]\n"
        ));
    }
    lab.write("broken.toml", &file);
    let t = Instant::now();
    let out = lab.run(&["broken.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // Programs that say no more are killed at once, not waited for.
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    let runs = lab.csv("results/broken/runs.csv");
    assert_eq!(row(&runs, "sequential")["check"], "pass");
    for (name, message) in faults {
        let r = row(&runs, name);
        assert_eq!(r["check"], "fail", "{name}");
        assert!(
            r["detail"].starts_with(message),
            "{name}:\n  got  {}\n  want {message}",
            r["detail"]
        );
    }
}
