//! `strata-bench CASE [--quick] [--reps N] [--verbose]`: see the library
//! docs for what it measures and prints.

use std::process::ExitCode;

use strata_bench::{case_names, run_case, Config, Pin, Side, CASES};

const USAGE: &str =
    "usage: strata-bench CASE [--quick] [--reps N] [--verify] [--verbose] [--filter S] [--only strata|peer] [--pin any|one|two]";

fn usage() -> String {
    let mut s = format!("{USAGE}\n\ncases:\n");
    for (name, about, ready) in CASES {
        let note = if *ready { "" } else { " (not yet)" };
        s.push_str(&format!("  {name:<9} {about}{note}\n"));
    }
    s.push_str(
        "\noptions:\n  --quick    a short smoke run (small workloads)\n  \
         --reps N   measured runs per side (default 7; 3 with --quick)\n  \
         --verify   check every byte that arrives (slower)\n  \
         --verbose  print every sample to stderr\n  \
         --filter S only the measurements whose name contains S\n  \
         --only strata|peer  run one side only (for profiling; the other reports NaN)\n  \
         --pin any|one|two   where the server and client threads run: anywhere (default),\n                      \
         both on CPU 0 (stable figures: CPU cost per byte), or on CPUs 0 and 1\n",
    );
    s
}

fn parse(args: &[String]) -> Result<(Vec<String>, Config), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut cfg = if quick {
        Config::quick()
    } else {
        Config::full()
    };
    let mut cases = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {}
            "--verify" => cfg.verify = true,
            "--verbose" | "-v" => cfg.verbose = true,
            "--filter" => cfg.filter = Some(it.next().ok_or("--filter needs a string")?.clone()),
            "--only" => {
                cfg.only = Some(match it.next().map(String::as_str) {
                    Some("strata") => Side::Strata,
                    Some("peer") => Side::Peer,
                    _ => return Err("--only needs \"strata\" or \"peer\"".to_string()),
                })
            }
            "--pin" => {
                cfg.pin = match it.next().map(String::as_str) {
                    Some("any") => Pin::Any,
                    Some("one") => Pin::One,
                    Some("two") => Pin::Two,
                    _ => return Err("--pin needs \"any\", \"one\" or \"two\"".to_string()),
                }
            }
            "--reps" => {
                let n = it.next().ok_or("--reps needs a number")?;
                cfg.reps = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("--reps: \"{n}\" is not a positive number"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option \"{s}\"")),
            s => cases.push(s.to_string()),
        }
    }
    if cases.is_empty() {
        return Err(format!("which case? ({})", case_names()));
    }
    Ok((cases, cfg))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cases, cfg) = match parse(&args) {
        Ok(p) => p,
        Err(e) if e.is_empty() => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("strata-bench: {e}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    // This runtime only orchestrates; the connections run on the two
    // runtimes of `strata_bench::Runtimes`, one thread each.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    for case in &cases {
        if let Some((_, about, _)) = CASES.iter().find(|(n, ..)| n == case) {
            eprintln!(
                "# {case}: {about}; medians of {} interleaved runs",
                cfg.reps
            );
        }
        let res = rt.block_on(run_case(case, &cfg, &mut |r| println!("{r}")));
        if let Err(e) = res {
            eprintln!("strata-bench: {case}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
