//! What the integration tests share: a handler with a few commands, and
//! TLS roles.

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};
use strata_frames::{Bytes, Command, Handler, Reply};
use strata_tls::config::{client_config, server_config, Trust};
use strata_tls::rustls::pki_types::ServerName;
use strata_tls::{SelfSigned, TlsClient, TlsServer};

/// `echo` streams its data back (or, without data, its arguments as
/// `k=v` lines); `hash` answers the SHA-256 hex of its data; `fail`
/// fails; anything else is unknown.
#[derive(Default)]
pub struct Demo {
    current: Current,
}

#[derive(Default)]
enum Current {
    #[default]
    None,
    Echo,
    Hash(Sha256),
}

impl Handler for Demo {
    fn command(&mut self, cmd: &Command, reply: &mut Reply<'_>) {
        self.current = Current::None;
        match &cmd.name[..] {
            b"echo" if cmd.has_data => self.current = Current::Echo,
            b"echo" => {
                let mut out = Vec::new();
                for (k, v) in &cmd.args {
                    out.extend_from_slice(k);
                    out.push(b'=');
                    out.extend_from_slice(v);
                    out.push(b'\n');
                }
                reply.finish(Bytes::from(out));
            }
            b"hash" if cmd.has_data => self.current = Current::Hash(Sha256::new()),
            b"hash" => reply.finish(Bytes::from(format!("{:x}", Sha256::digest(b"")))),
            b"fail" => {
                if cmd.has_data {
                    self.current = Current::None;
                }
                reply.fail("failed as asked");
            }
            other => reply.fail(&format!(
                "unknown command {:?}",
                String::from_utf8_lossy(other)
            )),
        }
    }

    fn data(&mut self, data: Bytes, eos: bool, reply: &mut Reply<'_>) {
        match &mut self.current {
            Current::Echo if eos => reply.finish(data),
            Current::Echo => reply.send(data),
            Current::Hash(h) => {
                h.update(&data);
                if eos {
                    let h = std::mem::take(h);
                    reply.finish(Bytes::from(format!("{:x}", h.finalize())));
                }
            }
            Current::None => {}
        }
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

pub fn roles() -> &'static (TlsClient, TlsServer) {
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
