//! The conformance suite, unchanged, over every transport strata-tokio
//! provides.

use strata_testing::conformance_suite;
use strata_tokio::testing::{BridgeRunner, DuplexRunner, TcpRunner, UnixRunner};

conformance_suite!(tcp, TcpRunner);
conformance_suite!(unix, UnixRunner);
conformance_suite!(duplex, DuplexRunner::default());
conformance_suite!(bridge, BridgeRunner);
