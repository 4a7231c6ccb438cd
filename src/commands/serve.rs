//! `conclab serve`: the embedded HTTP server on its own, its options checked first.

use crate::cli::ServeArgs;
use crate::error::UsageError;
use crate::server::ServerConfig;

/// Serves until killed (or until stdin ends, when asked); bad options are usage errors.
pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let duration = |flag: &str, text: &str| {
        crate::duration::parse_duration(text).map_err(|e| UsageError(format!("--{flag}: {e}")))
    };
    if !(0.0..=1.0).contains(&args.error_rate) {
        return Err(UsageError(format!(
            "--error-rate must be from 0.0 to 1.0, got {}",
            args.error_rate
        ))
        .into());
    }
    let cfg = ServerConfig {
        port: args.port,
        latency: duration("latency", &args.latency)?,
        jitter: duration("jitter", &args.jitter)?,
        body_bytes: args.body_bytes,
        error_rate: args.error_rate,
        exit_on_stdin_eof: args.exit_on_stdin_eof,
    };
    crate::server::raise_open_file_limit();
    crate::server::serve(cfg)
}
