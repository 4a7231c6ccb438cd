//! One writer per results folder: an exclusive lock the OS releases when its holder dies.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file inside an experiment's results folder; it names its holder.
pub const LOCK_FILE: &str = ".conclab.lock";

/// Held for as long as the run writes the folder; dropping it (or dying) releases it.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
    pub path: PathBuf,
}

/// Checks that `dir` can be a results folder, creates it, and takes its lock. Errors are
/// usage errors: they name the folder and the reason, or the run holding the lock.
pub fn lock(dir: &Path) -> Result<FolderLock, String> {
    if let Some(blocker) = dir.ancestors().find(|a| a.exists() && !a.is_dir()) {
        return Err(format!(
            "cannot write results to {}: {} is a file, not a folder",
            dir.display(),
            blocker.display()
        ));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the results folder {}: {e}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot write to the results folder {}: {e}", dir.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() {
                "another conclab process"
            } else {
                holder
            };
            return Err(format!(
                "{} is in use by another run ({holder}); wait for it to finish, or give this run another --out",
                dir.display()
            ));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", path.display()));
        }
    }
    let command: Vec<String> = std::env::args().collect();
    let holder = format!(
        "pid {}, started {}, command: {}\n",
        std::process::id(),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        command.join(" ")
    );
    // Best effort: the lock itself is what excludes; the text only names the holder.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = file.write_all(holder.as_bytes());
    Ok(FolderLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_names_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("exp");
        let first = lock(&folder).unwrap();
        let err = lock(&folder).unwrap_err();
        assert!(err.contains("is in use by another run (pid "), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(lock(&folder).is_ok(), "released with its holder");
    }

    #[test]
    fn a_file_in_the_way_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("out"), "x").unwrap();
        let err = lock(&dir.path().join("out/exp")).unwrap_err();
        assert!(err.contains("out is a file, not a folder"), "{err}");
    }
}
