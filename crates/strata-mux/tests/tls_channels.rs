//! TLS inside a mux subchannel passes the `channels()` capability through:
//! an app on TLS, on subchannel 1, opens a sibling subchannel and both
//! exchanges complete.

use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use strata_core::{BoxProtocol, Bytes, Protocol, Transport, TransportInfo};
use strata_mux::{no_inbound, Config, Mux};
use strata_testing::conformance::{Log, Recorder};
use strata_testing::{Chunking, Pair};
use strata_tls::config::{client_config, server_config, Trust};
use strata_tls::rustls::pki_types::ServerName;
use strata_tls::{SelfSigned, TlsClient, TlsServer};

/// On connection_made, opens one sibling (running `sibling`) through
/// `t.channels()`, then says hello and half-closes.
struct Opener {
    sibling: Option<BoxProtocol>,
    opened: Arc<Mutex<Option<bool>>>,
}

impl Protocol for Opener {
    fn connection_made(&mut self, t: &mut dyn Transport) {
        let ok = match (t.channels(), self.sibling.take()) {
            (Some(ch), Some(p)) => ch.open_channel(p).is_ok(),
            _ => false,
        };
        *self.opened.lock().unwrap() = Some(ok);
        t.write_slice(b"over tls");
        t.close_write();
    }
    fn data_received(&mut self, _t: &mut dyn Transport, _d: Bytes) {}
}

#[test]
fn an_app_on_tls_in_a_subchannel_opens_a_sibling() {
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

    let sibling_log = Log::new();
    let sibling = Recorder::new(&sibling_log).on_made(|t| {
        t.write_slice(b"sibling");
        t.close_write();
    });
    let opened = Arc::new(Mutex::new(None));
    let app = Opener {
        sibling: Some(sibling.boxed()),
        opened: opened.clone(),
    };
    // Client: subchannel 1 runs TLS, with the opener on top.
    let client_mux = Mux::client(Config::default().close_when_idle(true), no_inbound())
        .with_initial(Box::new(client.wrap(app)));
    // Server: subchannel 1 is TLS over an echo-less recorder; later ones plain.
    let received: Arc<Mutex<Vec<Log>>> = Arc::default();
    let rx = received.clone();
    let mut first = true;
    let server_mux = Mux::server(Config::default(), move |_: &TransportInfo| -> BoxProtocol {
        let log = Log::new();
        rx.lock().unwrap().push(log.clone());
        let rec = Recorder::new(&log).on_read_closed(|t| t.close());
        if std::mem::take(&mut first) {
            Box::new(server.wrap(rec))
        } else {
            rec.boxed()
        }
    });
    let mut pair =
        Pair::new(client_mux, server_mux).chunking(Chunking::Random { seed: 5, max: 700 });
    assert!(pair.run(), "the connection did not finish");
    assert_eq!(
        *opened.lock().unwrap(),
        Some(true),
        "channels() reached the mux through TLS"
    );
    let logs = received.lock().unwrap();
    assert_eq!(logs.len(), 2, "two subchannels arrived");
    let mut got: Vec<Vec<u8>> = logs.iter().map(Log::received).collect();
    got.sort();
    assert_eq!(got, vec![b"over tls".to_vec(), b"sibling".to_vec()]);
    assert_eq!(sibling_log.lost(), Some("done"));
}
