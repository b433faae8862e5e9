//! Robustness: random and mutated frame streams fed to a mux (server and
//! client roles) over the harness, in random chunkings. Whatever arrives,
//! the mux must not panic, must end (the pair finishes), and every
//! subchannel it ran must have kept the close contract.
//!
//! A small run is part of `cargo test`. For a long run:
//!
//! ```text
//! STRATA_FUZZ_CASES=100000 cargo test --release -p strata-mux --test robustness
//! ```
//!
//! `STRATA_FUZZ_SEED=n` picks the first case's seed; a failure names the
//! seed of its case, so `STRATA_FUZZ_SEED=<seed> STRATA_FUZZ_CASES=1`
//! replays it.

use std::sync::{Arc, Mutex};

use strata_core::{BoxProtocol, Bytes, Protocol, Transport, TransportInfo};
use strata_mux::frame::{Flags, Header};
use strata_mux::{Config, Mux, INITIAL_WINDOW};
use strata_testing::conformance::{Log, Recorder};
use strata_testing::rng::Rng;
use strata_testing::{Chunking, Pair};

/// Writes its script (in one go), half-closes, swallows what comes back.
struct Raw(Vec<u8>);

impl Protocol for Raw {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.write(Bytes::from(std::mem::take(&mut self.0)));
        t.close_write();
    }
    fn data_received(&mut self, _t: &mut dyn Transport, _d: Bytes) {}
}

/// A plausible frame stream from a peer whose streams have parity `odd`.
fn frames(rng: &mut Rng, odd: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut open: Vec<u32> = Vec::new();
    let mut next = if odd { 1 } else { 2 };
    let n = rng.range(1, 40);
    for _ in 0..n {
        let pick = |rng: &mut Rng, open: &[u32]| -> u32 {
            if open.is_empty() || rng.chance(0.01) {
                rng.range(0, 12) as u32
            } else {
                open[rng.range(0, open.len() - 1)]
            }
        };
        let choice = if open.is_empty() {
            0
        } else {
            rng.range(0, 38) + rng.chance(0.02) as usize
        };
        let h = match choice {
            0..=5 => {
                let id = next;
                next += 2;
                open.push(id);
                if rng.chance(0.5) {
                    Header::window_update(id, Flags::SYN, rng.range(0, 1000) as u32)
                } else {
                    let len = rng.range(0, 2000);
                    out.extend(Header::data(id, Flags::SYN, len as u32).encode());
                    out.extend(vec![b'x'; len]);
                    continue;
                }
            }
            6..=20 => {
                let id = pick(rng, &open);
                let len = if rng.chance(0.005) {
                    rng.range(0, INITIAL_WINDOW as usize + 10)
                } else {
                    rng.range(0, 3000)
                };
                let flags = if rng.chance(0.1) {
                    Flags::FIN
                } else {
                    Flags::NONE
                };
                out.extend(Header::data(id, flags, len as u32).encode());
                if flags == Flags::FIN && rng.chance(0.9) {
                    open.retain(|&x| x != id);
                }
                let len = len.min(300_000);
                out.extend(vec![b'y'; len]);
                continue;
            }
            21..=25 => {
                Header::window_update(pick(rng, &open), Flags::NONE, rng.range(0, 70_000) as u32)
            }
            26..=32 => {
                let id = pick(rng, &open);
                if rng.chance(0.9) {
                    open.retain(|&x| x != id);
                }
                let flag = if choice < 30 { Flags::FIN } else { Flags::RST };
                Header::window_update(id, flag, 0)
            }
            33..=34 => Header::ping(Flags::SYN, rng.next_u64() as u32),
            35 => Header::ping(Flags::ACK, rng.range(0, 3) as u32),
            36..=38 => Header::window_update(pick(rng, &open), Flags::ACK, 0),
            _ => Header::go_away(rng.range(0, 3) as u32),
        };
        out.extend(h.encode());
    }
    out
}

/// Damage `v` a little: flipped bits, overwritten or inserted bytes,
/// removed, duplicated or truncated ranges.
fn mutate(rng: &mut Rng, v: &mut Vec<u8>) {
    for _ in 0..rng.range(1, 4) {
        if v.is_empty() {
            v.push(rng.next_u64() as u8);
            continue;
        }
        let at = rng.range(0, v.len() - 1);
        match rng.range(0, 5) {
            0 => v[at] ^= 1 << rng.range(0, 7),
            1 => v[at] = rng.next_u64() as u8,
            2 => {
                let mut junk = vec![0u8; rng.range(1, 16)];
                rng.fill(&mut junk);
                v.splice(at..at, junk);
            }
            3 => {
                let end = (at + rng.range(1, 24)).min(v.len());
                v.drain(at..end);
            }
            4 => {
                let end = (at + rng.range(1, 24)).min(v.len());
                let dup: Vec<u8> = v[at..end].to_vec();
                v.splice(at..at, dup);
            }
            _ => v.truncate(at),
        }
    }
}

fn input(rng: &mut Rng, odd: bool) -> Vec<u8> {
    match rng.range(0, 9) {
        // Pure noise.
        0 => {
            let mut v = vec![0u8; rng.range(0, 200)];
            rng.fill(&mut v);
            v
        }
        // Well-formed (mostly; ids and lengths are random).
        1..=3 => frames(rng, odd),
        // Damaged.
        _ => {
            let mut v = frames(rng, odd);
            mutate(rng, &mut v);
            v
        }
    }
}

/// The input as frames, for a failure message.
fn describe(script: &[u8]) -> String {
    let mut d = strata_mux::frame::Decoder::new(u32::MAX);
    let mut input = Bytes::copy_from_slice(script);
    let mut out = Vec::new();
    loop {
        match d.next(&mut input) {
            Ok(Some(strata_mux::frame::Item::Header(h))) => out.push(format!("{h:?}")),
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                out.push(format!("error {e}"));
                break;
            }
        }
    }
    if !input.is_empty() {
        out.push(format!("+{} bytes", input.len()));
    }
    out.join(", ")
}

type Logs = Arc<Mutex<Vec<Log>>>;

/// An echoing subchannel app that records its callbacks.
fn echo(logs: &Logs) -> BoxProtocol {
    let log = Log::new();
    logs.lock().unwrap().push(log.clone());
    Recorder::new(&log)
        .on_data(|t, b| t.write(b.clone()))
        .boxed()
}

/// What a case did, for the summary.
#[derive(Default, Debug)]
struct Tally {
    cases: u64,
    failed: u64,
    subchannels: u64,
    reasons: std::collections::BTreeMap<String, u64>,
}

fn one_case(seed: u64, tally: &Mutex<Tally>) {
    let mut rng = Rng::new(seed);
    let server_role = rng.chance(0.6);
    let script = input(&mut rng, server_role);
    let chunking = match rng.range(0, 2) {
        0 => Chunking::Whole,
        1 => Chunking::Fixed(rng.range(1, 13)),
        _ => Chunking::Random {
            seed,
            max: rng.range(1, 5000),
        },
    };
    let mut cfg = Config::default().max_streams(rng.range(1, 8));
    cfg.max_resets = rng.range(1, 20) as u32;
    let logs: Logs = Arc::default();
    let l2 = logs.clone();
    let mux = if server_role {
        Mux::server(cfg, move |_: &TransportInfo| echo(&l2))
    } else {
        let initial = echo(&logs);
        Mux::client(
            cfg.close_when_idle(rng.chance(0.5)),
            move |_: &TransportInfo| echo(&l2),
        )
        .with_initial(initial)
    };
    let shown = describe(&script);
    let mut pair = Pair::new(Raw(script), mux).chunking(chunking);
    if !pair.run() {
        let apps: Vec<_> = logs.lock().unwrap().iter().map(|l| l.events()).collect();
        panic!(
            "seed {seed}: the pair did not finish: server role {server_role}, {chunking:?}, mux {:?}, raw lost {}, mux lost {}\n input: {shown}\n apps: {apps:?}",
            pair.b.proto,
            pair.a.is_lost(),
            pair.b.is_lost()
        );
    }
    let mut t = tally.lock().unwrap();
    t.cases += 1;
    t.failed += pair.b.proto.is_failed() as u64;
    for log in logs.lock().unwrap().iter() {
        if let Some(r) = log.lost_reason() {
            t.subchannels += 1;
            let key = r.split(':').nth(1).unwrap_or(&r).trim().to_string();
            let key: String = key.chars().take_while(|c| !c.is_ascii_digit()).collect();
            *t.reasons.entry(key).or_default() += 1;
        }
    }
    drop(t);
    for (i, log) in logs.lock().unwrap().iter().enumerate() {
        if log.events().is_empty() {
            // Built but never connected: the mux was gone before it could run.
            continue;
        }
        if let Err(e) = log.check_contract() {
            panic!("seed {seed}: subchannel app #{i} broke the contract: {e}");
        }
    }
}

#[test]
fn random_and_mutated_frames_never_break_the_mux() {
    let cases: u64 = std::env::var("STRATA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let first: u64 = std::env::var("STRATA_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let tally = Mutex::new(Tally::default());
    for seed in first..first + cases {
        let r = std::panic::catch_unwind(|| one_case(seed, &tally));
        if r.is_err() {
            panic!(
                "robustness case failed; replay with STRATA_FUZZ_SEED={seed} STRATA_FUZZ_CASES=1"
            );
        }
    }
    let t = tally.into_inner().unwrap();
    eprintln!(
        "{} cases: {} ended in a protocol error, {} subchannels ran",
        t.cases, t.failed, t.subchannels
    );
    for (reason, n) in &t.reasons {
        eprintln!("  {n:>8}  {reason}");
    }
}
