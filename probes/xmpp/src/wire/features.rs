//! A server's stream features as facts (RFC 6120 §4.3.2): what it offers at a point of
//! the stream, read from the typed element the XML parser made, never from its text.

use tokio_xmpp::parsers::stream_features::StreamFeatures;

/// XEP-0220's stream feature: the server takes Server Dialback.
pub const NS_DIALBACK_FEATURE: &str = "urn:xmpp:features:dialback";

/// The SASL mechanisms that send the password itself, in a form anyone who reads it
/// can reverse (RFC 4616 PLAIN, the non-standard LOGIN).
pub const REVERSIBLE: [&str; 2] = ["PLAIN", "LOGIN"];

/// What a `<stream:features/>` offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// STARTTLS offered (`Some`), and whether it is marked `<required/>`.
    pub starttls: Option<bool>,
    /// The SASL mechanisms offered, as the server names them.
    pub mechanisms: Vec<String>,
    /// In-band registration (XEP-0077's `<register/>` feature).
    pub register: bool,
    /// Server Dialback (XEP-0220's `<dialback/>` feature).
    pub dialback: bool,
    /// Resource binding (after authentication).
    pub bind: bool,
    /// The other features, as `{namespace}name`.
    pub others: Vec<String>,
}

impl From<&StreamFeatures> for Features {
    fn from(f: &StreamFeatures) -> Self {
        let dialback = f
            .others
            .iter()
            .any(|e| e.name() == "dialback" && e.ns() == NS_DIALBACK_FEATURE);
        Features {
            starttls: f.starttls.as_ref().map(|s| s.required),
            mechanisms: f.sasl_mechanisms.iter().cloned().collect(),
            register: f.in_band_registration,
            dialback,
            bind: f.bind.is_some(),
            others: f
                .others
                .iter()
                .filter(|e| !(e.name() == "dialback" && e.ns() == NS_DIALBACK_FEATURE))
                .map(|e| format!("{{{}}}{}", e.ns(), e.name()))
                .collect(),
        }
    }
}

impl Features {
    /// The mechanisms offered that send the password in a reversible form.
    pub fn reversible(&self) -> Vec<&str> {
        self.mechanisms
            .iter()
            .map(String::as_str)
            .filter(|m| REVERSIBLE.iter().any(|r| r.eq_ignore_ascii_case(m)))
            .collect()
    }
}

impl std::fmt::Display for Features {
    /// `starttls (required); SASL PLAIN SCRAM-SHA-1; register; dialback; bind`, or
    /// `none`; names the server chose are escaped and cut.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        match self.starttls {
            Some(true) => parts.push("starttls (required)".to_string()),
            Some(false) => parts.push("starttls (not required)".to_string()),
            None => {}
        }
        if !self.mechanisms.is_empty() {
            parts.push(format!(
                "SASL {}",
                imp_verify_core::text::peer_text(&imp_verify_core::text::cut_list(
                    &self.mechanisms,
                    " "
                ))
            ));
        }
        for (on, name) in [
            (self.register, "register"),
            (self.dialback, "dialback"),
            (self.bind, "bind"),
        ] {
            if on {
                parts.push(name.to_string());
            }
        }
        if !self.others.is_empty() {
            parts.push(imp_verify_core::text::peer_text(
                &imp_verify_core::text::cut_list(&self.others, " "),
            ));
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_xmpp::minidom::Element;

    fn parse(xml: &str) -> Features {
        let el: Element = xml.parse().unwrap();
        Features::from(&StreamFeatures::try_from(el).unwrap())
    }

    #[test]
    fn features_are_read_from_the_element() {
        // Prosody before TLS on s2s, as captured from the lab.
        let f = parse("<stream:features xmlns:stream='http://etherx.jabber.org/streams'><dialback xmlns='urn:xmpp:features:dialback'/><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>");
        assert_eq!(f.starttls, Some(true));
        assert!(f.dialback && f.mechanisms.is_empty() && f.others.is_empty());
        assert_eq!(f.to_string(), "starttls (required); dialback");
        // A server with cleartext PLAIN and open registration.
        let f = parse("<stream:features xmlns:stream='http://etherx.jabber.org/streams'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms><register xmlns='http://jabber.org/features/iq-register'/><x xmlns='urn:example'/></stream:features>");
        assert_eq!(f.starttls, Some(false));
        assert_eq!(f.reversible(), vec!["PLAIN"]);
        assert!(f.register);
        assert_eq!(f.others, vec!["{urn:example}x"]);
        assert_eq!(
            f.to_string(),
            "starttls (not required); SASL PLAIN SCRAM-SHA-1; register; {urn:example}x"
        );
        assert_eq!(
            parse("<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>").to_string(),
            "none"
        );
    }
}
