//! LDAP messages (RFC 4511 §4): the requests the probe sends, encoded, and the
//! responses it reads, decoded from one framed message into plain values. Decoding is
//! total: any bytes give a value or a [`DecodeError`], never a panic, and no value
//! longer than the limit is kept.

use super::ber::{self, integer, tag, BerError, Reader};
use super::filter::Filter;
use thiserror::Error;

/// Why a framed message is not an LDAP response the probe can read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Not BER as the grammar wants it.
    #[error("the server sent an undecodable LDAP message: {0}")]
    Ber(#[from] BerError),
    /// A protocol operation the probe never asked for (a request, from a server).
    #[error("the server sent an LDAP operation no client expects (tag {0:#04x})")]
    UnexpectedOp(u8),
    /// An attribute value longer than the limit.
    #[error("the server sent a value of {len} bytes for the attribute {attr} (limit {limit})")]
    ValueTooLarge {
        /// The attribute (cut to 64 characters).
        attr: String,
        /// Its length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
}

/// A result code, the matched DN, the diagnostic message and referrals (RFC 4511
/// §4.1.9).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LdapResult {
    /// The result code (0 is success).
    pub code: u32,
    /// The deepest entry the server matched, for a missing one.
    pub matched_dn: String,
    /// The server's own words.
    pub diagnostic: String,
    /// Where a referral points.
    pub referrals: Vec<String>,
}

/// A control of a request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// Its OID.
    pub oid: String,
    /// Whether the server must understand it.
    pub critical: bool,
    /// Its value, if any.
    pub value: Option<Vec<u8>>,
}

/// One attribute of an entry, its values as text (not UTF-8 bytes replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute's name as the server wrote it.
    pub name: String,
    /// Its values.
    pub values: Vec<String>,
}

/// A search result entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// Its DN.
    pub dn: String,
    /// Its attributes.
    pub attrs: Vec<Attribute>,
}

impl Entry {
    /// The values of `attr` (names compare case-insensitively, as LDAP's do).
    pub fn values(&self, attr: &str) -> &[String] {
        self.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(attr))
            .map(|a| a.values.as_slice())
            .unwrap_or_default()
    }

    /// The first non-blank value of `attr`.
    pub fn first(&self, attr: &str) -> Option<&str> {
        self.values(attr)
            .first()
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

/// A response's protocol operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// BindResponse.
    Bind(LdapResult),
    /// SearchResultEntry.
    Entry(Entry),
    /// SearchResultReference (continuation references).
    Reference(Vec<String>),
    /// SearchResultDone.
    SearchDone(LdapResult),
    /// ModifyResponse.
    Modify(LdapResult),
    /// ExtendedResponse (StartTLS's, or a notice of disconnection).
    Extended {
        /// The result.
        result: LdapResult,
        /// The response name (an OID).
        name: Option<String>,
    },
    /// IntermediateResponse: nothing the probe asks for.
    Intermediate,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message id of the request it answers (0: unsolicited).
    pub id: i32,
    /// What it is.
    pub op: Op,
    /// Its controls.
    pub controls: Vec<Control>,
}

/// The OID of the notice of disconnection (RFC 4511 §4.4.1).
pub const NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";
/// The OID of StartTLS (RFC 4511 §4.14).
pub const START_TLS: &str = "1.3.6.1.4.1.1466.20037";

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// Decodes one framed message, refusing attribute values longer than `value_limit`.
pub fn decode(bytes: &[u8], value_limit: usize) -> Result<Message, DecodeError> {
    let mut outer = Reader::new(bytes);
    let body = outer.expect(tag::SEQUENCE, "an LDAPMessage")?;
    let mut r = Reader::new(body);
    let id = integer(r.expect(tag::INTEGER, "the message id")?)?;
    let op = r.read()?;
    let op = match op.tag {
        0x61 => Op::Bind(result(op.value)?),
        0x64 => Op::Entry(entry(op.value, value_limit)?),
        0x65 => Op::SearchDone(result(op.value)?),
        0x67 => Op::Modify(result(op.value)?),
        0x73 => Op::Reference(strings(op.value)?),
        0x78 => {
            let mut e = Reader::new(op.value);
            let res = result_from(&mut e)?;
            let name = e.optional(0x8a)?.map(text);
            Op::Extended { result: res, name }
        }
        0x79 => Op::Intermediate,
        other => return Err(DecodeError::UnexpectedOp(other)),
    };
    let controls = match r.optional(0xa0)? {
        Some(c) => controls(c)?,
        None => Vec::new(),
    };
    Ok(Message {
        id: i32::try_from(id).unwrap_or(-1),
        op,
        controls,
    })
}

fn result(v: &[u8]) -> Result<LdapResult, DecodeError> {
    result_from(&mut Reader::new(v))
}

/// The LDAPResult components at the start of an operation (what follows is the
/// operation's own).
fn result_from(r: &mut Reader<'_>) -> Result<LdapResult, DecodeError> {
    let code = integer(r.expect(tag::ENUMERATED, "the result code")?)?;
    let matched_dn = text(r.expect(tag::OCTET_STRING, "the matched DN")?);
    let diagnostic = text(r.expect(tag::OCTET_STRING, "the diagnostic message")?);
    let referrals = match r.optional(0xa3)? {
        Some(v) => strings(v)?,
        None => Vec::new(),
    };
    Ok(LdapResult {
        code: u32::try_from(code).unwrap_or(u32::MAX),
        matched_dn,
        diagnostic,
        referrals,
    })
}

fn strings(v: &[u8]) -> Result<Vec<String>, DecodeError> {
    let mut r = Reader::new(v);
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(text(r.expect(tag::OCTET_STRING, "a URI")?));
    }
    Ok(out)
}

fn entry(v: &[u8], value_limit: usize) -> Result<Entry, DecodeError> {
    let mut r = Reader::new(v);
    let dn = text(r.expect(tag::OCTET_STRING, "the entry's DN")?);
    let mut list = Reader::new(r.expect(tag::SEQUENCE, "the entry's attributes")?);
    let mut attrs = Vec::new();
    while !list.is_empty() {
        let mut a = Reader::new(list.expect(tag::SEQUENCE, "an attribute")?);
        let name = text(a.expect(tag::OCTET_STRING, "an attribute's name")?);
        let mut vals = Reader::new(a.expect(tag::SET, "an attribute's values")?);
        let mut values = Vec::new();
        while !vals.is_empty() {
            let v = vals.expect(tag::OCTET_STRING, "a value")?;
            if v.len() > value_limit {
                return Err(DecodeError::ValueTooLarge {
                    attr: name.chars().take(64).collect(),
                    len: v.len(),
                    limit: value_limit,
                });
            }
            values.push(text(v));
        }
        attrs.push(Attribute { name, values });
    }
    Ok(Entry { dn, attrs })
}

fn controls(v: &[u8]) -> Result<Vec<Control>, DecodeError> {
    let mut r = Reader::new(v);
    let mut out = Vec::new();
    while !r.is_empty() {
        let mut c = Reader::new(r.expect(tag::SEQUENCE, "a control")?);
        let oid = text(c.expect(tag::OCTET_STRING, "a control's OID")?);
        let critical = match c.optional(tag::BOOLEAN)? {
            Some(b) => ber::boolean(b)?,
            None => false,
        };
        let value = c.optional(tag::OCTET_STRING)?.map(<[u8]>::to_vec);
        out.push(Control {
            oid,
            critical,
            value,
        });
    }
    Ok(out)
}

/// How far below the base a search looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The base entry only.
    Base,
    /// The base's children.
    One,
    /// The base and everything under it.
    Subtree,
}

/// A search request's parameters.
#[derive(Debug, Clone)]
pub struct SearchRequest<'a> {
    /// The base DN.
    pub base: &'a str,
    /// The scope.
    pub scope: Scope,
    /// The filter.
    pub filter: &'a Filter,
    /// The attributes to return (`1.1`: none).
    pub attrs: &'a [&'a str],
    /// The size limit asked of the server (0: none asked; the probe counts anyway).
    pub size_limit: i32,
    /// The time limit asked of the server, in seconds (0: none).
    pub time_limit: i32,
}

/// A request's protocol operation.
#[derive(Debug, Clone)]
pub enum Request<'a> {
    /// A simple bind (RFC 4511 §4.2).
    SimpleBind {
        /// The DN.
        dn: &'a str,
        /// The password (sent as is: over TLS only, unless the spec allows cleartext).
        password: &'a [u8],
    },
    /// Unbind.
    Unbind,
    /// A search.
    Search(SearchRequest<'a>),
    /// Abandon the operation of this id.
    Abandon(i32),
    /// Add one value to an attribute of an entry (a modify with one `add` change).
    ModifyAdd {
        /// The entry.
        dn: &'a str,
        /// The attribute.
        attr: &'a str,
        /// The value.
        value: &'a str,
    },
    /// StartTLS.
    StartTls,
}

/// The bytes of a request with `id` and `controls`.
pub fn encode(id: i32, op: &Request<'_>, controls: &[Control]) -> Vec<u8> {
    let mut out = Vec::new();
    ber::constructed(&mut out, tag::SEQUENCE, |m| {
        ber::put_integer(m, tag::INTEGER, i64::from(id));
        encode_op(m, op);
        if !controls.is_empty() {
            ber::constructed(m, 0xa0, |cs| {
                for c in controls {
                    ber::constructed(cs, tag::SEQUENCE, |o| {
                        ber::put(o, tag::OCTET_STRING, c.oid.as_bytes());
                        if c.critical {
                            ber::put(o, tag::BOOLEAN, &[0xff]);
                        }
                        if let Some(v) = &c.value {
                            ber::put(o, tag::OCTET_STRING, v);
                        }
                    });
                }
            });
        }
    });
    out
}

fn encode_op(m: &mut Vec<u8>, op: &Request<'_>) {
    match op {
        Request::SimpleBind { dn, password } => ber::constructed(m, 0x60, |b| {
            ber::put_integer(b, tag::INTEGER, 3);
            ber::put(b, tag::OCTET_STRING, dn.as_bytes());
            ber::put(b, 0x80, password);
        }),
        Request::Unbind => ber::put(m, 0x42, &[]),
        Request::Search(s) => ber::constructed(m, 0x63, |b| {
            ber::put(b, tag::OCTET_STRING, s.base.as_bytes());
            let scope = match s.scope {
                Scope::Base => 0,
                Scope::One => 1,
                Scope::Subtree => 2,
            };
            ber::put_integer(b, tag::ENUMERATED, scope);
            ber::put_integer(b, tag::ENUMERATED, 0); // never dereference aliases
            ber::put_integer(b, tag::INTEGER, i64::from(s.size_limit));
            ber::put_integer(b, tag::INTEGER, i64::from(s.time_limit));
            ber::put(b, tag::BOOLEAN, &[0x00]);
            s.filter.encode(b);
            ber::constructed(b, tag::SEQUENCE, |a| {
                for attr in s.attrs {
                    ber::put(a, tag::OCTET_STRING, attr.as_bytes());
                }
            });
        }),
        Request::Abandon(id) => ber::put_integer(m, 0x50, i64::from(*id)),
        Request::ModifyAdd { dn, attr, value } => ber::constructed(m, 0x66, |b| {
            ber::put(b, tag::OCTET_STRING, dn.as_bytes());
            ber::constructed(b, tag::SEQUENCE, |changes| {
                ber::constructed(changes, tag::SEQUENCE, |c| {
                    ber::put_integer(c, tag::ENUMERATED, 0); // add
                    ber::constructed(c, tag::SEQUENCE, |pa| {
                        ber::put(pa, tag::OCTET_STRING, attr.as_bytes());
                        ber::constructed(pa, tag::SET, |vals| {
                            ber::put(vals, tag::OCTET_STRING, value.as_bytes());
                        });
                    });
                });
            });
        }),
        Request::StartTls => ber::constructed(m, 0x77, |b| {
            ber::put(b, 0x80, START_TLS.as_bytes());
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BindResponse with invalidCredentials, as slapd sends it.
    const BIND_49: &[u8] = b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x31\x04\x00\x04\x00";

    #[test]
    fn a_bind_response_decodes() {
        let m = decode(BIND_49, 100).unwrap();
        assert_eq!(m.id, 1);
        assert_eq!(
            m.op,
            Op::Bind(LdapResult {
                code: 49,
                ..Default::default()
            })
        );
        assert!(m.controls.is_empty());
    }

    #[test]
    fn an_entry_with_its_attributes_and_a_control_decodes() {
        let mut e = Vec::new();
        ber::constructed(&mut e, tag::SEQUENCE, |m| {
            ber::put_integer(m, tag::INTEGER, 7);
            ber::constructed(m, 0x64, |b| {
                ber::put(b, tag::OCTET_STRING, b"uid=alice,ou=people");
                ber::constructed(b, tag::SEQUENCE, |l| {
                    ber::constructed(l, tag::SEQUENCE, |a| {
                        ber::put(a, tag::OCTET_STRING, b"mail");
                        ber::constructed(a, tag::SET, |v| {
                            ber::put(v, tag::OCTET_STRING, b"alice@lab.test");
                        });
                    });
                });
            });
            ber::constructed(m, 0xa0, |cs| {
                ber::constructed(cs, tag::SEQUENCE, |c| {
                    ber::put(c, tag::OCTET_STRING, b"1.2.3");
                    ber::put(c, tag::OCTET_STRING, b"\x01");
                });
            });
        });
        let m = decode(&e, 100).unwrap();
        let Op::Entry(entry) = &m.op else {
            panic!("{m:?}")
        };
        assert_eq!(entry.dn, "uid=alice,ou=people");
        assert_eq!(entry.first("MAIL"), Some("alice@lab.test"));
        assert_eq!(m.controls[0].oid, "1.2.3");
        assert_eq!(m.controls[0].value.as_deref(), Some(&b"\x01"[..]));
        assert_eq!(
            decode(&e, 5),
            Err(DecodeError::ValueTooLarge {
                attr: "mail".into(),
                len: 14,
                limit: 5
            })
        );
    }

    #[test]
    fn broken_messages_are_errors_not_panics() {
        assert!(matches!(decode(b"\x30\x00", 10), Err(DecodeError::Ber(_))));
        assert!(matches!(
            decode(b"\x30\x05\x02\x01\x01\x60\x00", 10),
            Err(DecodeError::UnexpectedOp(0x60))
        ));
        // Every prefix of a good message fails cleanly.
        for n in 0..BIND_49.len() {
            assert!(decode(&BIND_49[..n], 10).is_err(), "{n}");
        }
    }

    #[test]
    fn a_search_request_encodes_as_rfc_4511_says() {
        let f = Filter::equal("uid", "bob");
        let bytes = encode(
            2,
            &Request::Search(SearchRequest {
                base: "dc=x",
                scope: Scope::Subtree,
                filter: &f,
                attrs: &["1.1"],
                size_limit: 1,
                time_limit: 0,
            }),
            &[],
        );
        assert_eq!(
            bytes,
            b"\x30\x2d\x02\x01\x02\x63\x28\x04\x04dc=x\x0a\x01\x02\x0a\x01\x00\x02\x01\x01\x02\x01\x00\x01\x01\x00\xa3\x0a\x04\x03uid\x04\x03bob\x30\x05\x04\x031.1"
        );
        assert_eq!(
            encode(3, &Request::Abandon(2), &[]),
            b"\x30\x06\x02\x01\x03\x50\x01\x02"
        );
    }
}
