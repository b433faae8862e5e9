//! Frames as one line of text, for people: `<type> <flags> <payload>`.
//!
//! * `type` is a name (`command-name`, `command-argument`, `command-data`,
//!   `bytes-response`, `error-response`) or its number;
//! * `flags` are names of the type's flags or numbers, joined by `|`
//!   (`have-args|have-data`), or `0` for none;
//! * `payload` is the rest of the line, with escapes: `\\`, `\n`, `\r`,
//!   `\t`, `\0`, `\xHH`. It may be empty (and then left out).
//!
//! ```
//! use strata_frames::{human, Flags, FrameType};
//! let f = human::parse("command-name have-args|have-data hash").unwrap();
//! assert_eq!(f.kind, FrameType::CommandName);
//! assert_eq!(f.flags, Flags::HAVE_ARGS | Flags::HAVE_DATA);
//! assert_eq!(human::format(&f), "command-name have-args|have-data hash");
//! assert_eq!(f.to_bytes()[..], b"\x04\x00\x00\x16hash"[..]);
//! ```
//!
//! [`format()`] writes the same syntax back, escaping what is not printable
//! ASCII, so `parse(format(f)) == f` for every frame.

use bytes::Bytes;

use crate::{Flags, Frame, FrameType, MAX_FRAME_LIMIT};

/// Why a line is not a frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is empty or has no flags field.
    #[error("expected \"<type> <flags> [payload]\", got {0:?}")]
    Shape(String),
    /// The type is neither a known name nor a number 1 to 5.
    #[error("unknown frame type {0:?} (expected command-name, command-argument, command-data, bytes-response, error-response or 1-5)")]
    Type(String),
    /// A flag is neither a name the type defines nor a number 0 to 15.
    #[error("unknown flag {flag:?} for a {kind} frame (expected {expected}, or a number 0-15)")]
    Flag {
        /// The flag as written.
        flag: String,
        /// The frame's type.
        kind: FrameType,
        /// The names the type defines.
        expected: String,
    },
    /// A bad escape in the payload.
    #[error("bad escape in payload at byte {0} (expected \\\\, \\n, \\r, \\t, \\0 or \\xHH)")]
    Escape(usize),
    /// The payload is longer than a frame can be.
    #[error("payload of {0} bytes exceeds 2^24-1")]
    TooLong(usize),
}

/// Parse one line into a frame.
pub fn parse(line: &str) -> Result<Frame, ParseError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut parts = line.splitn(3, ' ');
    let (Some(ty), Some(flags)) = (parts.next(), parts.next()) else {
        return Err(ParseError::Shape(line.to_string()));
    };
    if ty.is_empty() || flags.is_empty() {
        return Err(ParseError::Shape(line.to_string()));
    }
    let payload = parts.next().unwrap_or("");
    let kind = match FrameType::from_name(ty) {
        Some(k) => k,
        None => ty
            .parse::<u8>()
            .ok()
            .and_then(|n| FrameType::from_code(n).ok())
            .ok_or_else(|| ParseError::Type(ty.to_string()))?,
    };
    let mut bits = 0u8;
    for flag in flags.split('|') {
        if let Some((_, b)) = kind.flag_names().iter().find(|(n, _)| *n == flag) {
            bits |= b;
        } else if let Some(n) = flag.parse::<u8>().ok().filter(|n| *n < 16) {
            bits |= n;
        } else {
            return Err(ParseError::Flag {
                flag: flag.to_string(),
                kind,
                expected: kind
                    .flag_names()
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let payload = unescape(payload)?;
    if payload.len() > MAX_FRAME_LIMIT {
        return Err(ParseError::TooLong(payload.len()));
    }
    Ok(Frame::new(
        kind,
        Flags::from_bits(bits),
        Bytes::from(payload),
    ))
}

/// The flags of a frame in words: names joined by `|`, numbers for bits
/// its type does not define, `0` for none.
pub fn flags_text(kind: FrameType, flags: Flags) -> String {
    if flags.is_empty() {
        return "0".to_string();
    }
    let mut words = Vec::new();
    let mut rest = flags.bits();
    for (name, b) in kind.flag_names() {
        if rest & b != 0 {
            words.push(name.to_string());
            rest &= !b;
        }
    }
    for bit in 0..4 {
        if rest & (1 << bit) != 0 {
            words.push((1u8 << bit).to_string());
        }
    }
    words.join("|")
}

/// The frame as one line (no newline).
pub fn format(frame: &Frame) -> String {
    let mut s = format!(
        "{} {}",
        frame.kind.name(),
        flags_text(frame.kind, frame.flags)
    );
    if !frame.payload.is_empty() {
        s.push(' ');
        s.push_str(&escape(&frame.payload));
    }
    s
}

/// `bytes` with everything but printable ASCII escaped.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// Undo [`escape`] (and accept `\0`).
pub fn unescape(text: &str) -> Result<Vec<u8>, ParseError> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = *b.get(i + 1).ok_or(ParseError::Escape(i))?;
        match c {
            b'\\' => out.push(b'\\'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'0' => out.push(0),
            b'x' => {
                let hex = b.get(i + 2..i + 4).ok_or(ParseError::Escape(i))?;
                let digit = |h: u8| (h as char).to_digit(16).ok_or(ParseError::Escape(i));
                out.push((digit(hex[0])? * 16 + digit(hex[1])?) as u8);
                i += 2;
            }
            _ => return Err(ParseError::Escape(i)),
        }
        i += 2;
    }
    Ok(out)
}
