//! The conformance suite, unchanged, over TLS on real sockets: TCP on
//! loopback and Unix sockets, driven by strata-tokio.

mod common;

use strata_testing::conformance::{Caps, Layered, PairRunner};
use strata_testing::conformance_suite;
use strata_tokio::testing::{TcpRunner, UnixRunner};

fn tls_over<R: PairRunner>(inner: R) -> Layered<R> {
    let (c, s) = (common::client(), common::server());
    Layered::new(
        inner,
        "tls",
        move |p| Box::new(c.wrap(p)),
        move |p| Box::new(s.wrap(p)),
    )
}

conformance_suite!(tls_tcp, tls_over(TcpRunner));
// A Unix socket cannot express a reset, but TLS can: an abort ends the
// stream without close_notify, which the peer sees as a truncation error.
conformance_suite!(
    tls_unix,
    tls_over(UnixRunner).with_caps(Caps {
        resets_visible: true
    })
);
