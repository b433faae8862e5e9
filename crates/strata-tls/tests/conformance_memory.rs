//! The conformance suite, unchanged, over TLS on the in-memory harness under
//! several chunkings, and over TLS inside TLS.

mod common;

use strata_testing::conformance::{Layered, MemoryRunner, PairRunner};
use strata_testing::{conformance_suite, Chunking};

/// TLS (client and server roles from the test PKI) over `inner`.
fn tls_over<R: PairRunner>(inner: R) -> Layered<R> {
    let (c, s) = (common::client(), common::server());
    Layered::new(
        inner,
        "tls",
        move |p| Box::new(c.wrap(p)),
        move |p| Box::new(s.wrap(p)),
    )
}

fn memory(c: Chunking) -> Layered<MemoryRunner> {
    tls_over(MemoryRunner::new(c))
}

conformance_suite!(tls_memory_whole, memory(Chunking::Whole));
conformance_suite!(tls_memory_1_byte, memory(Chunking::Fixed(1)));
conformance_suite!(tls_memory_7_bytes, memory(Chunking::Fixed(7)));
conformance_suite!(
    tls_memory_random,
    memory(Chunking::Random { seed: 7, max: 5000 })
);
conformance_suite!(tls_in_tls_memory_whole, tls_over(memory(Chunking::Whole)));
conformance_suite!(
    tls_in_tls_memory_random,
    tls_over(memory(Chunking::Random {
        seed: 11,
        max: 20_000
    }))
);
