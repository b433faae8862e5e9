//! Why a TLS connection failed, in words a user can act on.

use rustls::{CertificateError, Error as RustlsError};

/// The error behind a [`Reason::Error`](strata_core::Reason::Error) that the
/// TLS layer hands its protocol, or a layer that could not be built.
///
/// The rustls error, where there is one, is the [`source`](std::error::Error::source),
/// so a caller can match on it; the message says what happened in plain words
/// (`the peer's certificate has expired`, not `InvalidCertificate(Expired)`).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The handshake failed: a certificate was refused, no common version or
    /// cipher suite, an alert from the peer, or bytes that are not TLS at all.
    /// The alert rustls chose (if any) was sent to the peer first.
    #[error("TLS handshake failed: {}", explain(.0))]
    Handshake(#[source] RustlsError),
    /// The connection failed after the handshake: a bad record, a decryption
    /// failure, an alert from the peer.
    #[error("TLS connection failed: {}", explain(.0))]
    Protocol(#[source] RustlsError),
    /// The peer sent bytes rustls could not even buffer (a record or a
    /// handshake message over the size limits).
    #[error("TLS connection failed: {0}")]
    Framing(#[source] std::io::Error),
    /// The transport below reached end-of-stream before the peer's
    /// `close_notify`: the data may have been cut short by an attacker or a
    /// crash, so this is never a clean end.
    #[error("TLS stream truncated: the transport closed without a TLS close_notify")]
    Truncated,
    /// The transport below reached end-of-stream during the handshake.
    #[error("TLS handshake failed: the connection closed before the handshake completed")]
    HandshakeEof,
    /// A rustls configuration could not start a connection (a programming
    /// error, found when the [`TlsClient`](crate::TlsClient) or
    /// [`TlsServer`](crate::TlsServer) is built, never per connection).
    #[error("TLS configuration rejected: {0}")]
    Config(#[source] RustlsError),
}

/// A rustls error in plain words, with the likely fix where there is one.
pub fn explain(e: &RustlsError) -> String {
    use CertificateError as C;
    match e {
        RustlsError::InvalidCertificate(c) => match c {
            C::Expired | C::ExpiredContext { .. } => {
                "the peer's certificate has expired".to_string()
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the peer's certificate is not valid yet (check the clocks)".to_string()
            }
            C::UnknownIssuer => {
                "the peer's certificate is signed by an unknown certificate authority \
                 (give its CA with ca=FILE, or pin it with pin=SHA256)"
                    .to_string()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                "the peer's certificate is not valid for the name we asked for ({c:?}); \
                 set name=... to a name the certificate lists"
            ),
            C::BadSignature => "the peer's certificate has a bad signature".to_string(),
            C::Revoked => "the peer's certificate is revoked".to_string(),
            C::Other(o) => format!("the peer's certificate was refused: {o}"),
            other => format!("the peer's certificate was refused: {other:?}"),
        },
        RustlsError::AlertReceived(a) => format!("the peer sent the alert {a:?}"),
        RustlsError::NoCertificatesPresented => {
            "the peer presented no certificate (a client certificate is required)".to_string()
        }
        RustlsError::InvalidMessage(m) => {
            format!("the peer sent something that is not valid TLS ({m:?})")
        }
        RustlsError::DecryptError => "a record failed to decrypt".to_string(),
        RustlsError::PeerIncompatible(p) => format!("no common ground with the peer ({p:?})"),
        RustlsError::PeerMisbehaved(p) => format!("the peer broke the TLS protocol ({p:?})"),
        RustlsError::NoApplicationProtocol => {
            "no ALPN protocol in common with the peer".to_string()
        }
        other => other.to_string(),
    }
}
