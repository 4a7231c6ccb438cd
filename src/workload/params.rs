//! Workload parameters in general: how a kind states its parameters (types, defaults,
//! limits), the checked values, and filling in defaults. Each kind's own table is in its file.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::duration::format_duration;

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
    /// A non-empty array of steps: tables with a `kind` that may be a step and that
    /// kind's parameters but `tasks`; `example` shows one.
    Steps { example: &'static str },
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
            ParamType::Steps { example } => format!("a non-empty array of steps such as {example}"),
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

/// A workload kind as generic code sees it: stated by each kind in its own file under
/// `src/workload/`, listed once in the workload registry.
#[derive(Debug, Clone, Copy)]
pub struct KindDef {
    pub name: &'static str,
    pub doc: &'static str,
    pub params: &'static [ParamDef],
    /// Whether a task of `steps` may take this kind as one of its steps.
    pub step: StepUse,
    /// What its tasks spend their time on; decides which bounds and flags apply.
    pub work: Work,
    /// Whether a timeline's phases (computing against waiting) say more than its spans.
    pub phases: bool,
}

/// Whether a kind can be a step of a `steps` task. A step takes its kind's parameters but
/// `tasks` (every task runs each of its steps once).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepUse {
    No,
    Any,
    /// At most one such step per task, for the reason given (the checker says it).
    OncePerTask(&'static str),
}

/// What a kind's tasks spend their time on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Waiting only: each model's own bound applies.
    Waits,
    /// Computing only: no model can beat `min(workers, cores)`.
    Computes,
    /// Computing, then waiting: the CPU roofline is drawn, but overlapped waits may beat it.
    ComputesAndWaits,
}

impl Work {
    /// Whether the CPU roofline `min(workers, cores)` is the chart's bound.
    pub fn computes(self) -> bool {
        matches!(self, Work::Computes | Work::ComputesAndWaits)
    }
}

/// Upper bounds that keep every count far from overflow and every run within memory:
/// one task record each.
pub const MAX_TASKS: u64 = 1_000_000;
/// Threads, processes or tasks in flight one cell may ask for.
pub const MAX_WORKERS: u64 = 1_000_000;

/// The `tasks` parameter most kinds take.
pub const TASKS10: ParamDef = ParamDef {
    name: "tasks",
    ty: ParamType::Count {
        min: 1,
        max: MAX_TASKS,
    },
    default: Default::Int(10),
    doc: "number of tasks",
};

/// Kind names are unique: the registry's test says so.
impl PartialEq for KindDef {
    fn eq(&self, other: &KindDef) -> bool {
        self.name == other.name
    }
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

/// One step of a `steps` task: a kind that may be a step, and its parameters (no `tasks`).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: &'static KindDef,
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
                    format!("{}({})", s.kind.name, params.join(" "))
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
                ParamValue::Dur(crate::duration::parse_duration(d).expect("built-in default"))
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
    let had_tasks = step.params.contains_key("tasks");
    fill_defaults(step.kind, &mut step.params);
    if !had_tasks {
        step.params.remove("tasks");
    }
}
