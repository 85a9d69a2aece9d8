//! The check graph and the task numbers, as a run on the lab shows them:
//! - every prerequisite a probe declares (`.after()`) is one the catalog's `requires`
//!   allows for that check: the catalog is the contract of the graph;
//! - a run of each workflow names only its own workflow's tasks, in messages and fixes
//!   as well as in the task columns.

mod common;
use common::*;
use imp_verify_core::catalog;
use imp_verify_testlab::Lab;

#[test]
fn every_declared_prerequisite_is_allowed_by_the_catalog() {
    let lab = Lab::shared();
    let out = imp_verify(&["list", "--spec", lab.spec().to_str().unwrap()]);
    let (o, e) = text(&out);
    assert_eq!(code(&out), 0, "{e}");
    let mut edges = 0;
    for line in o.lines().skip(1) {
        let id = line.split_whitespace().next().expect("a check id");
        let def = catalog::check(id).unwrap_or_else(|| panic!("{id} is not in the catalog"));
        let Some((_, after)) = line.split_once("  after ") else {
            continue;
        };
        // `id [target], id [target]`: the ids are the words before each ` [`.
        for part in after.split(" [").take(after.matches(" [").count()) {
            let dep = part.rsplit([' ', ',']).next().unwrap_or(part);
            edges += 1;
            assert!(
                def.requires.contains(&dep),
                "{id} waits for {dep}, which its catalog row does not require ({:?})",
                def.requires
            );
        }
    }
    assert!(edges > 50, "too few prerequisites seen ({edges}):\n{o}");
}

#[test]
fn each_workflow_names_only_its_own_tasks() {
    // A lab with faults, so that fixes are printed: the directory, the second IM&P node,
    // CUCM and the federated server are down.
    let lab = Lab::isolated();
    for server in ["ldap", "imp2-xmpp", "imp2-sip", "cucm-sip", "partner-xmpp"] {
        lab.stop(server);
    }
    let dir = tempfile::tempdir().unwrap();
    let text_of = std::fs::read_to_string(lab.spec()).unwrap();
    for w in ["A", "B", "C", "D"] {
        let spec = dir.path().join(format!("{w}.toml"));
        std::fs::write(
            &spec,
            text_of.replace("workflow = \"C\"", &format!("workflow = \"{w}\"")),
        )
        .unwrap();
        let json = dir.path().join(format!("{w}.json"));
        let out = imp_verify(&[
            "all",
            "--spec",
            spec.to_str().unwrap(),
            "--no-progress",
            "--color",
            "never",
            "--timeout",
            "3s",
            "--json",
            json.to_str().unwrap(),
        ]);
        let (o, e) = text(&out);
        assert_eq!(code(&out), 1, "workflow {w}: {o}{e}");
        assert!(o.contains("fix: "), "workflow {w}: no fix printed:\n{o}");
        let report = std::fs::read_to_string(&json).unwrap();
        for other in ["A", "B", "C", "D"].into_iter().filter(|x| *x != w) {
            for t in catalog::TASKS.iter().filter(|t| t.label.starts_with(other)) {
                for (name, text) in [("stdout", &o), ("json", &report)] {
                    let hit = text.match_indices(t.label).any(|(i, _)| {
                        let before = text[..i].chars().next_back();
                        let after = text[i + t.label.len()..].chars().next();
                        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
                            && !after.is_some_and(|c| c.is_ascii_digit())
                    });
                    assert!(
                        !hit,
                        "workflow {w}: {name} names task {} of workflow {other}:\n{}",
                        t.label,
                        text.lines()
                            .filter(|l| l.contains(t.label))
                            .collect::<Vec<_>>()
                            .join("\n")
                    );
                }
            }
        }
    }
}
