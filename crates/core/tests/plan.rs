//! `build_plan`: prerequisites are typed keys, and one that names no planned check is
//! refused instead of silently dropped.

use imp_verify_core::plan::PlanError;
use imp_verify_core::{
    build_plan, CheckKey, Outcome, Pattern, PlannedCheck, Probe, Selection, Spec,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const SPEC: &str = r#"
workflow = "A"
domains = ["example.com"]

[[clusters]]
name = "c1"
domain = "example.com"

[[clusters.nodes]]
fqdn = "imp1.example.com"
role = "imp"
"#;

fn spec() -> Arc<Spec> {
    let env: BTreeMap<String, String> = BTreeMap::new();
    Arc::new(Spec::parse(SPEC, Path::new("t.toml"), &env).expect("a valid spec"))
}

/// A probe that plans `dns.node` on `a` and `services.port` on `b` after `dep`.
struct Fake {
    dep: CheckKey,
}

impl Probe for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn plan(&self, _spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        vec![
            PlannedCheck::new("dns.node", "a", |_| async { Outcome::pass("ok") }),
            PlannedCheck::new("services.port", "b", |_| async { Outcome::pass("ok") })
                .after(self.dep.clone()),
        ]
    }
}

fn probes(dep: CheckKey) -> Vec<Box<dyn Probe>> {
    vec![Box::new(Fake { dep })]
}

#[test]
fn a_prerequisite_no_probe_plans_is_refused() {
    let misspelt = CheckKey::new("dns.node", "A");
    let err = build_plan(&spec(), &probes(misspelt), &Selection::default())
        .err()
        .expect("refused");
    match err {
        PlanError::UnknownPrerequisite {
            check,
            prerequisite,
        } => {
            assert_eq!(check, CheckKey::new("services.port", "b"));
            assert_eq!(prerequisite, CheckKey::new("dns.node", "A"));
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn a_planned_prerequisite_is_kept_and_a_deselected_one_dropped() {
    let dep = CheckKey::new("dns.node", "a");
    let plan = build_plan(&spec(), &probes(dep.clone()), &Selection::default()).unwrap();
    assert_eq!(plan.checks[0].key, CheckKey::new("services.port", "b"));
    assert_eq!(plan.checks[0].depends_on, vec![dep.clone()]);

    let skip_ports = Selection {
        skip: vec![Pattern::parse("dns.node").unwrap()],
        ..Selection::default()
    };
    let plan = build_plan(&spec(), &probes(dep), &skip_ports).unwrap();
    assert_eq!(plan.checks.len(), 1);
    assert!(plan.checks[0].depends_on.is_empty());
}

#[test]
fn a_selection_by_key_pulls_in_its_prerequisites_unless_skipped() {
    let dep = CheckKey::new("dns.node", "a");
    let by_key = |prerequisites: bool, skip: Vec<Pattern>| Selection {
        keys: vec![imp_verify_core::KeyRule::Key(CheckKey::new(
            "services.port",
            "b",
        ))],
        prerequisites,
        skip,
        ..Selection::default()
    };
    let ids = |s: &Selection| -> Vec<CheckKey> {
        build_plan(&spec(), &probes(dep.clone()), s)
            .unwrap()
            .checks
            .iter()
            .map(|c| c.key.clone())
            .collect()
    };
    assert_eq!(
        ids(&by_key(false, vec![])),
        vec![CheckKey::new("services.port", "b")]
    );
    assert_eq!(
        ids(&by_key(true, vec![])),
        vec![CheckKey::new("services.port", "b"), dep.clone()]
    );
    let skip_ports = vec![Pattern::parse("dns.node").unwrap()];
    assert_eq!(
        ids(&by_key(true, skip_ports)),
        vec![CheckKey::new("services.port", "b")]
    );
    let by_id = Selection {
        keys: vec![imp_verify_core::KeyRule::Id("dns.node")],
        ..Selection::default()
    };
    assert_eq!(ids(&by_id), vec![dep]);
}

/// A probe whose `dns.node` waits for a `services.port`: an edge the catalog does not
/// declare (`dns.node` requires nothing).
struct Undeclared;

impl Probe for Undeclared {
    fn name(&self) -> &'static str {
        "undeclared"
    }
    fn plan(&self, _spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        vec![
            PlannedCheck::new("services.port", "a", |_| async { Outcome::pass("ok") }),
            PlannedCheck::new("dns.node", "b", |_| async { Outcome::pass("ok") })
                .after(CheckKey::new("services.port", "a")),
        ]
    }
}

#[test]
fn an_edge_the_catalog_does_not_declare_is_refused() {
    let probes: Vec<Box<dyn Probe>> = vec![Box::new(Undeclared)];
    match build_plan(&spec(), &probes, &Selection::default()).err() {
        Some(PlanError::UndeclaredPrerequisite {
            check,
            prerequisite,
        }) => {
            assert_eq!(check, CheckKey::new("dns.node", "b"));
            assert_eq!(prerequisite, CheckKey::new("services.port", "a"));
        }
        other => panic!(
            "not refused as undeclared: {:?}",
            other.map(|e| e.to_string())
        ),
    }
}
