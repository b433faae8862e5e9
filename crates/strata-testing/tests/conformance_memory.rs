//! The conformance suite over the in-memory harness, under several
//! chunkings: whole writes, one byte at a time, an odd fixed size, and
//! seeded-random pieces.

use strata_testing::conformance::MemoryRunner;
use strata_testing::{conformance_suite, Chunking};

conformance_suite!(memory_whole, MemoryRunner::new(Chunking::Whole));
conformance_suite!(memory_1_byte, MemoryRunner::new(Chunking::Fixed(1)));
conformance_suite!(memory_7_bytes, MemoryRunner::new(Chunking::Fixed(7)));
conformance_suite!(
    memory_random,
    MemoryRunner::new(Chunking::Random {
        seed: 42,
        max: 3000
    })
);
