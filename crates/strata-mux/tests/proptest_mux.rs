//! Property: for random sets of subchannels — opened at start, between
//! pumps, or from inside other subchannels' callbacks — each writing random
//! amounts, half-closing, closing, resetting or pausing, under random
//! chunkings and link capacities, every subchannel receives exactly the
//! bytes it should (a prefix where the other side reset or closed early),
//! both sides keep the close contract, and every subchannel ends with the
//! reason the table says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use strata_core::{BoxProtocol, Bytes, Transport, TransportInfo};
use strata_mux::{no_inbound, Config, Mux};
use strata_testing::conformance::{Log, Recorder};
use strata_testing::rng::pattern;
use strata_testing::{Chunking, Pair};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientEnd {
    CloseWrite,
    Close,
    Abort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerEnd {
    /// Half-close right after writing.
    CloseWrite,
    /// Half-close once the client has.
    WaitPeer,
    /// Abort in `connection_made`.
    Abort,
    /// Abort once this many bytes arrived (or at the client's FIN).
    AbortAfter(usize),
}

#[derive(Clone, Debug)]
struct Plan {
    client_writes: Vec<usize>,
    server_writes: Vec<usize>,
    client_end: ClientEnd,
    server_end: ServerEnd,
    /// Opened from the `connection_made` of an earlier plan's client app.
    parent: Option<usize>,
    /// Pumps before a root plan is opened.
    delay: bool,
    client_pauses: bool,
    server_pauses: bool,
}

fn plan() -> impl Strategy<Value = Plan> {
    let writes = || prop::collection::vec(0usize..4000, 0..5);
    (
        writes(),
        writes(),
        prop_oneof![
            4 => Just(ClientEnd::CloseWrite),
            2 => Just(ClientEnd::Close),
            1 => Just(ClientEnd::Abort)
        ],
        prop_oneof![
            3 => Just(ServerEnd::CloseWrite),
            3 => Just(ServerEnd::WaitPeer),
            1 => Just(ServerEnd::Abort),
            1 => (0usize..6000).prop_map(ServerEnd::AbortAfter)
        ],
        proptest::option::of(any::<usize>()),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(cw, sw, ce, se, parent, delay, cp, sp)| Plan {
            client_writes: cw,
            server_writes: sw,
            client_end: ce,
            server_end: se,
            parent,
            delay,
            client_pauses: cp,
            server_pauses: sp,
        })
}

fn plans() -> impl Strategy<Value = Vec<Plan>> {
    prop::collection::vec(plan(), 1..8).prop_map(|mut ps| {
        for (i, p) in ps.iter_mut().enumerate() {
            p.parent = match p.parent {
                Some(x) if i > 0 && x % 3 == 0 => Some(x % i),
                _ => None,
            };
        }
        ps
    })
}

fn chunking() -> impl Strategy<Value = Chunking> {
    prop_oneof![
        Just(Chunking::Whole),
        (1usize..40).prop_map(Chunking::Fixed),
        (any::<u64>(), 1usize..9000).prop_map(|(seed, max)| Chunking::Random { seed, max }),
    ]
}

fn data(i: usize, server: bool, sizes: &[usize]) -> Vec<u8> {
    pattern(1000 + 2 * i as u64 + server as u64, sizes.iter().sum())
}

fn write_pieces(t: &mut dyn Transport, data: &[u8], sizes: &[usize]) {
    let mut at = 0;
    for &n in sizes {
        t.write(Bytes::copy_from_slice(&data[at..at + n]));
        at += n;
    }
}

type Slots = Arc<Mutex<Vec<Option<BoxProtocol>>>>;
type Ids = Arc<Mutex<HashMap<u32, usize>>>;

fn client_app(i: usize, plans: &[Plan], log: &Log, slots: Slots, ids: Ids) -> BoxProtocol {
    let p = plans[i].clone();
    let children: Vec<usize> = (0..plans.len())
        .filter(|&j| plans[j].parent == Some(i))
        .collect();
    let d = data(i, false, &p.client_writes);
    Recorder::new(log)
        .on_made(move |t| {
            if p.client_pauses {
                t.pause_reading();
                t.set_timer_after(Duration::from_millis(5));
            }
            write_pieces(t, &d, &p.client_writes);
            for &j in &children {
                let child = slots.lock().unwrap()[j].take().unwrap();
                let id = t
                    .channels()
                    .expect("a subchannel offers channels")
                    .open_channel(child)
                    .expect("open from a callback");
                ids.lock().unwrap().insert(id, j);
            }
            match p.client_end {
                ClientEnd::CloseWrite => t.close_write(),
                ClientEnd::Close => t.close(),
                ClientEnd::Abort => t.abort(),
            }
        })
        .on_read_closed(|_| {})
        .on_timer(|t, _| t.resume_reading())
        .boxed()
}

fn server_app(i: usize, plan: &Plan, log: &Log) -> BoxProtocol {
    let p = plan.clone();
    let d = data(i, true, &p.server_writes);
    let mut seen = 0usize;
    let mut aborted = false;
    let abort_at = match p.server_end {
        ServerEnd::AbortAfter(n) => Some(n),
        _ => None,
    };
    Recorder::new(log)
        .on_made(move |t| {
            if p.server_pauses {
                t.pause_reading();
                t.set_timer_after(Duration::from_millis(5));
            }
            write_pieces(t, &d, &p.server_writes);
            match p.server_end {
                ServerEnd::CloseWrite => t.close_write(),
                ServerEnd::Abort => t.abort(),
                _ => {}
            }
        })
        .on_data(move |t, b| {
            seen += b.len();
            if abort_at.is_some_and(|n| seen >= n) && !aborted {
                aborted = true;
                t.abort();
            }
        })
        .on_read_closed(move |t| match p.server_end {
            ServerEnd::WaitPeer => t.close_write(),
            ServerEnd::AbortAfter(_) => t.abort(),
            _ => {}
        })
        .on_timer(|t, _| t.resume_reading())
        .boxed()
}

fn is_prefix(got: &[u8], of: &[u8]) -> bool {
    got.len() <= of.len() && got == &of[..got.len()]
}

fn check_plan(i: usize, p: &Plan, c: &Log, s: &Log) -> Result<(), TestCaseError> {
    let who = |side: &str| format!("plan {i} {side} {p:?}");
    c.check_contract()
        .map_err(|e| TestCaseError::fail(format!("{}: {e}", who("client"))))?;
    s.check_contract()
        .map_err(|e| TestCaseError::fail(format!("{}: {e}", who("server"))))?;
    let cdata = data(i, false, &p.client_writes);
    let sdata = data(i, true, &p.server_writes);
    let (cl, sl) = (c.lost().unwrap(), s.lost().unwrap());
    if p.client_end == ClientEnd::Abort {
        prop_assert_eq!(cl, "aborted", "{}", who("client"));
        prop_assert!(matches!(sl, "reset" | "aborted"), "{}: {sl}", who("server"));
        prop_assert_eq!(s.received_len(), 0, "{}", who("server"));
    } else if p.server_end == ServerEnd::Abort {
        prop_assert_eq!(sl, "aborted", "{}", who("server"));
        prop_assert!(matches!(cl, "reset" | "done"), "{}: {cl}", who("client"));
        prop_assert_eq!(c.received_len(), 0, "{}", who("client"));
    } else if let ServerEnd::AbortAfter(_) = p.server_end {
        prop_assert_eq!(sl, "aborted", "{}", who("server"));
        prop_assert!(matches!(cl, "reset" | "done"), "{}: {cl}", who("client"));
        prop_assert!(is_prefix(&s.received(), &cdata), "{}", who("server"));
        prop_assert!(is_prefix(&c.received(), &sdata), "{}", who("client"));
    } else {
        prop_assert_eq!(sl, "done", "{}", who("server"));
        prop_assert_eq!(cl, "done", "{}", who("client"));
        prop_assert!(
            s.received() == cdata,
            "{}: server got {} of {}",
            who("server"),
            s.received_len(),
            cdata.len()
        );
        if p.client_end == ClientEnd::CloseWrite {
            prop_assert!(
                c.received() == sdata,
                "{}: client got {} of {}",
                who("client"),
                c.received_len(),
                sdata.len()
            );
        } else {
            prop_assert!(is_prefix(&c.received(), &sdata), "{}", who("client"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_subchannel_gets_its_bytes_and_keeps_the_contract(
        plans in plans(),
        chunks in chunking(),
        capacity in 1usize..300_000,
        small_frames in any::<bool>(),
    ) {
        let n = plans.len();
        let clogs: Vec<Log> = (0..n).map(|_| Log::new()).collect();
        let slogs: Vec<Log> = (0..n).map(|_| Log::new()).collect();
        let slots: Slots = Arc::new(Mutex::new((0..n).map(|_| None).collect()));
        let ids: Ids = Arc::default();
        for (i, log) in clogs.iter().enumerate() {
            let app = client_app(i, &plans, log, slots.clone(), ids.clone());
            slots.lock().unwrap()[i] = Some(app);
        }
        let mut cfg = Config::default();
        if small_frames {
            cfg = cfg.frame_sizes(512, 2048);
        }
        let server_apps: Vec<Option<BoxProtocol>> =
            (0..n).map(|i| Some(server_app(i, &plans[i], &slogs[i]))).collect();
        let server_apps = Arc::new(Mutex::new(server_apps));
        let ids2 = ids.clone();
        let server = Mux::server(cfg.clone(), move |info: &TransportInfo| {
            let id: u32 = info.fact("stream")?.parse().ok()?;
            let i = *ids2.lock().unwrap().get(&id)?;
            server_apps.lock().unwrap()[i].take()
        });
        let client = Mux::client(cfg, no_inbound());
        let mut pair = Pair::new(client, server).chunking(chunks);
        pair.set_link_capacity(capacity);
        pair.start();
        for (i, p) in plans.iter().enumerate() {
            if p.parent.is_some() {
                continue;
            }
            if p.delay {
                pair.pump();
            }
            let app = slots.lock().unwrap()[i].take().unwrap();
            let id = pair.a.proto.open(&mut pair.a.t, app).unwrap();
            ids.lock().unwrap().insert(id, i);
            pair.a.t.settle(&mut pair.a.proto);
        }
        pair.a.proto.go_away(&mut pair.a.t);
        pair.a.t.settle(&mut pair.a.proto);
        prop_assert!(pair.run(), "the pair did not finish");
        for (i, p) in plans.iter().enumerate() {
            check_plan(i, p, &clogs[i], &slogs[i])?;
        }
        if std::env::var("MUX_PROPTEST_VERBOSE").is_ok() {
            let bytes: usize = slogs.iter().chain(&clogs).map(|l| l.received_len()).sum();
            let kinds: Vec<_> = clogs.iter().chain(&slogs).map(|l| l.lost().unwrap()).collect();
            eprintln!("{n} subchannels, {bytes} bytes, {kinds:?}");
        }
    }
}
