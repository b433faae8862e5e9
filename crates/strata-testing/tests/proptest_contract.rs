//! Property: for any write sizes and any chunking, the bytes received equal
//! the bytes sent, both ways, and each side's callbacks come in contract
//! order.

use proptest::prelude::*;
use strata_core::Bytes;
use strata_testing::conformance::{Event, Log, Recorder};
use strata_testing::{Chunking, Pair};

fn chunking() -> impl Strategy<Value = Chunking> {
    prop_oneof![
        Just(Chunking::Whole),
        (1usize..64).prop_map(Chunking::Fixed),
        (any::<u64>(), 1usize..5000).prop_map(|(seed, max)| Chunking::Random { seed, max }),
    ]
}

fn writes() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn bytes_arrive_intact_and_events_keep_contract_order(
        client_writes in writes(),
        server_writes in writes(),
        chunks in chunking(),
        capacity in 1usize..100_000,
        server_half_closes_first in any::<bool>(),
    ) {
        let (c, s) = (Log::new(), Log::new());
        let cw = client_writes.clone();
        let sw = server_writes.clone();
        let client = Recorder::new(&c)
            .on_made(move |t| {
                for w in &cw { t.write(Bytes::from(w.clone())); }
                t.close_write();
            })
            .on_read_closed(|_| {});
        let server = Recorder::new(&s)
            .on_made(move |t| {
                for w in &sw { t.write(Bytes::from(w.clone())); }
                if server_half_closes_first { t.close_write(); }
            })
            .on_read_closed(move |t| if !server_half_closes_first { t.close_write() });
        let mut pair = Pair::new(client, server).chunking(chunks);
        pair.set_link_capacity(capacity);
        prop_assert!(pair.run(), "pair did not finish");
        prop_assert_eq!(s.received(), client_writes.concat());
        prop_assert_eq!(c.received(), server_writes.concat());
        c.check_contract().map_err(TestCaseError::fail)?;
        s.check_contract().map_err(TestCaseError::fail)?;
        for log in [&c, &s] {
            prop_assert!(log.has(&Event::WriteClosed));
            prop_assert!(log.has(&Event::ReadClosed));
            prop_assert_eq!(log.lost(), Some("done"));
        }
    }
}
