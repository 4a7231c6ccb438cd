//! A child process's life: started in a process group of its own with its stdin and
//! stdout piped, reaped with the resources it used, and its whole group killed when it is
//! dropped. The process pool's workers, external models and the embedded server all live so.

use std::io::ErrorKind;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

use crate::measure::CpuTimes;

/// How a reaped child ended and what it used.
#[derive(Debug, Clone)]
pub struct Exit {
    /// `exit status 3`, `signal 9`.
    pub status: String,
    /// Whether it exited of its own accord with status 0.
    pub success: bool,
    /// CPU time of the child and of the children it waited for.
    pub usage: CpuTimes,
    pub peak_rss_kib: u64,
}

impl Exit {
    fn unknown(status: &str) -> Exit {
        Exit {
            status: status.into(),
            success: false,
            usage: CpuTimes::default(),
            peak_rss_kib: 0,
        }
    }
}

/// A running (or reaped) child. Its pid leads its own process group, so a kill reaches
/// whatever it started too, and a Ctrl-C in the terminal reaches conclab alone, which then
/// winds down and stops the child rather than losing it mid-task.
pub struct ChildProcess {
    pid: Pid,
    /// Kept so std's handle lives as long as the pid; reaping goes through `wait4`, which
    /// std does not offer with resource use.
    _child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    exit: Option<Exit>,
}

impl ChildProcess {
    /// Starts `command` with stdin and stdout piped and stderr shared with conclab.
    pub fn spawn(mut command: Command) -> std::io::Result<ChildProcess> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()?;
        let pid = Pid::from_raw(child.id() as i32).expect("a child's pid is positive");
        Ok(ChildProcess {
            pid,
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            _child: child,
            exit: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid.as_raw_nonzero().get() as u32
    }

    /// The pipe to the child's stdin, until it is closed.
    pub fn stdin(&mut self) -> Option<&mut ChildStdin> {
        self.stdin.as_mut()
    }

    /// Closing stdin is how a child is told to finish.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The child's stdout, handed over once to whoever reads it.
    pub fn take_stdout(&mut self) -> ChildStdout {
        self.stdout.take().expect("stdout is taken once")
    }

    /// How the child ended, if it has been reaped.
    pub fn exit(&self) -> Option<&Exit> {
        self.exit.as_ref()
    }

    /// Reaps the child if it has exited, without waiting.
    pub fn try_exit(&mut self) -> Option<&Exit> {
        if self.exit.is_none() {
            self.exit = wait(self.pid, false);
        }
        self.exit.as_ref()
    }

    /// Waits up to `grace` for the child to exit, or less once `stop` says so; after that
    /// its group is killed. Either way the child is reaped.
    pub fn reap_until(&mut self, grace: Duration, stop: impl Fn() -> bool) -> &Exit {
        if self.exit.is_none() {
            let deadline = Instant::now() + grace;
            // Short naps first: most children are gone within microseconds of being told.
            let mut pause = Duration::from_micros(20);
            while self.try_exit().is_none() {
                if Instant::now() >= deadline || stop() {
                    self.kill_group(Signal::KILL);
                    self.exit =
                        Some(wait(self.pid, true).unwrap_or_else(|| Exit::unknown("not reaped")));
                    break;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(2));
            }
        }
        self.exit.as_ref().expect("reaped above")
    }

    /// Closes stdin, waits up to `grace` for the child to exit, then kills and reaps it.
    pub fn reap(&mut self, grace: Duration) -> &Exit {
        self.close_stdin();
        self.reap_until(grace, || false)
    }

    /// Kills the child's whole group at once and reaps the child.
    pub fn kill(&mut self) -> &Exit {
        self.reap(Duration::ZERO)
    }

    /// Sends `signal` to the child's group: after the child is reaped this still reaches
    /// what it left running, whose membership keeps the group's id from being reused.
    pub fn signal_group(&self, signal: Signal) {
        self.kill_group(signal);
    }

    fn kill_group(&self, signal: Signal) {
        // The group may be empty already: nothing to stop then.
        let _ = kill_process_group(self.pid, signal);
    }
}

impl Drop for ChildProcess {
    /// An early return (a failed start, an error) must not leave children behind.
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reaps `pid` with its resource use; None if it has not exited and `block` is false.
/// `wait4` through libc: neither std nor rustix reaps a child with its `rusage`.
fn wait(pid: Pid, block: bool) -> Option<Exit> {
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 writes status and usage only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let options = if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: pointers to our locals; pid is a child of this process.
        let r =
            unsafe { libc::wait4(pid.as_raw_nonzero().get(), &mut status, options, &mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == ErrorKind::Interrupted {
            continue;
        }
        if r == 0 {
            return None;
        }
        if r == -1 {
            // Reaped elsewhere; nothing to report but that.
            return Some(Exit::unknown("already reaped"));
        }
        break;
    }
    let (status, success) = if libc::WIFSIGNALED(status) {
        (format!("signal {}", libc::WTERMSIG(status)), false)
    } else {
        let code = libc::WEXITSTATUS(status);
        (format!("exit status {code}"), code == 0)
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Some(Exit {
        status,
        success,
        usage: CpuTimes {
            user_s: seconds(usage.ru_utime),
            sys_s: seconds(usage.ru_stime),
        },
        // Linux reports ru_maxrss in KiB.
        peak_rss_kib: usage.ru_maxrss.max(0) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sh(script: &str) -> ChildProcess {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        ChildProcess::spawn(command).unwrap()
    }

    #[test]
    fn an_exit_is_reaped_with_its_status() {
        let mut child = sh("exit 3");
        let exit = child.reap(Duration::from_secs(5));
        assert_eq!(exit.status, "exit status 3");
        assert!(!exit.success);
    }

    #[test]
    fn a_child_past_its_grace_is_killed_with_its_group() {
        // The grandchild writes into the pipe it inherited: once the group is killed, the
        // pipe's last writer is gone and the read below ends instead of waiting 30 s.
        let mut child = sh("sleep 30 & sleep 30");
        let mut out = child.take_stdout();
        let exit = child.reap(Duration::from_millis(50));
        assert_eq!(exit.status, "signal 9");
        let started = Instant::now();
        let mut rest = Vec::new();
        out.read_to_end(&mut rest).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the grandchild lived on"
        );
    }

    #[test]
    fn closing_stdin_lets_a_reading_child_finish() {
        let mut child = sh("cat >/dev/null; exit 0");
        let exit = child.reap(Duration::from_secs(10));
        assert!(exit.success, "{}", exit.status);
    }

    #[test]
    fn a_stop_cuts_the_grace_short() {
        let mut child = sh("sleep 30");
        let started = Instant::now();
        let exit = child.reap_until(Duration::from_secs(30), || true);
        assert_eq!(exit.status, "signal 9");
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}
