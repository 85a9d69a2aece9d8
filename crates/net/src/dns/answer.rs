//! Reading a DNS answer: the records of the type asked, following the CNAME chain the
//! answer carries from the name asked, or why there are none. Pure functions of the
//! message (the fuzz target `dns_answer` drives [`read_answer`] with arbitrary bytes).

use super::error::{DnsError, Rcode, MAX_ALIASES};
use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use std::fmt;
use std::net::IpAddr;

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Srv {
    /// Lower is tried first.
    pub priority: u16,
    /// The share among records of the same priority.
    pub weight: u16,
    /// The service's port on the target.
    pub port: u16,
    /// The target host, lower case, without the final dot (empty for ".": the service
    /// is decidedly not offered). Characters a name may not show are escaped (`\027`).
    pub target: String,
}

impl fmt::Display for Srv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}.",
            self.priority, self.weight, self.port, self.target
        )
    }
}

/// The record types the tool asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
    /// Service records.
    Srv,
    /// Reverse names.
    Ptr,
}

impl RecordKind {
    pub(crate) fn record_type(self) -> RecordType {
        match self {
            RecordKind::A => RecordType::A,
            RecordKind::Aaaa => RecordType::AAAA,
            RecordKind::Srv => RecordType::SRV,
            RecordKind::Ptr => RecordType::PTR,
        }
    }
}

/// What an answer gives, by the kind asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsAnswer {
    /// A or AAAA: the addresses.
    Addresses(Vec<IpAddr>),
    /// SRV: the records, sorted by priority then weight.
    Srv(Vec<Srv>),
    /// PTR: the names.
    Names(Vec<String>),
}

/// Reads `bytes`, a DNS response to the question `name` / `kind`: the records asked
/// for, or why there are none. Never panics, whatever the bytes.
pub fn read_answer(bytes: &[u8], name: &str, kind: RecordKind) -> Result<DnsAnswer, DnsError> {
    let m = Message::from_vec(bytes).map_err(DnsError::malformed)?;
    let qname = Name::from_ascii(super::fqdn(name))
        .map_err(|e| DnsError::malformed(format!("`{name}` is not a DNS name: {e}")))?;
    let records = interpret(&m, &qname, kind.record_type())?;
    Ok(typed(kind, records))
}

/// The records `kind` asks for, typed.
pub(crate) fn typed(kind: RecordKind, records: Vec<RData>) -> DnsAnswer {
    match kind {
        RecordKind::A | RecordKind::Aaaa => DnsAnswer::Addresses(
            records
                .into_iter()
                .filter_map(|r| match r {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })
                .collect(),
        ),
        RecordKind::Srv => {
            let mut v: Vec<Srv> = records
                .into_iter()
                .filter_map(|r| match r {
                    RData::SRV(s) => Some(Srv {
                        priority: s.priority,
                        weight: s.weight,
                        port: s.port,
                        target: name_text(&s.target),
                    }),
                    _ => None,
                })
                .collect();
            v.sort();
            DnsAnswer::Srv(v)
        }
        RecordKind::Ptr => DnsAnswer::Names(
            records
                .into_iter()
                .filter_map(|r| match r {
                    RData::PTR(p) => Some(name_text(&p.0)),
                    _ => None,
                })
                .collect(),
        ),
    }
}

/// A name from an answer as the tool shows it: ASCII (what a name may not show
/// escaped), lower case, without the final dot.
pub(crate) fn name_text(name: &Name) -> String {
    super::host(&name.to_ascii())
}

/// What an answer says of `qname`'s records of `rtype`.
pub(crate) fn interpret(
    m: &Message,
    qname: &Name,
    rtype: RecordType,
) -> Result<Vec<RData>, DnsError> {
    let code = m.metadata.response_code;
    if code != ResponseCode::NoError && code != ResponseCode::NXDomain {
        return Err(DnsError::ServerError {
            rcode: Rcode::from_code(code),
        });
    }
    match select(&m.answers, qname, rtype) {
        Selected::Records(r) => Ok(r),
        Selected::End { name, via } => {
            let name = name_text(&name);
            let via = via.iter().map(name_text).collect();
            Err(if code == ResponseCode::NXDomain {
                DnsError::NxDomain { name, via }
            } else {
                DnsError::NoData {
                    name,
                    rtype: rtype.to_string(),
                    via,
                }
            })
        }
        Selected::Loop(chain) => Err(DnsError::CnameLoop {
            name: name_text(qname),
            chain: chain.iter().map(name_text).collect(),
        }),
        Selected::TooLong(chain) => Err(DnsError::CnameChainTooLong {
            name: name_text(qname),
            chain: chain.iter().map(name_text).collect(),
        }),
    }
}

/// The records of a chain of aliases, as an answer gives them.
#[derive(Debug, PartialEq)]
pub(crate) enum Selected {
    /// Records of the type asked, owned by the name asked or the end of its chain.
    Records(Vec<RData>),
    /// None: the chain ends at `name` (the name asked, when `via` is empty).
    End {
        /// The last name of the chain.
        name: Name,
        /// The aliases before it.
        via: Vec<Name>,
    },
    /// The chain comes back to a name already in it (that name last).
    Loop(Vec<Name>),
    /// More than [`MAX_ALIASES`] aliases.
    TooLong(Vec<Name>),
}

/// Follows `qname`'s CNAME chain through `answers` to records of `rtype`.
pub(crate) fn select(answers: &[Record], qname: &Name, rtype: RecordType) -> Selected {
    let mut chain = vec![qname.clone()];
    loop {
        let current = chain.last().expect("the chain starts with the name asked");
        let found: Vec<RData> = answers
            .iter()
            .filter(|r| r.record_type() == rtype && r.name == *current)
            .map(|r| r.data.clone())
            .collect();
        if !found.is_empty() {
            return Selected::Records(found);
        }
        let next = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if r.name == *current => Some(c.0.clone()),
            _ => None,
        });
        let Some(next) = next else {
            let name = chain.pop().expect("the chain starts with the name asked");
            return Selected::End { name, via: chain };
        };
        let looped = chain.contains(&next);
        chain.push(next);
        if looped {
            return Selected::Loop(chain);
        }
        if chain.len() > MAX_ALIASES + 1 {
            return Selected::TooLong(chain);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::op::{Message, MessageType, OpCode, Query};
    use hickory_resolver::proto::rr::rdata::{A, CNAME, SRV};
    use std::str::FromStr;

    fn n(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    fn cname(from: &str, to: &str) -> Record {
        Record::from_rdata(n(from), 60, RData::CNAME(CNAME(n(to))))
    }

    fn answer(code: ResponseCode, records: Vec<Record>) -> Vec<u8> {
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(n("a.lab.test."), RecordType::A));
        m.metadata.response_code = code;
        m.add_answers(records);
        m.to_vec().unwrap()
    }

    #[test]
    fn records_are_followed_through_the_chain_of_aliases() {
        let bytes = answer(
            ResponseCode::NoError,
            vec![
                cname("a.lab.test.", "b.lab.test."),
                Record::from_rdata(n("b.lab.test."), 60, RData::A(A::new(127, 0, 0, 22))),
                // An address of another name is no answer to this question.
                Record::from_rdata(n("x.lab.test."), 60, RData::A(A::new(127, 0, 0, 99))),
            ],
        );
        assert_eq!(
            read_answer(&bytes, "a.lab.test", RecordKind::A),
            Ok(DnsAnswer::Addresses(vec!["127.0.0.22".parse().unwrap()]))
        );
    }

    #[test]
    fn a_loop_a_dangling_alias_and_an_empty_answer_are_told_apart() {
        let looped = answer(
            ResponseCode::NoError,
            vec![
                cname("a.lab.test.", "b.lab.test."),
                cname("b.lab.test.", "a.lab.test."),
            ],
        );
        assert!(matches!(
            read_answer(&looped, "a.lab.test", RecordKind::A),
            Err(DnsError::CnameLoop { ref chain, .. }) if chain.len() == 3
        ));
        let dangling = answer(
            ResponseCode::NXDomain,
            vec![cname("a.lab.test.", "nowhere.lab.test.")],
        );
        assert_eq!(
            read_answer(&dangling, "a.lab.test", RecordKind::A),
            Err(DnsError::NxDomain {
                name: "nowhere.lab.test".into(),
                via: vec!["a.lab.test".into()]
            })
        );
        let empty = answer(ResponseCode::NoError, vec![]);
        assert_eq!(
            read_answer(&empty, "a.lab.test", RecordKind::A),
            Err(DnsError::NoData {
                name: "a.lab.test".into(),
                rtype: "A".into(),
                via: vec![]
            })
        );
        let servfail = answer(ResponseCode::ServFail, vec![]);
        assert_eq!(
            read_answer(&servfail, "a.lab.test", RecordKind::A),
            Err(DnsError::ServerError {
                rcode: Rcode::ServFail
            })
        );
    }

    #[test]
    fn a_chain_longer_than_resolvers_follow_is_reported() {
        let chain: Vec<Record> = (0..12)
            .map(|i| cname(&format!("c{i}.lab.test."), &format!("c{}.lab.test.", i + 1)))
            .collect();
        let bytes = answer(ResponseCode::NoError, chain);
        assert!(matches!(
            read_answer(&bytes, "c0.lab.test", RecordKind::A),
            Err(DnsError::CnameChainTooLong { .. })
        ));
    }

    #[test]
    fn srv_records_are_sorted_and_their_targets_shown_escaped() {
        let srv = |p, t: &str| {
            Record::from_rdata(
                n("a.lab.test."),
                60,
                RData::SRV(SRV::new(
                    p,
                    0,
                    5222,
                    Name::from_labels(vec![t.as_bytes(), b"test"]).unwrap(),
                )),
            )
        };
        let bytes = answer(
            ResponseCode::NoError,
            vec![srv(20, "b"), srv(10, "esc\u{1b}")],
        );
        let Ok(DnsAnswer::Srv(v)) = read_answer(&bytes, "a.lab.test", RecordKind::Srv) else {
            panic!("SRV records expected");
        };
        assert_eq!(v[0].priority, 10);
        assert!(!v[0].target.contains('\u{1b}'), "{:?}", v[0].target);
        assert_eq!(v[1].to_string(), "20 0 5222 b.test.");
    }

    #[test]
    fn bytes_that_are_no_message_are_malformed() {
        assert!(matches!(
            read_answer(&[0x12, 0x34, 0x81], "a.lab.test", RecordKind::Srv),
            Err(DnsError::Malformed { .. })
        ));
    }
}
