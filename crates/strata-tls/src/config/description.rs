//! `tls:...` description segments: the one word that puts TLS in a stack.
//!
//! ```text
//! client  tls:ca=ca.pem,name=localhost        verify against ca.pem, for "localhost"
//!         tls:pin=<sha256 hex>                accept exactly that certificate
//!         tls:insecure                        accept anything (loud warning)
//!         ...,cert=me.pem,key=me.key          present a client certificate
//! server  tls:cert=cert.pem,key=key.pem       present this certificate
//!         tls:self-signed                     make one now (print its fingerprint)
//!         tls:self-signed=example.com;10.0.0.1   ... for these names
//!         ...,client-ca=ca.pem                require client certificates (mutual TLS)
//! both    alpn=h2;http/1.1                    ALPN protocols, in order of preference
//! ```
//!
//! Lists inside a value are separated by `;`, since `,` separates options
//! and `+` separates segments. `sni=` is another spelling of `name=`.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use strata_core::{DescriptionError, Segment};

use super::{client_config, load_certs, load_key, load_roots, server_config};
use super::{parse_fingerprint, Identity, SelfSigned, Trust};
use crate::{Side, TlsClient, TlsLayer, TlsServer};

/// The options a client `tls:` segment takes.
pub const CLIENT_OPTIONS: &[&str] = &[
    "ca", "name", "sni", "pin", "insecure", "cert", "key", "alpn",
];
/// The options a server `tls:` segment takes.
pub const SERVER_OPTIONS: &[&str] = &["cert", "key", "self-signed", "client-ca", "alpn"];

const CLIENT_EXPECTED: &str =
    "for a client: ca=FILE[,name=HOST] | pin=SHA256 | insecure, and optionally cert=FILE,key=FILE, alpn=P1;P2";
const SERVER_EXPECTED: &str =
    "for a server: cert=FILE,key=FILE | self-signed[=NAME;NAME], and optionally client-ca=FILE, alpn=P1;P2";

/// What a `tls:` segment configures.
#[derive(Clone, Debug)]
pub struct Configured {
    /// The layer, ready to wrap protocols.
    pub layer: TlsLayer,
    /// For `tls:self-signed`, the certificate made for it; print its
    /// [`fingerprint`](SelfSigned::fingerprint) so clients can pin it.
    pub self_signed: Option<SelfSigned>,
}

impl Configured {
    /// The self-signed certificate's SHA-256 fingerprint, if one was made.
    pub fn fingerprint(&self) -> Option<&str> {
        self.self_signed.as_ref().map(|s| s.fingerprint())
    }
}

/// Turn a `tls:...` segment into a TLS layer for `side`.
///
/// `default_name` is the server name a client verifies when the segment
/// gives no `name=` — typically the host of the endpoint below
/// (`tcp:example.com:443+tls:ca=...`). Every error quotes the segment and
/// says what was expected.
pub fn from_segment(
    seg: &Segment,
    side: Side,
    default_name: Option<&str>,
) -> Result<Configured, DescriptionError> {
    if seg.name != "tls" {
        return Err(seg.error(
            format!("\"{}\" is not a TLS layer", seg.name),
            "tls:OPTIONS",
        ));
    }
    let (mine, theirs, expected) = match side {
        Side::Client => (CLIENT_OPTIONS, SERVER_OPTIONS, CLIENT_EXPECTED),
        Side::Server => (SERVER_OPTIONS, CLIENT_OPTIONS, SERVER_EXPECTED),
    };
    for o in &seg.options {
        if !mine.contains(&o.key.as_str()) {
            let problem = if theirs.contains(&o.key.as_str()) {
                let role = if side == Side::Client {
                    "server"
                } else {
                    "client"
                };
                format!("option \"{}\" is only for a {role}", o.key)
            } else {
                format!("unknown option \"{}\"", o.key)
            };
            return Err(seg.error(problem, expected));
        }
    }
    let alpn = alpn(seg)?;
    match side {
        Side::Client => client(seg, default_name, alpn),
        Side::Server => server(seg, alpn),
    }
}

fn client(
    seg: &Segment,
    default_name: Option<&str>,
    alpn: Vec<Vec<u8>>,
) -> Result<Configured, DescriptionError> {
    let trusts = ["ca", "pin", "insecure"]
        .into_iter()
        .filter(|k| seg.has(k))
        .collect::<Vec<_>>();
    let trust =
        match trusts.as_slice() {
            [] => return Err(seg.error(
                "no way to verify the server is given",
                "ca=FILE (verify against a CA), pin=SHA256 (accept one certificate) or insecure",
            )),
            ["ca"] => Trust::Roots(
                load_roots(value(seg, "ca")?)
                    .map_err(|e| seg.error(e, "ca=FILE with PEM CA certificates"))?,
            ),
            ["pin"] => Trust::Pin(
                parse_fingerprint(value(seg, "pin")?).map_err(|e| seg.error(e, "pin=SHA256"))?,
            ),
            ["insecure"] => {
                if seg.get("insecure").is_some() {
                    return Err(seg.error("\"insecure\" takes no value", "the bare word insecure"));
                }
                tracing::warn!(
                    segment = seg.text(),
                    "tls:insecure: server certificates will NOT be verified"
                );
                Trust::Insecure
            }
            many => {
                return Err(seg.error(
                    format!("options {} exclude each other", many.join(", ")),
                    "exactly one of ca=FILE, pin=SHA256, insecure",
                ))
            }
        };
    let name = match (seg.get("name"), seg.get("sni")) {
        (Some(a), Some(b)) if a != b => {
            return Err(seg.error(
                format!("name=\"{a}\" and sni=\"{b}\" disagree"),
                "one server name (sni= is another spelling of name=)",
            ))
        }
        (Some(a), _) | (None, Some(a)) => Some(a),
        (None, None) => default_name,
    };
    let name: ServerName<'static> = match name {
        Some(n) => ServerName::try_from(n.to_string()).map_err(|_| {
            seg.error(
                format!("\"{n}\" is not a valid server name"),
                "name=HOST with a DNS name or an IP address",
            )
        })?,
        None if matches!(trust, Trust::Roots(_)) => {
            return Err(seg.error(
                "option \"name\" is missing: the certificate must be checked against a name",
                "name=HOST",
            ))
        }
        // Pinning and insecure mode check no name; an IP address sends no SNI.
        None => ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
    };
    let identity = identity(seg)?;
    let config = client_config(trust, identity, alpn)
        .map_err(|e| seg.error(e.to_string(), "a usable configuration"))?;
    let client = TlsClient::new(Arc::new(config), name)
        .map_err(|e| seg.error(e.to_string(), "a usable configuration"))?;
    Ok(Configured {
        layer: TlsLayer::Client(client),
        self_signed: None,
    })
}

fn server(seg: &Segment, alpn: Vec<Vec<u8>>) -> Result<Configured, DescriptionError> {
    if seg.has("self-signed") && (seg.has("cert") || seg.has("key")) {
        return Err(seg.error(
            "self-signed and cert=/key= exclude each other",
            "either cert=FILE,key=FILE or self-signed",
        ));
    }
    let (identity, self_signed) = match (identity(seg)?, seg.has("self-signed")) {
        (Some(id), _) => (id, None),
        (None, true) => {
            let names: Vec<String> = match seg.get("self-signed") {
                Some(list) => split_list(list),
                None => vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            };
            if names.is_empty() {
                return Err(seg.error(
                    "self-signed= lists no names",
                    "self-signed, or self-signed=NAME;NAME with DNS names or IP addresses",
                ));
            }
            let ss = SelfSigned::generate(&names).map_err(|e| {
                seg.error(
                    format!("cannot make a self-signed certificate: {e}"),
                    "self-signed[=NAME;NAME...] with DNS names or IP addresses",
                )
            })?;
            (ss.identity(), Some(ss))
        }
        (None, false) => {
            return Err(seg.error(
                "the server has no certificate",
                "cert=FILE,key=FILE or self-signed",
            ))
        }
    };
    let client_roots = match seg.get("client-ca") {
        Some(f) => Some(
            load_roots(f).map_err(|e| seg.error(e, "client-ca=FILE with PEM CA certificates"))?,
        ),
        None if seg.has("client-ca") => {
            return Err(seg.error("\"client-ca\" needs a file", "client-ca=FILE"))
        }
        None => None,
    };
    let config = server_config(identity, client_roots, alpn)
        .map_err(|e| seg.error(e.to_string(), "a certificate and a matching key"))?;
    let server = TlsServer::new(Arc::new(config))
        .map_err(|e| seg.error(e.to_string(), "a usable configuration"))?;
    Ok(Configured {
        layer: TlsLayer::Server(server),
        self_signed,
    })
}

/// `cert=` and `key=` together (or neither).
fn identity(seg: &Segment) -> Result<Option<Identity>, DescriptionError> {
    match (seg.has("cert"), seg.has("key")) {
        (false, false) => Ok(None),
        (true, true) => {
            let chain = load_certs(value(seg, "cert")?)
                .map_err(|e| seg.error(e, "cert=FILE with a PEM certificate chain"))?;
            let key = load_key(value(seg, "key")?)
                .map_err(|e| seg.error(e, "key=FILE with a PEM private key"))?;
            Ok(Some(Identity { chain, key }))
        }
        (true, false) => Err(seg.error("cert= is given without key=", "cert=FILE,key=FILE")),
        (false, true) => Err(seg.error("key= is given without cert=", "cert=FILE,key=FILE")),
    }
}

fn alpn(seg: &Segment) -> Result<Vec<Vec<u8>>, DescriptionError> {
    match seg.get("alpn") {
        None if seg.has("alpn") => Err(seg.error("\"alpn\" needs a value", "alpn=P1;P2")),
        None => Ok(Vec::new()),
        Some(list) => {
            let protos = split_list(list);
            if protos.is_empty() || protos.iter().any(|p| p.len() > 255) {
                return Err(seg.error(
                    format!("alpn=\"{list}\" is not a list of protocol names"),
                    "alpn=P1;P2 with names of 1 to 255 bytes, e.g. alpn=h2;http/1.1",
                ));
            }
            Ok(protos.into_iter().map(String::into_bytes).collect())
        }
    }
}

fn value<'a>(seg: &'a Segment, key: &str) -> Result<&'a str, DescriptionError> {
    seg.get(key).filter(|v| !v.is_empty()).ok_or_else(|| {
        seg.error(
            format!("option \"{key}\" needs a value"),
            format!("{key}=VALUE"),
        )
    })
}

fn split_list(list: &str) -> Vec<String> {
    list.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
