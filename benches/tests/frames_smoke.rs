//! Case `frames` with tiny workloads: every measurement runs and every
//! frame and answer arrives intact. No timing is asserted.

use strata_bench::{frames, run_case, Config, Report, Runtimes};

#[tokio::test]
async fn frames_case_runs_and_reports_every_measurement() {
    let mut reports: Vec<Report> = Vec::new();
    run_case("frames", &Config::smoke(), &mut |r| reports.push(r))
        .await
        .unwrap();
    let cases: Vec<&str> = reports.iter().map(|r| r.case.as_str()).collect();
    assert_eq!(
        cases,
        [
            "frames/codec/64B",
            "frames/codec/16KiB",
            "frames/roundtrip/64B",
            "frames/roundtrip-16conn/64B"
        ]
    );
    for r in &reports {
        assert!(r.strata > 0.0 && r.peer > 0.0, "{r}");
        assert!(r
            .to_string()
            .starts_with(&format!("case={} strata=", r.case)));
    }
}

#[tokio::test]
async fn frames_sides_deliver_intact_data() {
    // Batches whose bytes do not divide into the decoder's 64 KiB pieces.
    for (size, n) in [(64, 3001), (16 * 1024, 17), (1, 100_000)] {
        frames::strata_codec(size, n, true).unwrap();
        frames::peer_codec(size, n, true).unwrap();
    }
    let rts = &Runtimes::new(strata_bench::Pin::Any).unwrap();
    frames::strata_roundtrips(rts, 200, true).await.unwrap();
    frames::peer_roundtrips(rts, 200, true).await.unwrap();
    // Several connections at once: every call on each is answered intact.
    frames::strata_loaded_roundtrips(rts, 5, 60, true)
        .await
        .unwrap();
    frames::peer_loaded_roundtrips(rts, 5, 60, true)
        .await
        .unwrap();
}

/// The peer is measured doing the same exchange, so it must speak the same
/// bytes: its codec's frames are Strata's frames, byte for byte, and each
/// side's client works against the other side's server.
#[test]
fn the_peer_codec_writes_strata_frames() {
    use bytes::{Bytes, BytesMut};
    use strata_frames::{Flags, Frame, FrameType};
    use tokio_util::codec::{Decoder as _, Encoder as _};

    let cases = [
        (FrameType::CommandName, Flags::HAVE_DATA, &b"echo"[..]),
        (FrameType::CommandData, Flags::EOS, &[7u8; 64][..]),
        (FrameType::BytesResponse, Flags::EOS, &[][..]),
        (
            FrameType::CommandData,
            Flags::CONTINUATION,
            &[1u8; 70_000][..],
        ),
    ];
    let mut codec = frames::peer_codec_for_frames();
    for (kind, flags, payload) in cases {
        let mut strata = BytesMut::new();
        Frame::new(kind, flags, Bytes::copy_from_slice(payload)).encode_into(&mut strata);
        let mut typed = vec![(kind.code() << 4) | flags.bits()];
        typed.extend_from_slice(payload);
        if payload.len() > strata_frames::DEFAULT_MAX_FRAME {
            // Over the peer's limit (Strata's default maximum frame): refused.
            assert!(codec
                .encode(Bytes::from(typed), &mut BytesMut::new())
                .is_err());
            continue;
        }
        let mut peer = BytesMut::new();
        codec.encode(Bytes::from(typed.clone()), &mut peer).unwrap();
        assert_eq!(peer, strata, "{kind} {flags:?}");
        let decoded = codec.decode(&mut peer).unwrap().expect("a whole frame");
        assert_eq!(&decoded[..], &typed[..]);
        assert!(peer.is_empty());
    }
}

#[tokio::test]
async fn the_peer_client_is_answered_by_strata_and_strata_by_the_peer_server() {
    use std::time::Instant;
    use strata_frames::{CommandServer, Duplex, Framed};

    // The peer's client against Strata's server.
    let listener = strata_tokio::listen("tcp:127.0.0.1:0", |_: &strata_core::TransportInfo| {
        Framed::new(CommandServer::new(Duplex::Full, frames::EchoData))
    })
    .await
    .unwrap();
    let port = listener.port().unwrap();
    let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let before = Instant::now();
    let end = frames::peer_client(s, 50, true).await.unwrap();
    assert!(end >= before);

    // Strata's client against the peer's server.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let desc = format!("tcp:{}", l.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        frames::peer_server(s).await
    });
    let (done, finished) = tokio::sync::oneshot::channel();
    let pinger = Framed::new(frames::CommandPinger::new(50, true, done));
    let client = strata_tokio::connect(&desc, pinger).await.unwrap();
    finished.await.unwrap().unwrap();
    client.closed().await;
    server.await.unwrap().unwrap();
}
