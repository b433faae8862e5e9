//! # strata-testing: run stacks without sockets, and prove every transport keeps the contract
//!
//! * [`harness`] — a deterministic, in-memory, duplex link between two
//!   stacks in the spirit of Twisted's `iosim`: bytes pumped in chosen or
//!   seeded-random chunk sizes down to one byte, a side that stops reading,
//!   a link that is cut or reset, and a virtual clock driving timers.
//! * [`datagram`] — the same for datagram transports, with seeded loss,
//!   duplication, reordering and delay.
//! * [`doubles`] — recording transport and protocol doubles for unit tests of
//!   a single layer.
//! * [`conformance`] — the one conformance suite: a set of scenarios that
//!   takes "a way to make a connected pair" ([`conformance::PairRunner`]) and
//!   checks the whole close contract. Every transport Strata provides runs it,
//!   unchanged, through the [`conformance_suite!`] macro.
//! * [`rng`] — a tiny seeded PRNG, so tests are reproducible without extra
//!   dependencies.

#![warn(missing_docs)]

pub mod conformance;
pub mod datagram;
pub mod doubles;
pub mod harness;
pub mod rng;

pub use harness::{Chunking, Pair};
