//! Building rustls configurations: trust (CA roots, a pinned certificate,
//! or none), identities (certificate chain and key, from PEM files or made
//! on the spot), ALPN — in code, or from a `tls:...` description segment.
//!
//! Every configuration uses one crypto provider, [`provider`] (rustls's
//! `ring`), so that Strata and the peers it is compared with run the same
//! cryptography.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::TlsError;

mod description;
mod pem;
mod self_signed;
mod verify;

pub use description::{from_segment, Configured, CLIENT_OPTIONS, SERVER_OPTIONS};
pub use pem::{load_certs, load_key, load_roots};
pub use self_signed::SelfSigned;
pub use verify::{parse_fingerprint, InsecureVerifier, PinVerifier};

/// The crypto provider every Strata TLS configuration uses: rustls's `ring`.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain (end-entity first) and its private key: what a
/// server, or a client doing mutual TLS, presents.
#[derive(Debug)]
pub struct Identity {
    /// The chain, end-entity certificate first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The end-entity certificate's private key.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// How a client decides whether to believe the server's certificate.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Full verification: the chain must lead to one of these roots, be
    /// valid now, and name the server.
    Roots(RootCertStore),
    /// Accept exactly the end-entity certificate with this SHA-256
    /// fingerprint (the handshake signature is still verified).
    Pin([u8; 32]),
    /// Accept any certificate. Only for tests and diagnostics: it logs a
    /// warning for every connection.
    Insecure,
}

/// A client configuration: `trust`, optional client certificate
/// (`identity`, for mutual TLS), ALPN protocols in order of preference.
pub fn client_config(
    trust: Trust,
    identity: Option<Identity>,
    alpn: Vec<Vec<u8>>,
) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let builder = match trust {
        Trust::Roots(roots) => builder.with_root_certificates(roots),
        Trust::Pin(fp) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinVerifier::new(fp, provider))),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(InsecureVerifier::new(provider))),
    };
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain, id.key)
            .map_err(TlsError::Config)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn;
    Ok(config)
}

/// A server configuration presenting `identity`; with `client_roots`, a
/// client certificate leading to one of them is required (mutual TLS).
pub fn server_config(
    identity: Identity,
    client_roots: Option<RootCertStore>,
    alpn: Vec<Vec<u8>>,
) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let builder = match client_roots {
        Some(roots) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Config(rustls::Error::General(e.to_string())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(identity.chain, identity.key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = alpn;
    Ok(config)
}
