//! The UDS documents the checks read, as Cisco documents them (see the crate's doc for
//! the pages): what each check needs is taken by element and attribute name; anything
//! else in the document is ignored.

use crate::xml::Element;

/// The root element was not the one the resource answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the document is <{found}>, not the <{expected}> of UDS's {resource} resource")]
pub struct Unexpected {
    /// The resource asked.
    pub resource: &'static str,
    /// The root element it answers with.
    pub expected: &'static str,
    /// The root element found.
    pub found: String,
}

fn expect(
    root: &Element,
    resource: &'static str,
    expected: &'static str,
) -> Result<(), Unexpected> {
    if root.name == expected {
        Ok(())
    } else {
        Err(Unexpected {
            resource,
            expected,
            found: root.name.clone(),
        })
    }
}

/// `GET /cucm-uds/version`: `<versionInformation version="10.0.0"><version>11.5.1
/// </version><capabilities>...</capabilities></versionInformation>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The `version` attribute of the root (the UDS schema's version).
    pub schema: Option<String>,
    /// The `<version>` element (the CUCM release).
    pub release: Option<String>,
    /// The `<capabilities>` children, name and text (`usersResourceAuthEnabled`).
    pub capabilities: Vec<(String, String)>,
}

/// Reads a version document.
pub fn version(root: &Element) -> Result<VersionInfo, Unexpected> {
    expect(root, "version", "versionInformation")?;
    Ok(VersionInfo {
        schema: root.attr("version").map(String::from),
        release: root.child_text("version").map(String::from),
        capabilities: root
            .child("capabilities")
            .map(|c| {
                c.children
                    .iter()
                    .map(|e| (e.name.clone(), e.text.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// `GET /cucm-uds/clusterUser?username=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterUser {
    /// `<result found="true" uri="https://{host}:8443/cucm-uds/user/{userId}"/>` and
    /// `<homeCluster>{host}</homeCluster>`.
    Found {
        /// The `uri` of `<result>`: the user's own resource.
        user_uri: Option<String>,
        /// The text of `<homeCluster>`: the home cluster's publisher.
        home_cluster: Option<String>,
    },
    /// `<result found="false"/>`.
    NotFound,
}

/// Why a clusterUser document says neither found nor not found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterUserError {
    /// Not a clusterUser document.
    #[error(transparent)]
    Root(#[from] Unexpected),
    /// No `<result>` with a `found` attribute of `true` or `false`.
    #[error("it has no <result found=\"true|false\">{}", .0.as_ref().map(|v| format!(" (found=\"{v}\")")).unwrap_or_default())]
    NoResult(Option<String>),
}

/// Reads a clusterUser document.
pub fn cluster_user(root: &Element) -> Result<ClusterUser, ClusterUserError> {
    expect(root, "clusterUser", "clusterUser")?;
    let result = root.child("result");
    match result.and_then(|r| r.attr("found")) {
        Some(f) if f.trim().eq_ignore_ascii_case("true") => Ok(ClusterUser::Found {
            user_uri: result.and_then(|r| r.attr("uri")).map(String::from),
            home_cluster: root.child_text("homeCluster").map(String::from),
        }),
        Some(f) if f.trim().eq_ignore_ascii_case("false") => Ok(ClusterUser::NotFound),
        other => Err(ClusterUserError::NoResult(other.map(String::from))),
    }
}

/// `GET /cucm-uds/user/{userid}` (user authentication required).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    /// `<userName>`.
    pub user_name: Option<String>,
    /// `<displayName>`.
    pub display_name: Option<String>,
    /// `<email>`.
    pub email: Option<String>,
    /// `<accountType>` (`ldap`, `local`) and its `useLdapAuth` attribute.
    pub account_type: Option<(String, Option<String>)>,
    /// The text of `<homeCluster>` (`true`: this cluster is the user's home cluster).
    pub home_cluster: Option<String>,
    /// The `enableImAndPresence` attribute of `<homeCluster>`.
    pub im_and_presence: Option<String>,
    /// The `<server>`s of `<imAndPresence>` (CUCM 12.5's sample names one).
    pub imp_servers: Vec<String>,
}

/// Reads a user document.
pub fn user(root: &Element) -> Result<UserInfo, Unexpected> {
    expect(root, "user", "user")?;
    let text = |n: &str| root.child_text(n).map(String::from);
    let home = root.child("homeCluster");
    Ok(UserInfo {
        user_name: text("userName"),
        display_name: text("displayName"),
        email: text("email"),
        account_type: root
            .child("accountType")
            .map(|a| (a.text.clone(), a.attr("useLdapAuth").map(String::from))),
        home_cluster: home.map(|h| h.text.clone()).filter(|t| !t.is_empty()),
        im_and_presence: home
            .and_then(|h| h.attr("enableImAndPresence"))
            .map(String::from),
        imp_servers: root
            .child("imAndPresence")
            .map(|i| {
                i.children
                    .iter()
                    .filter(|c| c.name == "server" && !c.text.is_empty())
                    .map(|c| c.text.clone())
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// A flag as UDS writes one (`true`, `false`), if it is one.
pub fn flag(v: Option<&str>) -> Option<bool> {
    match v.map(|s| s.trim().to_ascii_lowercase()) {
        Some(s) if s == "true" => Some(true),
        Some(s) if s == "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::xml::parse;

    /// A response the lab's stand-in serves (fixtures/lab/uds/, Cisco's documented
    /// shapes), its placeholders filled as `lab up` fills them.
    pub(crate) fn lab_fixture(name: &str) -> String {
        let path = format!(
            "{}/../../fixtures/lab/uds/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .replace(
                r#"<!--#echo var="QUERY_STRING" encoding="entity" -->"#,
                "username=zed",
            )
            .replace("@UDS_HOST@", "cucm.lab.test")
            .replace("@HOME_CLUSTER@", "cucm.lab.test")
            .replace("@USER@", "alice")
            .replace("@FIRST@", "Alice")
            .replace("@LAST@", "Liddell")
            .replace("@PHONE@", "+1 555 0101")
            .replace("@PKID@", "0b6e2f4c-0000-4000-8000-000000000001")
            .replace("@IMP_SERVER@", "imp1.lab.test")
    }

    #[test]
    fn the_documented_version_document_is_read() {
        let v = version(&parse(lab_fixture("version.xml").as_bytes()).unwrap()).unwrap();
        assert_eq!(v.schema.as_deref(), Some("10.0.0"));
        assert_eq!(v.release.as_deref(), Some("12.5.1"));
        assert_eq!(
            v.capabilities,
            [("usersResourceAuthEnabled".to_string(), "false".to_string())]
        );
        // A later release's new elements are ignored; a bare version still reads.
        let later = br#"<versionInformation version="14.0.0"><version>15.0.1</version><newThing a="1"/></versionInformation>"#;
        let v = version(&parse(later).unwrap()).unwrap();
        assert_eq!(v.release.as_deref(), Some("15.0.1"));
        assert!(v.capabilities.is_empty());
        let html = parse(b"<html><body>Tomcat</body></html>").unwrap();
        assert_eq!(
            version(&html).unwrap_err().to_string(),
            "the document is <html>, not the <versionInformation> of UDS's version resource"
        );
    }

    #[test]
    fn cluster_user_found_and_not_found_as_documented() {
        let found = parse(lab_fixture("clusterUser-found.xml").as_bytes()).unwrap();
        assert_eq!(
            cluster_user(&found).unwrap(),
            ClusterUser::Found {
                user_uri: Some("https://cucm.lab.test:8443/cucm-uds/user/alice".into()),
                home_cluster: Some("cucm.lab.test".into()),
            }
        );
        let not = parse(lab_fixture("clusterUser-notfound.xml").as_bytes()).unwrap();
        assert_eq!(
            not.attr("uri"),
            Some("https://cucm.lab.test/cucm-uds/clusterUser?username=zed")
        );
        assert_eq!(cluster_user(&not).unwrap(), ClusterUser::NotFound);
        let odd = parse(br#"<clusterUser><result found="maybe"/></clusterUser>"#).unwrap();
        assert_eq!(
            cluster_user(&odd).unwrap_err(),
            ClusterUserError::NoResult(Some("maybe".into()))
        );
        let none = parse(b"<clusterUser/>").unwrap();
        assert_eq!(
            cluster_user(&none).unwrap_err(),
            ClusterUserError::NoResult(None)
        );
    }

    #[test]
    fn the_documented_user_document_is_read_and_unknown_elements_ignored() {
        let u = user(&parse(lab_fixture("user.xml").as_bytes()).unwrap()).unwrap();
        assert_eq!(u.user_name.as_deref(), Some("alice"));
        assert_eq!(u.display_name.as_deref(), Some("Alice Liddell"));
        assert_eq!(u.email.as_deref(), Some("alice@lab.test"));
        assert_eq!(u.account_type, Some(("ldap".into(), Some("true".into()))));
        assert_eq!(flag(u.home_cluster.as_deref()), Some(true));
        assert_eq!(flag(u.im_and_presence.as_deref()), Some(true));
        assert_eq!(u.imp_servers, ["imp1.lab.test"]);
        // The 10.x shape (the developer guide's Hello World): no <imAndPresence>.
        let older = br#"<user version="10.0.0" uri="https://h:8443/cucm-uds/user/bob"><id>x</id><userName>bob</userName>
            <primaryExtension><directoryNumber>1</directoryNumber></primaryExtension>
            <homeCluster enableCalendarPresence="false" enableImAndPresence="false">false</homeCluster></user>"#;
        let u = user(&parse(older).unwrap()).unwrap();
        assert_eq!(u.user_name.as_deref(), Some("bob"));
        assert!(u.imp_servers.is_empty());
        assert_eq!(flag(u.home_cluster.as_deref()), Some(false));
        assert_eq!(flag(u.im_and_presence.as_deref()), Some(false));
        assert_eq!(flag(Some("yes")), None);
    }
}
