//! Zones as records, written in the lab's zone file layout (one record a line, the
//! owner relative to the origin and padded, so that tests can find and drop a line by
//! its start).

use std::fmt::Write;

/// A resource record of a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// `owner A address`.
    A(String, String),
    /// `owner PTR name`.
    Ptr(String, String),
    /// `owner SRV priority weight port target` (an absolute target).
    Srv {
        /// Relative owner (`_xmpp-client._tcp`).
        owner: String,
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
        /// Target FQDN (without the final dot).
        target: String,
    },
    /// A comment line.
    Comment(String),
}

/// One zone: its origin and records (SOA and NS are the lab's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// `lab.test`, `0.0.127.in-addr.arpa`.
    pub origin: String,
    /// What the file says about it first.
    pub header: Vec<String>,
    /// Its records.
    pub records: Vec<Record>,
}

impl Zone {
    /// A zone of `origin`, described by `header` comment lines.
    pub fn new(origin: &str, header: &[&str]) -> Zone {
        Zone {
            origin: origin.into(),
            header: header.iter().map(|s| s.to_string()).collect(),
            records: Vec::new(),
        }
    }

    /// The owner of `fqdn` relative to this zone (`imp1.lab.test` -> `imp1`, the
    /// origin itself -> `@`).
    pub fn rel(&self, fqdn: &str) -> String {
        if fqdn == self.origin {
            return "@".into();
        }
        fqdn.strip_suffix(&format!(".{}", self.origin))
            .unwrap_or(fqdn)
            .to_string()
    }

    /// `service` (`_xmpp-client._tcp`) under `name` (an FQDN), as an owner of this zone.
    pub fn srv_owner(&self, service: &str, name: &str) -> String {
        match self.rel(name).as_str() {
            "@" => service.to_string(),
            r => format!("{service}.{r}"),
        }
    }

    /// Adds an A record of `fqdn`.
    pub fn a(&mut self, fqdn: &str, address: impl ToString) {
        let owner = self.rel(fqdn);
        self.records.push(Record::A(owner, address.to_string()));
    }

    /// Adds an SRV record of `service` under `name` (FQDNs).
    pub fn srv(&mut self, service: &str, name: &str, pwp: (u16, u16, u16), target: &str) {
        let owner = self.srv_owner(service, name);
        self.records.push(Record::Srv {
            owner,
            priority: pwp.0,
            weight: pwp.1,
            port: pwp.2,
            target: target.into(),
        });
    }

    /// Adds a comment.
    pub fn comment(&mut self, text: &str) {
        self.records.push(Record::Comment(text.into()));
    }

    /// The zone file, with `serial` in its SOA.
    pub fn text(&self, serial: u64) -> String {
        let mut out = String::new();
        for h in &self.header {
            let _ = writeln!(out, "; {h}");
        }
        let _ = writeln!(out, "$ORIGIN {}.", self.origin);
        out.push_str("$TTL 60\n");
        let _ = writeln!(
            out,
            "{:<16}SOA   ns.lab.test. hostmaster.lab.test. {serial} 60 30 600 60",
            "@"
        );
        let _ = writeln!(out, "{:<16}NS    ns.lab.test.", "@");
        for r in &self.records {
            let _ = match r {
                Record::A(o, a) => writeln!(out, "{o:<16}A     {a}"),
                Record::Ptr(o, n) => writeln!(out, "{o:<16}PTR   {n}."),
                Record::Srv {
                    owner,
                    priority,
                    weight,
                    port,
                    target,
                } => writeln!(out, "{owner:<33}SRV {priority} {weight} {port} {target}."),
                Record::Comment(c) => writeln!(out, "; {c}"),
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_relative_and_lines_start_with_them() {
        let mut z = Zone::new("lab.test", &["The IM domain."]);
        z.a("imp1.lab.test", "127.0.0.22");
        z.srv(
            "_xmpp-client._tcp",
            "lab.test",
            (10, 50, 5222),
            "imp1.lab.test",
        );
        z.srv(
            "_sip._udp",
            "imp-cluster.lab.test",
            (10, 10, 5060),
            "imp1.lab.test",
        );
        let t = z.text(7);
        assert!(
            t.starts_with("; The IM domain.\n$ORIGIN lab.test.\n$TTL 60\n"),
            "{t}"
        );
        assert!(t.contains(
            "\n@               SOA   ns.lab.test. hostmaster.lab.test. 7 60 30 600 60\n"
        ));
        assert!(t.contains("\nimp1            A     127.0.0.22\n"), "{t}");
        assert!(t.contains("\n_xmpp-client._tcp                SRV 10 50 5222 imp1.lab.test.\n"));
        assert!(t.contains("\n_sip._udp.imp-cluster            SRV 10 10 5060 imp1.lab.test.\n"));
    }
}
