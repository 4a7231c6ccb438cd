//! The lines of the external-model protocol (docs/external-models.md): the `run` line
//! conclab writes, the `ready`, `task` and `done` lines it reads, and how a task line
//! becomes a [`TaskRecord`].

use serde::{Deserialize, Serialize};

use crate::workload::counter::CounterSync;
use crate::workload::http::HttpOutcome;
use crate::workload::{Output, TaskRecord, TaskResult};

/// One step of a task, as the `run` line hands it over: a workload's own part.
pub use crate::workload::Part as Step;

impl Step {
    fn kind(&self) -> &'static str {
        match self {
            Step::Sleep { .. } => "sleep",
            Step::Hash { .. } => "hash",
            Step::Http { .. } => "http",
            Step::Counter { .. } => "counter",
        }
    }
}

/// One task of the `run` line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSteps {
    pub task: usize,
    pub steps: Vec<Step>,
}

/// The `run` line, but for its tasks (serialised ahead, see [`run_line`]).
#[derive(Debug, Serialize)]
struct RunHead<'a> {
    model: &'a str,
    workers: usize,
    epoch_ns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    counter: Option<CounterHead>,
}

#[derive(Debug, Serialize)]
struct CounterHead {
    sync: CounterSync,
}

/// The `run` line, newline included. `tasks_json` is the tasks serialised beforehand,
/// so that the clock read into `epoch_ns` starts right before the line is written
/// however many tasks there are.
pub fn run_line(
    model: &str,
    workers: usize,
    epoch_ns: u64,
    counter: Option<CounterSync>,
    tasks_json: &str,
) -> Vec<u8> {
    let head = RunHead {
        model,
        workers,
        epoch_ns,
        counter: counter.map(|sync| CounterHead { sync }),
    };
    let mut line = serde_json::to_vec(&head).expect("the run line serialises");
    line.pop(); // its closing brace: the tasks follow
    line.extend_from_slice(b",\"tasks\":");
    line.extend_from_slice(tasks_json.as_bytes());
    line.extend_from_slice(b"}\n");
    line
}

/// What the program may write.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Ready(Ready),
    Task(TaskLine),
    Done(DoneLine),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Ready {
    pub ready: bool,
    #[serde(default)]
    pub implementation: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TaskLine {
    pub task: usize,
    pub lane: usize,
    pub start_ns: u64,
    pub end_ns: u64,
    pub ok: bool,
    pub steps: Vec<StepResult>,
}

/// One step's result: `{}`, `{"digest": ...}`, `{"status": 200, "bytes": 1024}`, or
/// `{"error": ..., "detail": ...}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct StepResult {
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub bytes: Option<u64>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DoneLine {
    pub done: bool,
    #[serde(default)]
    pub counter: Option<u64>,
    #[serde(default)]
    pub user_s: Option<f64>,
    #[serde(default)]
    pub sys_s: Option<f64>,
    #[serde(default)]
    pub max_rss_kib: Option<u64>,
}

/// Reads one line of the program; the error says why it is not the protocol.
pub fn parse(line: &str) -> Result<Message, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|_| "a line that is not JSON".to_string())?;
    let Some(object) = value.as_object() else {
        return Err("a line that is not a JSON object".into());
    };
    let (what, parsed) = if object.contains_key("task") {
        (
            "task",
            serde_json::from_value(value.clone()).map(Message::Task),
        )
    } else if object.contains_key("done") {
        (
            "done",
            serde_json::from_value(value.clone()).map(Message::Done),
        )
    } else if object.contains_key("ready") {
        (
            "ready",
            serde_json::from_value(value.clone()).map(Message::Ready),
        )
    } else {
        return Err("a line that is not the protocol (no \"ready\", \"task\" or \"done\")".into());
    };
    let message = parsed.map_err(|e| format!("a {what} line that is not the protocol ({e})"))?;
    match &message {
        Message::Ready(r) if !r.ready => Err("a ready line that is not true".into()),
        Message::Done(d) if !d.done => Err("a done line that is not true".into()),
        _ => Ok(message),
    }
}

/// The record of a task from its line: spans on the time line of the `run` line
/// (`epoch_ns`), results checked against the steps it was given. `now_ns` is when the
/// line was read: no span can end after it. The error says what is wrong with the line.
pub fn record(
    line: &TaskLine,
    steps: &[Step],
    epoch_ns: u64,
    now_ns: u64,
    per_step: bool,
) -> Result<TaskRecord, String> {
    let task = line.task;
    if line.steps.len() != steps.len() {
        return Err(format!(
            "task {task} has {} step results for its {} steps",
            line.steps.len(),
            steps.len()
        ));
    }
    let clock = "spans are read on CLOCK_MONOTONIC in nanoseconds (Python: time.monotonic_ns())";
    if line.start_ns < epoch_ns {
        return Err(format!(
            "task {task} starts before the run line (start_ns {} < epoch_ns {epoch_ns}); {clock}",
            line.start_ns
        ));
    }
    if line.end_ns < line.start_ns {
        return Err(format!(
            "task {task} ends before it starts (end_ns {} < start_ns {})",
            line.end_ns, line.start_ns
        ));
    }
    if line.end_ns > now_ns {
        return Err(format!(
            "task {task} ends in the future (end_ns {} > now {now_ns}); {clock}",
            line.end_ns
        ));
    }
    let start_s = (line.start_ns - epoch_ns) as f64 * 1e-9;
    let end_s = (line.end_ns - epoch_ns) as f64 * 1e-9;
    let result = if per_step {
        result_per_step(line, steps, end_s - start_s)?
    } else {
        result(line, steps, end_s - start_s)?
    };
    Ok(TaskRecord {
        task,
        lane: line.lane,
        start_s,
        end_s,
        result,
    })
}

/// What the task gave, judged as conclab's own models are: the digest of its last hash
/// step, the outcome of its HTTP step (a status outside 2xx fails), or done; a failed
/// step fails the task with the program's error.
fn result(line: &TaskLine, steps: &[Step], span_s: f64) -> Result<TaskResult, String> {
    let task = line.task;
    let mut digest = None;
    let mut http = None;
    let mut failure = None;
    for (i, (step, r)) in steps.iter().zip(&line.steps).enumerate() {
        let kind = step.kind();
        let missing = |field: &str| {
            format!("task {task}'s {kind} step (step {i}) has neither \"{field}\" nor \"error\"")
        };
        match step {
            Step::Http { .. } => {
                if r.error.is_none() && r.status.is_none() {
                    return Err(missing("status"));
                }
                let error = match (&r.error, r.status) {
                    (Some(e), _) => Some(e.clone()),
                    (None, Some(s)) if !(200..300).contains(&s) => Some("status".to_string()),
                    _ => None,
                };
                http = Some(HttpOutcome {
                    status: r.status,
                    bytes: r.bytes.unwrap_or(0),
                    latency_s: span_s,
                    error,
                });
            }
            Step::Hash { .. } => match (&r.digest, &r.error) {
                (_, Some(_)) => {}
                (Some(d), None) if is_digest(d) => digest = Some(d.clone()),
                (Some(d), None) => {
                    return Err(format!(
                        "task {task}'s hash step (step {i}) has a digest that is not 128 lowercase hex digits: {d:?}"
                    ));
                }
                (None, None) => return Err(missing("digest")),
            },
            Step::Sleep { .. } | Step::Counter { .. } => {}
        }
        if failure.is_none()
            && let Some(e) = &r.error
        {
            failure = Some(match r.detail.as_deref().filter(|d| !d.is_empty()) {
                Some(d) => format!("{e}: {d}"),
                None => e.clone(),
            });
        }
    }
    // An HTTP outcome carries its own failure (the status, the error's kind), so that
    // statuses are counted as every model's are.
    if let Some(h) = http {
        let ok = h.error.is_none() && failure.is_none() && line.ok;
        return Ok(TaskResult {
            ok,
            output: match (ok, &failure, &h.error) {
                (false, Some(f), None) => Output::Error(f.clone()),
                (false, None, None) => Output::Error(not_ok(task)),
                _ => Output::Http(h),
            },
        });
    }
    Ok(match (failure, line.ok, digest) {
        (Some(f), ..) => TaskResult::error(f),
        (None, false, _) => TaskResult::error(not_ok(task)),
        (None, true, Some(d)) => TaskResult {
            ok: true,
            output: Output::Digest(d),
        },
        (None, true, None) => TaskResult::done(),
    })
}

/// For a `steps` workload: one output per step, each judged as its own kind's task,
/// up to the first step that failed (what conclab's own models record).
fn result_per_step(line: &TaskLine, steps: &[Step], span_s: f64) -> Result<TaskResult, String> {
    let mut outputs = Vec::new();
    for (step, r) in steps.iter().zip(&line.steps) {
        let one = TaskLine {
            ok: r.error.is_none(),
            steps: vec![r.clone()],
            ..line.clone()
        };
        let judged = result(&one, std::slice::from_ref(step), span_s)?;
        outputs.push(judged.output);
        if !judged.ok {
            break;
        }
    }
    let ok = line.ok && outputs.len() == steps.len() && outputs.iter().all(Output::succeeded);
    Ok(TaskResult {
        ok,
        output: Output::Steps(outputs),
    })
}

fn not_ok(task: usize) -> String {
    format!("task {task} reported \"ok\": false with no step error")
}

fn is_digest(d: &str) -> bool {
    d.len() == 128
        && d.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: u64 = 1_000_000_000;

    fn task_line(text: &str) -> TaskLine {
        match parse(text).unwrap() {
            Message::Task(t) => t,
            other => panic!("{other:?}"),
        }
    }

    fn hash() -> Step {
        Step::Hash {
            input: "pass".into(),
            iterations: 1000,
        }
    }

    fn http() -> Step {
        Step::Http {
            url: "http://x/".into(),
            timeout_s: 1.0,
            http2: false,
        }
    }

    #[test]
    fn the_run_line_is_one_line_of_the_documented_shape() {
        let tasks = vec![
            TaskSteps {
                task: 0,
                steps: vec![hash()],
            },
            TaskSteps {
                task: 1,
                steps: vec![Step::Counter {
                    wait_s: 0.01,
                    increments: 1,
                }],
            },
        ];
        let line = run_line(
            "cpython_thread_pool",
            2,
            123,
            Some(CounterSync::Mutex),
            &serde_json::to_string(&tasks).unwrap(),
        );
        let text = String::from_utf8(line).unwrap();
        assert!(
            text.ends_with("}\n") && text.matches('\n').count() == 1,
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"model": "cpython_thread_pool", "workers": 2, "epoch_ns": 123,
                "counter": {"sync": "mutex"},
                "tasks": [
                    {"task": 0, "steps": [{"kind": "hash", "input": "pass", "iterations": 1000}]},
                    {"task": 1, "steps": [{"kind": "counter", "wait_s": 0.01}]}]})
        );
        let plain = run_line("m", 1, 5, None, "[]");
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            "{\"model\":\"m\",\"workers\":1,\"epoch_ns\":5,\"tasks\":[]}\n"
        );
    }

    #[test]
    fn lines_are_told_apart_and_garbage_is_named() {
        assert_eq!(
            parse(r#"{"ready": true, "implementation": "CPython 3.11.7"}"#).unwrap(),
            Message::Ready(Ready {
                ready: true,
                implementation: Some("CPython 3.11.7".into())
            })
        );
        assert!(matches!(
            parse(r#"{"done": true, "counter": 7, "user_s": 1.5, "extra": 1}"#).unwrap(),
            Message::Done(DoneLine {
                counter: Some(7),
                user_s: Some(1.5),
                sys_s: None,
                ..
            })
        ));
        assert_eq!(parse("hello").unwrap_err(), "a line that is not JSON");
        assert_eq!(
            parse("[1]").unwrap_err(),
            "a line that is not a JSON object"
        );
        assert!(
            parse(r#"{"hello": 1}"#)
                .unwrap_err()
                .contains("not the protocol")
        );
        let missing = parse(r#"{"task": 1, "lane": 0}"#).unwrap_err();
        assert!(
            missing.starts_with("a task line that is not the protocol (missing field"),
            "{missing}"
        );
        assert!(parse(r#"{"ready": false}"#).is_err());
    }

    #[test]
    fn spans_land_on_the_run_lines_time_line() {
        let line = task_line(&format!(
            r#"{{"task": 2, "lane": 1, "start_ns": {}, "end_ns": {}, "ok": true, "steps": [{{}}]}}"#,
            EPOCH + 500_000_000,
            EPOCH + 1_500_000_000
        ));
        let r = record(
            &line,
            &[Step::Sleep { seconds: 1.0 }],
            EPOCH,
            EPOCH * 3,
            false,
        )
        .unwrap();
        assert_eq!((r.task, r.lane), (2, 1));
        assert!((r.start_s - 0.5).abs() < 1e-9 && (r.end_s - 1.5).abs() < 1e-9);
        assert_eq!(r.result, TaskResult::done());
        let early = record(
            &line,
            &[Step::Sleep { seconds: 1.0 }],
            EPOCH * 2,
            EPOCH * 3,
            false,
        );
        assert!(early.unwrap_err().contains("starts before the run line"));
        let future = record(&line, &[Step::Sleep { seconds: 1.0 }], EPOCH, EPOCH, false);
        assert!(future.unwrap_err().contains("ends in the future"));
        let two = record(
            &line,
            &[hash(), Step::Sleep { seconds: 1.0 }],
            EPOCH,
            EPOCH * 3,
            false,
        );
        assert!(two.unwrap_err().contains("1 step results for its 2 steps"));
    }

    #[test]
    fn results_become_digests_http_outcomes_and_errors() {
        let digest = "ab".repeat(64);
        let at = |steps: &str, ok: bool| {
            task_line(&format!(
                r#"{{"task": 0, "lane": 0, "start_ns": {EPOCH}, "end_ns": {}, "ok": {ok}, "steps": {steps}}}"#,
                EPOCH + 200_000_000
            ))
        };
        let run = |steps: &str, ok: bool, given: &[Step]| {
            record(&at(steps, ok), given, EPOCH, u64::MAX, false).map(|r| r.result)
        };
        // mixed: the digest of the hash step, then a sleep
        let mixed = run(
            &format!(r#"[{{"digest": "{digest}"}}, {{}}]"#),
            true,
            &[hash(), Step::Sleep { seconds: 0.1 }],
        );
        assert_eq!(
            mixed.unwrap(),
            TaskResult {
                ok: true,
                output: Output::Digest(digest.clone())
            }
        );
        let ok = run(r#"[{"status": 200, "bytes": 10}]"#, true, &[http()]).unwrap();
        assert!(ok.ok);
        assert!(matches!(
            ok.output,
            Output::Http(HttpOutcome {
                status: Some(200),
                bytes: 10,
                error: None,
                ..
            })
        ));
        let unavailable = run(r#"[{"status": 503, "bytes": 0}]"#, true, &[http()]).unwrap();
        assert!(
            !unavailable.ok,
            "a 503 fails the task even when the program says ok"
        );
        assert!(
            matches!(unavailable.output, Output::Http(HttpOutcome { error: Some(ref e), .. }) if e == "status")
        );
        let timeout = run(
            r#"[{"error": "timeout", "detail": "timed out"}]"#,
            false,
            &[http()],
        )
        .unwrap();
        assert!(
            matches!(timeout.output, Output::Http(HttpOutcome { status: None, error: Some(ref e), .. }) if e == "timeout")
        );
        let failed = run(
            r#"[{"error": "not_implemented", "detail": "placeholder"}]"#,
            false,
            &[hash()],
        )
        .unwrap();
        assert_eq!(failed, TaskResult::error("not_implemented: placeholder"));
        assert!(
            run("[{}]", true, &[hash()])
                .unwrap_err()
                .contains("neither \"digest\"")
        );
        assert!(
            run(r#"[{"digest": "abc"}]"#, true, &[hash()])
                .unwrap_err()
                .contains("not 128 lowercase hex")
        );
        assert!(
            run("[{}]", true, &[http()])
                .unwrap_err()
                .contains("neither \"status\"")
        );
        assert!(
            !run(
                "[{}]",
                false,
                &[Step::Counter {
                    wait_s: 0.0,
                    increments: 1
                }]
            )
            .unwrap()
            .ok
        );
    }
}
