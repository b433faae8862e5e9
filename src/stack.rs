//! Stacks from one-line descriptions.
//!
//! `ENDPOINT(+LAYER)*` — an endpoint, then layers bottom first, each
//! `name[:options]`. The endpoint is built by [`strata_tokio::Endpoint`];
//! each layer by its crate. Swapping a layer in or out is changing one word
//! of the description: the app protocol on top does not change.
//!
//! A layer is applied as a wrapper around the protocol above it: for
//! `tcp:...+a+b`, the app is wrapped in `b`, which is wrapped in `a`, which
//! runs on TCP.
//!
//! `mux` is the one layer that makes one connection many: on a client it
//! runs the app on one subchannel (and closes the connection when that is
//! done); on a server every inbound subchannel gets its own app from the
//! factory given to [`Stack::listen`].

use std::fmt;
use std::sync::{Arc, Mutex};

use strata_core::{BoxProtocol, Description, DescriptionError, Segment, TransportInfo};
use strata_tokio::{Endpoint, EndpointError, Handle, Listener};

/// Which side of a connection a stack is built for: it decides, for
/// example, whether TLS acts as client or server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The side that connects.
    Client,
    /// The side that listens.
    Server,
}

/// The layers this build of Strata knows, for error messages.
pub const KNOWN_LAYERS: &str = "tls:OPTIONS, mux[:OPTIONS]";

/// The options a `mux:` segment takes.
const MUX_EXPECTED: &str = "mux or mux:window=BYTES,budget=BYTES,max-streams=N,keepalive=SECONDS";

/// One layer of a stack, built from its description segment.
#[derive(Clone, Debug)]
pub enum Layer {
    /// TLS (`tls:...`), client or server by the stack's role.
    Tls(strata_tls::Configured),
    /// A multiplexed connection (`mux`), yamux wire format.
    Mux(strata_mux::Config),
}

/// What sits above a layer while a stack is assembled: one protocol, or
/// (on a server, above a mux) a factory making one per subchannel.
enum Above {
    One(BoxProtocol),
    Many(SharedFactory),
}

/// An app factory shared by every connection of a listener.
type SharedFactory = Arc<Mutex<dyn FnMut(&TransportInfo) -> BoxProtocol + Send>>;

impl Above {
    fn into_one(self, info: &TransportInfo) -> BoxProtocol {
        match self {
            Above::One(p) => p,
            Above::Many(f) => (f.lock().unwrap_or_else(|e| e.into_inner()))(info),
        }
    }
}

fn mux_config(seg: &Segment, role: Role) -> Result<strata_mux::Config, DescriptionError> {
    let mut config = strata_mux::Config::default().close_when_idle(role == Role::Client);
    for o in &seg.options {
        let value = |what: &str| {
            o.value.as_deref().ok_or_else(|| {
                DescriptionError::new(
                    seg.to_string(),
                    format!("option \"{}\" needs a value ({what})", o.key),
                    MUX_EXPECTED,
                )
            })
        };
        let number = |what: &str| -> Result<u64, DescriptionError> {
            let v = value(what)?;
            v.parse().map_err(|_| {
                DescriptionError::new(
                    seg.to_string(),
                    format!("{} \"{v}\" is not a number", o.key),
                    MUX_EXPECTED,
                )
            })
        };
        match o.key.as_str() {
            "window" => {
                let w = number("bytes")?;
                if !(strata_mux::INITIAL_WINDOW as u64..=u32::MAX as u64).contains(&w) {
                    return Err(DescriptionError::new(
                        seg.to_string(),
                        format!(
                            "window {w} is outside {}..={}",
                            strata_mux::INITIAL_WINDOW,
                            u32::MAX
                        ),
                        MUX_EXPECTED,
                    ));
                }
                config = config.max_window(w as u32);
            }
            "budget" => config = config.receive_budget(number("bytes")?),
            "max-streams" => config = config.max_streams(number("a count")? as usize),
            "keepalive" => {
                config = config.keepalive(Some(std::time::Duration::from_secs(number("seconds")?)))
            }
            other => {
                return Err(DescriptionError::new(
                    seg.to_string(),
                    format!("unknown mux option \"{other}\""),
                    MUX_EXPECTED,
                ))
            }
        }
    }
    Ok(config)
}

impl Layer {
    /// Build the layer named by `seg` for `role`. `host` is the endpoint's
    /// host, the name a TLS client verifies when `name=` is not given.
    pub fn from_segment(
        seg: &Segment,
        role: Role,
        host: Option<&str>,
    ) -> Result<Layer, DescriptionError> {
        match seg.name.as_str() {
            "tls" => {
                let side = match role {
                    Role::Client => strata_tls::Side::Client,
                    Role::Server => strata_tls::Side::Server,
                };
                Ok(Layer::Tls(strata_tls::from_segment(seg, side, host)?))
            }
            "mux" => Ok(Layer::Mux(mux_config(seg, role)?)),
            other => Err(DescriptionError::new(
                seg.to_string(),
                format!("unknown layer \"{other}\""),
                format!("one of: {KNOWN_LAYERS}"),
            )),
        }
    }

    /// The layer's short name.
    pub fn name(&self) -> &'static str {
        match self {
            Layer::Tls(_) => "tls",
            Layer::Mux(_) => "mux",
        }
    }

    /// Put this layer under `above`: one protocol (a mux runs it on its
    /// first subchannel).
    pub fn wrap(&self, above: BoxProtocol) -> BoxProtocol {
        match self {
            Layer::Tls(c) => c.layer.wrap_boxed(above),
            Layer::Mux(config) => Box::new(
                strata_mux::Mux::client(config.clone(), strata_mux::no_inbound())
                    .with_initial(above),
            ),
        }
    }

    fn wrap_above(&self, above: Above, role: Role, info: &TransportInfo) -> BoxProtocol {
        match (self, above) {
            (Layer::Mux(config), Above::Many(f)) if role == Role::Server => Box::new(
                strata_mux::Mux::server(config.clone(), move |i: &TransportInfo| {
                    (f.lock().unwrap_or_else(|e| e.into_inner()))(i)
                }),
            ),
            (layer, above) => layer.wrap(above.into_one(info)),
        }
    }

    /// Something a user must see when the stack starts: the fingerprint of a
    /// certificate made on the spot (`tls:self-signed`), for clients to pin.
    pub fn notice(&self) -> Option<String> {
        match self {
            Layer::Tls(c) => c
                .fingerprint()
                .map(|f| format!("self-signed certificate, pin it with: tls:pin={f}")),
            Layer::Mux(_) => None,
        }
    }
}

/// Why a stack could not be built, connected or bound.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The description is wrong; the message quotes the bad part.
    #[error(transparent)]
    Description(#[from] DescriptionError),
    /// The endpoint could not connect or bind.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
}

/// A parsed description: an endpoint and the layers over it, ready to
/// connect or listen.
#[derive(Clone, Debug)]
pub struct Stack {
    /// Where the bottom transport connects or listens.
    pub endpoint: Endpoint,
    /// The layers, bottom first.
    pub layers: Vec<Layer>,
    /// The role it was built for.
    pub role: Role,
    text: String,
}

impl Stack {
    /// Parse `desc` and build its layers for `role`.
    pub fn parse(desc: &str, role: Role) -> Result<Stack, StackError> {
        let d = Description::parse(desc)?;
        let endpoint = Endpoint::from_segment(&d.endpoint)?;
        let host = match &endpoint {
            Endpoint::Tcp { host, .. } | Endpoint::Udp { host, .. } => host.clone(),
            Endpoint::Unix(_) => None,
        };
        let layers = d
            .layers
            .iter()
            .map(|seg| Layer::from_segment(seg, role, host.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Stack {
            endpoint,
            layers,
            role,
            text: desc.to_string(),
        })
    }

    /// Wrap `app` in this stack's layers (the topmost layer directly under
    /// `app`).
    pub fn wrap(&self, app: BoxProtocol) -> BoxProtocol {
        self.layers.iter().rev().fold(app, |p, l| l.wrap(p))
    }

    /// Like [`wrap`](Stack::wrap), with a [`Traced`](crate::trace::Traced)
    /// point above every layer, so `trace` records each callback as it
    /// crosses each layer, indented by depth (`tour` prints it).
    pub fn wrap_traced(&self, app: BoxProtocol, trace: &crate::trace::Trace) -> BoxProtocol {
        use crate::trace::Traced;
        let n = self.layers.len();
        let mut p: BoxProtocol = Box::new(Traced::new(app, "app", n, trace));
        for (i, layer) in self.layers.iter().enumerate().rev() {
            p = layer.wrap(p);
            p = Box::new(Traced::new(p, layer.name(), i, trace));
        }
        p
    }

    /// What the layers want the user to see at start-up (a self-signed
    /// certificate's fingerprint), one line each.
    pub fn notices(&self) -> Vec<String> {
        self.layers.iter().filter_map(Layer::notice).collect()
    }

    /// The names of the layers, bottom first, after the endpoint's.
    pub fn layer_names(&self) -> Vec<&'static str> {
        self.layers.iter().map(Layer::name).collect()
    }

    /// Connect and run `app` on top of the layers.
    pub async fn connect(&self, app: BoxProtocol) -> Result<Handle<BoxProtocol>, StackError> {
        Ok(self.endpoint.connect(self.wrap(app)).await?)
    }

    /// Like [`connect`](Stack::connect), with the layers wrapped by
    /// [`wrap_traced`](Stack::wrap_traced) so `trace` records what crosses
    /// each of them.
    pub async fn connect_traced(
        &self,
        app: BoxProtocol,
        trace: &crate::trace::Trace,
    ) -> Result<Handle<BoxProtocol>, StackError> {
        Ok(self.endpoint.connect(self.wrap_traced(app, trace)).await?)
    }

    /// The protocol to run on one accepted connection: the layers over a
    /// `factory`-made app — or, above a mux, one app per subchannel.
    pub fn wrap_server(
        &self,
        factory: impl FnMut(&TransportInfo) -> BoxProtocol + Send + 'static,
        info: &TransportInfo,
    ) -> BoxProtocol {
        self.assemble(Above::Many(Arc::new(Mutex::new(factory))), info)
    }

    fn assemble(&self, top: Above, info: &TransportInfo) -> BoxProtocol {
        let mut above = top;
        for layer in self.layers.iter().rev() {
            above = Above::One(layer.wrap_above(above, self.role, info));
        }
        above.into_one(info)
    }

    /// Listen, running the layers over a `factory`-made app on each
    /// connection (above a mux: on each subchannel).
    pub async fn listen<F>(&self, factory: F) -> Result<Listener, StackError>
    where
        F: FnMut(&TransportInfo) -> BoxProtocol + Send + 'static,
    {
        let stack = self.clone();
        let shared: SharedFactory = Arc::new(Mutex::new(factory));
        Ok(self
            .endpoint
            .listen(move |info: &TransportInfo| stack.assemble(Above::Many(shared.clone()), info))
            .await?)
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mux(text: &str) -> Result<strata_mux::Config, DescriptionError> {
        mux_config(&Segment::parse(text).unwrap(), Role::Client)
    }

    #[test]
    fn mux_options_set_the_config() {
        let c = mux("mux:window=4194304,budget=16777216,max-streams=10,keepalive=5").unwrap();
        assert_eq!(c.max_window, 4 << 20);
        assert_eq!(c.receive_budget, 16 << 20);
        assert_eq!(c.max_streams, 10);
        assert_eq!(c.keepalive, Some(std::time::Duration::from_secs(5)));
        let d = mux("mux").unwrap();
        assert_eq!(
            d.receive_budget,
            strata_mux::Config::default().receive_budget
        );
    }

    #[test]
    fn bad_mux_options_name_the_part_and_what_was_expected() {
        for (text, says) in [
            ("mux:budget=lots", "budget \"lots\" is not a number"),
            ("mux:budget", "needs a value"),
            ("mux:window=12", "window 12"),
            ("mux:colour=blue", "unknown mux option \"colour\""),
        ] {
            let e = mux(text).unwrap_err().to_string();
            assert!(
                e.contains(says) && e.contains("budget=BYTES"),
                "{text}: {e}"
            );
        }
    }
}
