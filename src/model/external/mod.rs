//! External models: another program runs the tasks of one repetition its own way and
//! reports them over the protocol of docs/external-models.md; conclab measures, verifies
//! and charts them beside its own models.
//!
//! Where the measured time starts. The runner's clock starts before `Scheduler::run` and
//! stops after it, but a program's start-up (the interpreter, its imports) is no part of
//! what it measures: the protocol starts the wall clock when the `run` line is written.
//! So the model reports that start-up, and the program's exit after `done`, as
//! [`Execution::unmeasured`], which the runner subtracts from the wall time; the start-up
//! is also `setup_s`. Task spans are measured from the `run` line (`epoch_ns`), so they
//! sit on the same time line as the wall time the row reports. The timeout still bounds
//! the whole repetition, start-up included.

pub mod steps;
pub mod wire;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command};

use rustix::process::Signal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::protocol::{self, LineReader, Stop, monotonic_ns, quote_line};
use super::{CustomModel, Execution, Job, ModelSettings, Scheduler};
use crate::child::{ChildProcess, Exit};
use crate::measure::CpuTimes;
use crate::workload::{Cancel, CounterOp, TaskRecord, WorkloadConfig};
use wire::{DoneLine, Message, TaskSteps};

/// How long a program may take to say it is ready.
pub const READY_LIMIT: Duration = Duration::from_secs(30);

/// How long a program may take to exit after its `done` line before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// A model run by another program.
pub struct External {
    name: String,
    launch: Box<dyn Launch>,
}

/// How a model's program is started.
pub trait Launch: Send + Sync {
    /// The command that starts the program, and a folder that must outlive it.
    fn command(
        &self,
        settings: &ModelSettings,
    ) -> anyhow::Result<(Command, Option<tempfile::TempDir>)>;

    /// The model the run line names, where the program runs one model under another
    /// name (a variant of a built-in cpython model).
    fn run_as(&self) -> Option<&str> {
        None
    }
}

impl External {
    pub fn new(name: &str, launch: Box<dyn Launch>) -> External {
        External {
            name: name.to_string(),
            launch,
        }
    }
}

/// A model of the user's own runs its command in the experiment file's folder.
impl Launch for Arc<CustomModel> {
    fn command(&self, _: &ModelSettings) -> anyhow::Result<(Command, Option<tempfile::TempDir>)> {
        let mut command = Command::new(&self.program);
        command.args(&self.command[1..]).current_dir(&self.dir);
        Ok((command, None))
    }
}

impl Scheduler for External {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        let name = self.name.as_str();
        let config = job.workload.config();
        let plan: Vec<TaskSteps> = (0..job.workload.tasks())
            .map(|task| TaskSteps {
                task,
                steps: steps::task_steps(config, task, job.env),
            })
            .collect();
        let tasks_json = serde_json::to_string(&plan)?;
        // The script's folder must outlive the program: a process pool's children may
        // read it again.
        let (command, _script) = self.launch.command(job.settings)?;
        let mut program = Program::spawn(command, name, job.cancel)?;

        let ready_by = Instant::now() + READY_LIMIT;
        let implementation = match program.next(job.cancel, Some(ready_by)) {
            Ok(Message::Ready(ready)) => ready.implementation,
            Ok(_) => bail!(
                "{name} wrote {} before its ready line",
                program.last_quoted()
            ),
            Err(Fault::Cancelled) => return Ok(program.cancelled(Vec::new(), Duration::ZERO)),
            Err(Fault::TimedOut) => bail!(
                "{name} did not say it was ready within {}s (the start-up limit)",
                READY_LIMIT.as_secs()
            ),
            Err(fault) => {
                return Err(program.failure(fault, "during its start-up", "its ready line"));
            }
        };

        let epoch_ns = monotonic_ns();
        let measured_from = Instant::now();
        let setup = measured_from.saturating_duration_since(job.epoch);
        let counter = steps::counter_sync(config);
        let run_as = self.launch.run_as().unwrap_or(name);
        let line = wire::run_line(run_as, job.workers, epoch_ns, counter, &tasks_json);
        match protocol::write_all(program.stdin()?, &line, job.cancel, None) {
            Ok(()) => {}
            Err(Stop::Cancelled) => return Ok(program.cancelled(Vec::new(), setup)),
            Err(_) => {
                return Err(program.failure(
                    Fault::Closed,
                    "after its ready line",
                    "reading its run line",
                ));
            }
        }

        let mut records: Vec<Option<TaskRecord>> = vec![None; plan.len()];
        let mut reported = 0;
        let done = loop {
            let message = match program.next(job.cancel, None) {
                Ok(m) => m,
                Err(Fault::Cancelled) => {
                    return Ok(program.cancelled(records.into_iter().flatten().collect(), setup));
                }
                Err(fault) => {
                    let when = format!("after {reported} of {} tasks", plan.len());
                    return Err(program.failure(fault, &when, "its done line"));
                }
            };
            match message {
                Message::Task(t) => {
                    let Some(slot) = records.get_mut(t.task) else {
                        bail!(
                            "{name} reported task {}, which it was not given (tasks 0 to {}): {}",
                            t.task,
                            plan.len().saturating_sub(1),
                            program.last_quoted()
                        );
                    };
                    if slot.is_some() {
                        bail!(
                            "{name} reported task {} twice: {}",
                            t.task,
                            program.last_quoted()
                        );
                    }
                    let per_step = matches!(config, WorkloadConfig::Steps(_));
                    let record =
                        wire::record(&t, &plan[t.task].steps, epoch_ns, monotonic_ns(), per_step)
                            .map_err(|why| {
                            anyhow::anyhow!(
                                "{name} wrote a task line that is wrong: {why}: {}",
                                program.last_quoted()
                            )
                        })?;
                    *slot = Some(record);
                    reported += 1;
                }
                Message::Done(d) => break d,
                Message::Ready(_) => bail!(
                    "{name} wrote a second ready line after its run line: {}",
                    program.last_quoted()
                ),
            }
        };
        let done_at = Instant::now();
        let missing: Vec<String> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_none())
            .map(|(task, _)| task.to_string())
            .collect();
        if !missing.is_empty() {
            bail!(
                "{name} wrote its done line without reporting task {} ({} of {} tasks reported)",
                shorten(&missing),
                reported,
                plan.len()
            );
        }
        if let Some(store) = job.workload.shared_store() {
            let Some(value) = done.counter else {
                bail!(
                    "{name} wrote a done line without the counter's final value: {}",
                    program.last_quoted()
                );
            };
            store.apply(CounterOp::Set(value))?;
        }
        let exit = program.end(EXIT_GRACE);
        // Killed at a cancel that came after `done`: the runner reports the timeout.
        if !exit.success && !job.cancel.is_set() {
            bail!("{name} ended with {} after its done line", exit.status);
        }
        let (children, peak) = usage(&done, &exit);
        Ok(Execution {
            setup,
            unmeasured: setup + done_at.elapsed(),
            records: records.into_iter().flatten().collect(),
            children: Some(children),
            children_peak_rss_kib: Some(peak),
            implementation,
        })
    }
}

/// CPU time and peak memory from the `done` line, or from the kernel's account of the
/// reaped program (which counts its start-up too) where the line leaves them out.
fn usage(done: &DoneLine, exit: &Exit) -> (CpuTimes, u64) {
    let cpu = match (done.user_s, done.sys_s) {
        (Some(user_s), Some(sys_s)) if user_s >= 0.0 && sys_s >= 0.0 => CpuTimes { user_s, sys_s },
        _ => exit.usage,
    };
    (cpu, done.max_rss_kib.unwrap_or(exit.peak_rss_kib))
}

/// `1, 2, 3` or `1, 2, 3, … (40 in all)`.
fn shorten(items: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut s = items[..items.len().min(SHOWN)].join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(", … ({} in all)", items.len()));
    }
    s
}

/// Why the program's next message could not be had.
enum Fault {
    Cancelled,
    TimedOut,
    /// It closed its stdout (exited, most likely).
    Closed,
    /// A line that is not the protocol, and why.
    Garbage(String),
    TooLong,
    Io(std::io::Error),
}

/// The running program, in a process group of its own; dropping it kills the group.
struct Program {
    name: String,
    cancel: Cancel,
    process: ChildProcess,
    stdout: LineReader<ChildStdout>,
    /// The last line it wrote, for messages.
    last: Option<String>,
}

impl Program {
    fn spawn(command: Command, name: &str, cancel: &Cancel) -> anyhow::Result<Program> {
        let program = command.get_program().to_owned();
        let mut process = ChildProcess::spawn(command)
            .with_context(|| format!("cannot start {name} ({})", Path::new(&program).display()))?;
        let stdout = LineReader::new(process.take_stdout());
        Ok(Program {
            name: name.to_string(),
            cancel: cancel.clone(),
            process,
            stdout,
            last: None,
        })
    }

    fn stdin(&mut self) -> anyhow::Result<&mut ChildStdin> {
        self.process
            .stdin()
            .context("the program's stdin is closed")
    }

    fn next(&mut self, cancel: &Cancel, deadline: Option<Instant>) -> Result<Message, Fault> {
        let line = match self.stdout.next_line(cancel, deadline) {
            Ok(line) => line,
            Err(Stop::Cancelled) => return Err(Fault::Cancelled),
            Err(Stop::TimedOut) => return Err(Fault::TimedOut),
            Err(Stop::Closed) => return Err(Fault::Closed),
            Err(Stop::TooLong) => return Err(Fault::TooLong),
            Err(Stop::Io(e)) => return Err(Fault::Io(e)),
        };
        self.last = Some(line.to_string());
        wire::parse(line).map_err(Fault::Garbage)
    }

    fn last_quoted(&self) -> String {
        self.last
            .as_deref()
            .map_or_else(|| "nothing".into(), quote_line)
    }

    /// The error for a program that broke off the protocol `when`, before `awaited`,
    /// after it is killed and reaped.
    fn failure(&mut self, fault: Fault, when: &str, awaited: &str) -> anyhow::Error {
        let name = self.name.clone();
        match fault {
            Fault::Garbage(what) => {
                self.kill();
                anyhow::anyhow!("{name} wrote {what}: {}", self.last_quoted())
            }
            Fault::Closed => {
                // Its stdout is closed: it has exited, or is about to.
                let unterminated = self.stdout.unterminated();
                let exit = self.end(Duration::from_secs(1));
                let mut message =
                    format!("{name} exited {when} without {awaited} ({})", exit.status);
                match (unterminated, &self.last) {
                    (Some(part), _) => message.push_str(&format!(
                        "; it last wrote an unfinished line: {}",
                        quote_line(&part)
                    )),
                    (None, Some(last)) => {
                        message.push_str(&format!("; its last line: {}", quote_line(last)))
                    }
                    (None, None) => message.push_str("; it wrote nothing"),
                }
                anyhow::anyhow!(message)
            }
            Fault::TooLong => {
                self.kill();
                anyhow::anyhow!(
                    "{name} wrote a line longer than {} MiB {when}",
                    protocol::MAX_LINE_BYTES >> 20
                )
            }
            Fault::Io(e) => {
                self.kill();
                anyhow::anyhow!("cannot read from {name} {when}: {e}")
            }
            Fault::TimedOut | Fault::Cancelled => {
                self.kill();
                anyhow::anyhow!("{name} stopped answering {when}")
            }
        }
    }

    /// The repetition was cancelled (timeout or signal): the program is killed, and the
    /// tasks it reported are kept; the runner names the rest.
    fn cancelled(&mut self, records: Vec<TaskRecord>, setup: Duration) -> Execution {
        let exit = self.process.kill().clone();
        Execution {
            setup,
            unmeasured: setup,
            records,
            children: Some(exit.usage),
            children_peak_rss_kib: Some(exit.peak_rss_kib),
            implementation: None,
        }
    }

    /// Closes its stdin and waits up to `grace` for it to exit (less if the repetition is
    /// cancelled, so that a timeout that falls here is answered as promptly as anywhere
    /// else); past that its whole group is killed. What it left running in its group is
    /// asked to stop too.
    fn end(&mut self, grace: Duration) -> Exit {
        if self.process.exit().is_none() {
            self.process.close_stdin();
            let cancel = self.cancel.clone();
            self.process.reap_until(grace, || cancel.is_set());
            self.process.signal_group(Signal::TERM);
        }
        self.process.exit().cloned().expect("reaped above")
    }

    /// Kills the program's whole group and reaps it.
    fn kill(&mut self) {
        self.process.kill();
    }
}

/// Where `program` would be found when started: a path as it is, a bare name on PATH.
/// None when there is no executable file there.
pub fn locate(program: &Path) -> Option<PathBuf> {
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.is_absolute() || program.components().count() > 1 {
        return executable(program).then(|| program.to_path_buf());
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_path_or_where_they_are_named() {
        assert!(locate(Path::new("sh")).is_some());
        assert!(locate(Path::new("/bin/sh")).is_some());
        assert_eq!(locate(Path::new("/nonexistent/python3")), None);
        assert_eq!(locate(Path::new("surely-no-such-program-here")), None);
    }

    #[test]
    fn long_lists_are_shortened() {
        let items: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        assert_eq!(shorten(&items[..2]), "0, 1");
        assert_eq!(shorten(&items), "0, 1, 2, 3, 4, 5, 6, 7, … (20 in all)");
    }
}
