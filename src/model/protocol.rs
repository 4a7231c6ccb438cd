//! The JSON-lines plumbing conclab shares with the programs it drives (`process_pool`
//! workers, external models): lines read with a deadline and a cancel, lines written
//! whole, and the clock both sides read.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
use rustix::time::{ClockId, Timespec, clock_gettime};

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
    let ts = clock_gettime(ClockId::Monotonic);
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

impl<R: Read + AsFd> LineReader<R> {
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
            wait_for(self.source.as_fd(), PollFlags::IN, cancel, deadline)?;
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
pub fn write_all<W: Write + AsFd>(
    pipe: &mut W,
    bytes: &[u8],
    cancel: &Cancel,
    deadline: Option<Instant>,
) -> Result<(), Stop> {
    if let Ok(flags) = fcntl_getfl(pipe.as_fd())
        && !flags.contains(OFlags::NONBLOCK)
    {
        // A pipe that stays blocking is still written whole, only less promptly cancelled.
        let _ = fcntl_setfl(pipe.as_fd(), flags | OFlags::NONBLOCK);
    }
    let mut rest = bytes;
    while !rest.is_empty() {
        match pipe.write(rest) {
            Ok(0) => return Err(Stop::Closed),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                wait_for(pipe.as_fd(), PollFlags::OUT, cancel, deadline)?
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
    fd: BorrowedFd<'_>,
    events: PollFlags,
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
        let mut fds = [PollFd::from_borrowed_fd(fd, events)];
        let timeout = Timespec::try_from(slice).expect("a slice of at most 50 ms");
        if poll(&mut fds, Some(&timeout)).is_ok_and(|n| n > 0) {
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
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn a_closed_pipe_ends_the_lines_and_keeps_what_was_unfinished() {
        let mut command = Command::new("sh");
        command.args(["-c", "printf 'a\\nhalf'; exit 3"]);
        let mut child = crate::child::ChildProcess::spawn(command).unwrap();
        let mut lines = LineReader::new(child.take_stdout());
        let cancel = Cancel::new();
        assert_eq!(lines.next_line(&cancel, None).unwrap(), "a");
        assert!(matches!(lines.next_line(&cancel, None), Err(Stop::Closed)));
        assert_eq!(lines.unterminated().as_deref(), Some("half"));
        let exit = child.reap(Duration::from_secs(5));
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
