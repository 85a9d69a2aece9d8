//! The five checks of a TLS endpoint, as a type: verdicts are indexed by it, never by
//! an id string.

use imp_verify_core::Outcome;

/// One of the five checks every TLS endpoint gets, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsCheck {
    /// `tls.chain`: the certificate chains to the spec's CA bundle. It also stands for
    /// the endpoint's handshake: when there is none, it says why.
    Chain,
    /// `tls.names`: the certificate covers the endpoint's names.
    Names,
    /// `tls.validity`: inside its validity window.
    Validity,
    /// `tls.usage`: the extended key usages the endpoint's roles need.
    Usage,
    /// `tls.strength`: key, signature, protocol versions, cipher suites.
    Strength,
}

impl TlsCheck {
    /// The five, in report order.
    pub const ALL: [TlsCheck; 5] = [
        TlsCheck::Chain,
        TlsCheck::Names,
        TlsCheck::Validity,
        TlsCheck::Usage,
        TlsCheck::Strength,
    ];

    /// The catalog id.
    pub fn id(self) -> &'static str {
        match self {
            TlsCheck::Chain => "tls.chain",
            TlsCheck::Names => "tls.names",
            TlsCheck::Validity => "tls.validity",
            TlsCheck::Usage => "tls.usage",
            TlsCheck::Strength => "tls.strength",
        }
    }
}

/// The verdict of each of the five checks on one observation.
#[derive(Debug, Clone)]
pub struct Verdicts {
    /// `tls.chain`.
    pub chain: Outcome,
    /// `tls.names`.
    pub names: Outcome,
    /// `tls.validity`.
    pub validity: Outcome,
    /// `tls.usage`.
    pub usage: Outcome,
    /// `tls.strength`.
    pub strength: Outcome,
}

impl Verdicts {
    /// The same verdict for all five (no certificate to tell them apart).
    pub fn all(o: Outcome) -> Verdicts {
        Verdicts {
            chain: o.clone(),
            names: o.clone(),
            validity: o.clone(),
            usage: o.clone(),
            strength: o,
        }
    }

    /// The verdict of `check`.
    pub fn get(&self, check: TlsCheck) -> &Outcome {
        match check {
            TlsCheck::Chain => &self.chain,
            TlsCheck::Names => &self.names,
            TlsCheck::Validity => &self.validity,
            TlsCheck::Usage => &self.usage,
            TlsCheck::Strength => &self.strength,
        }
    }

    /// Each check with its verdict, in report order.
    pub fn iter(&self) -> impl Iterator<Item = (TlsCheck, &Outcome)> {
        TlsCheck::ALL.into_iter().map(|c| (c, self.get(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imp_verify_core::catalog;

    #[test]
    fn every_check_is_in_the_catalog_under_tls() {
        for c in TlsCheck::ALL {
            let def = catalog::check(c.id()).unwrap_or_else(|| panic!("{}", c.id()));
            assert_eq!(def.area, imp_verify_core::Area::Tls);
        }
    }

    #[test]
    fn verdicts_are_found_by_their_check() {
        let v = Verdicts {
            chain: Outcome::pass("c"),
            names: Outcome::pass("n"),
            validity: Outcome::pass("v"),
            usage: Outcome::pass("u"),
            strength: Outcome::pass("s"),
        };
        let seen: Vec<&str> = v.iter().map(|(_, o)| o.message.as_str()).collect();
        assert_eq!(seen, ["c", "n", "v", "u", "s"]);
        assert_eq!(v.get(TlsCheck::Usage).message, "u");
    }
}
