//! The yamux frame: a 12-byte header, and for data frames a payload.
//!
//! ```text
//!   0        1        2                 4                                8                               12
//!   +--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+
//!   | version|  type  |      flags      |             stream id             |              length               |
//!   +--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+
//!      0        0..=3    SYN 1 ACK 2        odd: client-opened                 Data: payload bytes that follow
//!                        FIN 4 RST 8        even: server-opened                WindowUpdate: credit delta
//!                                           0: the session (Ping, GoAway)      Ping: opaque value; GoAway: code
//! ```
//!
//! All fields are big-endian (hashicorp/yamux `spec.md`). [`Header`] encodes
//! and decodes one header; [`Decoder`] cuts a byte stream arriving in any
//! chunking into headers and zero-copy payload slices, checks every limit,
//! and never panics: malformed input is a precise [`FrameError`].

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 12;

/// The only protocol version there is.
pub const VERSION: u8 = 0;

/// The receive window every stream starts with, on both sides, by the spec.
pub const INITIAL_WINDOW: u32 = 256 * 1024;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// Stream data; `length` payload bytes follow the header.
    Data = 0,
    /// Credit for a stream: `length` more bytes may be sent on it.
    WindowUpdate = 1,
    /// A ping (SYN) or its answer (ACK); `length` is an opaque value.
    Ping = 2,
    /// The sender will accept no new streams; `length` is a [`GoAwayCode`](crate::GoAwayCode).
    GoAway = 3,
}

impl FrameType {
    /// The type for a wire value.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => FrameType::Data,
            1 => FrameType::WindowUpdate,
            2 => FrameType::Ping,
            3 => FrameType::GoAway,
            _ => return None,
        })
    }
}

/// The flags of a frame (a bit set).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u16);

impl Flags {
    /// No flag.
    pub const NONE: Flags = Flags(0);
    /// Opens a stream; on a ping, asks for an answer.
    pub const SYN: Flags = Flags(1);
    /// Acknowledges a stream's SYN; on a ping, is the answer.
    pub const ACK: Flags = Flags(2);
    /// Half-closes the stream: the sender sends no more data on it.
    pub const FIN: Flags = Flags(4);
    /// Resets the stream at once.
    pub const RST: Flags = Flags(8);

    /// Whether every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets together.
    #[inline]
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.with(rhs)
    }
}

impl std::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0
    }
}

impl std::fmt::Debug for Flags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (Flags::SYN, "SYN"),
            (Flags::ACK, "ACK"),
            (Flags::FIN, "FIN"),
            (Flags::RST, "RST"),
        ];
        let mut first = true;
        for (flag, name) in names {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        let unknown = self.0 & !0xf;
        if unknown != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "{unknown:#x}")?;
        } else if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// One frame header, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The frame type.
    pub ty: FrameType,
    /// Its flags.
    pub flags: Flags,
    /// The stream it is about (0: the session).
    pub stream: u32,
    /// Payload length, credit delta, ping value or GoAway code, by type.
    pub length: u32,
}

impl Header {
    /// A data frame header for `len` payload bytes.
    pub const fn data(stream: u32, flags: Flags, len: u32) -> Self {
        Header {
            ty: FrameType::Data,
            flags,
            stream,
            length: len,
        }
    }

    /// A window update granting `delta` more bytes (0 to carry flags only).
    pub const fn window_update(stream: u32, flags: Flags, delta: u32) -> Self {
        Header {
            ty: FrameType::WindowUpdate,
            flags,
            stream,
            length: delta,
        }
    }

    /// A ping (`SYN`) or its answer (`ACK`) with an opaque value.
    pub const fn ping(flags: Flags, opaque: u32) -> Self {
        Header {
            ty: FrameType::Ping,
            flags,
            stream: 0,
            length: opaque,
        }
    }

    /// A GoAway with an error code (see [`GoAwayCode`](crate::GoAwayCode)).
    pub const fn go_away(code: u32) -> Self {
        Header {
            ty: FrameType::GoAway,
            flags: Flags::NONE,
            stream: 0,
            length: code,
        }
    }

    /// The 12 bytes on the wire.
    #[inline]
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = VERSION;
        b[1] = self.ty as u8;
        b[2..4].copy_from_slice(&self.flags.0.to_be_bytes());
        b[4..8].copy_from_slice(&self.stream.to_be_bytes());
        b[8..12].copy_from_slice(&self.length.to_be_bytes());
        b
    }

    /// Decode 12 bytes, checking the version, the type, the stream id's
    /// agreement with the type, and that a data frame's payload is at most
    /// `max_payload` bytes. Unknown flag bits are kept, not rejected (the
    /// spec reserves none; other implementations ignore them too).
    pub fn decode(b: &[u8; HEADER_LEN], max_payload: u32) -> Result<Header, FrameError> {
        if b[0] != VERSION {
            return Err(FrameError::UnknownVersion(b[0]));
        }
        let ty = FrameType::from_u8(b[1]).ok_or(FrameError::UnknownType(b[1]))?;
        let flags = Flags(u16::from_be_bytes([b[2], b[3]]));
        let stream = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        let length = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
        match ty {
            FrameType::Data | FrameType::WindowUpdate if stream == 0 => {
                return Err(FrameError::StreamFrameOnSession { ty })
            }
            FrameType::Ping | FrameType::GoAway if stream != 0 => {
                return Err(FrameError::SessionFrameOnStream { ty, stream })
            }
            FrameType::Data if length > max_payload => {
                return Err(FrameError::Oversized {
                    length,
                    max: max_payload,
                })
            }
            _ => {}
        }
        Ok(Header {
            ty,
            flags,
            stream,
            length,
        })
    }
}

/// A malformed frame header. Every variant ends the connection with
/// GoAway(protocol error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The version byte is not 0.
    #[error("unknown yamux version {0} (only 0 exists)")]
    UnknownVersion(u8),
    /// The type byte is not 0..=3.
    #[error("unknown frame type {0} (0..=3 exist)")]
    UnknownType(u8),
    /// A data frame announced more payload than this side would ever accept.
    #[error("data frame of {length} bytes exceeds the limit of {max}")]
    Oversized {
        /// The announced payload length.
        length: u32,
        /// The limit (the largest receive window this side grants).
        max: u32,
    },
    /// A Data or WindowUpdate frame named stream 0.
    #[error("{ty:?} frame on stream 0, which is reserved for the session")]
    StreamFrameOnSession {
        /// The frame's type.
        ty: FrameType,
    },
    /// A Ping or GoAway frame named a stream other than 0.
    #[error("{ty:?} frame on stream {stream}; session frames use stream 0")]
    SessionFrameOnStream {
        /// The frame's type.
        ty: FrameType,
        /// The stream it named.
        stream: u32,
    },
}

/// What the [`Decoder`] found next in the byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A complete header. For a data frame, [`Payload`](Item::Payload)
    /// pieces (if any) and then [`DataEnd`](Item::DataEnd) follow.
    Header(Header),
    /// Some of the current data frame's payload: a slice of the input, not a
    /// copy. A payload split across input chunks comes as several pieces.
    Payload(Bytes),
    /// The current data frame's payload is complete (its FIN or RST flag,
    /// if any, takes effect now).
    DataEnd,
}

/// Cuts a byte stream into frames, whatever the chunking.
///
/// Feed it each chunk as it arrives and call [`next`](Decoder::next) until
/// it returns `Ok(None)` (it needs more bytes). A header split across
/// chunks is assembled in a 12-byte buffer; payloads are never copied.
/// After an error the decoder is poisoned and returns that error again.
#[derive(Clone, Debug)]
pub struct Decoder {
    partial: [u8; HEADER_LEN],
    have: u8,
    /// Payload bytes of the current data frame still to come.
    remaining: u32,
    in_data: bool,
    max_payload: u32,
    error: Option<FrameError>,
}

impl Decoder {
    /// A decoder accepting data frames of at most `max_payload` bytes.
    pub fn new(max_payload: u32) -> Self {
        Decoder {
            partial: [0; HEADER_LEN],
            have: 0,
            remaining: 0,
            in_data: false,
            max_payload,
            error: None,
        }
    }

    /// Whether the decoder is between frames (nothing partial held).
    pub fn is_idle(&self) -> bool {
        self.have == 0 && !self.in_data
    }

    /// The next item from `input`, consuming what it uses; `Ok(None)` when
    /// `input` holds no complete item.
    #[inline]
    pub fn next(&mut self, input: &mut Bytes) -> Result<Option<Item>, FrameError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.in_data {
            if self.remaining == 0 {
                self.in_data = false;
                return Ok(Some(Item::DataEnd));
            }
            if input.is_empty() {
                return Ok(None);
            }
            let n = (self.remaining as usize).min(input.len());
            self.remaining -= n as u32;
            return Ok(Some(Item::Payload(input.split_to(n))));
        }
        if input.is_empty() {
            return Ok(None);
        }
        let raw: [u8; HEADER_LEN] = if self.have == 0 && input.len() >= HEADER_LEN {
            let mut b = [0u8; HEADER_LEN];
            b.copy_from_slice(&input[..HEADER_LEN]);
            input.advance(HEADER_LEN);
            b
        } else {
            let have = self.have as usize;
            let n = (HEADER_LEN - have).min(input.len());
            self.partial[have..have + n].copy_from_slice(&input[..n]);
            input.advance(n);
            self.have += n as u8;
            if (self.have as usize) < HEADER_LEN {
                return Ok(None);
            }
            self.have = 0;
            self.partial
        };
        match Header::decode(&raw, self.max_payload) {
            Ok(h) => {
                if h.ty == FrameType::Data {
                    self.in_data = true;
                    self.remaining = h.length;
                }
                Ok(Some(Item::Header(h)))
            }
            Err(e) => {
                self.error = Some(e.clone());
                Err(e)
            }
        }
    }
}

/// Makes frame headers as small `Bytes` without an allocation each: headers
/// are written into one buffer and split off it, so one allocation serves
/// over a thousand frames. A small data frame is written whole (header and
/// payload copied together, see [`SMALL_FRAME`]): the transport below then
/// gets one buffer per frame instead of two.
#[derive(Debug, Default)]
pub(crate) struct HeaderArena {
    buf: BytesMut,
}

/// Bytes per arena allocation.
const ARENA_BYTES: usize = 16 * 1024;

/// Data frames with at most this many payload bytes are copied into the
/// arena behind their header and handed below as one buffer. Copying 512
/// bytes costs less than what the transport below spends on a second
/// buffer (a queue entry, a vectored write instead of a plain one, the
/// reference counting); larger payloads go below as the app's own `Bytes`.
pub(crate) const SMALL_FRAME: usize = 512;

impl HeaderArena {
    /// Room for `n` more bytes.
    #[inline]
    fn reserve(&mut self, n: usize) {
        if self.buf.capacity() - self.buf.len() < n {
            self.buf = BytesMut::with_capacity(ARENA_BYTES.max(n));
        }
    }

    /// A header alone.
    #[inline]
    pub fn header(&mut self, h: Header) -> Bytes {
        self.reserve(HEADER_LEN);
        self.buf.put_slice(&h.encode());
        self.buf.split().freeze()
    }

    /// A whole data frame: `h` followed by its payload, which `fill` puts
    /// (exactly `h.length` bytes, at most [`SMALL_FRAME`]).
    #[inline]
    pub fn frame(&mut self, h: Header, fill: impl FnOnce(&mut BytesMut)) -> Bytes {
        self.reserve(HEADER_LEN + h.length as usize);
        self.buf.put_slice(&h.encode());
        fill(&mut self.buf);
        debug_assert_eq!(self.buf.len(), HEADER_LEN + h.length as usize);
        self.buf.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_frames_are_byte_exact() {
        // A SYN window update opening stream 1, as hashicorp/yamux sends it.
        let h = Header::window_update(1, Flags::SYN, 0);
        assert_eq!(h.encode(), [0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
        // 38 bytes of data on stream 1.
        let h = Header::data(1, Flags::NONE, 0x26);
        assert_eq!(h.encode(), [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x26]);
        // A ping answer echoing 0xdeadbeef.
        let h = Header::ping(Flags::ACK, 0xdead_beef);
        assert_eq!(h.encode(), [0, 2, 0, 2, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]);
        // GoAway(protocol error).
        assert_eq!(
            Header::go_away(1).encode(),
            [0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
        // FIN|RST on a big stream id with a big delta.
        let h = Header::window_update(0x0102_0304, Flags::FIN | Flags::RST, 0x0a0b_0c0d);
        assert_eq!(h.encode(), [0, 1, 0, 12, 1, 2, 3, 4, 10, 11, 12, 13]);
    }

    #[test]
    fn headers_round_trip() {
        let all = [
            Header::data(7, Flags::SYN | Flags::FIN, 100),
            Header::window_update(u32::MAX, Flags::ACK, u32::MAX),
            Header::ping(Flags::SYN, 42),
            Header::go_away(2),
            Header::data(2, Flags(0xfff0), 0),
        ];
        for h in all {
            assert_eq!(Header::decode(&h.encode(), u32::MAX), Ok(h));
        }
    }

    #[test]
    fn bad_headers_are_precise_errors() {
        let mut b = Header::data(1, Flags::NONE, 10).encode();
        b[0] = 1;
        assert_eq!(Header::decode(&b, 100), Err(FrameError::UnknownVersion(1)));
        let mut b = Header::data(1, Flags::NONE, 10).encode();
        b[1] = 4;
        assert_eq!(Header::decode(&b, 100), Err(FrameError::UnknownType(4)));
        let b = Header::data(1, Flags::NONE, 101).encode();
        assert_eq!(
            Header::decode(&b, 100),
            Err(FrameError::Oversized {
                length: 101,
                max: 100
            })
        );
        let b = Header::window_update(0, Flags::NONE, 1).encode();
        assert!(matches!(
            Header::decode(&b, 100),
            Err(FrameError::StreamFrameOnSession { .. })
        ));
        let mut b = Header::ping(Flags::SYN, 1).encode();
        b[7] = 3;
        assert!(matches!(
            Header::decode(&b, 100),
            Err(FrameError::SessionFrameOnStream { stream: 3, .. })
        ));
        // A window update is not a payload: any delta decodes.
        let b = Header::window_update(1, Flags::NONE, u32::MAX).encode();
        assert!(Header::decode(&b, 100).is_ok());
    }

    fn stream_of(frames: &[(Header, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        for (h, p) in frames {
            v.extend_from_slice(&h.encode());
            v.extend_from_slice(p);
        }
        v
    }

    /// Decode `bytes` fed in chunks of `chunk`, merging payload pieces.
    fn decode_all(bytes: &[u8], chunk: usize) -> Vec<(Header, Vec<u8>)> {
        let mut d = Decoder::new(1 << 20);
        let mut out: Vec<(Header, Vec<u8>)> = Vec::new();
        for piece in bytes.chunks(chunk) {
            let mut input = Bytes::copy_from_slice(piece);
            while let Some(item) = d.next(&mut input).unwrap() {
                match item {
                    Item::Header(h) => out.push((h, Vec::new())),
                    Item::Payload(p) => out.last_mut().unwrap().1.extend_from_slice(&p),
                    Item::DataEnd => {}
                }
            }
            assert!(input.is_empty());
        }
        assert!(d.is_idle());
        out
    }

    #[test]
    fn decoder_handles_any_chunking() {
        let frames: Vec<(Header, &[u8])> = vec![
            (Header::window_update(1, Flags::SYN, 0), b""),
            (Header::data(1, Flags::NONE, 5), b"hello"),
            (Header::data(1, Flags::FIN, 0), b""),
            (Header::ping(Flags::SYN, 9), b""),
            (Header::data(3, Flags::SYN, 3), b"abc"),
        ];
        let bytes = stream_of(&frames);
        for chunk in [1, 2, 5, 11, 12, 13, 17, 1000] {
            let got = decode_all(&bytes, chunk);
            assert_eq!(got.len(), frames.len(), "chunk {chunk}");
            for ((h, p), (gh, gp)) in frames.iter().zip(&got) {
                assert_eq!(h, gh);
                assert_eq!(*p, &gp[..]);
            }
        }
    }

    #[test]
    fn payload_is_a_slice_of_the_input() {
        let bytes = Bytes::from(stream_of(&[(Header::data(1, Flags::NONE, 4), b"wxyz")]));
        let base = bytes.as_ptr();
        let mut input = bytes.clone();
        let mut d = Decoder::new(100);
        assert!(matches!(d.next(&mut input), Ok(Some(Item::Header(_)))));
        match d.next(&mut input) {
            Ok(Some(Item::Payload(p))) => assert_eq!(p.as_ptr(), base.wrapping_add(12)),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.next(&mut input), Ok(Some(Item::DataEnd)));
        assert_eq!(d.next(&mut input), Ok(None));
    }

    #[test]
    fn decoder_is_poisoned_after_an_error() {
        let mut d = Decoder::new(100);
        let mut input = Bytes::from_static(&[9; 24]);
        assert_eq!(d.next(&mut input), Err(FrameError::UnknownVersion(9)));
        assert_eq!(d.next(&mut input), Err(FrameError::UnknownVersion(9)));
    }

    #[test]
    fn arena_frames_are_whole_and_independent() {
        let mut a = HeaderArena::default();
        let h = Header::data(3, Flags::FIN, 7);
        let f = a.frame(h, |b| {
            b.put_slice(b"abc");
            b.put_slice(b"defg");
        });
        let g = a.header(Header::ping(Flags::SYN, 1));
        assert_eq!(&f[..HEADER_LEN], &h.encode());
        assert_eq!(&f[HEADER_LEN..], b"abcdefg");
        assert_eq!(&g[..], &Header::ping(Flags::SYN, 1).encode());
        let big = vec![9u8; SMALL_FRAME];
        for _ in 0..100 {
            let f = a.frame(Header::data(1, Flags::NONE, SMALL_FRAME as u32), |b| {
                b.put_slice(&big)
            });
            assert_eq!(f.len(), HEADER_LEN + SMALL_FRAME);
            assert!(f[HEADER_LEN..].iter().all(|&b| b == 9));
        }
    }

    #[test]
    fn arena_headers_are_independent() {
        let mut a = HeaderArena::default();
        let hs: Vec<Bytes> = (0..600)
            .map(|i| a.header(Header::data(i, Flags::NONE, i)))
            .collect();
        for (i, h) in hs.iter().enumerate() {
            assert_eq!(
                &h[..],
                &Header::data(i as u32, Flags::NONE, i as u32).encode()
            );
        }
    }
}
