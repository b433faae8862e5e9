//! # strata-bench: Strata side by side with its peers
//!
//! ```text
//! cargo run --release -p strata-bench -- tcp            # the full case
//! cargo run --release -p strata-bench -- tcp --quick    # a short smoke run
//! ```
//!
//! Each case runs the same workload through Strata and through the peer it
//! is measured against, in the same process and runtime, interleaving the
//! runs (strata, peer, strata, peer, ...) and reporting the medians, one
//! line per measurement on stdout:
//!
//! ```text
//! case=tcp/throughput/64KiB strata=<MB/s> peer=<MB/s> ratio=<strata/peer>
//! case=tcp/pingpong/64B strata=<rt/s> peer=<rt/s> ratio=<strata/peer>
//! ```
//!
//! Every figure is "higher is better", so a ratio above 1 means Strata won.
//! MB is 10^6 bytes.
//!
//! The server ends and the client ends of every connection run on two
//! single-threaded runtimes, each on a thread of its own ([`Runtimes`]),
//! for Strata and the peer alike.
//!
//! A case is a module with `async fn run(&Config, &mut dyn FnMut(Report))`,
//! listed in [`CASES`] and dispatched by [`run_case`]. [`common`] holds what
//! they share: configuration, timing and medians, the output line, and the
//! byte pattern smoke tests check. Timing never goes in a test:
//! `cargo test -p strata-bench` runs each case with tiny workloads and
//! checks only that the bytes arrived intact.

#![warn(missing_docs)]

pub mod common;
pub mod frames;
pub mod mux;
pub mod tcp;
pub mod tls;
pub mod transfer;

use std::io;

pub use common::{Config, Pin, Report, Runtimes, Side, Unit};

/// The cases: name, what it compares, and whether it exists yet.
pub const CASES: &[(&str, &str, bool)] = &[
    (
        "tcp",
        "Strata's TCP driver vs plain tokio TcpStream: throughput (1 KiB, 64 KiB, 1 MiB writes), 64-byte ping-pong",
        true,
    ),
    (
        "tls",
        "Strata TCP+TLS vs tokio-rustls (same rustls configs, ring, TLS 1.3 AES-128-GCM): throughput (64 KiB, 1 KiB writes), 64-byte ping-pong",
        true,
    ),
    (
        "mux",
        "Strata mux vs the yamux crate (same 256 KiB initial windows) and vs the transport below: throughput on 1 and 16 subchannels (TCP, TLS), 64-byte ping-pong, 10,000 subchannels opened and held, latency under load",
        true,
    ),
    (
        "frames",
        "Strata frames (Mercurial format) vs tokio-util LengthDelimitedCodec: encode+decode frames/s (64 B, 16 KiB), 64-byte command round trips over TCP on one connection and on 16 at once (frame layer + reactors vs a hand-written codec loop)",
        true,
    ),
    (
        "transfer",
        "Strata send/receive (strata-transfer over TCP+TLS+mux) vs the same file through tokio-rustls: 1 GiB, BLAKE3 and disk (write, fsync, rename) included on both sides; in the temp dir and on tmpfs",
        true,
    ),
];

/// Run the case `name`, handing each measurement to `out` as it is made.
pub async fn run_case(name: &str, cfg: &Config, out: &mut dyn FnMut(Report)) -> io::Result<()> {
    match name {
        "tcp" => tcp::run(cfg, out).await,
        "tls" => tls::run(cfg, out).await,
        "frames" => frames::run(cfg, out).await,
        "mux" => mux::run(cfg, out).await,
        "transfer" => transfer::run(cfg, out).await,
        _ => match CASES.iter().find(|(n, ..)| *n == name) {
            Some(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("case \"{name}\" is not implemented yet"),
            )),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "unknown case \"{name}\" (expected one of: {})",
                    case_names()
                ),
            )),
        },
    }
}

/// The case names, comma-separated.
pub fn case_names() -> String {
    CASES
        .iter()
        .map(|(n, ..)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}
