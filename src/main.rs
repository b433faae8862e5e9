//! `strata`: a netcat for layered stacks, and a tour of how they work.
//!
//! ```text
//! strata connect 'tcp:127.0.0.1:7000'          # stdin -> connection -> stdout
//! strata listen 'tcp:7000' --echo              # echo every connection
//! strata tour                                  # build a stack step by step
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
