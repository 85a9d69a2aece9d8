//! Where one LDAP message ends in the bytes a server sent: from its BER header alone,
//! before its content is buffered, so that a message announced larger than the limit is
//! refused at once, whatever follows it.

use super::ber::{header, BerError};
use thiserror::Error;

/// What the bytes read so far hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Not yet a whole message: this many bytes make one (when the header is in),
    /// `None` while the header itself is incomplete.
    Partial(Option<usize>),
    /// A whole message of this many bytes (header included) starts the buffer.
    Complete(usize),
}

/// Why the bytes cannot be a message the probe accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The header announces more than the limit.
    #[error("the server announced a message of {announced} bytes (limit {limit})")]
    TooLarge {
        /// The content length the header announces.
        announced: u64,
        /// The limit in force.
        limit: usize,
    },
    /// The first byte is not an LDAPMessage's SEQUENCE.
    #[error("the server sent bytes that are not an LDAP message (first byte {0:#04x})")]
    NotLdap(u8),
    /// The header is not BER LDAP allows.
    #[error("the server sent an LDAP message header that is not valid BER: {0}")]
    BadHeader(BerError),
}

/// Frames the message at the start of `buf`, refusing one whose content is announced
/// longer than `limit` bytes.
pub fn frame(buf: &[u8], limit: usize) -> Result<Frame, FrameError> {
    if let Some(&first) = buf.first() {
        if first != super::ber::tag::SEQUENCE {
            return Err(FrameError::NotLdap(first));
        }
    }
    let Some((_, head, len)) = header(buf).map_err(FrameError::BadHeader)? else {
        return Ok(Frame::Partial(None));
    };
    if len > limit as u64 {
        return Err(FrameError::TooLarge {
            announced: len,
            limit,
        });
    }
    // Within the limit, so this fits a usize.
    let total = head + len as usize;
    if buf.len() >= total {
        Ok(Frame::Complete(total))
    } else {
        Ok(Frame::Partial(Some(total)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_announced_over_the_limit_is_refused_from_its_header() {
        let two_gib = [0x30, 0x84, 0x7f, 0xff, 0xff, 0xff];
        assert_eq!(
            frame(&two_gib, 1 << 20),
            Err(FrameError::TooLarge {
                announced: 0x7fff_ffff,
                limit: 1 << 20
            })
        );
        assert_eq!(
            FrameError::TooLarge {
                announced: 2147483647,
                limit: 4194304
            }
            .to_string(),
            "the server announced a message of 2147483647 bytes (limit 4194304)"
        );
        let eight = [0x30, 0x88, 0x01, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            frame(&eight, 1 << 20),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn partial_complete_and_not_ldap() {
        assert_eq!(frame(&[], 100), Ok(Frame::Partial(None)));
        assert_eq!(frame(&[0x30], 100), Ok(Frame::Partial(None)));
        assert_eq!(frame(&[0x30, 0x03, 0x02], 100), Ok(Frame::Partial(Some(5))));
        assert_eq!(
            frame(&[0x30, 0x03, 0x02, 0x01, 0x01, 0x30], 100),
            Ok(Frame::Complete(5))
        );
        assert_eq!(frame(&[0x41, 0x41], 100), Err(FrameError::NotLdap(0x41)));
        assert_eq!(
            frame(&[0x30, 0x80], 100),
            Err(FrameError::BadHeader(BerError::Indefinite))
        );
    }
}
