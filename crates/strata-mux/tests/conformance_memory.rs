//! The conformance suite, unchanged, over a mux subchannel on the in-memory
//! harness, under several chunkings, and over a subchannel of a mux that
//! itself runs on a subchannel.

mod common;

use common::mux_over;
use strata_mux::Config;
use strata_testing::conformance::MemoryRunner;
use strata_testing::{conformance_suite, Chunking};

fn memory(c: Chunking) -> impl strata_testing::conformance::PairRunner {
    mux_over(MemoryRunner::new(c), Config::default())
}

conformance_suite!(mux_memory_whole, memory(Chunking::Whole));
conformance_suite!(mux_memory_1_byte, memory(Chunking::Fixed(1)));
conformance_suite!(mux_memory_7_bytes, memory(Chunking::Fixed(7)));
conformance_suite!(
    mux_memory_random,
    memory(Chunking::Random {
        seed: 5,
        max: 40_000
    })
);
// Small frames: many frames per write, windows refilled often.
conformance_suite!(
    mux_memory_small_frames,
    mux_over(
        MemoryRunner::new(Chunking::Random { seed: 9, max: 3000 }),
        Config::default().frame_sizes(100, 1000)
    )
);
conformance_suite!(
    mux_in_mux_memory,
    mux_over(
        mux_over(
            MemoryRunner::new(Chunking::Random { seed: 3, max: 9000 }),
            Config::default()
        ),
        Config::default()
    )
);
