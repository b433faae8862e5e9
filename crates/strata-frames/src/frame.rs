//! One frame: its type, its flags, its payload, and the 4-byte header that
//! carries them on the wire.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::FrameError;

/// Bytes in a frame header: a 24-bit little-endian payload length, then one
/// byte holding the type (high 4 bits) and the flags (low 4 bits).
pub const HEADER_LEN: usize = 4;

/// The largest payload a header can describe: 2^24 - 1 bytes.
pub const MAX_FRAME_LIMIT: usize = (1 << 24) - 1;

/// The default largest payload accepted and sent: 32 KiB, as in Mercurial.
pub const DEFAULT_MAX_FRAME: usize = 32 * 1024;

/// What a frame is: the high 4 bits of the header's last byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// The name of a command; starts a request.
    /// Flags: [`Flags::EOS`] (the whole request), [`Flags::HAVE_ARGS`],
    /// [`Flags::HAVE_DATA`].
    CommandName = 1,
    /// One argument of the command (or a piece of one): payload
    /// `<u16 LE name len><u16 LE value len>name value`.
    /// Flags: [`Flags::CONTINUATION`] (the value goes on in the next
    /// frame), [`Flags::EOA`] (the last argument).
    CommandArgument = 2,
    /// A piece of the command's data stream.
    /// Flags: [`Flags::CONTINUATION`] (more follows) or [`Flags::EOS`] (the last piece).
    CommandData = 3,
    /// A piece of a response.
    /// Flags: [`Flags::CONTINUATION`] (more follows) or [`Flags::EOS`] (the last piece).
    BytesResponse = 4,
    /// A failure, the payload a UTF-8 message; ends the response it is in.
    /// Flags: [`Flags::PROTOCOL`] (the peer broke the protocol; the
    /// connection closes) or [`Flags::APPLICATION`] (the command failed).
    ErrorResponse = 5,
}

impl FrameType {
    /// Every type, in wire order.
    pub const ALL: [FrameType; 5] = [
        FrameType::CommandName,
        FrameType::CommandArgument,
        FrameType::CommandData,
        FrameType::BytesResponse,
        FrameType::ErrorResponse,
    ];

    /// The type with this 4-bit code.
    #[inline]
    pub fn from_code(code: u8) -> Result<FrameType, FrameError> {
        match code {
            1 => Ok(FrameType::CommandName),
            2 => Ok(FrameType::CommandArgument),
            3 => Ok(FrameType::CommandData),
            4 => Ok(FrameType::BytesResponse),
            5 => Ok(FrameType::ErrorResponse),
            other => Err(FrameError::UnknownType(other)),
        }
    }

    /// The 4-bit code.
    #[inline]
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The human name: `command-name`, `bytes-response`, ...
    pub fn name(self) -> &'static str {
        match self {
            FrameType::CommandName => "command-name",
            FrameType::CommandArgument => "command-argument",
            FrameType::CommandData => "command-data",
            FrameType::BytesResponse => "bytes-response",
            FrameType::ErrorResponse => "error-response",
        }
    }

    /// The type named `name`.
    pub fn from_name(name: &str) -> Option<FrameType> {
        FrameType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The flags this type defines, as `(name, bit)`.
    pub fn flag_names(self) -> &'static [(&'static str, u8)] {
        match self {
            FrameType::CommandName => &[("eos", 1), ("have-args", 2), ("have-data", 4)],
            FrameType::CommandArgument => &[("continuation", 1), ("eoa", 2)],
            FrameType::CommandData | FrameType::BytesResponse => &[("continuation", 1), ("eos", 2)],
            FrameType::ErrorResponse => &[("protocol", 1), ("application", 2)],
        }
    }

    /// The bits of the flags nibble this type defines; any other bit set is
    /// a malformed frame. (The union of [`flag_names`](Self::flag_names)'
    /// bits, written out: it is checked in every header.)
    #[inline]
    pub fn valid_flags(self) -> u8 {
        match self {
            FrameType::CommandName => 0b111,
            FrameType::CommandArgument
            | FrameType::CommandData
            | FrameType::BytesResponse
            | FrameType::ErrorResponse => 0b011,
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The 4 flag bits of a frame. What a bit means depends on the frame's
/// type, so the constants below alias each other (`EOS` of a command-name
/// frame is bit 0; of a data or response frame, bit 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    /// No flag.
    pub const NONE: Flags = Flags(0);
    /// command-name: the request is this frame alone (no arguments, no data).
    pub const NAME_EOS: Flags = Flags(1);
    /// command-name: command-argument frames follow.
    pub const HAVE_ARGS: Flags = Flags(2);
    /// command-name: command-data frames follow (after the arguments).
    pub const HAVE_DATA: Flags = Flags(4);
    /// command-argument, command-data, bytes-response: more follows.
    pub const CONTINUATION: Flags = Flags(1);
    /// command-argument: this frame ends the last argument.
    pub const EOA: Flags = Flags(2);
    /// command-data, bytes-response: this is the last piece.
    pub const EOS: Flags = Flags(2);
    /// error-response: the peer broke the protocol.
    pub const PROTOCOL: Flags = Flags(1);
    /// error-response: the command failed.
    pub const APPLICATION: Flags = Flags(2);

    /// Flags from raw bits (only the low 4 are kept).
    pub const fn from_bits(bits: u8) -> Flags {
        Flags(bits & 0x0f)
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// One frame. The payload is a `Bytes`: a decoded frame's payload is a
/// slice of the bytes that arrived, and a frame being sent hands its
/// payload to the transport below as it is — never copied.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// The type.
    pub kind: FrameType,
    /// The flags (meaning depends on `kind`).
    pub flags: Flags,
    /// The payload, at most 2^24 - 1 bytes.
    pub payload: Bytes,
}

impl Frame {
    /// A frame of `kind` with `flags` and `payload`.
    pub fn new(kind: FrameType, flags: Flags, payload: impl Into<Bytes>) -> Frame {
        Frame {
            kind,
            flags,
            payload: payload.into(),
        }
    }

    /// The 4-byte header of this frame.
    ///
    /// The payload must be at most [`MAX_FRAME_LIMIT`] bytes: the encoders
    /// of this crate never make a longer one, and longer lengths are cut to
    /// 24 bits (debug builds assert).
    #[inline]
    pub fn header(&self) -> [u8; HEADER_LEN] {
        header(self.kind, self.flags, self.payload.len())
    }

    /// Append header and payload to `dst` (a copy; the layer itself writes
    /// the payload below without copying).
    pub fn encode_into(&self, dst: &mut BytesMut) {
        dst.reserve(HEADER_LEN + self.payload.len());
        dst.put_slice(&self.header());
        dst.put_slice(&self.payload);
    }

    /// The frame as bytes, header and payload.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(HEADER_LEN + self.payload.len());
        self.encode_into(&mut b);
        b.freeze()
    }

    /// The frame's length on the wire.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: Flags) -> bool {
        self.flags.contains(flag)
    }
}

impl fmt::Debug for Frame {
    /// The human form, as `strata frames decode` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::human::format(self))
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::human::format(self))
    }
}

/// What a header says, checked: type known, flags defined for the type,
/// length within `max`.
#[inline]
pub fn parse_header(
    h: [u8; HEADER_LEN],
    max: usize,
) -> Result<(FrameType, Flags, usize), FrameError> {
    let len = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
    let kind = FrameType::from_code(h[3] >> 4)?;
    let flags = Flags::from_bits(h[3]);
    if flags.bits() & !kind.valid_flags() != 0 {
        return Err(FrameError::UnknownFlags {
            kind,
            flags: flags.bits(),
        });
    }
    if len > max {
        return Err(FrameError::Oversized { len, max });
    }
    Ok((kind, flags, len))
}

/// The 4-byte header of a frame of `kind` with `flags` and a payload of
/// `len` bytes (at most [`MAX_FRAME_LIMIT`]; longer lengths are cut to 24
/// bits, and debug builds assert).
#[inline]
pub(crate) fn header(kind: FrameType, flags: Flags, len: usize) -> [u8; HEADER_LEN] {
    debug_assert!(len <= MAX_FRAME_LIMIT, "frame payload over 2^24-1");
    let len = (len as u32).to_le_bytes();
    [len[0], len[1], len[2], (kind.code() << 4) | flags.bits()]
}
