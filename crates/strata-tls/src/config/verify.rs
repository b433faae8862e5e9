//! Server-certificate verifiers for the cases a CA cannot cover: a pinned
//! certificate (`tls:pin=...`) and no verification at all (`tls:insecure`).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::facts::hex;

/// Parse a SHA-256 fingerprint: 64 hex digits, any case, optionally
/// separated by `:` (as `openssl x509 -fingerprint` prints them).
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let digits: String = s.chars().filter(|c| *c != ':').collect();
    if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "\"{s}\" is not a SHA-256 fingerprint (64 hex digits, ':' separators allowed)"
        ));
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).expect("checked hex");
    }
    Ok(out)
}

/// The pinned certificate was not the one presented.
#[derive(Debug, thiserror::Error)]
#[error("certificate fingerprint {got} does not match the pinned {want}")]
struct PinMismatch {
    got: String,
    want: String,
}

/// Accepts exactly one end-entity certificate, named by its SHA-256
/// fingerprint, whatever its issuer, names or dates — the way to reach a
/// self-signed server safely. The handshake signature is still checked, so
/// the peer must hold the certificate's private key.
#[derive(Debug)]
pub struct PinVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl PinVerifier {
    /// A verifier accepting the certificate whose SHA-256 is `pin`.
    pub fn new(pin: [u8; 32], provider: Arc<CryptoProvider>) -> Self {
        PinVerifier { pin, provider }
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let got: [u8; 32] = Sha256::digest(end_entity).into();
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            let e = PinMismatch {
                got: hex(&got),
                want: hex(&self.pin),
            };
            Err(Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(e)),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Accepts any server certificate, logging a warning each time. The
/// handshake signature is still checked (it costs nothing and keeps the
/// handshake honest), but without verifying *whose* key it is this protects
/// against nothing: for tests and diagnostics only.
#[derive(Debug)]
pub struct InsecureVerifier {
    provider: Arc<CryptoProvider>,
}

impl InsecureVerifier {
    /// An accept-anything verifier.
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        InsecureVerifier { provider }
    }
}

impl ServerCertVerifier for InsecureVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        tracing::warn!(
            server = ?server_name,
            fingerprint = %hex(&Sha256::digest(end_entity)),
            "tls:insecure: accepting the server's certificate WITHOUT VERIFYING IT; \
             anyone in the middle can read and change this connection"
        );
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
