//! A certificate made on the spot, for `tls:self-signed`.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::Identity;
use crate::fingerprint;

/// A self-signed certificate and its key, generated in memory with rcgen.
///
/// Clients cannot verify it against a CA; they reach it safely by pinning
/// its [`fingerprint`](SelfSigned::fingerprint) (`tls:pin=...`), which the
/// server prints.
#[derive(Clone, Debug)]
pub struct SelfSigned {
    cert: CertificateDer<'static>,
    key_der: Vec<u8>,
    cert_pem: String,
    fingerprint: String,
}

impl SelfSigned {
    /// A fresh certificate for `names` (DNS names or IP addresses).
    pub fn generate(names: &[String]) -> Result<Self, rcgen::Error> {
        let ck = rcgen::generate_simple_self_signed(names.to_vec())?;
        let cert = ck.cert.der().clone();
        Ok(SelfSigned {
            fingerprint: fingerprint(&cert),
            cert_pem: ck.cert.pem(),
            key_der: ck.key_pair.serialize_der(),
            cert,
        })
    }

    /// A fresh certificate for `localhost`, `127.0.0.1` and `::1`.
    pub fn localhost() -> Result<Self, rcgen::Error> {
        Self::generate(&["localhost".into(), "127.0.0.1".into(), "::1".into()])
    }

    /// The SHA-256 fingerprint of the certificate, lowercase hex: give it to
    /// clients as `tls:pin=...`.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The certificate (DER).
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The certificate as PEM, for a client's `ca=` file.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The certificate and key as a server identity.
    pub fn identity(&self) -> Identity {
        Identity {
            chain: vec![self.cert.clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
        }
    }
}
