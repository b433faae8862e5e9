//! What a completed handshake established, published through
//! [`Transport::info`](strata_core::Transport::info) as a `tls` layer.

use rustls::pki_types::CertificateDer;
use rustls::Connection;
use sha2::{Digest, Sha256};
use strata_core::LayerInfo;

/// The SHA-256 fingerprint of a DER certificate, as lowercase hex without
/// separators: what `tls:pin=...` takes and `tls:self-signed` prints.
pub fn fingerprint(cert: &[u8]) -> String {
    hex(&Sha256::digest(cert))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Handshake facts, captured once when the handshake completes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Facts {
    role: &'static str,
    version: String,
    cipher: String,
    alpn: Option<String>,
    sni: Option<String>,
    peer_chain: Vec<String>,
}

impl Facts {
    pub fn capture(conn: &Connection, client_sni: Option<&str>) -> Self {
        let (role, sni) = match conn {
            Connection::Client(_) => ("client", client_sni.map(str::to_string)),
            Connection::Server(s) => ("server", s.server_name().map(str::to_string)),
        };
        Facts {
            role,
            version: conn
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            cipher: conn
                .negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite()))
                .unwrap_or_default(),
            alpn: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            sni,
            peer_chain: conn
                .peer_certificates()
                .unwrap_or_default()
                .iter()
                .map(|c: &CertificateDer<'_>| fingerprint(c))
                .collect(),
        }
    }

    /// Add the facts to a `tls` layer description. Keys:
    /// `role` (`client`/`server`), `version` (`TLSv1_3`), `cipher`
    /// (`TLS13_AES_128_GCM_SHA256`), `alpn`, `sni`, `peer-cert-sha256` (the
    /// end-entity certificate's fingerprint), `peer-chain-sha256` (every
    /// certificate of the peer's chain, `;`-separated, end-entity first).
    pub fn publish(&self, info: &mut LayerInfo) {
        info.facts.push(("role", self.role.to_string()));
        info.facts.push(("version", self.version.clone()));
        info.facts.push(("cipher", self.cipher.clone()));
        if let Some(a) = &self.alpn {
            info.facts.push(("alpn", a.clone()));
        }
        if let Some(s) = &self.sni {
            info.facts.push(("sni", s.clone()));
        }
        if let Some(ee) = self.peer_chain.first() {
            info.facts.push(("peer-cert-sha256", ee.clone()));
            info.facts
                .push(("peer-chain-sha256", self.peer_chain.join(";")));
        }
    }
}
