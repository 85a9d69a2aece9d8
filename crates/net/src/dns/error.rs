//! Why a lookup found nothing, as types: absent (NXDOMAIN, NODATA, each possibly at the
//! end of a CNAME chain), a CNAME loop, a server that answered an error code, one that
//! did not answer, an answer that could not be read.

use hickory_resolver::proto::op::ResponseCode;
use imp_verify_core::text::{cut_list, peer_text};
use std::fmt;

/// The longest CNAME chain followed (as resolvers bound it); a longer one is reported as
/// such, like a loop.
pub const MAX_ALIASES: usize = 8;

/// Why a lookup found nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// The name does not exist (NXDOMAIN).
    NxDomain {
        /// The name that does not exist: the one asked, or the end of its CNAME chain.
        name: String,
        /// The aliases that led there (CNAME owners, the name asked first); empty when
        /// the name asked does not exist itself.
        via: Vec<String>,
    },
    /// The name exists but has no record of the type asked (NODATA).
    NoData {
        /// The name without the record: the one asked, or the end of its CNAME chain.
        name: String,
        /// The record type asked (`SRV`, `A or AAAA`...).
        rtype: String,
        /// The aliases that led there (the name asked first); empty without a chain.
        via: Vec<String>,
    },
    /// The name is an alias whose CNAME chain comes back to a name already in it.
    CnameLoop {
        /// The name asked.
        name: String,
        /// The chain, from the name asked to the name seen a second time.
        chain: Vec<String>,
    },
    /// The name's CNAME chain is longer than [`MAX_ALIASES`] aliases.
    CnameChainTooLong {
        /// The name asked.
        name: String,
        /// The aliases followed.
        chain: Vec<String>,
    },
    /// The server did not answer in time, or could not be reached.
    NoAnswer {
        /// Which server, and what happened.
        detail: String,
    },
    /// The server answered with an error code (SERVFAIL, REFUSED...).
    ServerError {
        /// The response code.
        rcode: Rcode,
    },
    /// The answer could not be decoded.
    Malformed {
        /// What could not be decoded (a peer's bytes in it shown escaped and cut).
        detail: String,
    },
    /// The resolver could not be set up (no usable system configuration).
    Config {
        /// Why.
        detail: String,
    },
}

impl DnsError {
    /// Whether the records are absent (as opposed to the server failing or a CNAME
    /// loop): NXDOMAIN or NODATA, at the name asked or at the end of its chain.
    pub fn is_absent(&self) -> bool {
        matches!(self, DnsError::NxDomain { .. } | DnsError::NoData { .. })
    }

    /// A malformed answer, its detail (which may quote the peer) made fit for a message.
    pub(crate) fn malformed(detail: impl fmt::Display) -> DnsError {
        DnsError::Malformed {
            detail: peer_text(&detail.to_string()),
        }
    }
}

/// `a → b → c`, as a chain of aliases is shown.
fn chain(names: &[String]) -> String {
    cut_list(names.iter().map(|n| peer_text(n)), " → ")
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::NxDomain { name, via } if via.is_empty() => {
                write!(f, "{} does not exist (NXDOMAIN)", peer_text(name))
            }
            DnsError::NxDomain { name, via } => write!(
                f,
                "{} is an alias (CNAME {} → {}), and {} does not exist (NXDOMAIN)",
                peer_text(&via[0]),
                chain(via),
                peer_text(name),
                peer_text(name)
            ),
            DnsError::NoData { name, rtype, via } if via.is_empty() => {
                write!(
                    f,
                    "{} exists but has no {rtype} record (NODATA)",
                    peer_text(name)
                )
            }
            DnsError::NoData { name, rtype, via } => write!(
                f,
                "{} is an alias (CNAME {} → {}), and {} has no {rtype} record (NODATA)",
                peer_text(&via[0]),
                chain(via),
                peer_text(name),
                peer_text(name)
            ),
            DnsError::CnameLoop { name, chain: c } => write!(
                f,
                "{} is an alias in a CNAME loop ({}): it never reaches a name with records",
                peer_text(name),
                chain(c)
            ),
            DnsError::CnameChainTooLong { name, chain: c } => write!(
                f,
                "{} is an alias in a CNAME chain of more than {MAX_ALIASES} aliases ({})",
                peer_text(name),
                chain(c)
            ),
            DnsError::NoAnswer { detail } => write!(f, "the DNS server did not answer: {detail}"),
            DnsError::ServerError { rcode } => write!(f, "the DNS server answered {rcode}"),
            DnsError::Malformed { detail } => write!(f, "the DNS answer is malformed: {detail}"),
            DnsError::Config { detail } => write!(f, "no resolver: {detail}"),
        }
    }
}

impl std::error::Error for DnsError {}

/// A DNS response code other than NOERROR and NXDOMAIN, as a server answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// FORMERR: the server could not read the question.
    FormErr,
    /// SERVFAIL: the server failed to answer (a zone it cannot load, an upstream it
    /// cannot reach, a DNSSEC validation that failed).
    ServFail,
    /// NOTIMP: the server does not do this kind of query.
    NotImp,
    /// REFUSED: the server will not answer this client or for this zone.
    Refused,
    /// NOTAUTH: the server is not authoritative for the zone.
    NotAuth,
    /// Any other code, by number.
    Other(u16),
}

impl Rcode {
    /// The code as a server sent it (a hickory response code).
    pub(crate) fn from_code(code: ResponseCode) -> Rcode {
        match u16::from(code) {
            1 => Rcode::FormErr,
            2 => Rcode::ServFail,
            4 => Rcode::NotImp,
            5 => Rcode::Refused,
            9 => Rcode::NotAuth,
            n => Rcode::Other(n),
        }
    }

    /// The code's number.
    pub fn number(self) -> u16 {
        match self {
            Rcode::FormErr => 1,
            Rcode::ServFail => 2,
            Rcode::NotImp => 4,
            Rcode::Refused => 5,
            Rcode::NotAuth => 9,
            Rcode::Other(n) => n,
        }
    }
}

/// As DNS people write it: `REFUSED (Query Refused)`, `RCODE 11 (...)`.
impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = <ResponseCode as From<u16>>::from(self.number()).to_str();
        match self {
            Rcode::FormErr => write!(f, "FORMERR ({text})"),
            Rcode::ServFail => write!(f, "SERVFAIL ({text})"),
            Rcode::NotImp => write!(f, "NOTIMP ({text})"),
            Rcode::Refused => write!(f, "REFUSED ({text})"),
            Rcode::NotAuth => write!(f, "NOTAUTH ({text})"),
            Rcode::Other(n) => write!(f, "RCODE {n} ({text})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absences_name_the_end_of_their_alias_chain() {
        let plain = DnsError::NxDomain {
            name: "_x._tcp.lab.test".into(),
            via: vec![],
        };
        assert_eq!(
            plain.to_string(),
            "_x._tcp.lab.test does not exist (NXDOMAIN)"
        );
        let aliased = DnsError::NxDomain {
            name: "nowhere.lab.test".into(),
            via: vec!["dang.lab.test".into()],
        };
        assert_eq!(
            aliased.to_string(),
            "dang.lab.test is an alias (CNAME dang.lab.test → nowhere.lab.test), and nowhere.lab.test does not exist (NXDOMAIN)"
        );
        let nodata = DnsError::NoData {
            name: "imp1.lab.test".into(),
            rtype: "A or AAAA".into(),
            via: vec![],
        };
        assert_eq!(
            nodata.to_string(),
            "imp1.lab.test exists but has no A or AAAA record (NODATA)"
        );
        assert!(aliased.is_absent() && nodata.is_absent());
    }

    #[test]
    fn a_loop_is_neither_absence_nor_a_server_failure() {
        let e = DnsError::CnameLoop {
            name: "a.lab.test".into(),
            chain: vec![
                "a.lab.test".into(),
                "b.lab.test".into(),
                "a.lab.test".into(),
            ],
        };
        assert!(!e.is_absent());
        assert_eq!(
            e.to_string(),
            "a.lab.test is an alias in a CNAME loop (a.lab.test → b.lab.test → a.lab.test): it never reaches a name with records"
        );
    }

    #[test]
    fn response_codes_are_named_as_dns_people_write_them() {
        assert_eq!(Rcode::from_code(ResponseCode::ServFail), Rcode::ServFail);
        assert_eq!(Rcode::ServFail.to_string(), "SERVFAIL (Server Failure)");
        assert_eq!(Rcode::Refused.to_string(), "REFUSED (Query Refused)");
        assert_eq!(
            Rcode::from_code(<ResponseCode as From<u16>>::from(11)),
            Rcode::Other(11)
        );
        assert!(Rcode::Other(11).to_string().starts_with("RCODE 11 ("));
    }

    #[test]
    fn peer_names_are_shown_escaped() {
        let e = DnsError::NxDomain {
            name: "a\u{1b}[31m.lab.test".into(),
            via: vec![],
        };
        assert!(e.to_string().starts_with("a\\u{1b}[31m.lab.test"), "{e}");
    }
}
