//! `strata`: a netcat for layered stacks, and a tour of how they work.
//!
//! ```text
//! strata connect 'tcp:127.0.0.1:7000'          # stdin -> connection -> stdout
//! strata listen 'tcp:7000' --echo              # echo every connection
//! strata tour                                  # build a stack step by step
//! strata receive 'tcp:7000+tls:self-signed+mux' inbox/        # files, one subchannel each
//! strata send 'tcp:127.0.0.1:7000+tls:pin=...+mux' a.txt dir/
//! strata serve-commands 'tcp:7000' --half-duplex # framed commands: echo, hash, lookup
//! strata call 'tcp:127.0.0.1:7000' hash < file  # call one, stdin as its data
//! strata frames encode 'command-name eos ping' | strata frames decode
//! ```

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Build network stacks out of layers, from one-line descriptions such as
/// `tcp:127.0.0.1:7000` or `unix:/tmp/s.sock`.
#[derive(Parser, Debug)]
#[command(name = "strata", version, about, long_about = None)]
struct Cli {
    /// Log tracing events to stderr (`RUST_LOG` refines the filter).
    #[arg(long, global = true)]
    trace: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Connect to DESC and pipe stdin to it and it to stdout. EOF on stdin
    /// half-closes the connection; exits once the peer has closed too.
    Connect {
        /// What to connect to, e.g. `tcp:127.0.0.1:7000` or `unix:/tmp/s.sock`.
        desc: String,
    },
    /// Listen on DESC. Without --echo: accept one connection and pipe it to
    /// stdin/stdout like `connect`. With --echo: echo every connection until
    /// killed.
    Listen {
        /// Where to listen, e.g. `tcp:7000`, `tcp:127.0.0.1:0`, `unix:/tmp/s.sock`.
        desc: String,
        /// Echo every connection (half-closing after the peer half-closes).
        #[arg(long)]
        echo: bool,
    },
    /// Build a stack step by step on loopback and show what each layer does.
    Tour,
    /// Send files and directories over DESC (whose top layer must be `mux`):
    /// one subchannel per file, each verified by the receiver's BLAKE3.
    /// Connects by default; --listen waits for the receiver instead.
    Send {
        /// The stack, e.g. `tcp:127.0.0.1:7000+tls:pin=FINGERPRINT+mux`.
        desc: String,
        /// Files and directories to send (directories with everything in them).
        #[arg(required = true)]
        paths: Vec<std::path::PathBuf>,
        /// Listen on DESC for the receiver instead of connecting.
        #[arg(long, conflicts_with = "connect")]
        listen: bool,
        /// Connect (the default; for symmetry with `receive --connect`).
        #[arg(long)]
        connect: bool,
        /// Files in flight at once, each on its own subchannel.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
        /// Compress with zstd (at LEVEL, default 3).
        #[arg(long, value_name = "LEVEL", num_args = 0..=1, default_missing_value = "3")]
        zstd: Option<i32>,
    },
    /// Receive files into DIR over DESC (whose top layer must be `mux`);
    /// exits once one connection's transfer is complete. Listens by
    /// default; --connect reaches out to a listening sender instead.
    Receive {
        /// The stack, e.g. `tcp:7000+tls:self-signed+mux`.
        desc: String,
        /// The directory to receive into (created if missing).
        dir: std::path::PathBuf,
        /// Connect to DESC (a `send --listen`) instead of listening.
        #[arg(long, conflicts_with = "listen")]
        connect: bool,
        /// Listen (the default; for symmetry with `send --listen`).
        #[arg(long)]
        listen: bool,
        /// Replace files that exist (never symbolic links or directories).
        #[arg(long)]
        overwrite: bool,
    },
    /// Serve framed commands on DESC until killed: `echo` (its data back),
    /// `hash` (the SHA-256 of its data), `lookup key=NAME`.
    ServeCommands {
        /// Where to listen, e.g. `tcp:7000` or `tcp:7000+tls:self-signed+mux`.
        desc: String,
        /// Hold every response until the client half-closes, then send them
        /// all and close (default: answer as soon as ready).
        #[arg(long)]
        half_duplex: bool,
        /// Add KEY=VALUE to the table `lookup` answers from.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Call command NAME on the command server at DESC with KEY=VALUE
    /// arguments; stdin (unless a terminal, or --no-data) is its data, and
    /// the response goes to stdout.
    Call {
        /// What to connect to, e.g. `tcp:127.0.0.1:7000`.
        desc: String,
        /// The command: echo, hash, lookup, ...
        name: String,
        /// Arguments, KEY=VALUE.
        args: Vec<String>,
        /// Send no command data (do not read stdin).
        #[arg(long)]
        no_data: bool,
    },
    /// Frames as text and bytes: `encode` text to bytes, `decode` bytes to text.
    Frames {
        #[command(subcommand)]
        action: cli::frames::FramesCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging(cli.trace);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strata: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Connect { desc } => cli::pipe::connect(&desc).await,
            Command::Listen { desc, echo: true } => cli::echo::serve(&desc).await,
            Command::Listen { desc, echo: false } => cli::pipe::listen_once(&desc).await,
            Command::Tour => cli::tour::run(cli.trace).await,
            Command::Send {
                desc,
                paths,
                listen,
                parallel,
                zstd,
                ..
            } => {
                let opts = strata_transfer::SendOptions {
                    parallel,
                    zstd,
                    ..Default::default()
                };
                cli::transfer::send(&desc, &paths, listen, opts).await
            }
            Command::Receive {
                desc,
                dir,
                connect,
                overwrite,
                ..
            } => {
                let opts = strata_transfer::ReceiveOptions {
                    overwrite,
                    ..Default::default()
                };
                cli::transfer::receive(&desc, &dir, connect, opts).await
            }
            Command::ServeCommands {
                desc,
                half_duplex,
                set,
            } => cli::commands::serve(&desc, half_duplex, &set).await,
            Command::Call {
                desc,
                name,
                args,
                no_data,
            } => cli::commands::call(&desc, &name, &args, no_data).await,
            Command::Frames { action } => cli::frames::run(action),
        }
    });
    // Do not wait for the blocking stdin reader thread: it cannot be
    // interrupted, and the work is done.
    rt.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata: error: {e}");
            ExitCode::FAILURE
        }
    }
}
