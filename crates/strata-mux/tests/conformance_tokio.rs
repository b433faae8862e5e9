//! The conformance suite, unchanged, over a mux subchannel on real sockets:
//! TCP on loopback and a Unix socket, driven by strata-tokio. A mux RST is
//! a reset even over a Unix socket, which has none of its own.

mod common;

use common::mux_over;
use strata_mux::Config;
use strata_testing::conformance_suite;
use strata_tokio::testing::{TcpRunner, UnixRunner};

conformance_suite!(mux_tcp, mux_over(TcpRunner, Config::default()));
conformance_suite!(mux_unix, mux_over(UnixRunner, Config::default()));
conformance_suite!(
    mux_in_mux_tcp,
    mux_over(mux_over(TcpRunner, Config::default()), Config::default())
);
