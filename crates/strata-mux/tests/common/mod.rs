//! Shared by the integration tests: the mux as a conformance-suite layer.

#![allow(dead_code)]

use strata_core::{BoxProtocol, TransportInfo};
use strata_mux::{no_inbound, Config, Mux};
use strata_testing::conformance::{Caps, Layered, PairRunner};

/// The client side: a mux client running the test's client protocol on
/// subchannel 1, closing the connection when it is done.
pub fn client_mux(cfg: Config, p: BoxProtocol) -> Mux {
    Mux::client(cfg.close_when_idle(true), no_inbound()).with_initial(p)
}

/// The server side: a mux server handing the test's server protocol to
/// the first inbound subchannel (and refusing any other).
pub fn server_mux(cfg: Config, p: BoxProtocol) -> Mux {
    let mut slot = Some(p);
    Mux::server(cfg, move |_: &TransportInfo| slot.take())
}

/// The conformance suite over a subchannel on `inner`. A mux RST is a
/// reset whatever the transport below, so resets are visible.
pub fn mux_over<R: PairRunner>(inner: R, cfg: Config) -> Layered<R> {
    let c2 = cfg.clone();
    Layered::new(
        inner,
        "mux",
        move |p| Box::new(client_mux(cfg.clone(), p)),
        move |p| Box::new(server_mux(c2.clone(), p)),
    )
    .with_caps(Caps {
        resets_visible: true,
    })
}
