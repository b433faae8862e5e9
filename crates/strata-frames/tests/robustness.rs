//! Robustness: random and mutated frame streams fed to a command server
//! (both duplex modes) and to a client, over the harness, in random
//! chunkings. Whatever arrives, nothing panics, every connection ends, and
//! the memory each side holds stays within its limits.
//!
//! A small run is part of `cargo test`. For a long run:
//!
//! ```text
//! STRATA_FUZZ_CASES=100000 cargo test --release -p strata-frames --test robustness -- --nocapture
//! ```
//!
//! `STRATA_FUZZ_SEED=n` picks the first case's seed; a failure names the
//! seed of its case, so `STRATA_FUZZ_SEED=<seed> STRATA_FUZZ_CASES=1`
//! replays it.

mod common;

use common::Demo;
use strata_core::{Bytes, Protocol, Transport};
use strata_frames::{
    Call, Caller, ClientReactor, CommandServer, Duplex, Flags, Frame, FrameType, Framed, HalfClose,
    ServerConfig,
};
use strata_testing::rng::Rng;
use strata_testing::{Chunking, Pair};

/// Writes its script, half-closes, swallows what comes back.
struct Raw(Vec<u8>);

impl Protocol for Raw {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        t.write(Bytes::from(std::mem::take(&mut self.0)));
        t.close_write();
    }
    fn data_received(&mut self, _t: &mut dyn Transport, _d: Bytes) {}
}

fn bytes(rng: &mut Rng, max: usize) -> Bytes {
    let mut v = vec![0; rng.range(0, max)];
    if rng.chance(0.5) {
        rng.fill(&mut v);
    } else {
        v.fill(b'a' + rng.range(0, 25) as u8);
    }
    Bytes::from(v)
}

fn random_frame(rng: &mut Rng, out: &mut Vec<u8>) {
    let kind = FrameType::from_code(rng.range(1, 5) as u8).unwrap();
    let flags = if rng.chance(0.9) {
        Flags::from_bits(rng.range(0, 15) as u8 & kind.valid_flags())
    } else {
        Flags::from_bits(rng.range(0, 15) as u8)
    };
    let f = Frame::new(kind, flags, bytes(rng, 300));
    out.extend_from_slice(&f.to_bytes());
}

/// A plausible request stream (made by the client reactor) with random
/// frames thrown in now and then.
fn requests(rng: &mut Rng, max_frame: usize) -> Vec<u8> {
    let mut c = ClientReactor::new(max_frame);
    let mut out = Vec::new();
    for _ in 0..rng.range(1, 8) {
        if rng.chance(0.1) {
            random_frame(rng, &mut out);
            continue;
        }
        let name: &[u8] = match rng.range(0, 4) {
            0 => b"echo",
            1 => b"hash",
            2 => b"fail",
            _ => b"nope",
        };
        let args: Vec<(Bytes, Bytes)> = (0..rng.range(0, 3))
            .map(|i| {
                let max = if rng.chance(0.1) { 3000 } else { 50 };
                (Bytes::from(format!("k{i}")), bytes(rng, max))
            })
            .collect();
        let data = rng.chance(0.6);
        let Ok((frames, sender)) = c.command(name, &args, data) else {
            continue;
        };
        let mut frames = frames;
        if let Some(mut s) = sender {
            for _ in 0..rng.range(0, 3) {
                s.push(&mut frames, bytes(rng, 2000), false);
            }
            s.push(&mut frames, Bytes::new(), true);
        }
        for f in frames {
            out.extend_from_slice(&f.to_bytes());
        }
    }
    out
}

/// A plausible response stream with random frames thrown in.
fn responses(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.range(0, 10) {
        let f = match rng.range(0, 9) {
            0..=3 => Frame::new(
                FrameType::BytesResponse,
                Flags::CONTINUATION,
                bytes(rng, 500),
            ),
            4..=6 => Frame::new(FrameType::BytesResponse, Flags::EOS, bytes(rng, 500)),
            7 => Frame::new(FrameType::ErrorResponse, Flags::APPLICATION, bytes(rng, 40)),
            _ => {
                random_frame(rng, &mut out);
                continue;
            }
        };
        out.extend_from_slice(&f.to_bytes());
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
            2 => v.insert(at, rng.next_u64() as u8),
            3 => {
                let end = (at + rng.range(1, 16)).min(v.len());
                v.drain(at..end);
            }
            4 => {
                let end = (at + rng.range(1, 64)).min(v.len());
                let dup: Vec<u8> = v[at..end].to_vec();
                v.splice(at..at, dup);
            }
            _ => v.truncate(at),
        }
    }
}

fn one_case(seed: u64) {
    let mut rng = Rng::new(seed);
    let chunking = match rng.range(0, 3) {
        0 => Chunking::Whole,
        1 => Chunking::Fixed(rng.range(1, 64)),
        _ => Chunking::Random {
            seed,
            max: rng.range(1, 3000),
        },
    };
    let max_frame = if rng.chance(0.5) {
        32 * 1024
    } else {
        rng.range(16, 600)
    };
    if rng.chance(0.7) {
        // A server fed requests.
        let mut script = requests(&mut rng, max_frame);
        if rng.chance(0.7) {
            mutate(&mut rng, &mut script);
        }
        let mut cfg = ServerConfig::new(if rng.chance(0.5) {
            Duplex::Full
        } else {
            Duplex::Half
        });
        cfg.max_frame = max_frame;
        cfg.max_args = 4;
        cfg.max_arg_bytes = 4096;
        cfg.max_pending = 16;
        cfg.max_deferred = 64 * 1024;
        let server =
            Framed::with_max_frame(CommandServer::with_config(cfg, Demo::default()), max_frame);
        let mut pair = Pair::new(Raw(script), server).chunking(chunking);
        assert!(pair.run(), "seed {seed}: the pair did not finish");
        let s = &pair.b.proto;
        assert!(
            s.peak_buffered() <= max_frame + 4,
            "seed {seed}: held {} bytes",
            s.peak_buffered()
        );
        assert!(s.app().reactor().held_bytes() <= 4096, "seed {seed}");
        assert!(
            s.app().reactor().deferred_bytes() <= 64 * 1024 + 1024,
            "seed {seed}"
        );
    } else {
        // A client fed responses.
        let mut script = responses(&mut rng);
        if rng.chance(0.7) {
            mutate(&mut rng, &mut script);
        }
        let calls = (0..rng.range(0, 4))
            .map(|_| Call::new("x").data(vec![1u8; 100]))
            .collect();
        let caller = Caller::new(calls, HalfClose::AfterSending);
        let mut pair =
            Pair::new(Framed::with_max_frame(caller, max_frame), Raw(script)).chunking(chunking);
        assert!(pair.run(), "seed {seed}: the pair did not finish");
        assert!(pair.a.proto.peak_buffered() <= max_frame + 4, "seed {seed}");
    }
}

#[test]
fn random_and_mutated_streams() {
    let cases: u64 = std::env::var("STRATA_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let first: u64 = std::env::var("STRATA_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    for seed in first..first + cases {
        let r = std::panic::catch_unwind(|| one_case(seed));
        if let Err(e) = r {
            eprintln!("failing case: STRATA_FUZZ_SEED={seed} STRATA_FUZZ_CASES=1");
            std::panic::resume_unwind(e);
        }
    }
    eprintln!("{cases} cases from seed {first}: ok");
}
