use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// An endpoint address, whatever the kind of transport.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    /// An IP address and port (TCP, UDP).
    Inet(SocketAddr),
    /// A Unix domain socket path (possibly unnamed).
    Unix(Option<PathBuf>),
    /// An in-memory endpoint of the test harness, numbered.
    Memory(u64),
    /// An address this layer cannot name (a bridged tokio stream, say).
    Unknown,
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Inet(a) => write!(f, "{a}"),
            Addr::Unix(Some(p)) => write!(f, "unix:{}", p.display()),
            Addr::Unix(None) => f.write_str("unix:(unnamed)"),
            Addr::Memory(n) => write!(f, "memory:{n}"),
            Addr::Unknown => f.write_str("(unknown)"),
        }
    }
}

/// What one layer of a stack knows about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's short name: `tcp`, `unix`, `memory`, `tls`, `mux`, ...
    pub name: &'static str,
    /// Bytes this layer holds, written but not yet handed below.
    pub buffered: usize,
    /// Bytes received from below, if the layer counts them.
    pub bytes_in: u64,
    /// Bytes handed below, if the layer counts them.
    pub bytes_out: u64,
    /// Facts the layer chooses to publish, as `(key, value)`: the TLS
    /// version and cipher suite, a subchannel id, ...
    pub facts: Vec<(&'static str, String)>,
}

impl LayerInfo {
    /// A layer with just a name.
    pub fn new(name: &'static str) -> Self {
        LayerInfo {
            name,
            ..Default::default()
        }
    }

    /// Add a fact (builder style).
    pub fn with_fact(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.facts.push((key, value.into()));
        self
    }

    /// Look a fact up by key.
    pub fn fact(&self, key: &str) -> Option<&str> {
        self.facts
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A snapshot of what a transport knows: the two addresses and the layers of
/// the stack beneath the asking protocol, **bottom first**.
///
/// Each layer's view builds it by asking the layer below and pushing its own
/// [`LayerInfo`], so a protocol on top of `tcp+tls+mux` sees three layers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportInfo {
    /// Our address.
    pub local: Addr,
    /// The peer's address.
    pub peer: Addr,
    /// The layers beneath the protocol that asked, bottom first.
    pub layers: Vec<LayerInfo>,
}

impl TransportInfo {
    /// A one-layer stack.
    pub fn new(local: Addr, peer: Addr, bottom: LayerInfo) -> Self {
        TransportInfo {
            local,
            peer,
            layers: vec![bottom],
        }
    }

    /// Add a layer on top (used by a layer's view).
    pub fn push(&mut self, layer: LayerInfo) {
        self.layers.push(layer);
    }

    /// The names of the layers, bottom first: `["tcp", "tls", "mux"]`.
    pub fn layer_names(&self) -> Vec<&'static str> {
        self.layers.iter().map(|l| l.name).collect()
    }

    /// The topmost layer with this name.
    pub fn layer(&self, name: &str) -> Option<&LayerInfo> {
        self.layers.iter().rev().find(|l| l.name == name)
    }

    /// A fact from the topmost layer that has it.
    pub fn fact(&self, key: &str) -> Option<&str> {
        self.layers.iter().rev().find_map(|l| l.fact(key))
    }

    /// Bytes buffered in all layers together.
    pub fn total_buffered(&self) -> usize {
        self.layers.iter().map(|l| l.buffered).sum()
    }
}

impl fmt::Display for TransportInfo {
    /// The stack top to bottom, one layer a line, as `strata tour` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} <-> {}", self.local, self.peer)?;
        for l in self.layers.iter().rev() {
            write!(
                f,
                "  {:<8} in={:<10} out={:<10} buffered={}",
                l.name, l.bytes_in, l.bytes_out, l.buffered
            )?;
            for (k, v) in &l.facts {
                write!(f, " {k}={v}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
