//! The subcommands of the `strata` binary.

pub mod commands;
pub mod echo;
pub mod frames;
pub mod pipe;
pub mod tour;
pub mod transfer;

/// Errors are printed as one line: `strata: error: ...`.
pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Log to stderr: warnings by default, everything with `--trace`;
/// `RUST_LOG` overrides.
pub fn init_logging(trace: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if trace { "trace" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
