//! BER as LDAP uses it (RFC 4511 §5.1: definite lengths, one-byte tags): a reader over a
//! byte slice that never reads past it and never panics, whatever the bytes, and a
//! writer for the requests the probe sends.

use thiserror::Error;

/// Why bytes are not the BER element the reader expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BerError {
    /// The bytes end inside an element.
    #[error("the message ends inside an element")]
    Truncated,
    /// A length in more than 8 bytes.
    #[error("a length of {0} bytes")]
    LengthTooLong(u8),
    /// An indefinite length, which LDAP does not allow.
    #[error("an indefinite length (LDAP allows none)")]
    Indefinite,
    /// A tag of more than one byte (LDAP uses none).
    #[error("a multi-byte tag (LDAP uses none)")]
    LongTag,
    /// Another element than the one the grammar requires here.
    #[error("{expected} expected, tag {found:#04x} found")]
    UnexpectedTag {
        /// What the grammar wants.
        expected: &'static str,
        /// The tag found.
        found: u8,
    },
    /// The element is missing.
    #[error("{0} missing")]
    Missing(&'static str),
    /// An integer that is empty or longer than 8 bytes.
    #[error("an integer of {0} bytes")]
    BadInteger(usize),
    /// A boolean that is not one byte.
    #[error("a boolean of {0} bytes")]
    BadBoolean(usize),
}

/// One element: its tag and its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag byte (class, constructed bit and number).
    pub tag: u8,
    /// The content octets.
    pub value: &'a [u8],
}

/// An element's header: its tag, how many bytes the header takes, and the length the
/// header announces for the content. `Ok(None)`: more bytes are needed to tell.
pub fn header(buf: &[u8]) -> Result<Option<(u8, usize, u64)>, BerError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if tag & 0x1f == 0x1f {
        return Err(BerError::LongTag);
    }
    let Some(&first) = buf.get(1) else {
        return Ok(None);
    };
    if first < 0x80 {
        return Ok(Some((tag, 2, u64::from(first))));
    }
    let n = first & 0x7f;
    if n == 0 {
        return Err(BerError::Indefinite);
    }
    if n > 8 {
        return Err(BerError::LengthTooLong(n));
    }
    let n = usize::from(n);
    let Some(bytes) = buf.get(2..2 + n) else {
        return Ok(None);
    };
    let len = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    Ok(Some((tag, 2 + n, len)))
}

/// Reads elements one after the other from a slice.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// The next element.
    pub fn read(&mut self) -> Result<Tlv<'a>, BerError> {
        let (tag, head, len) = header(self.buf)?.ok_or(BerError::Truncated)?;
        let len = usize::try_from(len).map_err(|_| BerError::Truncated)?;
        let end = head.checked_add(len).ok_or(BerError::Truncated)?;
        let value = self.buf.get(head..end).ok_or(BerError::Truncated)?;
        self.buf = &self.buf[end..];
        Ok(Tlv { tag, value })
    }

    /// The next element, which must have `tag`.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], BerError> {
        match self.peek_tag() {
            None => Err(BerError::Missing(what)),
            Some(t) if t != tag => Err(BerError::UnexpectedTag {
                expected: what,
                found: t,
            }),
            Some(_) => Ok(self.read()?.value),
        }
    }

    /// The next element if it has `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, BerError> {
        if self.peek_tag() == Some(tag) {
            Ok(Some(self.read()?.value))
        } else {
            Ok(None)
        }
    }
}

/// The value of a (two's complement) INTEGER or ENUMERATED's content.
pub fn integer(v: &[u8]) -> Result<i64, BerError> {
    if v.is_empty() || v.len() > 8 {
        return Err(BerError::BadInteger(v.len()));
    }
    let negative = v[0] & 0x80 != 0;
    let start = if negative { -1i64 } else { 0 };
    Ok(v.iter().fold(start, |acc, b| (acc << 8) | i64::from(*b)))
}

/// The value of a BOOLEAN's content.
pub fn boolean(v: &[u8]) -> Result<bool, BerError> {
    match v {
        [b] => Ok(*b != 0),
        _ => Err(BerError::BadBoolean(v.len())),
    }
}

/// Universal tags LDAP uses.
pub mod tag {
    /// BOOLEAN
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER
    pub const INTEGER: u8 = 0x02;
    /// OCTET STRING
    pub const OCTET_STRING: u8 = 0x04;
    /// ENUMERATED
    pub const ENUMERATED: u8 = 0x0a;
    /// SEQUENCE (constructed)
    pub const SEQUENCE: u8 = 0x30;
    /// SET (constructed)
    pub const SET: u8 = 0x31;
}

/// Appends one element: `tag`, the length of `content` and `content`.
pub fn put(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    put_length(out, content.len());
    out.extend_from_slice(content);
}

fn put_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push(0x80 | (8 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// The content octets of the INTEGER `n` (shortest two's complement form).
pub fn integer_content(n: i64) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes[start..].to_vec()
}

/// Appends an INTEGER (or, with another tag, an ENUMERATED or a tagged integer).
pub fn put_integer(out: &mut Vec<u8>, tag: u8, n: i64) {
    put(out, tag, &integer_content(n));
}

/// An element built from the elements `f` appends.
pub fn constructed(out: &mut Vec<u8>, tag: u8, f: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    f(&mut inner);
    put(out, tag, &inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_in_their_shortest_form() {
        for n in [
            0i64,
            1,
            127,
            128,
            255,
            256,
            -1,
            -128,
            -129,
            i32::MAX as i64,
            i64::MIN,
        ] {
            let c = integer_content(n);
            assert_eq!(integer(&c), Ok(n), "{n}: {c:02x?}");
        }
        assert_eq!(integer_content(127), vec![0x7f]);
        assert_eq!(integer_content(128), vec![0x00, 0x80]);
        assert_eq!(integer_content(-1), vec![0xff]);
        assert_eq!(integer(&[]), Err(BerError::BadInteger(0)));
    }

    #[test]
    fn lengths_short_long_and_refused() {
        let mut out = Vec::new();
        put(&mut out, tag::OCTET_STRING, &[7u8; 300]);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let mut r = Reader::new(&out);
        assert_eq!(r.read().unwrap().value.len(), 300);
        assert!(r.is_empty());
        assert_eq!(header(&[0x30, 0x80]), Err(BerError::Indefinite));
        assert_eq!(header(&[0x30, 0x89]), Err(BerError::LengthTooLong(9)));
        assert_eq!(header(&[0x3f, 0x01]), Err(BerError::LongTag));
        assert_eq!(header(&[0x30, 0x84, 0x7f]), Ok(None));
        assert_eq!(
            header(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]),
            Ok(Some((0x30, 6, 0x7fff_ffff)))
        );
        assert_eq!(
            header(&[0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Ok(Some((0x30, 10, u64::MAX)))
        );
        // A length past the slice is truncation, never a read beyond it.
        assert_eq!(
            Reader::new(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff, 1]).read(),
            Err(BerError::Truncated)
        );
        assert_eq!(
            Reader::new(&[0x04, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).read(),
            Err(BerError::Truncated)
        );
    }

    #[test]
    fn expect_names_what_is_missing_or_wrong() {
        let mut r = Reader::new(&[0x02, 0x01, 0x05]);
        assert_eq!(
            r.expect(tag::OCTET_STRING, "the DN"),
            Err(BerError::UnexpectedTag {
                expected: "the DN",
                found: 0x02
            })
        );
        assert_eq!(r.expect(tag::INTEGER, "the id"), Ok(&[5u8][..]));
        assert_eq!(
            r.expect(tag::INTEGER, "the id"),
            Err(BerError::Missing("the id"))
        );
        assert_eq!(r.optional(tag::INTEGER), Ok(None));
    }
}
