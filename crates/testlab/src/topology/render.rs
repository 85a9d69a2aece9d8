//! Writing a lab's folder from its topology: configs from `fixtures/lab/templates`
//! (each `@NAME@` filled in from the topology; an unknown one is an error), the zones,
//! links, folders and the spec. Nothing is patched after it is written.

use super::spec::{spec_text, SpecPaths};
use super::{Directory, Output, Topology};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{symlink, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why the lab's folder could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template names a placeholder the topology does not give.
    #[error("{template}: unknown placeholder @{name}@")]
    Unknown {
        /// The template.
        template: String,
        /// The placeholder.
        name: String,
    },
    /// A template asks for a secret `lab init` had not made yet.
    #[error("{template}: @{name}@ needs secrets/{file}, which is missing")]
    Secret {
        /// The template.
        template: String,
        /// The placeholder.
        name: String,
        /// The secret's file.
        file: &'static str,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RenderError + '_ {
    move |source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The `@NAME@` placeholders of a template, in order (names of capitals, digits, `_`).
pub fn placeholders(text: &str) -> Vec<(usize, usize, &str)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'@' && i + 1 < b.len() && b[i + 1].is_ascii_uppercase() {
            let mut j = i + 1;
            while j < b.len()
                && (b[j].is_ascii_uppercase() || b[j].is_ascii_digit() || b[j] == b'_')
            {
                j += 1;
            }
            if j < b.len() && b[j] == b'@' {
                out.push((i, j + 1, &text[i + 1..j]));
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// `text` with every placeholder replaced by its value in `vars`.
pub fn render_template(
    name: &str,
    text: &str,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<String, RenderError> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end, key) in placeholders(text) {
        let value = vars(key).ok_or_else(|| RenderError::Unknown {
            template: name.into(),
            name: key.into(),
        })?;
        out.push_str(&text[last..start]);
        out.push_str(&value);
        last = end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// The values every template may use: the lab's folder, its hosts' addresses
/// (`@LDAP_IP@`...), the directory's layout, the zones Knot serves, and two secrets
/// read when a template asks for them (`@SVC_PASSWORD@`, `@ADMIN_HASH@`, the slappasswd
/// hash `lab init` keeps in `secrets/ldap-admin.hash`).
fn lab_vars(t: &Topology, dir: &Path) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert("DIR".into(), dir.display().to_string());
    for (name, n) in &t.hosts {
        v.insert(
            format!("{}_IP", name.to_ascii_uppercase()),
            t.ip(*n).to_string(),
        );
    }
    // The scale profile has no federated SIP domain: its nodes' route to sipfed.test
    // goes to a documentation address that never answers.
    v.entry("SIPFED_IP".into())
        .or_insert_with(|| "192.0.2.1".into());
    let (bind, base, uid) = match t.profile.directory {
        Directory::OpenLdap => (
            "cn=impverify-svc,ou=services,dc=lab,dc=test",
            "ou=people,dc=lab,dc=test",
            "uid",
        ),
        Directory::SambaAd => (
            "CN=impverify-svc,OU=services,DC=lab,DC=test",
            "OU=people,DC=lab,DC=test",
            "sAMAccountName",
        ),
    };
    v.insert("LDAP_BIND_DN".into(), bind.into());
    v.insert("LDAP_BASE".into(), base.into());
    v.insert("LDAP_UID_ATTR".into(), uid.into());
    let zones: Vec<String> = t
        .zones
        .iter()
        .map(|z| format!("  - domain: {}", z.origin))
        .collect();
    v.insert("ZONES".into(), zones.join("\n"));
    v
}

/// The placeholders that are secrets, and their files under `secrets/`.
const SECRETS: [(&str, &str); 2] = [
    ("SVC_PASSWORD", "ldap-service.password"),
    ("ADMIN_HASH", "ldap-admin.hash"),
];

fn secret(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join("secrets").join(file))
        .ok()
        .map(|s| s.trim_end().to_string())
}

fn write_file(path: &Path, text: &str, private: bool) -> Result<(), RenderError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let tmp = path.with_extension("lab-tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(text.as_bytes()).map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Whether `path` exists and was written after the renderer was built (a zone a test
/// may have edited: kept, as the lab always kept its zones, while the topology it was
/// rendered for is the same).
fn keep(path: &Path) -> bool {
    let Ok(written) = path.metadata().and_then(|m| m.modified()) else {
        return false;
    };
    let built = std::env::current_exe()
        .and_then(|e| e.metadata())
        .and_then(|m| m.modified());
    built.map(|b| written >= b).unwrap_or(true)
}

/// Writes everything `lab init` renders for topology `t` into the lab's folder `dir`
/// from the templates in `templates`: configs, links, folders, zones (kept when a
/// test may have edited them) and the spec `lab.toml`. Returns the files written.
pub fn write_all(
    t: &Topology,
    dir: &Path,
    templates: &Path,
    paths: &SpecPaths,
    serial: u64,
) -> Result<Vec<PathBuf>, RenderError> {
    let globals = lab_vars(t, dir);
    let mut written = Vec::new();
    for out in t.servers.iter().flat_map(|s| &s.outputs) {
        match out {
            Output::Render {
                template,
                path,
                vars,
                private,
            } => {
                let src = templates.join(template);
                let text = std::fs::read_to_string(&src).map_err(io(&src))?;
                for (key, file) in SECRETS {
                    if placeholders(&text).iter().any(|(_, _, n)| *n == key)
                        && secret(dir, file).is_none()
                    {
                        return Err(RenderError::Secret {
                            template: template.to_string(),
                            name: key.to_string(),
                            file,
                        });
                    }
                }
                let global = |k: &str| match SECRETS.iter().find(|(key, _)| *key == k) {
                    Some((_, file)) => secret(dir, file),
                    None => globals.get(k).cloned(),
                };
                let mut own = BTreeMap::new();
                for (k, v) in vars {
                    own.insert(*k, render_template(template, v, &global)?);
                }
                let lookup = |k: &str| own.get(k).cloned().or_else(|| global(k));
                let text = render_template(template, &text, &lookup)?;
                let p = dir.join(path);
                write_file(&p, &text, *private)?;
                written.push(p);
            }
            Output::Text {
                path,
                text,
                keep: k,
            } => {
                let p = dir.join(path);
                if !(*k && keep(&p)) {
                    write_file(&p, text, false)?;
                    written.push(p);
                }
            }
            Output::Link { path, target } => {
                let p = dir.join(path);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                let _ = std::fs::remove_file(&p);
                symlink(dir.join(target), &p).map_err(io(&p))?;
            }
            Output::Dir(d) => {
                let p = dir.join(d);
                std::fs::create_dir_all(&p).map_err(io(&p))?;
            }
        }
    }
    for z in &t.zones {
        let p = dir.join("conf/zones").join(format!("{}.zone", z.origin));
        // What this topology renders, but for the serial: a zone rendered for another
        // (a lab moved to other addresses) is written again, edits or not.
        let fresh = z.text(0);
        let stamp = dir
            .join("conf/zones")
            .join(format!(".{}.rendered", z.origin));
        let same_topology = std::fs::read_to_string(&stamp).is_ok_and(|s| s == fresh);
        if !(same_topology && keep(&p)) {
            write_file(&p, &z.text(serial), false)?;
            write_file(&stamp, &fresh, false)?;
            written.push(p);
        }
    }
    let spec = dir.join("lab.toml");
    write_file(&spec, &spec_text(t, paths), false)?;
    written.push(spec);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_capitals_between_ats() {
        let t = "ERLANG_NODE=ejabberd@@NODE_IP@ x@STRENGTH\" @DIR@/run mail@lab.test @A1_B@";
        let names: Vec<&str> = placeholders(t).into_iter().map(|(_, _, n)| n).collect();
        assert_eq!(names, ["NODE_IP", "DIR", "A1_B"]);
        let out = render_template("t", t, &|k| Some(format!("<{k}>"))).unwrap();
        assert_eq!(
            out,
            "ERLANG_NODE=ejabberd@<NODE_IP> x@STRENGTH\" <DIR>/run mail@lab.test <A1_B>"
        );
    }

    #[test]
    fn a_zone_is_kept_with_its_edits_until_the_topology_moves() {
        let dir = tempfile::tempdir().unwrap();
        let zones = dir.path().join("conf/zones");
        let templates = crate::repo_root().join("fixtures/lab/templates");
        std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
        for (_, file) in SECRETS {
            std::fs::write(dir.path().join("secrets").join(file), "x").unwrap();
        }
        let render = |base: u8| {
            let t = Topology::new(base, super::super::Profile::default()).unwrap();
            write_all(&t, dir.path(), &templates, &SpecPaths::under(dir.path()), 1).unwrap();
            std::fs::read_to_string(zones.join("lab.test.zone")).unwrap()
        };
        assert!(render(20).contains("127.0.0.21\n"));
        // A test's edit survives the next `up` of the same lab...
        let edited = zones.join("lab.test.zone");
        let mut text = std::fs::read_to_string(&edited).unwrap();
        text.push_str("edited          A     127.0.0.99\n");
        std::fs::write(&edited, text).unwrap();
        assert!(render(20).contains("edited "));
        // ...but not a move to other addresses: the zone names the new ones.
        let moved = render(140);
        assert!(
            moved.contains("ldap            A     127.0.0.141"),
            "{moved}"
        );
        assert!(
            !moved.contains("edited ") && !moved.contains("127.0.0.21\n"),
            "{moved}"
        );
    }

    #[test]
    fn an_unknown_placeholder_is_an_error() {
        let e = render_template("knot.conf", "listen: @NOPE@", &|_| None).unwrap_err();
        assert_eq!(e.to_string(), "knot.conf: unknown placeholder @NOPE@");
    }
}
