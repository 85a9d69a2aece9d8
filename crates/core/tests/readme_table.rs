//! The README's check table and the check table in code (catalog.rs) agree: every
//! check has its row, with its area and its workflow tasks, and no row names a check
//! that does not exist.

use imp_verify_core::catalog::CHECKS;
use std::collections::BTreeSet;

#[test]
fn the_readme_lists_every_check_once_with_its_area_and_tasks() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    // (ids, area, tasks) of each row: `| `a`, `b` | area | A.1 A.2, B.1 | ...`
    let rows: Vec<(Vec<String>, String, BTreeSet<String>)> = readme
        .lines()
        .filter(|l| l.starts_with("| `") && l.split(" | ").count() >= 4)
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let ids = cells[0]
                .trim_start_matches("| ")
                .split(", ")
                .map(|i| i.trim_matches('`').to_string())
                .collect();
            let tasks = cells[2]
                .split([' ', ','])
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect();
            (ids, cells[1].trim().to_string(), tasks)
        })
        .collect();
    // `as `tls.chain``: the tasks of that row.
    let rows: Vec<(Vec<String>, String, BTreeSet<String>)> = rows
        .iter()
        .map(|(ids, area, tasks)| {
            let same_as = tasks
                .iter()
                .find(|t| t.starts_with('`'))
                .map(|t| t.trim_matches('`').to_string());
            let tasks = match same_as {
                Some(other) => rows
                    .iter()
                    .find(|(i, _, _)| i.contains(&other))
                    .map(|r| r.2.clone())
                    .unwrap_or_default(),
                None => tasks.clone(),
            };
            (ids.clone(), area.clone(), tasks)
        })
        .collect();
    assert!(rows.len() > 20, "the table was found");
    for c in CHECKS {
        let found: Vec<_> = rows
            .iter()
            .filter(|(ids, _, _)| ids.iter().any(|i| i == c.id))
            .collect();
        assert_eq!(found.len(), 1, "README rows for {}", c.id);
        let (_, area, tasks) = found[0];
        assert_eq!(area, c.area.as_str(), "the area of {}", c.id);
        let want: BTreeSet<String> = c.all_task_labels().iter().map(|t| t.to_string()).collect();
        assert_eq!(tasks, &want, "the tasks of {}", c.id);
    }
    for (ids, _, _) in &rows {
        for id in ids {
            assert!(
                CHECKS.iter().any(|c| c.id == id),
                "the README lists `{id}`, which is not a check"
            );
        }
    }
}
