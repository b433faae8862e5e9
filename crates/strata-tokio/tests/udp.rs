//! The datagram driver over UDP.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::within;
use strata_core::{Bytes, DatagramProtocol, DatagramTransport, Reason, TimerId};
use strata_tokio::{bind_udp, Endpoint};

struct UdpEcho;

impl DatagramProtocol for UdpEcho {
    fn datagram_received(&mut self, t: &mut dyn DatagramTransport, data: Bytes, from: SocketAddr) {
        t.send_to(data, from);
    }
}

#[derive(Default)]
struct Log {
    got: Vec<Vec<u8>>,
    timers: usize,
    stopped: Vec<String>,
}

struct Client {
    server: SocketAddr,
    log: Arc<Mutex<Log>>,
}

impl DatagramProtocol for Client {
    fn started(&mut self, t: &mut dyn DatagramTransport) {
        for i in 0..3u8 {
            t.send_to(Bytes::from(vec![i; 100 + i as usize]), self.server);
        }
        t.set_timer_after(Duration::from_millis(10));
    }
    fn datagram_received(&mut self, t: &mut dyn DatagramTransport, data: Bytes, from: SocketAddr) {
        assert_eq!(from, self.server);
        let mut log = self.log.lock().unwrap();
        log.got.push(data.to_vec());
        if log.got.len() == 3 && log.timers > 0 {
            t.close();
        }
    }
    fn timer_fired(&mut self, t: &mut dyn DatagramTransport, _: TimerId) {
        let mut log = self.log.lock().unwrap();
        log.timers += 1;
        if log.got.len() == 3 {
            t.close();
        }
    }
    fn stopped(&mut self, reason: Reason) {
        self.log
            .lock()
            .unwrap()
            .stopped
            .push(reason.kind().to_string());
    }
}

#[tokio::test]
async fn udp_echo_timers_and_stop_once() {
    let server = Endpoint::parse("udp:127.0.0.1:0")
        .unwrap()
        .bind_udp(UdpEcho)
        .await
        .unwrap();
    let log = Arc::new(Mutex::new(Log::default()));
    let client = bind_udp(
        "127.0.0.1:0",
        Client {
            server: server.local_addr(),
            log: log.clone(),
        },
    )
    .await
    .unwrap();
    assert!(within("client stopped", client.closed()).await.is_done());
    {
        let log = log.lock().unwrap();
        let mut got = log.got.clone();
        got.sort();
        assert_eq!(
            got,
            (0..3u8)
                .map(|i| vec![i; 100 + i as usize])
                .collect::<Vec<_>>()
        );
        assert_eq!(log.timers, 1);
        assert_eq!(log.stopped, ["done"]);
    }
    // A handle can reach the server; close stops it once.
    let n = server.call(|_, t| t.local_addr()).await.unwrap();
    assert_eq!(n, server.local_addr());
    server.close().unwrap();
    assert!(within("server stopped", server.closed()).await.is_done());
    assert!(server.close().is_err());
}
