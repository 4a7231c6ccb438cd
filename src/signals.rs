//! The process-wide interrupt: SIGINT, SIGTERM and SIGHUP ask a run to stop cleanly.
//!
//! Ctrl-C, a batch scheduler's SIGTERM and a closed terminal's SIGHUP all mean the same:
//! stop the repetition in flight, keep the rows finished so far, stop the children and the
//! server, and exit with 128 + the signal's number. A second signal quits at once.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The signals that interrupt a run.
pub const HANDLED: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Set by the first signal: every running repetition winds down at its next check.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The first signal received (0 before any).
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Set inside the signal handler itself, so that a second signal exits even if the
/// thread that reports the first has not run yet.
static ARMED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Whether a run has been asked to stop.
#[inline]
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// The signal that interrupted the run, if one did.
pub fn signal() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The exit code of an interrupted run: 128 + the signal (130 for SIGINT, 143 for SIGTERM,
/// 129 for SIGHUP).
pub fn exit_code() -> i32 {
    128 + signal().unwrap_or(SIGINT)
}

/// `SIGTERM` for 15; the number for a signal without a name.
pub fn name(signal: i32) -> String {
    signal_hook::low_level::signal_name(signal)
        .map(str::to_string)
        .unwrap_or_else(|| format!("signal {signal}"))
}

/// Marks the run interrupted by `signal` (the first one wins) and says so.
fn interrupt(signal: i32) {
    let _ = SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    if !INTERRUPTED.swap(true, Ordering::SeqCst) {
        let again = if signal == SIGINT {
            "press Ctrl-C again".to_string()
        } else {
            format!("send {} again", name(signal))
        };
        eprintln!(
            "\ninterrupted by {}: stopping the current repetition ({again} to quit at once)",
            name(signal)
        );
    }
}

/// Installs the handlers for a run. The first signal sets the interrupt; a second one of
/// any of them exits at once with 128 + its number, from the handler itself.
pub fn install() -> std::io::Result<()> {
    let armed = ARMED.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for sig in HANDLED {
        // Registered first, so it sees the flag as the previous signal left it.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, armed.clone())?;
        signal_hook::flag::register(sig, armed.clone())?;
    }
    let mut signals = signal_hook::iterator::Signals::new(HANDLED)?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                interrupt(sig);
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_exit_codes_follow_the_signal() {
        assert_eq!(name(SIGTERM), "SIGTERM");
        assert_eq!(name(SIGHUP), "SIGHUP");
        assert_eq!(name(SIGINT), "SIGINT");
        assert_eq!(HANDLED.map(|s| 128 + s), [130, 143, 129]);
    }
}
