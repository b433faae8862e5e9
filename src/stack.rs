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

use std::fmt;

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
pub const KNOWN_LAYERS: &str = "tls:OPTIONS";

/// One layer of a stack, built from its description segment.
#[derive(Clone, Debug)]
pub enum Layer {
    /// TLS (`tls:...`), client or server by the stack's role.
    Tls(strata_tls::Configured),
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
        }
    }

    /// Put this layer under `above`.
    pub fn wrap(&self, above: BoxProtocol) -> BoxProtocol {
        match self {
            Layer::Tls(c) => c.layer.wrap_boxed(above),
        }
    }

    /// Something a user must see when the stack starts: the fingerprint of a
    /// certificate made on the spot (`tls:self-signed`), for clients to pin.
    pub fn notice(&self) -> Option<String> {
        match self {
            Layer::Tls(c) => c
                .fingerprint()
                .map(|f| format!("self-signed certificate, pin it with: tls:pin={f}")),
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

    /// Listen, running a `factory`-made app (under the layers) on each
    /// connection.
    pub async fn listen<F>(&self, mut factory: F) -> Result<Listener, StackError>
    where
        F: FnMut(&TransportInfo) -> BoxProtocol + Send + 'static,
    {
        let stack = self.clone();
        Ok(self
            .endpoint
            .listen(move |info: &TransportInfo| stack.wrap(factory(info)))
            .await?)
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
