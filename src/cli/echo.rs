//! `strata listen DESC --echo`: echo every connection.

use strata::{BoxProtocol, Bytes, Protocol, Role, Stack, Transport};

/// Echoes what it receives. Backpressure: when our write buffer fills
/// (the peer reads slower than it writes), stop reading until it drains —
/// so memory stays bounded whatever the peer does. When the peer
/// half-closes, finish echoing and half-close too.
pub struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, t: &mut dyn Transport, data: Bytes) {
        t.write(data);
    }
    fn read_closed(&mut self, t: &mut dyn Transport) {
        t.close_write();
    }
    fn pause_writing(&mut self, t: &mut dyn Transport) {
        t.pause_reading();
    }
    fn resume_writing(&mut self, t: &mut dyn Transport) {
        t.resume_reading();
    }
}

/// Serve [`Echo`] on every connection to `desc` until killed (Ctrl-C exits 0).
pub async fn serve(desc: &str) -> super::Result {
    let stack = Stack::parse(desc, Role::Server)?;
    let listener = stack
        .listen(|_: &strata::TransportInfo| Box::new(Echo) as BoxProtocol)
        .await?;
    eprintln!("strata: echoing on {} ({stack})", listener.local_addr());
    for notice in stack.notices() {
        eprintln!("strata: {notice}");
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
