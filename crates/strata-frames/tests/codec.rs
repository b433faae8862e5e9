//! The frame codec: byte-exact frames for known inputs, round trips under
//! every chunking (proptest), limits, errors, and the zero-copy promise.

use proptest::prelude::*;
use strata_frames::{
    decode_all, human, Bytes, Decoder, Flags, Frame, FrameError, FrameType, DEFAULT_MAX_FRAME,
    MAX_FRAME_LIMIT,
};

fn frame(kind: FrameType, flags: Flags, payload: &'static [u8]) -> Frame {
    Frame::new(kind, flags, Bytes::from_static(payload))
}

#[test]
fn known_frames_byte_exact() {
    // The examples of Mercurial's wireprotoframing tests, and ours.
    let cases: &[(Frame, &[u8])] = &[
        (
            frame(FrameType::CommandName, Flags::NAME_EOS, b"mycommand"),
            b"\x09\x00\x00\x11mycommand",
        ),
        (
            frame(FrameType::CommandName, Flags::HAVE_ARGS, b"mycommand"),
            b"\x09\x00\x00\x12mycommand",
        ),
        (
            frame(
                FrameType::CommandArgument,
                Flags::EOA,
                b"\x03\x00\x04\x00foobar1",
            ),
            b"\x0b\x00\x00\x22\x03\x00\x04\x00foobar1",
        ),
        (
            frame(FrameType::CommandData, Flags::EOS, b""),
            b"\x00\x00\x00\x32",
        ),
        (
            frame(FrameType::CommandData, Flags::CONTINUATION, b"x"),
            b"\x01\x00\x00\x31x",
        ),
        (
            frame(FrameType::BytesResponse, Flags::EOS, b"ok"),
            b"\x02\x00\x00\x42ok",
        ),
        (
            frame(FrameType::ErrorResponse, Flags::PROTOCOL, b"bad"),
            b"\x03\x00\x00\x51bad",
        ),
        (
            frame(FrameType::ErrorResponse, Flags::APPLICATION, b""),
            b"\x00\x00\x00\x52",
        ),
    ];
    for (f, wire) in cases {
        assert_eq!(&f.to_bytes()[..], *wire, "{f}");
        let (frames, err) = decode_all(wire, DEFAULT_MAX_FRAME);
        assert_eq!(err, None);
        assert_eq!(frames, vec![f.clone()]);
    }
}

#[test]
fn length_is_24_bit_little_endian() {
    let f = Frame::new(
        FrameType::BytesResponse,
        Flags::CONTINUATION,
        vec![7u8; 0x01_02_03],
    );
    assert_eq!(f.header(), [0x03, 0x02, 0x01, 0x41]);
}

#[test]
fn the_largest_frame_decodes() {
    let big = Frame::new(
        FrameType::CommandData,
        Flags::EOS,
        vec![0xa5u8; MAX_FRAME_LIMIT],
    );
    let wire = big.to_bytes();
    assert_eq!(&wire[..4], &[0xff, 0xff, 0xff, 0x32]);
    // In one piece, and in 1 MiB pieces.
    let (frames, err) = decode_all(&wire, MAX_FRAME_LIMIT);
    assert_eq!(err, None);
    assert_eq!(frames, vec![big.clone()]);
    let mut d = Decoder::new(MAX_FRAME_LIMIT);
    let mut got = Vec::new();
    for piece in wire.chunks(1 << 20) {
        d.push(Bytes::copy_from_slice(piece));
        while let Some(f) = d.next_frame().unwrap() {
            got.push(f);
        }
    }
    assert_eq!(got, vec![big]);
    d.finish().unwrap();
}

#[test]
fn oversized_frames_are_refused_from_the_header_alone() {
    let mut d = Decoder::new(DEFAULT_MAX_FRAME);
    // Header of a 32 KiB + 1 frame, no payload yet: refused at once.
    d.push(Bytes::from_static(&[0x01, 0x80, 0x00, 0x42]));
    assert_eq!(
        d.next_frame(),
        Err(FrameError::Oversized {
            len: 32 * 1024 + 1,
            max: 32 * 1024
        })
    );
    // Poisoned: the same error again, nothing held.
    d.push(Bytes::from_static(b"more"));
    assert!(d.next_frame().is_err());
    assert_eq!(d.buffered(), 0);
    // Exactly 32 KiB is fine.
    let ok = Frame::new(FrameType::BytesResponse, Flags::EOS, vec![1u8; 32 * 1024]);
    assert_eq!(decode_all(&ok.to_bytes(), DEFAULT_MAX_FRAME).1, None);
}

#[test]
fn unknown_types_and_flags_are_errors() {
    for t in [0u8, 6, 15] {
        let (_, e) = decode_all(&[0, 0, 0, t << 4], DEFAULT_MAX_FRAME);
        assert_eq!(e, Some(FrameError::UnknownType(t)));
    }
    // command-name defines bits 1|2|4; bit 8 is not defined.
    let (_, e) = decode_all(&[0, 0, 0, 0x18], DEFAULT_MAX_FRAME);
    assert_eq!(
        e,
        Some(FrameError::UnknownFlags {
            kind: FrameType::CommandName,
            flags: 8
        })
    );
    // command-data defines 1|2 only.
    let (_, e) = decode_all(&[0, 0, 0, 0x34], DEFAULT_MAX_FRAME);
    assert!(matches!(e, Some(FrameError::UnknownFlags { .. })), "{e:?}");
    let msg = e.unwrap().to_string();
    assert!(msg.contains("command-data"), "{msg}");
}

/// `valid_flags` (written out for the header check) is exactly the union of
/// the flags each type names; every header byte is accepted or refused as
/// that says.
#[test]
fn valid_flags_are_the_named_flags() {
    for kind in FrameType::ALL {
        let named = kind.flag_names().iter().fold(0, |m, (_, b)| m | b);
        assert_eq!(kind.valid_flags(), named, "{kind}");
    }
    for byte in 0..=255u8 {
        let (frames, e) = decode_all(&[0, 0, 0, byte], DEFAULT_MAX_FRAME);
        let ok = FrameType::from_code(byte >> 4)
            .is_ok_and(|kind| byte & 0x0f & !kind.valid_flags() == 0);
        assert_eq!((frames.len() == 1, e.is_none()), (ok, ok), "{byte:#04x}");
    }
}

#[test]
fn truncation_is_reported_at_the_end() {
    let f = frame(FrameType::BytesResponse, Flags::EOS, b"hello");
    let wire = f.to_bytes();
    for cut in 1..wire.len() {
        let (frames, e) = decode_all(&wire[..cut], DEFAULT_MAX_FRAME);
        assert!(frames.is_empty());
        let Some(FrameError::Truncated { have, need }) = e else {
            panic!("cut at {cut}: {e:?}");
        };
        assert_eq!(have, cut);
        assert_eq!(need, if cut < 4 { 4 } else { 9 });
    }
}

#[test]
fn whole_frames_are_slices_of_the_input() {
    let mut wire = Vec::new();
    for i in 0..10u8 {
        wire.extend_from_slice(
            &Frame::new(FrameType::CommandData, Flags::CONTINUATION, vec![i; 100]).to_bytes(),
        );
    }
    let input = Bytes::from(wire);
    let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
    let mut d = Decoder::default();
    d.push(input.clone());
    let mut n = 0;
    while let Some(f) = d.next_frame().unwrap() {
        assert!(
            range.contains(&(f.payload.as_ptr() as usize)),
            "payload was copied"
        );
        n += 1;
    }
    assert_eq!(n, 10);
}

#[test]
fn contiguous_decode_splits_without_copy() {
    let mut buf = bytes::BytesMut::new();
    frame(FrameType::CommandName, Flags::NAME_EOS, b"a").encode_into(&mut buf);
    frame(FrameType::CommandName, Flags::NAME_EOS, b"bc").encode_into(&mut buf);
    buf.extend_from_slice(&[3, 0]); // a partial header
    let a = Decoder::decode(&mut buf, 64).unwrap().unwrap();
    let b = Decoder::decode(&mut buf, 64).unwrap().unwrap();
    assert_eq!((&a.payload[..], &b.payload[..]), (&b"a"[..], &b"bc"[..]));
    assert_eq!(Decoder::decode(&mut buf, 64), Ok(None));
    assert_eq!(buf.len(), 2);
}

#[test]
fn human_syntax() {
    let f = human::parse("command-name have-args mycommand").unwrap();
    assert_eq!(&f.to_bytes()[..], b"\x09\x00\x00\x12mycommand");
    let f = human::parse("2 eoa \\x03\\x00\\x05\\x00foobar1").unwrap();
    assert_eq!(f.kind, FrameType::CommandArgument);
    assert_eq!(&f.payload[..], b"\x03\x00\x05\x00foobar1");
    assert_eq!(
        human::format(&f),
        "command-argument eoa \\x03\\x00\\x05\\x00foobar1"
    );
    let f = human::parse("bytes-response continuation|2 a b\\n").unwrap();
    assert_eq!(f.flags.bits(), 3);
    assert_eq!(&f.payload[..], b"a b\n");
    let f = human::parse("command-data eos").unwrap();
    assert!(f.payload.is_empty());
    assert_eq!(human::format(&f), "command-data eos");
    let f = human::parse("error-response 0").unwrap();
    assert_eq!(human::format(&f), "error-response 0");
    // Bits a type does not define are printed as numbers.
    let f = Frame::new(
        FrameType::CommandData,
        Flags::from_bits(0b1110),
        Bytes::new(),
    );
    assert_eq!(human::format(&f), "command-data eos|4|8");

    for bad in [
        "",
        "command-name",
        "frob eos x",
        "command-name eoa x",
        "command-data eos \\q",
        "command-data eos \\x4",
    ] {
        assert!(human::parse(bad).is_err(), "{bad:?} parsed");
    }
    let e = human::parse("command-name eoa x").unwrap_err().to_string();
    assert!(e.contains("eos, have-args, have-data"), "{e}");
}

fn any_frame() -> impl Strategy<Value = Frame> {
    (
        1u8..=5,
        0u8..16,
        proptest::collection::vec(any::<u8>(), 0..2000),
    )
        .prop_map(|(t, fl, p)| {
            let kind = FrameType::from_code(t).unwrap();
            let flags = Flags::from_bits(fl & kind.valid_flags());
            Frame::new(kind, flags, p)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any frames, encoded, cut into any pieces, decode to the same frames.
    #[test]
    fn round_trip_under_any_chunking(
        frames in proptest::collection::vec(any_frame(), 0..20),
        cuts in proptest::collection::vec(1usize..600, 1..50),
    ) {
        let mut wire = Vec::new();
        for f in &frames {
            wire.extend_from_slice(&f.to_bytes());
        }
        let mut d = Decoder::default();
        let mut got = Vec::new();
        let mut rest = &wire[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            d.push(Bytes::copy_from_slice(&rest[..n]));
            rest = &rest[n..];
            i += 1;
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
            prop_assert!(d.buffered() <= 2000 + 4 + 600);
        }
        d.finish().unwrap();
        prop_assert_eq!(got, frames);
    }

    /// The human form is exact both ways.
    #[test]
    fn human_round_trip(f in any_frame()) {
        let text = human::format(&f);
        prop_assert!(!text.contains('\n'));
        prop_assert_eq!(human::parse(&text).unwrap(), f);
    }

    /// Decoding arbitrary bytes never panics, and holds at most one frame.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000), max in 0usize..5000) {
        let mut d = Decoder::new(max);
        for piece in bytes.chunks(97) {
            d.push(Bytes::copy_from_slice(piece));
            while let Ok(Some(f)) = d.next_frame() {
                prop_assert!(f.payload.len() <= max);
            }
            prop_assert!(d.peak_stash() <= max + 4);
        }
        let _ = d.finish();
    }
}
