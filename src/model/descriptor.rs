//! What the rest of conclab asks about a model, answered in the model's own file: its
//! family (and so its baseline), what `workers` means to it, its concurrency, its colour,
//! whether it records phases, what it needs to run, and its settings.

use std::time::Duration;

use serde::{Serialize, Serializer};

use super::{Concurrency, Scheduler};

/// A runtime whose models are compared with each other: a model's speedup is taken against
/// its family's sequential model, never across runtimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// conclab's own models, in this binary.
    Conclab,
    /// The `cpython_*` models, run by the Python program conclab carries.
    Cpython,
}

/// What `workers` means to a model.
#[derive(Clone, Copy)]
pub enum Workers {
    /// The file's worker count is the model's: a pool size, an in-flight limit.
    Taken,
    /// The model ignores the file's count and uses this many for a number of tasks; its
    /// cells run once per combination of the other axes.
    Fixed(fn(tasks: usize) -> usize),
}

/// What a model needs beyond conclab itself to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    /// The Python interpreter of `[models.cpython] python`; cells are skipped without it.
    Interpreter,
    /// The program of its own `command`; a missing one fails at its first repetition.
    Program,
}

/// One `[models.NAME] key = value` a model reads, with its default.
pub struct Setting {
    pub key: &'static str,
    /// The JSON schema's description of the key.
    pub doc: &'static str,
    pub default: SettingValue,
}

/// The value of a model's setting; a duration is all any model reads so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SettingValue {
    /// Written as a string with a unit (`"5ms"`), checked to be above zero.
    Duration(Duration),
}

impl SettingValue {
    pub fn as_duration(self) -> Option<Duration> {
        match self {
            SettingValue::Duration(d) => Some(d),
        }
    }

    /// The JSON schema of the value as written in the file.
    pub fn schema(&self) -> serde_json::Value {
        match self {
            SettingValue::Duration(_) => serde_json::json!({ "$ref": "#/$defs/duration" }),
        }
    }
}

/// Written as the value alone: the canonical form of a cell (format 1) has a duration as
/// serde writes a `Duration`.
impl Serialize for SettingValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SettingValue::Duration(d) => d.serialize(s),
        }
    }
}

/// An sRGB colour; the charts draw the model in it everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// Everything generic code may ask about a built-in model.
pub struct Descriptor {
    pub family: Family,
    pub workers: Workers,
    /// How many tasks may wait at the same time, and how many may compute at the same
    /// time, with `workers` as recorded for the cell. Cores are applied by the ideal formula.
    pub concurrency: fn(workers: usize, tasks: usize) -> Concurrency,
    /// Whether its waits go through the event loop (an async HTTP client, which speaks
    /// HTTP/2), not through a blocking call.
    pub waits_async: bool,
    pub colour: Rgb,
    /// Whether its phases (lock held, lock waited for) say more than its task spans do.
    pub records_phases: bool,
    pub needs: Needs,
    pub settings: &'static [Setting],
}

/// A model of conclab's own: what it is, and the scheduler that runs it.
pub struct RustModel {
    pub about: Descriptor,
    pub scheduler: &'static dyn Scheduler,
}

/// The settings a cell's model reads, as they enter the cell's canonical form: a map from
/// key to value, in the model's order. A model reading none has no entry at all.
pub struct SettingsRead<'a>(pub Vec<(&'static str, ReadValue<'a>)>);

pub enum ReadValue<'a> {
    Setting(&'a SettingValue),
    Text(&'a str),
    Words(&'a [String]),
}

impl Serialize for SettingsRead<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            match value {
                ReadValue::Setting(v) => map.serialize_entry(key, v)?,
                ReadValue::Text(t) => map.serialize_entry(key, t)?,
                ReadValue::Words(w) => map.serialize_entry(key, w)?,
            }
        }
        map.end()
    }
}

/// Why a model's cells cannot run on this machine; they are skipped with one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// What is missing, e.g. `python3 not found`.
    pub what: String,
    /// Which cells are skipped, e.g. `cpython_* cells`.
    pub cells: &'static str,
    /// What to do about it.
    pub fix: String,
}

impl Descriptor {
    /// A model of conclab's own that blocks on its waits, records no phases, needs nothing
    /// and has no settings; a file that differs says so with `..Descriptor::conclab(..)`.
    pub const fn conclab(
        workers: Workers,
        concurrency: fn(usize, usize) -> Concurrency,
        colour: Rgb,
    ) -> Descriptor {
        Descriptor {
            family: Family::Conclab,
            workers,
            concurrency,
            waits_async: false,
            colour,
            records_phases: false,
            needs: Needs::Nothing,
            settings: &[],
        }
    }
}

/// A pool of W threads or processes: W tasks may wait, and W compute, at once.
pub fn pool(workers: usize, _tasks: usize) -> Concurrency {
    let w = workers.max(1);
    Concurrency { waits: w, cpu: w }
}
