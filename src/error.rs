//! The errors a command reports to the user, and the exit codes every outcome maps to.

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
/// Interrupted by SIGINT; SIGTERM and SIGHUP give 128 + their number too (143, 129).
pub const EXIT_INTERRUPTED: i32 = 130;

/// Bad command-line usage discovered after parsing (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
