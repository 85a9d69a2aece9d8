//! Search filters: RFC 4515's string form parsed into a [`Filter`] (the spec's user
//! filter, e.g. Active Directory's with an extensible match), filters built from parts
//! (no string escaping: a user id is a value, never filter text), and their BER encoding
//! (RFC 4511 §4.5.1.7).

use super::ber::{self, tag};
use thiserror::Error;

/// A search filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `(&...)`
    And(Vec<Filter>),
    /// `(|...)`
    Or(Vec<Filter>),
    /// `(!...)`
    Not(Box<Filter>),
    /// `(attr=value)`
    Equal(String, Vec<u8>),
    /// `(attr=initial*any*final)`
    Substrings {
        /// The attribute.
        attr: String,
        /// Before the first `*`.
        initial: Option<Vec<u8>>,
        /// Between stars.
        any: Vec<Vec<u8>>,
        /// After the last `*`.
        last: Option<Vec<u8>>,
    },
    /// `(attr>=value)`
    GreaterOrEqual(String, Vec<u8>),
    /// `(attr<=value)`
    LessOrEqual(String, Vec<u8>),
    /// `(attr=*)`
    Present(String),
    /// `(attr~=value)`
    Approx(String, Vec<u8>),
    /// `(attr:dn:rule:=value)`
    Extensible {
        /// The matching rule.
        rule: Option<String>,
        /// The attribute.
        attr: Option<String>,
        /// The value.
        value: Vec<u8>,
        /// `:dn`
        dn: bool,
    },
}

/// Why a filter string is not an RFC 4515 filter.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not an LDAP filter (RFC 4515): {why} at character {at}")]
pub struct FilterError {
    /// What is wrong.
    pub why: &'static str,
    /// Where (0-based, in bytes).
    pub at: usize,
}

impl Filter {
    /// `(attr=value)`, the value taken as it is.
    pub fn equal(attr: &str, value: &str) -> Filter {
        Filter::Equal(attr.to_string(), value.as_bytes().to_vec())
    }

    /// `(attr=prefix*)`.
    pub fn prefix(attr: &str, prefix: &str) -> Filter {
        Filter::Substrings {
            attr: attr.to_string(),
            initial: Some(prefix.as_bytes().to_vec()),
            any: Vec::new(),
            last: None,
        }
    }

    /// `(objectClass=*)`: every entry.
    pub fn everything() -> Filter {
        Filter::Present("objectClass".into())
    }

    /// `(&self other)`.
    pub fn and(self, other: Filter) -> Filter {
        Filter::And(vec![self, other])
    }

    /// Parses an RFC 4515 filter; the outer parentheses may be left out, as `ldapsearch`
    /// allows.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let t = text.trim();
        let owned;
        let t = if t.starts_with('(') {
            t
        } else {
            owned = format!("({t})");
            owned.as_str()
        };
        let mut p = Parser {
            s: t.as_bytes(),
            i: 0,
            depth: 0,
        };
        let f = p.filter()?;
        if p.i != p.s.len() {
            return Err(p.err("text after the filter"));
        }
        Ok(f)
    }

    /// The filter's BER encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Filter::And(v) => ber::constructed(out, 0xa0, |o| v.iter().for_each(|f| f.encode(o))),
            Filter::Or(v) => ber::constructed(out, 0xa1, |o| v.iter().for_each(|f| f.encode(o))),
            Filter::Not(f) => ber::constructed(out, 0xa2, |o| f.encode(o)),
            Filter::Equal(a, v) => assertion(out, 0xa3, a, v),
            Filter::Substrings {
                attr,
                initial,
                any,
                last,
            } => ber::constructed(out, 0xa4, |o| {
                ber::put(o, tag::OCTET_STRING, attr.as_bytes());
                ber::constructed(o, tag::SEQUENCE, |o| {
                    if let Some(i) = initial {
                        ber::put(o, 0x80, i);
                    }
                    for a in any {
                        ber::put(o, 0x81, a);
                    }
                    if let Some(l) = last {
                        ber::put(o, 0x82, l);
                    }
                });
            }),
            Filter::GreaterOrEqual(a, v) => assertion(out, 0xa5, a, v),
            Filter::LessOrEqual(a, v) => assertion(out, 0xa6, a, v),
            Filter::Present(a) => ber::put(out, 0x87, a.as_bytes()),
            Filter::Approx(a, v) => assertion(out, 0xa8, a, v),
            Filter::Extensible {
                rule,
                attr,
                value,
                dn,
            } => ber::constructed(out, 0xa9, |o| {
                if let Some(r) = rule {
                    ber::put(o, 0x81, r.as_bytes());
                }
                if let Some(a) = attr {
                    ber::put(o, 0x82, a.as_bytes());
                }
                ber::put(o, 0x83, value);
                if *dn {
                    ber::put(o, 0x84, &[0xff]);
                }
            }),
        }
    }
}

fn assertion(out: &mut Vec<u8>, t: u8, attr: &str, value: &[u8]) {
    ber::constructed(out, t, |o| {
        ber::put(o, tag::OCTET_STRING, attr.as_bytes());
        ber::put(o, tag::OCTET_STRING, value);
    });
}

impl std::fmt::Display for Filter {
    /// The RFC 4515 string form, values escaped.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |f: &mut std::fmt::Formatter<'_>, op: char, v: &[Filter]| {
            write!(f, "({op}")?;
            v.iter().try_for_each(|x| write!(f, "{x}"))?;
            write!(f, ")")
        };
        match self {
            Filter::And(v) => list(f, '&', v),
            Filter::Or(v) => list(f, '|', v),
            Filter::Not(x) => write!(f, "(!{x})"),
            Filter::Equal(a, v) => write!(f, "({a}={})", Escaped(v)),
            Filter::GreaterOrEqual(a, v) => write!(f, "({a}>={})", Escaped(v)),
            Filter::LessOrEqual(a, v) => write!(f, "({a}<={})", Escaped(v)),
            Filter::Approx(a, v) => write!(f, "({a}~={})", Escaped(v)),
            Filter::Present(a) => write!(f, "({a}=*)"),
            Filter::Substrings {
                attr,
                initial,
                any,
                last,
            } => {
                write!(f, "({attr}=")?;
                if let Some(i) = initial {
                    write!(f, "{}", Escaped(i))?;
                }
                write!(f, "*")?;
                for a in any {
                    write!(f, "{}*", Escaped(a))?;
                }
                if let Some(l) = last {
                    write!(f, "{}", Escaped(l))?;
                }
                write!(f, ")")
            }
            Filter::Extensible {
                rule,
                attr,
                value,
                dn,
            } => {
                write!(f, "(")?;
                if let Some(a) = attr {
                    write!(f, "{a}")?;
                }
                if *dn {
                    write!(f, ":dn")?;
                }
                if let Some(r) = rule {
                    write!(f, ":{r}")?;
                }
                write!(f, ":={})", Escaped(value))
            }
        }
    }
}

/// A value as RFC 4515 writes it: `*`, `(`, `)`, `\`, NUL and non-printable bytes as
/// `\XX`.
struct Escaped<'a>(&'a [u8]);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(s) => s.chars().try_for_each(|c| match c {
                '*' | '(' | ')' | '\\' | '\0' => write!(f, "\\{:02x}", c as u32),
                c if c.is_control() => {
                    let mut b = [0u8; 4];
                    c.encode_utf8(&mut b)
                        .bytes()
                        .try_for_each(|x| write!(f, "\\{x:02x}"))
                }
                c => write!(f, "{c}"),
            }),
            Err(_) => self.0.iter().try_for_each(|b| write!(f, "\\{b:02x}")),
        }
    }
}

/// Nesting deeper than this is refused (a filter is the spec's, but no parser recurses
/// without a bound).
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, why: &'static str) -> FilterError {
        FilterError { why, at: self.i }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8, why: &'static str) -> Result<(), FilterError> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(why))
        }
    }

    fn filter(&mut self) -> Result<Filter, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nested too deep"));
        }
        self.eat(b'(', "`(` expected")?;
        let f = match self.peek() {
            Some(b'&') => {
                self.i += 1;
                Filter::And(self.list()?)
            }
            Some(b'|') => {
                self.i += 1;
                Filter::Or(self.list()?)
            }
            Some(b'!') => {
                self.i += 1;
                Filter::Not(Box::new(self.filter()?))
            }
            _ => self.item()?,
        };
        self.eat(b')', "`)` expected")?;
        self.depth -= 1;
        Ok(f)
    }

    fn list(&mut self) -> Result<Vec<Filter>, FilterError> {
        let mut v = Vec::new();
        while self.peek() == Some(b'(') {
            v.push(self.filter()?);
        }
        if v.is_empty() {
            return Err(self.err("an empty list"));
        }
        Ok(v)
    }

    /// An attribute description or matching rule: letters, digits, `-`, `.`, `;`.
    fn name(&mut self) -> &str {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b';' | b'_') {
                self.i += 1;
            } else {
                break;
            }
        }
        // Only ASCII was taken.
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or_default()
    }

    fn item(&mut self) -> Result<Filter, FilterError> {
        let attr = self.name().to_string();
        match self.peek() {
            Some(b':') => return self.extensible(attr),
            _ if attr.is_empty() => return Err(self.err("an attribute name expected")),
            _ => {}
        }
        let op = match (self.peek(), self.s.get(self.i + 1)) {
            (Some(b'='), _) => {
                self.i += 1;
                b'='
            }
            (Some(c @ (b'~' | b'>' | b'<')), Some(b'=')) => {
                self.i += 2;
                c
            }
            _ => return Err(self.err("`=`, `~=`, `>=` or `<=` expected")),
        };
        let parts = self.value_parts()?;
        if op != b'=' {
            let [v] = <[Vec<u8>; 1]>::try_from(parts)
                .map_err(|_| self.err("`*` in a value that allows none"))?;
            return Ok(match op {
                b'~' => Filter::Approx(attr, v),
                b'>' => Filter::GreaterOrEqual(attr, v),
                _ => Filter::LessOrEqual(attr, v),
            });
        }
        Ok(match parts.len() {
            1 => Filter::Equal(attr, parts.into_iter().next().unwrap_or_default()),
            2 if parts.iter().all(Vec::is_empty) => Filter::Present(attr),
            _ => {
                let n = parts.len();
                let mut it = parts.into_iter();
                let initial = it.next().filter(|v| !v.is_empty());
                let mut middle: Vec<Vec<u8>> = it.collect();
                let last = middle.pop().filter(|v| !v.is_empty());
                if middle.iter().any(Vec::is_empty) && n > 2 {
                    return Err(self.err("`**` in a substring filter"));
                }
                Filter::Substrings {
                    attr,
                    initial,
                    any: middle,
                    last,
                }
            }
        })
    }

    fn extensible(&mut self, attr: String) -> Result<Filter, FilterError> {
        let mut dn = false;
        let mut rule = None;
        // `:dn` and `:rule`, then `:=`.
        loop {
            self.eat(b':', "`:` expected")?;
            if self.peek() == Some(b'=') {
                self.i += 1;
                break;
            }
            let word = self.name().to_string();
            if word.eq_ignore_ascii_case("dn") && !dn && rule.is_none() {
                dn = true;
            } else if !word.is_empty() && rule.is_none() {
                rule = Some(word);
            } else {
                return Err(self.err("`:dn`, a matching rule or `:=` expected"));
            }
        }
        if attr.is_empty() && rule.is_none() {
            return Err(self.err("an extensible match names an attribute or a rule"));
        }
        let parts = self.value_parts()?;
        let [value] =
            <[Vec<u8>; 1]>::try_from(parts).map_err(|_| self.err("`*` in an extensible match"))?;
        Ok(Filter::Extensible {
            rule,
            attr: (!attr.is_empty()).then_some(attr),
            value,
            dn,
        })
    }

    /// The value up to `)`, split at unescaped `*`, escapes decoded.
    fn value_parts(&mut self) -> Result<Vec<Vec<u8>>, FilterError> {
        let mut parts = vec![Vec::new()];
        loop {
            match self.peek() {
                None => return Err(self.err("`)` expected")),
                Some(b')') => return Ok(parts),
                Some(b'(') => return Err(self.err("`(` in a value (write it \\28)")),
                Some(b'*') => {
                    self.i += 1;
                    parts.push(Vec::new());
                }
                Some(b'\\') => {
                    let hex = self
                        .s
                        .get(self.i + 1..self.i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or_else(|| self.err("`\\` not followed by two hex digits"))?;
                    self.i += 3;
                    parts.last_mut().expect("never empty").push(hex);
                }
                Some(c) => {
                    self.i += 1;
                    parts.last_mut().expect("never empty").push(c);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(text: &str) -> String {
        Filter::parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .to_string()
    }

    #[test]
    fn the_filters_of_directories_parse_and_print_back() {
        for f in [
            "(objectClass=inetOrgPerson)",
            "(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
            "(|(uid=a*)(cn=*b*c*)(sn=*d))",
            "(createTimestamp>=20240101000000Z)",
            "(cn~=alice)",
            "(mail=*)",
            "(ou:dn:=people)",
            "(:caseExactMatch:=Alice)",
            "(cn=a\\2ab)",
        ] {
            assert_eq!(round(f), f);
        }
        assert_eq!(round("objectClass=user"), "(objectClass=user)");
        assert_eq!(
            Filter::parse("(cn=a\\2ab)").unwrap(),
            Filter::Equal("cn".into(), b"a*b".to_vec())
        );
    }

    #[test]
    fn broken_filters_say_where() {
        for (f, why) in [
            ("(uid=alice", "`)` expected"),
            ("(&)", "an empty list"),
            ("(=x)", "an attribute name expected"),
            ("(uid=a(b)", "`(` in a value (write it \\28)"),
            ("(uid>=a*)", "`*` in a value that allows none"),
            ("(uid=\\zz)", "`\\` not followed by two hex digits"),
            ("(uid=a)(cn=b)", "text after the filter"),
            ("(uid!a)", "`=`, `~=`, `>=` or `<=` expected"),
        ] {
            let e = Filter::parse(f).expect_err(f);
            assert_eq!(e.why, why, "{f}");
        }
        let deep = "(!".repeat(100) + "(a=b)" + &")".repeat(100);
        assert_eq!(Filter::parse(&deep).unwrap_err().why, "nested too deep");
    }

    #[test]
    fn a_value_built_from_parts_is_never_filter_text() {
        let f = Filter::parse("(objectClass=user)")
            .unwrap()
            .and(Filter::equal("sAMAccountName", "a*)(uid=*"));
        assert_eq!(
            f.to_string(),
            "(&(objectClass=user)(sAMAccountName=a\\2a\\29\\28uid=\\2a))"
        );
        let mut out = Vec::new();
        Filter::equal("uid", "bob").encode(&mut out);
        assert_eq!(out, b"\xa3\x0a\x04\x03uid\x04\x03bob");
        let mut out = Vec::new();
        Filter::prefix("cn", "Ali").encode(&mut out);
        assert_eq!(out, b"\xa4\x0b\x04\x02cn\x30\x05\x80\x03Ali");
    }
}
