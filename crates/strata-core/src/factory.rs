use crate::TransportInfo;

/// Makes one protocol per connection: what a listening endpoint (or a mux
/// accepting inbound subchannels) needs to serve many peers.
///
/// Any `FnMut(&TransportInfo) -> P` is a factory, so a closure does:
///
/// ```
/// # use strata_core::{Factory, TransportInfo, Protocol, Transport, Bytes};
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) { t.write(data) }
/// }
/// fn serve(mut f: impl Factory) { /* ... */ }
/// serve(|_: &TransportInfo| Echo);
/// ```
pub trait Factory {
    /// The protocol this factory makes.
    type Protocol;

    /// Make the protocol for a new connection. `info` describes it (peer
    /// address, layers) so a factory can decide per peer.
    fn build(&mut self, info: &TransportInfo) -> Self::Protocol;
}

impl<P, F: FnMut(&TransportInfo) -> P> Factory for F {
    type Protocol = P;
    fn build(&mut self, info: &TransportInfo) -> P {
        self(info)
    }
}
