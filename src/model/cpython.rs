//! The built-in `cpython_*` models: CPython runs the tasks the way a Python program
//! would (threads, `ThreadPoolExecutor`, `ProcessPoolExecutor`, asyncio), from one Python
//! file that conclab carries inside its binary and speaks the external-model protocol.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use super::Concurrency;
use super::descriptor::{Descriptor, Family, Needs, Rgb, Workers};
use super::external::{Launch, locate};
use super::settings::ModelSettings;

/// The program behind every `cpython_*` model; the run line's `model` says which.
pub const SCRIPT: &str = include_str!("cpython/conclab_cpython.py");

pub use super::settings::DEFAULT_PYTHON;

/// The table that sets the interpreter of every `cpython_*` model, and its one key.
pub const TABLE: &str = "cpython";
pub const PYTHON_KEY: &str = "python";

/// Every model name starting with this is kept for the built-in models.
pub const PREFIX: &str = "cpython";

/// The built-in external models: CPython running the tasks the way a Python program
/// would, from the Python file conclab carries.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, strum::EnumIter, strum::IntoStaticStr,
)]
#[strum(serialize_all = "snake_case", prefix = "cpython_")]
pub enum CpythonModel {
    Sequential,
    Threads,
    ThreadPool,
    ProcessPool,
    Asyncio,
    AsyncioBlocking,
    ToThread,
}

const fn about(
    workers: Workers,
    concurrency: fn(usize, usize) -> Concurrency,
    colour: Rgb,
) -> Descriptor {
    Descriptor {
        family: Family::Cpython,
        workers,
        concurrency,
        waits_async: false,
        colour,
        records_phases: false,
        needs: Needs::Interpreter,
        settings: &[],
    }
}

// Under the GIL one thread computes at a time while the others may wait; the process pool
// computes in W processes; an event loop computes on its one thread. `workers` means what
// it means to the Rust model each one mirrors, and each takes a darker shade of its colour.
static SEQUENTIAL: Descriptor = about(
    Workers::Fixed(|_| 1),
    |_, _| Concurrency { waits: 1, cpu: 1 },
    Rgb(90, 60, 40),
);
static THREADS: Descriptor = about(
    Workers::Fixed(|tasks| tasks),
    |_, tasks| Concurrency {
        waits: tasks,
        cpu: 1,
    },
    Rgb(150, 100, 0),
);
static THREAD_POOL: Descriptor = about(
    Workers::Taken,
    |w, _| Concurrency {
        waits: w.max(1),
        cpu: 1,
    },
    Rgb(40, 110, 150),
);
static PROCESS_POOL: Descriptor = about(
    Workers::Taken,
    |w, _| Concurrency {
        waits: w.max(1),
        cpu: w.max(1),
    },
    Rgb(0, 60, 100),
);
static ASYNCIO: Descriptor = about(
    Workers::Taken,
    |w, tasks| Concurrency {
        waits: w.max(1).min(tasks),
        cpu: 1,
    },
    Rgb(140, 55, 0),
);
static ASYNCIO_BLOCKING: Descriptor = about(
    Workers::Taken,
    |_, _| Concurrency { waits: 1, cpu: 1 },
    Rgb(100, 90, 0),
);
static TO_THREAD: Descriptor = about(
    Workers::Taken,
    |w, _| Concurrency {
        waits: w.max(1),
        cpu: 1,
    },
    Rgb(110, 50, 140),
);

// Without the GIL, threads compute at the same time as they wait.
static THREADS_FREE: Descriptor = about(
    Workers::Fixed(|tasks| tasks),
    |_, tasks| Concurrency {
        waits: tasks,
        cpu: tasks,
    },
    Rgb(150, 100, 0),
);
static THREAD_POOL_FREE: Descriptor = about(
    Workers::Taken,
    |w, _| Concurrency {
        waits: w.max(1),
        cpu: w.max(1),
    },
    Rgb(40, 110, 150),
);
static TO_THREAD_FREE: Descriptor = about(
    Workers::Taken,
    |w, _| Concurrency {
        waits: w.max(1),
        cpu: w.max(1),
    },
    Rgb(110, 50, 140),
);

impl CpythonModel {
    pub fn all() -> impl Iterator<Item = CpythonModel> {
        <CpythonModel as strum::IntoEnumIterator>::iter()
    }

    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn about(self) -> &'static Descriptor {
        match self {
            CpythonModel::Sequential => &SEQUENTIAL,
            CpythonModel::Threads => &THREADS,
            CpythonModel::ThreadPool => &THREAD_POOL,
            CpythonModel::ProcessPool => &PROCESS_POOL,
            CpythonModel::Asyncio => &ASYNCIO,
            CpythonModel::AsyncioBlocking => &ASYNCIO_BLOCKING,
            CpythonModel::ToThread => &TO_THREAD,
        }
    }
}

/// A variant of a built-in model under an interpreter of its own, a model of its own:
/// `[models.ft_pool] base = "cpython_thread_pool"`, `python = "python3.13t"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CpythonVariant {
    pub name: String,
    pub base: CpythonModel,
    /// The interpreter as written: with `base`, it defines the variant's cells.
    pub python: String,
    /// `python` resolved like a custom model's program.
    pub program: PathBuf,
}

/// The keys of a variant's table.
pub const BASE_KEY: &str = "base";

impl CpythonVariant {
    /// Its base model's answers, with the threads' CPU concurrency of its interpreter:
    /// a free-threaded build running without the GIL computes in all its threads.
    pub fn about(&self) -> &'static Descriptor {
        let free = || runs_without_gil(&self.program);
        match self.base {
            CpythonModel::Threads if free() => &THREADS_FREE,
            CpythonModel::ThreadPool if free() => &THREAD_POOL_FREE,
            CpythonModel::ToThread if free() => &TO_THREAD_FREE,
            base => base.about(),
        }
    }

    /// The model its speedups are measured against, among `variants`: the variant of
    /// `cpython_sequential` under the same interpreter; else `cpython_sequential` when the
    /// interpreter is the one the plain cpython models run (`default_python`). Never a
    /// sequential run of another interpreter.
    pub fn baseline<'a>(
        &'a self,
        variants: impl IntoIterator<Item = &'a CpythonVariant>,
        default_python: &str,
    ) -> Option<&'a str> {
        if self.base == CpythonModel::Sequential {
            return Some(&self.name);
        }
        variants
            .into_iter()
            .find(|v| v.base == CpythonModel::Sequential && v.python == self.python)
            .map(|v| v.name.as_str())
            .or_else(|| (self.python == default_python).then_some(CpythonModel::Sequential.name()))
    }
}

/// Starts the script under the variant's own interpreter, as its base model.
impl Launch for std::sync::Arc<CpythonVariant> {
    fn command(&self, _: &ModelSettings) -> anyhow::Result<(Command, Option<tempfile::TempDir>)> {
        let (command, dir) = command_with(&self.program)?;
        Ok((command, Some(dir)))
    }

    fn run_as(&self) -> Option<&str> {
        Some(self.base.name())
    }
}

/// Whether `python` runs without the GIL (a free-threaded build, GIL not re-enabled at
/// start-up), asked once per interpreter and remembered; false where it cannot be asked.
pub fn runs_without_gil(python: &Path) -> bool {
    static KNOWN: std::sync::Mutex<Vec<(PathBuf, bool)>> = std::sync::Mutex::new(Vec::new());
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, free)) = known.iter().find(|(p, _)| p == python) {
        return *free;
    }
    let free = locate(python).is_some()
        && Command::new(python)
            .args([
                "-c",
                "import sys; sys.exit(0 if not getattr(sys, '_is_gil_enabled', lambda: True)() else 1)",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    known.push((python.to_path_buf(), free));
    free
}

/// Why a variant's cells cannot run here, when its interpreter is missing.
pub fn missing_variant_interpreter(v: &CpythonVariant) -> Option<super::Unavailable> {
    locate(&v.program).is_none().then(|| super::Unavailable {
        what: format!("{} not found", v.python),
        cells: "cpython variants' cells",
        fix: format!(
            "build a free-threaded CPython with scripts/free-threaded-python.sh, or set [models.{}] {PYTHON_KEY} to an interpreter",
            v.name
        ),
    })
}

/// The command that starts the script under the configured interpreter. The script is
/// written to a fresh folder rather than passed with `-c`: a process pool's children
/// started by `spawn` or `forkserver` import the main module again from its file. The
/// folder is removed when the returned guard is dropped.
pub fn command(settings: &ModelSettings) -> anyhow::Result<(Command, tempfile::TempDir)> {
    command_with(&settings.python_program)
}

fn command_with(python: &Path) -> anyhow::Result<(Command, tempfile::TempDir)> {
    let dir = tempfile::Builder::new()
        .prefix("conclab-cpython-")
        .tempdir()
        .context("cannot make a folder for the cpython models' script")?;
    let script = dir.path().join("conclab_cpython.py");
    std::fs::write(&script, SCRIPT)
        .with_context(|| format!("cannot write {}", script.display()))?;
    let mut command = Command::new(python);
    command
        .arg(&script)
        // Every line reaches conclab as it is printed, whatever the script flushes.
        .env("PYTHONUNBUFFERED", "1");
    Ok((command, dir))
}

impl Launch for CpythonModel {
    fn command(
        &self,
        settings: &ModelSettings,
    ) -> anyhow::Result<(Command, Option<tempfile::TempDir>)> {
        let (command, dir) = command(settings)?;
        Ok((command, Some(dir)))
    }
}

/// Why the cpython cells cannot run here, when the configured interpreter is missing:
/// they are skipped, not failed.
pub fn missing_interpreter(settings: &ModelSettings) -> Option<super::Unavailable> {
    locate(&settings.python_program)
        .is_none()
        .then(|| super::Unavailable {
            what: format!("{} not found", settings.python),
            cells: "cpython_* cells",
            fix: format!("set [models.{TABLE}] {PYTHON_KEY} = \"/path/to/python3\""),
        })
}

/// The JSON schema of `[models.cpython]`.
pub fn table_schema() -> serde_json::Value {
    serde_json::json!({ "type": "object", "properties": { PYTHON_KEY: { "type": "string", "minLength": 1, "default": DEFAULT_PYTHON, "description": "the interpreter of the cpython_* models: a name on PATH, or a path (relative to this file)" } }, "additionalProperties": false })
}

/// The JSON schema of a variant's table; `workers` is the schema of a worker list.
pub fn variant_schema(workers: serde_json::Value) -> serde_json::Value {
    let bases: Vec<&str> = CpythonModel::all().map(CpythonModel::name).collect();
    serde_json::json!({
        "type": "object",
        "description": "a built-in cpython model under an interpreter of its own, a model of its own (e.g. a free-threaded build)",
        "required": [BASE_KEY, PYTHON_KEY],
        "properties": {
            BASE_KEY: { "enum": bases, "description": "the built-in model it runs" },
            PYTHON_KEY: { "type": "string", "minLength": 1, "description": "its interpreter: a name on PATH, or a path (relative to this file)" },
            "workers": workers
        },
        "additionalProperties": false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpython_threads_wait_together_and_compute_one_at_a_time() {
        let c = |m: CpythonModel| (m.about().concurrency)(4, 10);
        assert_eq!(c(CpythonModel::Threads), Concurrency { waits: 10, cpu: 1 });
        assert_eq!(
            c(CpythonModel::ThreadPool),
            Concurrency { waits: 4, cpu: 1 }
        );
        assert_eq!(c(CpythonModel::ToThread), Concurrency { waits: 4, cpu: 1 });
        assert_eq!(
            c(CpythonModel::ProcessPool),
            Concurrency { waits: 4, cpu: 4 }
        );
        assert_eq!(c(CpythonModel::Asyncio), Concurrency { waits: 4, cpu: 1 });
        assert_eq!(
            c(CpythonModel::AsyncioBlocking),
            Concurrency { waits: 1, cpu: 1 }
        );
        assert_eq!(
            c(CpythonModel::Sequential),
            Concurrency { waits: 1, cpu: 1 }
        );
    }

    #[test]
    fn names_carry_the_prefix() {
        assert_eq!(CpythonModel::ToThread.name(), "cpython_to_thread");
        assert_eq!(
            CpythonModel::AsyncioBlocking.name(),
            "cpython_asyncio_blocking"
        );
        assert!(CpythonModel::all().all(|m| m.name().starts_with(PREFIX)));
    }
}
