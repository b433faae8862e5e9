//! [`Endpoint`]: the bottom of a stack, from the endpoint part of a
//! description.
//!
//! | description        | connect                     | listen / bind                   |
//! |--------------------|-----------------------------|---------------------------------|
//! | `tcp:HOST:PORT`    | to HOST (name or IP)        | on HOST                         |
//! | `tcp:[IPV6]:PORT`  | to an IPv6 address          | on it                           |
//! | `tcp:PORT`         | (an error: no host)         | on all interfaces (`0.0.0.0`)   |
//! | `unix:PATH`        | to the socket at PATH       | creates the socket at PATH      |
//! | `udp:HOST:PORT`    | —                           | [`bind_udp`](crate::bind_udp)s  |
//! | `udp:PORT`         | —                           | all interfaces                  |
//!
//! Layers after the endpoint (`+tls:...`) are not built here: the caller
//! takes [`Description::layers`] and builds them with their crates.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use strata_core::{Description, DescriptionError, Segment};

const TCP_FORMS: &str = "tcp:HOST:PORT or tcp:PORT";
const UDP_FORMS: &str = "udp:HOST:PORT or udp:PORT";
const KINDS: &str = "tcp:HOST:PORT, tcp:PORT, unix:PATH, udp:HOST:PORT or udp:PORT";

/// Where a stack's bottom transport connects or listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// TCP. `host` is `None` for `tcp:PORT` (listen on all interfaces).
    Tcp {
        /// A host name or IP address (IPv6 without brackets).
        host: Option<String>,
        /// The port; 0 lets the system choose when listening.
        port: u16,
    },
    /// A Unix stream socket at a path.
    Unix(PathBuf),
    /// UDP. `host` is `None` for `udp:PORT` (all interfaces).
    Udp {
        /// A host name or IP address (IPv6 without brackets).
        host: Option<String>,
        /// The port; 0 lets the system choose.
        port: u16,
    },
}

/// Why an endpoint could not be built, connected or bound.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The description is wrong; the message quotes the bad part.
    #[error(transparent)]
    Description(#[from] DescriptionError),
    /// The system refused (connection refused, address in use, ...).
    #[error("{what}: {source}")]
    Io {
        /// What was being done: `connecting to tcp:127.0.0.1:7000`.
        what: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

impl EndpointError {
    pub(crate) fn io(what: impl fmt::Display, source: std::io::Error) -> Self {
        EndpointError::Io {
            what: what.to_string(),
            source,
        }
    }
}

impl Endpoint {
    /// Build an endpoint from the endpoint segment of a description.
    pub fn from_segment(seg: &Segment) -> Result<Self, DescriptionError> {
        match seg.name.as_str() {
            "tcp" => {
                let (host, port) = host_port(seg, TCP_FORMS)?;
                Ok(Endpoint::Tcp { host, port })
            }
            "udp" => {
                let (host, port) = host_port(seg, UDP_FORMS)?;
                Ok(Endpoint::Udp { host, port })
            }
            "unix" => {
                let path = seg.args_unescaped();
                if path.is_empty() {
                    return Err(seg.error("the socket path is missing", "unix:PATH"));
                }
                Ok(Endpoint::Unix(PathBuf::from(path)))
            }
            other => Err(seg.error(format!("endpoint kind \"{other}\" is unknown"), KINDS)),
        }
    }

    /// Parse a description that must be an endpoint alone (no layers).
    pub fn parse(desc: &str) -> Result<Self, DescriptionError> {
        let (ep, layers) = Self::parse_with_layers(desc)?;
        if let Some(l) = layers.first() {
            return Err(DescriptionError::new(
                desc,
                format!("layer \"{}\" cannot be built by strata-tokio", l.name),
                "an endpoint alone here; build layers with their crates",
            ));
        }
        Ok(ep)
    }

    /// Parse a description into its endpoint and the layers left for the
    /// caller to build, bottom first.
    pub fn parse_with_layers(desc: &str) -> Result<(Self, Vec<Segment>), DescriptionError> {
        let d = Description::parse(desc)?;
        Ok((Self::from_segment(&d.endpoint)?, d.layers))
    }

    /// The host to connect to, or an error for `tcp:PORT` / `udp:PORT`.
    pub(crate) fn connect_host(&self) -> Result<&str, DescriptionError> {
        match self {
            Endpoint::Tcp { host: Some(h), .. } | Endpoint::Udp { host: Some(h), .. } => Ok(h),
            _ => Err(DescriptionError::new(
                self.to_string(),
                "connecting needs a host",
                "tcp:HOST:PORT",
            )),
        }
    }

    /// The host to listen on: the given one, or all interfaces.
    pub(crate) fn listen_host(host: &Option<String>) -> &str {
        host.as_deref().unwrap_or("0.0.0.0")
    }
}

impl FromStr for Endpoint {
    type Err = DescriptionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(s)
    }
}

impl fmt::Display for Endpoint {
    /// The endpoint as a description: `tcp:[::1]:7000`, `unix:/run/x.sock`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hp = |f: &mut fmt::Formatter<'_>, kind, host: &Option<String>, port| match host {
            Some(h) if h.contains(':') => write!(f, "{kind}:[{h}]:{port}"),
            Some(h) => write!(f, "{kind}:{h}:{port}"),
            None => write!(f, "{kind}:{port}"),
        };
        match self {
            Endpoint::Tcp { host, port } => hp(f, "tcp", host, *port),
            Endpoint::Udp { host, port } => hp(f, "udp", host, *port),
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl From<SocketAddr> for Endpoint {
    /// A TCP endpoint at `addr`.
    fn from(addr: SocketAddr) -> Self {
        Endpoint::Tcp {
            host: Some(addr.ip().to_string()),
            port: addr.port(),
        }
    }
}

/// `HOST:PORT`, `[IPV6]:PORT` or `PORT`.
fn host_port(seg: &Segment, forms: &str) -> Result<(Option<String>, u16), DescriptionError> {
    let args = seg.args.as_str();
    if args.is_empty() {
        return Err(seg.error("the port is missing", forms));
    }
    let (host, port) = if let Some(rest) = args.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return Err(seg.error(format!("\"{args}\" has no closing \"]\""), forms));
        };
        if ip.parse::<Ipv6Addr>().is_err() {
            return Err(seg.error(format!("host \"[{ip}]\" is not an IPv6 address"), forms));
        }
        let Some(port) = after.strip_prefix(':') else {
            return Err(seg.error(format!("the port after \"[{ip}]\" is missing"), forms));
        };
        (Some(ip.to_string()), port)
    } else {
        match args.split_once(':') {
            None => (None, args),
            Some((host, _)) if args.matches(':').count() > 1 => {
                let _ = host;
                return Err(seg.error(
                    format!("\"{args}\" has too many colons (an IPv6 host goes in brackets)"),
                    "tcp:[::1]:PORT for IPv6",
                ));
            }
            Some((host, port)) => {
                check_host(seg, host, forms)?;
                (Some(host.to_string()), port)
            }
        }
    };
    let port = parse_port(seg, port, forms)?;
    Ok((host, port))
}

fn check_host(seg: &Segment, host: &str, forms: &str) -> Result<(), DescriptionError> {
    if host.is_empty() {
        return Err(seg.error("the host before the port is empty", forms));
    }
    let name_ok = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        && !host.starts_with(['-', '.']);
    if host.parse::<IpAddr>().is_ok() || name_ok {
        Ok(())
    } else {
        Err(seg.error(
            format!("host \"{host}\" is not a host name or an IP address"),
            forms,
        ))
    }
}

fn parse_port(seg: &Segment, port: &str, forms: &str) -> Result<u16, DescriptionError> {
    if port.is_empty() {
        return Err(seg.error("the port is missing", forms));
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(seg.error(format!("port \"{port}\" is not a number"), forms));
    }
    port.parse::<u16>()
        .map_err(|_| seg.error(format!("port \"{port}\" is out of range (0-65535)"), forms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let tcp = |h: Option<&str>, port| Endpoint::Tcp {
            host: h.map(str::to_string),
            port,
        };
        assert_eq!(
            Endpoint::parse("tcp:127.0.0.1:7000").unwrap(),
            tcp(Some("127.0.0.1"), 7000)
        );
        assert_eq!(
            Endpoint::parse("tcp:localhost:1").unwrap(),
            tcp(Some("localhost"), 1)
        );
        assert_eq!(
            Endpoint::parse("tcp:[::1]:7000").unwrap(),
            tcp(Some("::1"), 7000)
        );
        assert_eq!(Endpoint::parse("tcp:7000").unwrap(), tcp(None, 7000));
        assert_eq!(
            Endpoint::parse("unix:/tmp/x.sock").unwrap(),
            Endpoint::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Endpoint::parse("udp:0").unwrap(),
            Endpoint::Udp {
                host: None,
                port: 0
            }
        );
        for s in [
            "tcp:[::1]:7000",
            "tcp:h:1",
            "tcp:9",
            "unix:/a/b",
            "udp:[::]:53",
        ] {
            assert_eq!(Endpoint::parse(s).unwrap().to_string(), s);
        }
        let (ep, layers) = Endpoint::parse_with_layers("tcp:1.2.3.4:5+tls:name=x+mux").unwrap();
        assert_eq!(ep, tcp(Some("1.2.3.4"), 5));
        assert_eq!(layers.len(), 2);
    }

    #[test]
    fn errors_quote_the_bad_part() {
        let e = |s: &str| Endpoint::parse(s).unwrap_err().to_string();
        assert_eq!(
            e("tcp:127.0.0.1:notaport"),
            r#"in "tcp:127.0.0.1:notaport": port "notaport" is not a number (expected tcp:HOST:PORT or tcp:PORT)"#
        );
        assert_eq!(
            e("tcp:127.0.0.1:"),
            r#"in "tcp:127.0.0.1:": the port is missing (expected tcp:HOST:PORT or tcp:PORT)"#
        );
        assert_eq!(
            e("tcp"),
            r#"in "tcp": the port is missing (expected tcp:HOST:PORT or tcp:PORT)"#
        );
        assert!(e("tcp:99999").contains(r#"port "99999" is out of range"#));
        assert!(e("tcp:ho st:1").contains(r#"host "ho st" is not a host name"#));
        assert!(e("tcp:[::1:7000").contains("no closing"));
        assert!(e("tcp:[zz]:7000").contains(r#"host "[zz]" is not an IPv6 address"#));
        assert!(e("tcp:::1:7000").contains("too many colons"));
        assert!(e("tcp:[::1]").contains("the port after"));
        assert!(e("unix:").contains("the socket path is missing"));
        assert_eq!(
            e("sctp:1"),
            r#"in "sctp:1": endpoint kind "sctp" is unknown (expected tcp:HOST:PORT, tcp:PORT, unix:PATH, udp:HOST:PORT or udp:PORT)"#
        );
        assert!(e("tcp:1+tls").contains(r#"layer "tls" cannot be built by strata-tokio"#));
    }
}
