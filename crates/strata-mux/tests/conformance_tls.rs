//! The conformance suite, unchanged, over a mux subchannel on TLS: on the
//! in-memory harness and on TCP (`tcp+tls+mux`, as a real stack runs).

mod common;

use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};
use strata_mux::Config;
use strata_testing::conformance::{Layered, MemoryRunner, PairRunner};
use strata_testing::{conformance_suite, Chunking};
use strata_tls::config::{client_config, server_config, Trust};
use strata_tls::rustls::pki_types::ServerName;
use strata_tls::{SelfSigned, TlsClient, TlsServer};
use strata_tokio::testing::TcpRunner;

fn roles() -> &'static (TlsClient, TlsServer) {
    static ROLES: OnceLock<(TlsClient, TlsServer)> = OnceLock::new();
    ROLES.get_or_init(|| {
        let ss = SelfSigned::localhost().unwrap();
        let pin: [u8; 32] = Sha256::digest(ss.cert().as_ref()).into();
        let server = TlsServer::new(Arc::new(
            server_config(ss.identity(), None, vec![]).unwrap(),
        ))
        .unwrap();
        let client = TlsClient::new(
            Arc::new(client_config(Trust::Pin(pin), None, vec![]).unwrap()),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        (client, server)
    })
}

fn tls_over<R: PairRunner>(inner: R) -> Layered<R> {
    let (c, s) = roles().clone();
    Layered::new(
        inner,
        "tls",
        move |p| Box::new(c.wrap(p)),
        move |p| Box::new(s.wrap(p)),
    )
}

conformance_suite!(
    mux_tls_memory,
    common::mux_over(
        tls_over(MemoryRunner::new(Chunking::Random {
            seed: 21,
            max: 9000
        })),
        Config::default()
    )
);
conformance_suite!(
    mux_tls_tcp,
    common::mux_over(tls_over(TcpRunner), Config::default())
);
