//! The wire format: what goes over each subchannel.
//!
//! Every subchannel starts with one **opening** from the sender, and ends
//! with one **receipt** from the receiver. Integers are big-endian.
//!
//! ```text
//! opening   = "SXF1" kind:u8 body
//!   kind 1  session: files:u64 dirs:u64 bytes:u64
//!   kind 2  file:    encoding:u8 mode:u32 size:u64 path_len:u16 path
//!   kind 3  dir:     mode:u32 path_len:u16 path
//! then, for a file: the content (raw, or one zstd stream), then end of
//! stream (the sender's close_write, a mux FIN).
//!
//! receipt   = "SXR1" status:u8 bytes:u64 hash:[u8;32] msg_len:u16 msg
//!   status 0 ok, 1 refused, 2 failed; bytes = bytes stored; hash =
//!   BLAKE3 of the bytes stored; msg = UTF-8, why (if not ok) or a summary.
//! ```
//!
//! Limits: a path is at most [`MAX_PATH`] bytes, a
//! message [`MAX_MESSAGE`] bytes; an opening is thus at most
//! [`MAX_OPENING`] bytes, a receipt at most [`MAX_RECEIPT`]. The decoders
//! take any prefix of the stream and say "need more", "here it is, and it
//! used n bytes", or a clear error — never a panic.

use bytes::{BufMut, Bytes, BytesMut};

use crate::path::{PathError, RelPath, MAX_PATH};

/// Magic at the start of every opening.
pub const OPEN_MAGIC: [u8; 4] = *b"SXF1";
/// Magic at the start of every receipt.
pub const RECEIPT_MAGIC: [u8; 4] = *b"SXR1";
/// The longest message a receipt carries, in bytes.
pub const MAX_MESSAGE: usize = 1024;
/// The longest opening, in bytes.
pub const MAX_OPENING: usize = 4 + 1 + 1 + 4 + 8 + 2 + MAX_PATH;
/// The longest receipt, in bytes.
pub const MAX_RECEIPT: usize = 4 + 1 + 8 + 32 + 2 + MAX_MESSAGE;

/// How a file's content is encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// The bytes as they are.
    Raw,
    /// One zstd stream that decompresses to the bytes.
    Zstd,
}

/// The first thing on every subchannel: what it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opening {
    /// The session channel: how much is coming. Its end of stream means
    /// "every entry has been sent".
    Session {
        /// Files that will be sent.
        files: u64,
        /// Directories that will be sent.
        dirs: u64,
        /// Bytes of file content (before encoding).
        bytes: u64,
    },
    /// A file: its content follows.
    File {
        /// Where it goes, under the target directory.
        path: RelPath,
        /// Its size in bytes (before encoding).
        size: u64,
        /// Its permission bits (`0o644`); only `0o777` is honoured.
        mode: u32,
        /// How the content is encoded.
        encoding: Encoding,
    },
    /// A directory (so that empty ones and their modes survive).
    Dir {
        /// Where it goes, under the target directory.
        path: RelPath,
        /// Its permission bits.
        mode: u32,
    },
}

/// A receipt's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Stored (for a file: complete, synced and under its final name).
    Ok,
    /// Not accepted (unsafe path, exists, limits).
    Refused,
    /// Accepted, then failed (disk error, short or long content).
    Failed,
}

/// The last thing on every subchannel, from the receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The verdict.
    pub status: Status,
    /// Bytes stored.
    pub bytes: u64,
    /// BLAKE3 of the bytes stored (zero where there are none).
    pub hash: [u8; 32],
    /// Why (when not ok), or a summary.
    pub message: String,
}

/// A malformed opening or receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The magic is wrong: not a transfer peer.
    #[error("not a strata transfer stream (bad magic {0:02x?})")]
    BadMagic([u8; 4]),
    /// Unknown kind, encoding or status byte.
    #[error("unknown {what} {value}")]
    Unknown {
        /// Which field.
        what: &'static str,
        /// Its value.
        value: u8,
    },
    /// A length field over its limit.
    #[error("{what} of {len} bytes is over the limit of {limit}")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// The length announced.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The path is refused.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The message is not UTF-8.
    #[error("the receipt's message is not UTF-8")]
    Utf8,
}

/// A little reader over a byte slice that reports "need more" as `None`.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.at..self.at + n)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_be_bytes(b.try_into().unwrap()))
    }
}

fn magic(buf: &[u8], want: [u8; 4]) -> Result<(), WireError> {
    let n = buf.len().min(4);
    if buf[..n] != want[..n] {
        let mut got = [0; 4];
        got[..n].copy_from_slice(&buf[..n]);
        return Err(WireError::BadMagic(got));
    }
    Ok(())
}

/// Read a length-prefixed path; errors as soon as the length is known bad.
fn path(r: &mut Reader<'_>) -> Result<Option<RelPath>, WireError> {
    let Some(len) = r.u16() else { return Ok(None) };
    let len = len as usize;
    if len > MAX_PATH {
        return Err(WireError::TooLong {
            what: "path",
            len,
            limit: MAX_PATH,
        });
    }
    let Some(b) = r.take(len) else {
        return Ok(None);
    };
    Ok(Some(RelPath::from_bytes(b)?))
}

impl Opening {
    /// Encode.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(64);
        b.put_slice(&OPEN_MAGIC);
        match self {
            Opening::Session { files, dirs, bytes } => {
                b.put_u8(1);
                b.put_u64(*files);
                b.put_u64(*dirs);
                b.put_u64(*bytes);
            }
            Opening::File {
                path,
                size,
                mode,
                encoding,
            } => {
                b.put_u8(2);
                b.put_u8(match encoding {
                    Encoding::Raw => 0,
                    Encoding::Zstd => 1,
                });
                b.put_u32(*mode);
                b.put_u64(*size);
                b.put_u16(path.as_str().len() as u16);
                b.put_slice(path.as_str().as_bytes());
            }
            Opening::Dir { path, mode } => {
                b.put_u8(3);
                b.put_u32(*mode);
                b.put_u16(path.as_str().len() as u16);
                b.put_slice(path.as_str().as_bytes());
            }
        }
        b.freeze()
    }

    /// Decode from the start of `buf`: `Ok(None)` if more bytes are needed,
    /// `Ok(Some((opening, used)))` once complete. Errors come as soon as the
    /// bytes seen prove the opening bad.
    pub fn decode(buf: &[u8]) -> Result<Option<(Opening, usize)>, WireError> {
        magic(buf, OPEN_MAGIC)?;
        let mut r = Reader { buf, at: 4 };
        let Some(kind) = r.u8() else { return Ok(None) };
        let opening = match kind {
            1 => {
                let (Some(files), Some(dirs), Some(bytes)) = (r.u64(), r.u64(), r.u64()) else {
                    return Ok(None);
                };
                Opening::Session { files, dirs, bytes }
            }
            2 => {
                let Some(enc) = r.u8() else { return Ok(None) };
                let encoding = match enc {
                    0 => Encoding::Raw,
                    1 => Encoding::Zstd,
                    value => {
                        return Err(WireError::Unknown {
                            what: "encoding",
                            value,
                        })
                    }
                };
                let (Some(mode), Some(size)) = (r.u32(), r.u64()) else {
                    return Ok(None);
                };
                let Some(path) = path(&mut r)? else {
                    return Ok(None);
                };
                Opening::File {
                    path,
                    size,
                    mode,
                    encoding,
                }
            }
            3 => {
                let Some(mode) = r.u32() else { return Ok(None) };
                let Some(path) = path(&mut r)? else {
                    return Ok(None);
                };
                Opening::Dir { path, mode }
            }
            value => {
                return Err(WireError::Unknown {
                    what: "opening kind",
                    value,
                })
            }
        };
        Ok(Some((opening, r.at)))
    }
}

impl Receipt {
    /// A receipt saying `status` with `message` and no content.
    pub fn new(status: Status, message: impl Into<String>) -> Receipt {
        Receipt {
            status,
            bytes: 0,
            hash: [0; 32],
            message: message.into(),
        }
    }

    /// Encode (the message is cut to [`MAX_MESSAGE`] bytes, at a character
    /// boundary).
    pub fn encode(&self) -> Bytes {
        let mut msg = self.message.as_str();
        if msg.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !msg.is_char_boundary(end) {
                end -= 1;
            }
            msg = &msg[..end];
        }
        let mut b = BytesMut::with_capacity(4 + 1 + 8 + 32 + 2 + msg.len());
        b.put_slice(&RECEIPT_MAGIC);
        b.put_u8(match self.status {
            Status::Ok => 0,
            Status::Refused => 1,
            Status::Failed => 2,
        });
        b.put_u64(self.bytes);
        b.put_slice(&self.hash);
        b.put_u16(msg.len() as u16);
        b.put_slice(msg.as_bytes());
        b.freeze()
    }

    /// Decode from the start of `buf`, like [`Opening::decode`].
    pub fn decode(buf: &[u8]) -> Result<Option<(Receipt, usize)>, WireError> {
        magic(buf, RECEIPT_MAGIC)?;
        let mut r = Reader { buf, at: 4 };
        let Some(st) = r.u8() else { return Ok(None) };
        let status = match st {
            0 => Status::Ok,
            1 => Status::Refused,
            2 => Status::Failed,
            value => {
                return Err(WireError::Unknown {
                    what: "status",
                    value,
                })
            }
        };
        let Some(bytes) = r.u64() else {
            return Ok(None);
        };
        let Some(hash) = r.take(32) else {
            return Ok(None);
        };
        let hash: [u8; 32] = hash.try_into().unwrap();
        let Some(len) = r.u16() else { return Ok(None) };
        let len = len as usize;
        if len > MAX_MESSAGE {
            return Err(WireError::TooLong {
                what: "message",
                len,
                limit: MAX_MESSAGE,
            });
        }
        let Some(m) = r.take(len) else {
            return Ok(None);
        };
        let message = std::str::from_utf8(m)
            .map_err(|_| WireError::Utf8)?
            .to_string();
        Ok(Some((
            Receipt {
                status,
                bytes,
                hash,
                message,
            },
            r.at,
        )))
    }
}

/// A hash as lowercase hex.
pub fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(o: Opening) {
        let b = o.encode();
        for cut in 0..b.len() {
            assert_eq!(Opening::decode(&b[..cut]).unwrap(), None, "cut {cut}");
        }
        let mut more = b.to_vec();
        more.extend_from_slice(b"content");
        assert_eq!(Opening::decode(&more).unwrap(), Some((o, b.len())));
    }

    #[test]
    fn openings_roundtrip_at_every_cut() {
        roundtrip(Opening::Session {
            files: 3,
            dirs: 1,
            bytes: 1 << 40,
        });
        roundtrip(Opening::File {
            path: RelPath::new("a/b.txt").unwrap(),
            size: 12345,
            mode: 0o640,
            encoding: Encoding::Zstd,
        });
        roundtrip(Opening::Dir {
            path: RelPath::new("empty").unwrap(),
            mode: 0o700,
        });
    }

    #[test]
    fn receipts_roundtrip() {
        let r = Receipt {
            status: Status::Failed,
            bytes: 7,
            hash: [9; 32],
            message: "disk full".into(),
        };
        let b = r.encode();
        for cut in 0..b.len() {
            assert_eq!(Receipt::decode(&b[..cut]).unwrap(), None);
        }
        assert_eq!(Receipt::decode(&b).unwrap(), Some((r, b.len())));
        let long = Receipt::new(Status::Refused, "é".repeat(2000)).encode();
        assert!(long.len() <= MAX_RECEIPT);
        assert!(Receipt::decode(&long).unwrap().is_some());
    }

    fn crafted_file(path: &[u8]) -> Vec<u8> {
        let mut b = b"SXF1\x02\x00".to_vec();
        b.extend_from_slice(&0o644u32.to_be_bytes());
        b.extend_from_slice(&5u64.to_be_bytes());
        b.extend_from_slice(&(path.len() as u16).to_be_bytes());
        b.extend_from_slice(path);
        b
    }

    #[test]
    fn bad_openings_are_clear_errors() {
        assert!(matches!(
            Opening::decode(b"GET / HTTP/1.1"),
            Err(WireError::BadMagic(_))
        ));
        assert!(matches!(Opening::decode(b"SX"), Ok(None)));
        assert!(matches!(
            Opening::decode(b"SQ"),
            Err(WireError::BadMagic(_))
        ));
        assert!(matches!(
            Opening::decode(b"SXF1\x09"),
            Err(WireError::Unknown { .. })
        ));
        assert!(matches!(
            Opening::decode(&crafted_file(b"../etc/passwd")),
            Err(WireError::Path(PathError::DotDot(_)))
        ));
        assert!(matches!(
            Opening::decode(&crafted_file(b"/etc/passwd")),
            Err(WireError::Path(PathError::Absolute(_)))
        ));
        // An over-long path is refused from its length alone.
        let mut b = crafted_file(b"");
        let n = b.len();
        b[n - 2..].copy_from_slice(&60000u16.to_be_bytes());
        assert!(matches!(
            Opening::decode(&b),
            Err(WireError::TooLong { .. })
        ));
    }
}
