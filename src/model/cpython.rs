//! The built-in `cpython_*` models: CPython runs the tasks the way a Python program
//! would (threads, `ThreadPoolExecutor`, `ProcessPoolExecutor`, asyncio), from one Python
//! file that conclab carries inside its binary and speaks the external-model protocol.

use std::process::Command;

use anyhow::Context;

use super::external::locate;
use crate::experiment::ModelSettings;

/// The program behind every `cpython_*` model; the run line's `model` says which.
pub const SCRIPT: &str = include_str!("cpython/conclab_cpython.py");

/// The command that starts the script under the configured interpreter. The script is
/// written to a fresh folder rather than passed with `-c`: a process pool's children
/// started by `spawn` or `forkserver` import the main module again from its file. The
/// folder is removed when the returned guard is dropped.
pub fn command(settings: &ModelSettings) -> anyhow::Result<(Command, tempfile::TempDir)> {
    let dir = tempfile::Builder::new()
        .prefix("conclab-cpython-")
        .tempdir()
        .context("cannot make a folder for the cpython models' script")?;
    let script = dir.path().join("conclab_cpython.py");
    std::fs::write(&script, SCRIPT)
        .with_context(|| format!("cannot write {}", script.display()))?;
    let mut command = Command::new(&settings.python_program);
    command
        .arg(&script)
        // Every line reaches conclab as it is printed, whatever the script flushes.
        .env("PYTHONUNBUFFERED", "1");
    Ok((command, dir))
}

/// Whether the configured interpreter exists; without it the cpython cells are skipped.
pub fn interpreter_found(settings: &ModelSettings) -> bool {
    locate(&settings.python_program).is_some()
}
