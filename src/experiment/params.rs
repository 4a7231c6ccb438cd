//! The workload kinds and their parameters: names, types, defaults and limits.

use std::collections::BTreeMap;
use std::time::Duration;

use super::duration::format_duration;

/// What a parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamType {
    /// A whole number from min to max.
    Count { min: u64, max: u64 },
    /// A duration string; `positive` forbids zero.
    Duration { positive: bool },
    /// A float in 0..=1.
    Fraction,
    /// A non-empty array of strings.
    Strings,
    /// A non-empty array of http(s) URLs.
    Urls,
    /// A table of input string -> expected lowercase hex digest.
    DigestTable,
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
    /// A non-empty array of steps: tables with a `kind` from [`STEP_KINDS`] and that
    /// kind's parameters but `tasks`.
    Steps,
}

impl ParamType {
    pub fn describe(&self) -> String {
        match self {
            ParamType::Count { min, max } => format!("a whole number from {min} to {max}"),
            ParamType::Duration { positive: true } => "a duration > 0 such as \"100ms\"".into(),
            ParamType::Duration { positive: false } => "a duration >= 0 such as \"100ms\"".into(),
            ParamType::Fraction => "a number from 0.0 to 1.0".into(),
            ParamType::Strings => "a non-empty array of strings".into(),
            ParamType::Urls => "a non-empty array of http:// or https:// URLs".into(),
            ParamType::DigestTable => "a table of input = \"128 hex digits\"".into(),
            ParamType::Choice(c) => format!("one of {}", c.join(", ")),
            ParamType::Steps => format!("a non-empty array of steps such as {STEPS_EXAMPLE}"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Default {
    Int(u64),
    Dur(&'static str),
    Float(f64),
    Strs(&'static [&'static str]),
    Str(&'static str),
    /// No value unless given.
    Absent,
    /// No value unless given, and the file must give one (in [workload] or as an axis).
    Required,
    /// The length of another (array) parameter, or a fixed number when that is absent.
    LenOf(&'static str, u64),
}

#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    pub name: &'static str,
    pub ty: ParamType,
    pub default: Default,
    pub doc: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct KindDef {
    pub name: &'static str,
    pub doc: &'static str,
    pub params: &'static [ParamDef],
}

/// Upper bounds that keep every count far from overflow and every run within memory:
/// one task record each, a body in memory, a hash chain of about a week at most.
pub const MAX_TASKS: u64 = 1_000_000;
pub const MAX_BODY_BYTES: u64 = 1 << 30;
pub const MAX_ITERATIONS: u64 = 1_000_000_000_000;
/// Threads, processes or tasks in flight one cell may ask for.
pub const MAX_WORKERS: u64 = 1_000_000;

pub const SEED_INPUTS: &[&str] = &["pass", "passwd", "MyPassw", "MyPasswd123", "p", "a"];

/// The kinds a step of a `steps` task may have.
pub const STEP_KINDS: &[&str] = &["sleep", "http", "hash_chain", "counter"];

pub const STEPS_EXAMPLE: &str =
    "[{ kind = \"http\", latency = \"200ms\" }, { kind = \"sleep\", duration = \"1s\" }]";

const TASKS10: ParamDef = ParamDef {
    name: "tasks",
    ty: ParamType::Count {
        min: 1,
        max: MAX_TASKS,
    },
    default: Default::Int(10),
    doc: "number of tasks",
};

pub const KINDS: &[KindDef] = &[
    KindDef {
        name: "sleep",
        doc: "each task waits `duration` (a blocking sleep in threads, a timer in async)",
        params: &[
            TASKS10,
            ParamDef {
                name: "duration",
                ty: ParamType::Duration { positive: true },
                default: Default::Dur("100ms"),
                doc: "how long each task waits",
            },
        ],
    },
    KindDef {
        name: "http",
        doc: "each task makes one GET; the embedded latency server unless `urls` are given",
        params: &[
            ParamDef {
                name: "tasks",
                ty: ParamType::Count {
                    min: 1,
                    max: MAX_TASKS,
                },
                default: Default::LenOf("urls", 10),
                doc: "number of requests (urls are cycled)",
            },
            ParamDef {
                name: "urls",
                ty: ParamType::Urls,
                default: Default::Absent,
                doc: "real URLs to fetch; absent = embedded server on 127.0.0.1",
            },
            ParamDef {
                name: "latency",
                ty: ParamType::Duration { positive: false },
                default: Default::Dur("100ms"),
                doc: "embedded server: delay before answering",
            },
            ParamDef {
                name: "jitter",
                ty: ParamType::Duration { positive: false },
                default: Default::Dur("0ms"),
                doc: "embedded server: uniform +- jitter on the delay",
            },
            ParamDef {
                name: "body_bytes",
                ty: ParamType::Count {
                    min: 0,
                    max: MAX_BODY_BYTES,
                },
                default: Default::Int(1024),
                doc: "embedded server: response body size",
            },
            ParamDef {
                name: "error_rate",
                ty: ParamType::Fraction,
                default: Default::Float(0.0),
                doc: "embedded server: share of requests answered 503",
            },
            ParamDef {
                name: "http_version",
                ty: ParamType::Choice(&["1.1", "2"]),
                default: Default::Str("1.1"),
                doc: "HTTP version of the async models: \"2\" carries every request as a stream of one connection (blocking models speak 1.1 only)",
            },
            ParamDef {
                name: "request_timeout",
                ty: ParamType::Duration { positive: true },
                default: Default::Dur("10s"),
                doc: "limit for one request",
            },
        ],
    },
    KindDef {
        name: "hash_chain",
        doc: "each task repeats b = lowercase_hex(sha512(b)) `iterations` times from utf8(input)",
        params: &[
            ParamDef {
                name: "inputs",
                ty: ParamType::Strings,
                default: Default::Strs(SEED_INPUTS),
                doc: "seed strings, cycled over the tasks",
            },
            ParamDef {
                name: "iterations",
                ty: ParamType::Count {
                    min: 1,
                    max: MAX_ITERATIONS,
                },
                default: Default::Int(1_000_000),
                doc: "hash steps per task",
            },
            ParamDef {
                name: "tasks",
                ty: ParamType::Count {
                    min: 1,
                    max: MAX_TASKS,
                },
                default: Default::LenOf("inputs", 6),
                doc: "number of chains (inputs cycled)",
            },
            ParamDef {
                name: "expect",
                ty: ParamType::DigestTable,
                default: Default::Absent,
                doc: "input = expected final hex digest",
            },
        ],
    },
    KindDef {
        name: "counter",
        doc: "each task reads a shared counter, waits, writes value + 1",
        params: &[
            TASKS10,
            ParamDef {
                name: "wait",
                ty: ParamType::Duration { positive: true },
                default: Default::Dur("10ms"),
                doc: "wait between read and write",
            },
            ParamDef {
                name: "sync",
                ty: ParamType::Choice(&["none", "mutex", "atomic"]),
                default: Default::Str("none"),
                doc: "how the update is synchronised",
            },
        ],
    },
    KindDef {
        name: "mixed",
        doc: "each task runs a hash chain, then waits",
        params: &[
            TASKS10,
            ParamDef {
                name: "iterations",
                ty: ParamType::Count {
                    min: 1,
                    max: MAX_ITERATIONS,
                },
                default: Default::Int(100_000),
                doc: "hash steps per task",
            },
            ParamDef {
                name: "duration",
                ty: ParamType::Duration { positive: true },
                default: Default::Dur("50ms"),
                doc: "wait after the chain",
            },
        ],
    },
    KindDef {
        name: "steps",
        doc: "each task runs its steps one after another: any mix of sleep, http, hash_chain and counter",
        params: &[
            TASKS10,
            ParamDef {
                name: "steps",
                ty: ParamType::Steps,
                default: Default::Required,
                doc: "the steps of every task, in order; each takes its kind's parameters but tasks",
            },
        ],
    },
];

pub fn kind(name: &str) -> Option<&'static KindDef> {
    KINDS.iter().find(|k| k.name == name)
}

impl KindDef {
    pub fn param(&self, name: &str) -> Option<&'static ParamDef> {
        self.params.iter().find(|p| p.name == name)
    }

    pub fn param_names(&self) -> Vec<&'static str> {
        self.params.iter().map(|p| p.name).collect()
    }
}

/// A checked parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(u64),
    Float(f64),
    Dur(Duration),
    Str(String),
    Strs(Vec<String>),
    Table(BTreeMap<String, String>),
    Steps(Vec<Step>),
}

/// One step of a `steps` task: a kind from [`STEP_KINDS`] and its parameters (no `tasks`).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: String,
    pub params: Params,
}

impl ParamValue {
    /// The text used in CSV columns and cell labels.
    pub fn render(&self) -> String {
        match self {
            ParamValue::Int(n) => n.to_string(),
            ParamValue::Float(f) => f.to_string(),
            ParamValue::Dur(d) => format_duration(*d),
            ParamValue::Str(s) => s.clone(),
            ParamValue::Strs(v) => v.join("|"),
            ParamValue::Table(t) => t
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(";"),
            // `http(latency=200ms)+sleep(duration=1s)`
            ParamValue::Steps(steps) => steps
                .iter()
                .map(|s| {
                    let params: Vec<String> = s
                        .params
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.render()))
                        .collect();
                    format!("{}({})", s.kind, params.join(" "))
                })
                .collect::<Vec<_>>()
                .join("+"),
        }
    }
}

/// Resolved parameters of one workload, defaults filled in.
pub type Params = BTreeMap<String, ParamValue>;

/// Typed access for building workload configurations; the checker guarantees the types.
pub trait ParamsExt {
    fn count(&self, name: &str) -> u64;
    fn duration(&self, name: &str) -> Duration;
    fn fraction(&self, name: &str) -> f64;
    fn text(&self, name: &str) -> String;
    fn strings(&self, name: &str) -> Option<Vec<String>>;
    fn table(&self, name: &str) -> BTreeMap<String, String>;
    fn steps(&self, name: &str) -> Vec<Step>;
}

impl ParamsExt for Params {
    fn count(&self, name: &str) -> u64 {
        match self.get(name) {
            Some(ParamValue::Int(n)) => *n,
            _ => 0,
        }
    }
    fn duration(&self, name: &str) -> Duration {
        match self.get(name) {
            Some(ParamValue::Dur(d)) => *d,
            _ => Duration::ZERO,
        }
    }
    fn fraction(&self, name: &str) -> f64 {
        match self.get(name) {
            Some(ParamValue::Float(f)) => *f,
            Some(ParamValue::Int(n)) => *n as f64,
            _ => 0.0,
        }
    }
    fn text(&self, name: &str) -> String {
        match self.get(name) {
            Some(ParamValue::Str(s)) => s.clone(),
            _ => String::new(),
        }
    }
    fn strings(&self, name: &str) -> Option<Vec<String>> {
        match self.get(name) {
            Some(ParamValue::Strs(v)) => Some(v.clone()),
            _ => None,
        }
    }
    fn table(&self, name: &str) -> BTreeMap<String, String> {
        match self.get(name) {
            Some(ParamValue::Table(t)) => t.clone(),
            _ => BTreeMap::new(),
        }
    }
    fn steps(&self, name: &str) -> Vec<Step> {
        match self.get(name) {
            Some(ParamValue::Steps(s)) => s.clone(),
            _ => Vec::new(),
        }
    }
}

/// Fills in every default the kind defines (after explicit values and axis values are set).
pub fn fill_defaults(kind: &KindDef, params: &mut Params) {
    for p in kind.params {
        if params.contains_key(p.name) {
            continue;
        }
        let value = match p.default {
            Default::Int(n) => ParamValue::Int(n),
            Default::Dur(d) => {
                ParamValue::Dur(super::duration::parse_duration(d).expect("built-in default"))
            }
            Default::Float(f) => ParamValue::Float(f),
            Default::Strs(v) => ParamValue::Strs(v.iter().map(|s| s.to_string()).collect()),
            Default::Str(s) => ParamValue::Str(s.to_string()),
            Default::Absent | Default::Required => continue,
            Default::LenOf(_, _) => continue,
        };
        params.insert(p.name.to_string(), value);
    }
    // Lengths are taken after the arrays they depend on have their defaults.
    for p in kind.params {
        if let (false, Default::LenOf(other, fallback)) = (params.contains_key(p.name), p.default) {
            let n = match params.get(other) {
                Some(ParamValue::Strs(v)) => v.len() as u64,
                _ => fallback,
            };
            params.insert(p.name.to_string(), ParamValue::Int(n));
        }
    }
    for value in params.values_mut() {
        if let ParamValue::Steps(steps) = value {
            for step in steps {
                fill_step_defaults(step);
            }
        }
    }
}

/// Fills in the defaults of a step's kind, but not `tasks`: a step runs once per task.
pub fn fill_step_defaults(step: &mut Step) {
    let Some(kind) = kind(&step.kind) else { return };
    let had_tasks = step.params.contains_key("tasks");
    fill_defaults(kind, &mut step.params);
    if !had_tasks {
        step.params.remove("tasks");
    }
}
