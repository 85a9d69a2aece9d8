//! SIP messages as the probe needs them: parsing (rsip, guarded and bounded), stream
//! framing by Content-Length, header access with compact forms, and PIDF reading.
//!
//! Nothing here panics on any input: rsip runs behind `catch_unwind`, every size is
//! bounded by [`MAX_MESSAGE`], and header access is tolerant text processing on a
//! message rsip has accepted.

pub use crate::error::MessageError;
use imp_verify_core::text::peer_text;

/// The most a message (headers and body) may be.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// A parsed SIP response: what the checks need of it. Its text fields are the peer's
/// own bytes: shown through [`imp_verify_core::text`] (see [`SipResponse::status_line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipResponse {
    /// The status code (200).
    pub code: u16,
    /// The reason phrase (`OK`).
    pub reason: String,
    /// The Call-ID it answers.
    pub call_id: String,
    /// The CSeq it answers (`1 OPTIONS`).
    pub cseq: String,
    /// The branch of its top Via.
    pub branch: String,
    /// The Server (or User-Agent) header: what software answered.
    pub server: String,
}

impl SipResponse {
    /// The response of a message that is one.
    pub fn of(m: &Message) -> Option<SipResponse> {
        Some(SipResponse {
            code: m.code()?,
            reason: m.reason().to_string(),
            call_id: m.call_id().to_string(),
            cseq: m.cseq().to_string(),
            branch: m.branch().to_string(),
            server: m
                .header("Server")
                .or(m.header("User-Agent"))
                .unwrap_or("")
                .to_string(),
        })
    }

    /// `SIP/2.0 200 OK`, the reason phrase escaped and cut.
    pub fn status_line(&self) -> String {
        format!("SIP/2.0 {} {}", self.code, peer_text(&self.reason))
    }

    /// `200 OK`, the reason phrase escaped and cut.
    pub fn status(&self) -> String {
        format!("{} {}", self.code, peer_text(&self.reason))
    }

    /// The Server header, escaped and cut (empty when there was none).
    pub fn server_shown(&self) -> String {
        peer_text(&self.server)
    }

    /// Whether the node refused the request's sender: 403 Forbidden (IM&P's SIP proxy
    /// to a host outside its incoming ACL, or to a TLS peer outside the TLS peer
    /// subjects).
    pub fn forbidden(&self) -> bool {
        self.code == 403
    }
}

/// Parses one SIP response; `Err` says why it is not one (never panics).
pub fn parse_response(bytes: &[u8]) -> Result<SipResponse, MessageError> {
    let m = Message::parse(bytes)?;
    SipResponse::of(&m).ok_or_else(|| MessageError::NotAResponse(peer_text(m.first_line())))
}

/// One SIP message, request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The start line: `SIP/2.0 200 OK` or `NOTIFY sip:x@y SIP/2.0`.
    pub start: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (Content-Length bytes).
    pub body: Vec<u8>,
}

/// The long name of a compact header form (RFC 3261 section 7.3.3 and RFC 3265).
fn long_name(name: &str) -> &str {
    match name {
        "v" | "V" => "Via",
        "i" | "I" => "Call-ID",
        "f" | "F" => "From",
        "t" | "T" => "To",
        "l" | "L" => "Content-Length",
        "c" | "C" => "Content-Type",
        "m" | "M" => "Contact",
        "o" | "O" => "Event",
        _ => name,
    }
}

impl Message {
    /// Parses one whole message; `Err` says why it is not one (never panics).
    pub fn parse(bytes: &[u8]) -> Result<Message, MessageError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(MessageError::TooLarge(bytes.len()));
        }
        std::panic::catch_unwind(|| rsip::SipMessage::try_from(bytes))
            .map_err(|_| MessageError::ParserPanic)?
            .map_err(|e| MessageError::NotSip(peer_text(&e.to_string())))?;
        let end = find(bytes, b"\r\n\r\n").map(|i| (i, i + 4));
        let (head_end, body_start) = end.unwrap_or((bytes.len(), bytes.len()));
        let head = String::from_utf8_lossy(&bytes[..head_end]);
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or("").trim().to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                // A folded continuation line belongs to the header before it.
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((long_name(k.trim()).to_string(), v.trim().to_string()));
            }
        }
        Ok(Message {
            start,
            headers,
            body: bytes[body_start..].to_vec(),
        })
    }

    /// The first value of a header (compact forms are read as their long names).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order (a comma-joined Via counts as several).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The status code, if this is a response.
    pub fn code(&self) -> Option<u16> {
        let rest = self.start.strip_prefix("SIP/2.0 ")?;
        rest.split(' ').next()?.parse().ok()
    }

    /// The reason phrase of a response.
    pub fn reason(&self) -> &str {
        self.start.splitn(3, ' ').nth(2).unwrap_or("").trim()
    }

    /// The method, if this is a request.
    pub fn method(&self) -> Option<&str> {
        if self.start.starts_with("SIP/") {
            return None;
        }
        self.start.split(' ').next()
    }

    /// The branch parameter of the top Via.
    pub fn branch(&self) -> &str {
        self.header("Via")
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.split(';').find_map(|p| p.trim().strip_prefix("branch=")))
            .unwrap_or("")
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        self.header("Call-ID").unwrap_or("")
    }

    /// The CSeq header: `2 NOTIFY`.
    pub fn cseq(&self) -> &str {
        self.header("CSeq").unwrap_or("")
    }

    /// The `tag` parameter of the To header.
    pub fn to_tag(&self) -> Option<&str> {
        tag(self.header("To")?)
    }

    /// The status line of a response or the request line of a request.
    pub fn first_line(&self) -> &str {
        &self.start
    }
}

/// The `tag` parameter of a From or To value.
pub fn tag(v: &str) -> Option<&str> {
    let params = v.rsplit_once('>').map(|(_, p)| p).unwrap_or(v);
    params
        .split(';')
        .find_map(|p| p.trim().strip_prefix("tag="))
}

/// Takes one whole message off the front of a stream buffer: `Ok(None)` if more bytes
/// are needed, `Err` if the bytes can never make a message within the bounds.
pub fn next_message(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, MessageError> {
    // Keep-alive CRLFs between messages (RFC 5626) are not messages.
    let skip = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    buf.drain(..skip);
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_MESSAGE {
            return Err(MessageError::NoHeaderEnd(buf.len()));
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut len = None;
    for line in head.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            if long_name(k.trim()).eq_ignore_ascii_case("Content-Length") {
                len = Some(
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| MessageError::BadContentLength(peer_text(v.trim())))?,
                );
            }
        }
    }
    // Over a stream, Content-Length is mandatory (RFC 3261 section 18.3); none means 0.
    let len = len.unwrap_or(0);
    if len > MAX_MESSAGE || end + 4 + len > MAX_MESSAGE {
        return Err(MessageError::BodyTooLarge(len));
    }
    if buf.len() < end + 4 + len {
        return Ok(None);
    }
    Ok(Some(buf.drain(..end + 4 + len).collect()))
}

/// Where `needle` first occurs in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One tuple of a PIDF document: its basic status and note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tuple {
    /// `open` or `closed`.
    pub basic: Option<String>,
    /// The tuple's note (where the checks put their run token).
    pub note: Option<String>,
}

/// What a PIDF document says of a presentity: its tuples, in order. A presence server
/// aggregates every publication of the presentity into one document, one tuple each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pidf {
    /// The tuples, in document order.
    pub tuples: Vec<Tuple>,
}

impl Pidf {
    /// The tuple whose note is `note`.
    pub fn with_note(&self, note: &str) -> Option<&Tuple> {
        self.tuples.iter().find(|t| t.note.as_deref() == Some(note))
    }

    /// `basic (note); ...` of every tuple, for evidence (the peer's text escaped and
    /// cut, at most [`imp_verify_core::text::LIST_MAX`] tuples).
    pub fn summary(&self) -> String {
        if self.tuples.is_empty() {
            return "no PIDF tuple".into();
        }
        imp_verify_core::text::cut_list(
            self.tuples.iter().map(|t| {
                format!(
                    "{} ({})",
                    peer_text(t.basic.as_deref().unwrap_or("?")),
                    peer_text(t.note.as_deref().unwrap_or(""))
                )
            }),
            "; ",
        )
    }
}

/// Reads the tuples (basic status, note) of a PIDF body; tolerant of namespace prefixes
/// and of notes outside tuples; text only, never panics.
pub fn read_pidf(body: &[u8]) -> Pidf {
    let text = String::from_utf8_lossy(body);
    let mut pidf = Pidf::default();
    let mut rest: &str = &text;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with(['/', '?', '!']) || tag.ends_with('/') {
            continue;
        }
        let name = tag.split_whitespace().next().unwrap_or("");
        let local = name.rsplit(':').next().unwrap_or("");
        match local {
            "tuple" => pidf.tuples.push(Tuple::default()),
            "basic" | "note" => {
                let content = rest[..rest.find('<').unwrap_or(rest.len())]
                    .trim()
                    .to_string();
                if pidf.tuples.is_empty() {
                    pidf.tuples.push(Tuple::default());
                }
                let t = pidf.tuples.last_mut().expect("a tuple");
                let slot = if local == "basic" {
                    &mut t.basic
                } else {
                    &mut t.note
                };
                if slot.is_none() {
                    *slot = Some(content);
                }
            }
            _ => {}
        }
    }
    pidf
}

/// A PIDF document for `entity` with one tuple: its id (unique to the publisher: a
/// presence server merges the tuples of all publications by id), basic status and note.
pub fn pidf(entity: &str, tuple: &str, basic: &str, note: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
         <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"{entity}\">\r\n\
         <tuple id=\"{tuple}\"><status><basic>{basic}</basic></status><note>{note}</note></tuple>\r\n\
         </presence>\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notify_parses_with_compact_headers_and_its_pidf_is_read() {
        let body = pidf("sip:alice@lab.test", "t1", "open", "imp-verify x1");
        let raw = format!(
            "NOTIFY sip:impv@127.0.0.1:5099;transport=tcp SIP/2.0\r\nv: SIP/2.0/TCP 127.0.0.22;branch=z9hG4bK1\r\nt: <sip:bob@lab.test>;tag=a\r\nf: <sip:alice@lab.test>;tag=b\r\ni: c1\r\nCSeq: 2 NOTIFY\r\nSubscription-State: active;expires=60\r\nc: application/pidf+xml\r\nl: {}\r\n\r\n{body}",
            body.len()
        );
        let mut buf = raw.clone().into_bytes();
        buf.extend_from_slice(b"SIP/2.0 200");
        let one = next_message(&mut buf).unwrap().unwrap();
        assert_eq!(buf, b"SIP/2.0 200", "only the first message is taken");
        let m = Message::parse(&one).unwrap();
        assert_eq!(
            (m.method(), m.call_id(), m.cseq(), m.branch(), m.to_tag()),
            (Some("NOTIFY"), "c1", "2 NOTIFY", "z9hG4bK1", Some("a"))
        );
        let t = Tuple {
            basic: Some("open".into()),
            note: Some("imp-verify x1".into()),
        };
        assert_eq!(read_pidf(&m.body), Pidf { tuples: vec![t] });
        assert_eq!(
            next_message(&mut buf).unwrap(),
            None,
            "a partial message waits for more bytes"
        );
    }

    #[test]
    fn framing_refuses_oversized_and_nonsense_lengths() {
        assert!(
            next_message(&mut b"SIP/2.0 200 OK\r\nContent-Length: 999999999\r\n\r\n".to_vec())
                .is_err()
        );
        assert!(next_message(&mut b"SIP/2.0 200 OK\r\nl: -1\r\n\r\n".to_vec()).is_err());
        assert!(next_message(&mut vec![b'a'; MAX_MESSAGE + 1]).is_err());
        let mut keepalive = b"\r\n\r\n".to_vec();
        assert_eq!(next_message(&mut keepalive).unwrap(), None);
        assert!(keepalive.is_empty());
    }

    #[test]
    fn pidf_reading_is_tolerant() {
        let p = read_pidf(b"<p:presence xmlns:p='x'><p:tuple><p:status><p:basic> closed </p:basic></p:status></p:tuple><dm:note/></p:presence>");
        assert_eq!(
            p.tuples,
            vec![Tuple {
                basic: Some("closed".into()),
                note: None
            }]
        );
        // An aggregated document: one tuple per publication.
        let two = format!(
            "{}{}",
            pidf("sip:a@b", "t1", "open", "one"),
            pidf("sip:a@b", "t2", "closed", "two")
        );
        let p = read_pidf(two.as_bytes());
        assert_eq!(
            p.with_note("two").and_then(|t| t.basic.as_deref()),
            Some("closed")
        );
        assert_eq!(p.summary(), "open (one); closed (two)");
        assert_eq!(read_pidf(b"<<<>>></"), Pidf::default());
        assert_eq!(read_pidf(&[0xff, b'<', 0xfe]), Pidf::default());
    }
}
