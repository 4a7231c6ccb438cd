//! The JSON-lines plumbing conclab shares with the programs it drives (`process_pool`
//! workers, external models): lines read with a deadline and a cancel, lines written
//! whole, the clock both sides read, and reaping or killing a child's process group.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::measure::CpuTimes;
use crate::workload::Cancel;

/// How often a wait on a pipe looks at its cancel and its deadline.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// The longest line accepted from a child: far beyond any message, short of exhausting
/// memory when a program writes without end.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Characters of a line quoted in a message before it is cut short.
const QUOTED_CHARS: usize = 120;

/// CLOCK_MONOTONIC in nanoseconds: what `Instant` reads on Linux, and Python's
/// `time.monotonic_ns()`, so spans read in another process land on conclab's time line.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `instant` on CLOCK_MONOTONIC, in nanoseconds.
pub fn monotonic_ns_at(instant: Instant) -> u64 {
    let now = Instant::now();
    let ns = monotonic_ns();
    ns.saturating_sub(now.saturating_duration_since(instant).as_nanos() as u64)
}

/// Why a line could not be read or written.
#[derive(Debug)]
pub enum Stop {
    /// The other end closed the pipe (the child exited, or closed it).
    Closed,
    /// The cancel was set first (timeout or signal).
    Cancelled,
    /// The deadline passed first.
    TimedOut,
    /// A line longer than [`MAX_LINE_BYTES`].
    TooLong,
    Io(std::io::Error),
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Stop {
        match e.kind() {
            ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => Stop::Closed,
            _ => Stop::Io(e),
        }
    }
}

/// Lines from a child's pipe. Unlike a `BufReader`, it never blocks inside a read: it
/// waits in `poll` slices, so a cancel or a deadline is noticed within 50 ms even when
/// the child stops halfway through a line.
pub struct LineReader<R> {
    source: R,
    buf: Vec<u8>,
    /// Where the unread part of `buf` begins.
    start: usize,
    line: String,
    closed: bool,
}

impl<R: Read + AsRawFd> LineReader<R> {
    pub fn new(source: R) -> LineReader<R> {
        LineReader {
            source,
            buf: Vec::with_capacity(8192),
            start: 0,
            line: String::new(),
            closed: false,
        }
    }

    /// The next line, without its newline (bytes that are not UTF-8 replaced). Waits
    /// until `deadline` at most; a line the child never finished is not a line.
    pub fn next_line(&mut self, cancel: &Cancel, deadline: Option<Instant>) -> Result<&str, Stop> {
        loop {
            if let Some(end) = self.buf[self.start..].iter().position(|&b| b == b'\n') {
                let raw = &self.buf[self.start..self.start + end];
                self.line = String::from_utf8_lossy(raw).into_owned();
                self.start += end + 1;
                return Ok(&self.line);
            }
            if self.closed {
                return Err(Stop::Closed);
            }
            if self.buf.len() - self.start > MAX_LINE_BYTES {
                return Err(Stop::TooLong);
            }
            if self.start == self.buf.len() {
                self.buf.clear();
                self.start = 0;
            } else if self.start > self.buf.len() / 2 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            wait_for(self.source.as_raw_fd(), libc::POLLIN, cancel, deadline)?;
            let mut chunk = [0u8; 16384];
            match self.source.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// What the child wrote after its last complete line, if it closed the pipe there.
    pub fn unterminated(&self) -> Option<String> {
        (self.closed && self.start < self.buf.len())
            .then(|| String::from_utf8_lossy(&self.buf[self.start..]).into_owned())
    }

    pub fn get_ref(&self) -> &R {
        &self.source
    }
}

/// Writes all of `bytes` to a pipe without ever blocking in the write, so a child that
/// does not read cannot hold conclab past its cancel or `deadline`. Sets the pipe's
/// (conclab's end's) non-blocking flag.
pub fn write_all<W: Write + AsRawFd>(
    pipe: &mut W,
    bytes: &[u8],
    cancel: &Cancel,
    deadline: Option<Instant>,
) -> Result<(), Stop> {
    let fd = pipe.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own; only the status flags change.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 && flags & libc::O_NONBLOCK == 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
    let mut rest = bytes;
    while !rest.is_empty() {
        match pipe.write(rest) {
            Ok(0) => return Err(Stop::Closed),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                wait_for(fd, libc::POLLOUT, cancel, deadline)?
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Waits until `fd` is ready for `events` (or hung up), the cancel is set, or `deadline`
/// passes.
fn wait_for(
    fd: libc::c_int,
    events: libc::c_short,
    cancel: &Cancel,
    deadline: Option<Instant>,
) -> Result<(), Stop> {
    loop {
        if cancel.is_set() {
            return Err(Stop::Cancelled);
        }
        let mut slice = CANCEL_POLL;
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Stop::TimedOut);
            }
            slice = slice.min(left);
        }
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let ms = slice.as_millis().max(1) as libc::c_int;
        // SAFETY: one valid pollfd; poll writes only its revents.
        if unsafe { libc::poll(&mut pfd, 1, ms) } > 0 {
            return Ok(());
        }
    }
}

/// A line as a message quotes it: cut after 120 characters, in quotes, escapes shown.
pub fn quote_line(line: &str) -> String {
    let line = line.trim_end();
    let mut shown: String = line.chars().take(QUOTED_CHARS).collect();
    if shown.len() < line.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

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

/// Reaps `pid` with its resource use; None if it has not exited and `block` is false.
pub fn wait(pid: libc::pid_t, block: bool) -> Option<Exit> {
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 writes status and usage only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let options = if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: pointers to our locals; pid is a child of this process.
        let r = unsafe { libc::wait4(pid, &mut status, options, &mut usage) };
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

/// Waits up to `grace` for `pid` to exit, then kills it (SIGKILL) and reaps it. With
/// `group`, the kill reaches the process group `pid` leads (started with
/// `process_group(0)`), so whatever the child started goes too.
pub fn reap(pid: libc::pid_t, grace: Duration, group: bool) -> Exit {
    let deadline = Instant::now() + grace;
    let mut pause = Duration::from_micros(20);
    loop {
        if let Some(exit) = wait(pid, false) {
            return exit;
        }
        if Instant::now() >= deadline {
            kill(pid, group);
            return wait(pid, true).unwrap_or_else(|| Exit::unknown("not reaped"));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// SIGKILL to `pid`, or to the process group it leads.
pub fn kill(pid: libc::pid_t, group: bool) {
    let target = if group { -pid } else { pid };
    // SAFETY: kill only sends a signal; the caller has not reaped the pid (or, for a group,
    // its members keep the group id from being reused).
    unsafe { libc::kill(target, libc::SIGKILL) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn the_monotonic_clock_matches_instant() {
        let before = Instant::now();
        let ns = monotonic_ns();
        let after = Instant::now();
        // Instant is CLOCK_MONOTONIC on Linux: an epoch shifted by the difference of two
        // readings lands between the two Instants. The second pair is read inside a
        // bracket of monotonic readings, so a preemption between them widens the allowed
        // window by exactly its own length instead of failing the test under load.
        let m2 = monotonic_ns();
        let now = Instant::now();
        let m3 = monotonic_ns();
        let shifted = now.checked_sub(Duration::from_nanos(m2 - ns)).unwrap();
        assert!(shifted >= before && shifted <= after + Duration::from_nanos(m3 - m2));
        // monotonic_ns_at reads two clocks one after the other: its answer may run late by
        // the time between them, which the bracketing readings bound.
        let (a, earlier, b) = (monotonic_ns(), monotonic_ns_at(before), monotonic_ns());
        assert!(earlier <= ns + (b - a), "{earlier} > {ns} + {}", b - a);
    }

    #[test]
    fn lines_are_read_whole_and_a_silent_child_is_left_at_the_deadline() {
        let mut child = Command::new("sh")
            .args([
                "-c",
                "printf 'one\\ntw'; sleep 0.3; printf 'o\\nthree'; sleep 5",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = LineReader::new(child.stdout.take().unwrap());
        let cancel = Cancel::new();
        let soon = || Some(Instant::now() + Duration::from_secs(5));
        assert_eq!(lines.next_line(&cancel, soon()).unwrap(), "one");
        assert_eq!(lines.next_line(&cancel, soon()).unwrap(), "two");
        let t = Instant::now();
        let stuck = lines.next_line(&cancel, Some(Instant::now() + Duration::from_millis(200)));
        assert!(matches!(stuck, Err(Stop::TimedOut)), "{stuck:?}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        cancel.set();
        assert!(matches!(
            lines.next_line(&cancel, None),
            Err(Stop::Cancelled)
        ));
        kill(child.id() as libc::pid_t, false);
        let _ = child.wait();
    }

    #[test]
    // The child is reaped by `reap`, which is under test here.
    #[allow(clippy::zombie_processes)]
    fn a_closed_pipe_ends_the_lines_and_keeps_what_was_unfinished() {
        let mut child = Command::new("sh")
            .args(["-c", "printf 'a\\nhalf'; exit 3"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as libc::pid_t;
        let mut lines = LineReader::new(child.stdout.take().unwrap());
        let cancel = Cancel::new();
        assert_eq!(lines.next_line(&cancel, None).unwrap(), "a");
        assert!(matches!(lines.next_line(&cancel, None), Err(Stop::Closed)));
        assert_eq!(lines.unterminated().as_deref(), Some("half"));
        let exit = reap(pid, Duration::from_secs(5), false);
        assert_eq!(exit.status, "exit status 3");
        assert!(!exit.success);
    }

    #[test]
    fn long_lines_are_quoted_short() {
        assert_eq!(quote_line("ok\n"), "\"ok\"");
        let long = "x".repeat(500);
        let q = quote_line(&long);
        assert!(q.ends_with("…\"") && q.chars().count() == 123, "{q}");
    }
}
