//! From a spec and the probes to the set of checks a run performs.

use crate::catalog::{self, CheckDef};
use crate::event::CheckInfo;
use crate::model::{Area, CheckKey};
use crate::probe::{PlannedCheck, Probe};
use crate::spec::{Spec, Workflow};
use globset::{Glob, GlobMatcher};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One `--only` / `--skip` pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// `task:B.8`: checks verifying that task.
    Task(String),
    /// `area:dns` or a bare area name: checks of that area.
    Area(Area),
    /// A glob on the check id: `dns.srv.*`.
    Id(GlobMatcher),
}

impl Pattern {
    /// Parses a pattern as the command line gives it.
    pub fn parse(s: &str) -> Result<Pattern, String> {
        if let Some(t) = s.strip_prefix("task:") {
            let t = t.to_ascii_uppercase();
            if catalog::task_title(&t).is_none() {
                return Err(format!(
                    "`{s}`: unknown task `{t}` (tasks look like A.7, B.8, C.15, D.2)"
                ));
            }
            return Ok(Pattern::Task(t));
        }
        if let Some(a) = s.strip_prefix("area:") {
            return Area::parse(a).map(Pattern::Area).ok_or_else(|| {
                format!(
                    "`{s}`: unknown area `{a}` (areas: {})",
                    Area::ALL.map(|a| a.as_str()).join(", ")
                )
            });
        }
        if let Some(a) = Area::parse(s) {
            return Ok(Pattern::Area(a));
        }
        let glob = Glob::new(s).map_err(|e| format!("`{s}`: {e}"))?;
        let m = glob.compile_matcher();
        if !catalog::CHECKS.iter().any(|c| m.is_match(c.id)) {
            return Err(format!("`{s}` matches no check id (see `imp-verify list`)"));
        }
        Ok(Pattern::Id(m))
    }

    fn matches(&self, def: &CheckDef, workflow: Workflow) -> bool {
        match self {
            Pattern::Task(t) => def.tasks_in(workflow).iter().any(|x| x == t),
            Pattern::Area(a) => def.area == *a,
            Pattern::Id(m) => m.is_match(def.id),
        }
    }
}

/// Which checks the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// If not empty, a check must be of one of these areas (the area subcommands).
    pub areas: Vec<Area>,
    /// If not empty, a check must match one of these.
    pub only: Vec<Pattern>,
    /// A check matching one of these is left out.
    pub skip: Vec<Pattern>,
    /// If not empty, a check must match one of these (a named selection of checks on
    /// given targets, like `imp-verify ha`).
    pub keys: Vec<KeyRule>,
    /// Also run the prerequisites of the selected checks (transitively), unless the
    /// workflow or `skip` leaves them out.
    pub prerequisites: bool,
}

/// One rule of [`Selection::keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRule {
    /// Every target of this check id.
    Id(&'static str),
    /// This one check on this one target.
    Key(CheckKey),
}

impl KeyRule {
    fn matches(&self, key: &CheckKey) -> bool {
        match self {
            KeyRule::Id(id) => key.id == *id,
            KeyRule::Key(k) => k == key,
        }
    }
}

impl Selection {
    /// Whether the check `def` is selected in a run of `workflow`.
    pub fn selects(&self, def: &CheckDef, workflow: Workflow) -> bool {
        (self.areas.is_empty() || self.areas.contains(&def.area))
            && (self.only.is_empty() || self.only.iter().any(|p| p.matches(def, workflow)))
            && !self.skips(def, workflow)
    }

    fn skips(&self, def: &CheckDef, workflow: Workflow) -> bool {
        self.skip.iter().any(|p| p.matches(def, workflow))
    }

    /// Whether the check on this target is selected ([`Selection::selects`] and `keys`).
    pub fn selects_key(&self, def: &CheckDef, key: &CheckKey, workflow: Workflow) -> bool {
        self.selects(def, workflow)
            && (self.keys.is_empty() || self.keys.iter().any(|r| r.matches(key)))
    }
}

/// The checks of one run, in a stable order, with their prerequisites resolved.
pub struct Plan {
    /// The spec's workflow.
    pub workflow: Workflow,
    /// The checks, in catalog order, then target as planned.
    pub checks: Vec<PlannedCheck>,
}

impl Plan {
    /// What the reports need to know of each planned check.
    pub fn infos(&self) -> Vec<CheckInfo> {
        self.checks
            .iter()
            .map(|c| {
                let def = catalog::check(c.key.id).expect("planned ids are in the catalog");
                CheckInfo {
                    key: c.key.clone(),
                    area: def.area,
                    tasks: def.tasks_in(self.workflow),
                    description: def.description,
                    depends_on: c.depends_on.clone(),
                }
            })
            .collect()
    }
}

/// A probe planned something the runner cannot run.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("probe `{probe}` planned check `{id}`, which is not in the check catalog")]
    /// A probe planned an id the catalog does not have.
    UnknownCheck {
        /// The probe.
        probe: &'static str,
        /// The id.
        id: &'static str,
    },
    #[error("check {0} is planned twice")]
    /// Two checks have the same key.
    Duplicate(CheckKey),
    #[error("checks depend on each other in a cycle through {0}")]
    /// Prerequisites form a cycle.
    Cycle(CheckKey),
    #[error("check {check} waits for {prerequisite}, which the catalog's `requires` of `{}` does not declare", check.id)]
    /// A check waits for a check whose id its catalog row does not list in `requires`
    /// (the catalog is the contract of the graph).
    UndeclaredPrerequisite {
        /// The check.
        check: CheckKey,
        /// The prerequisite it names.
        prerequisite: CheckKey,
    },
    #[error("check {check} waits for {prerequisite} as one of alternatives, which the catalog's `FIRST_OF` does not declare for `{}`", check.id)]
    /// A check waits for alternatives the catalog does not declare as such.
    UndeclaredAlternative {
        /// The check.
        check: CheckKey,
        /// The alternative it names.
        prerequisite: CheckKey,
    },
    #[error("check {check} waits for {prerequisite}, which no probe plans")]
    /// A check waits for a key no probe plans (a misspelt prerequisite).
    UnknownPrerequisite {
        /// The check whose prerequisite is dangling.
        check: CheckKey,
        /// The key it names.
        prerequisite: CheckKey,
    },
}

/// Asks every probe for its checks and keeps those that apply to the spec's workflow
/// and the selection. A prerequisite that was planned but left out (by the workflow or
/// the selection) is dropped: the check runs on its own. A prerequisite that no probe
/// planned at all is a bug (a misspelt key) and refused.
pub fn build_plan(
    spec: &Arc<Spec>,
    probes: &[Box<dyn Probe>],
    selection: &Selection,
) -> Result<Plan, PlanError> {
    let workflow = spec.workflow;
    let mut candidates = Vec::new();
    let mut planned = HashSet::new();
    let mut edges = Vec::new();
    for probe in probes {
        for c in probe.plan(spec) {
            let def = catalog::check(c.key.id).ok_or(PlanError::UnknownCheck {
                probe: probe.name(),
                id: c.key.id,
            })?;
            if let Some(d) = c.depends_on.iter().find(|d| !def.requires.contains(&d.id)) {
                return Err(PlanError::UndeclaredPrerequisite {
                    check: c.key.clone(),
                    prerequisite: d.clone(),
                });
            }
            if let Some(d) = c
                .first_of
                .iter()
                .find(|d| !catalog::waits_for_first_of(c.key.id, d.id))
            {
                return Err(PlanError::UndeclaredAlternative {
                    check: c.key.clone(),
                    prerequisite: d.clone(),
                });
            }
            planned.insert(c.key.clone());
            edges.extend(c.depends_on.iter().map(|d| (c.key.clone(), d.clone())));
            if def.applies_to(workflow) && !selection.skips(def, workflow) {
                let chosen = selection.selects_key(def, &c.key, workflow);
                candidates.push((c, chosen));
            }
        }
    }
    if selection.prerequisites {
        pull_prerequisites(&mut candidates);
    }
    let mut checks: Vec<PlannedCheck> = candidates
        .into_iter()
        .filter_map(|(c, chosen)| chosen.then_some(c))
        .collect();
    if let Some((check, prerequisite)) = edges.into_iter().find(|(_, d)| !planned.contains(d)) {
        return Err(PlanError::UnknownPrerequisite {
            check,
            prerequisite,
        });
    }
    // Stable order: catalog order, then target as planned.
    let order: HashMap<&str, usize> = catalog::CHECKS
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    checks.sort_by_key(|c| order[c.key.id]);
    let mut keys = HashSet::new();
    for c in &checks {
        if !keys.insert(c.key.clone()) {
            return Err(PlanError::Duplicate(c.key.clone()));
        }
    }
    for c in &mut checks {
        c.depends_on.retain(|d| keys.contains(d));
        c.first_of.retain(|d| keys.contains(d));
    }
    check_acyclic(&checks)?;
    Ok(Plan { workflow, checks })
}

/// Marks as chosen every candidate a chosen one waits for, transitively.
fn pull_prerequisites(candidates: &mut [(PlannedCheck, bool)]) {
    let index: HashMap<CheckKey, usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, (c, _))| (c.key.clone(), i))
        .collect();
    let mut todo: Vec<usize> = (0..candidates.len()).filter(|i| candidates[*i].1).collect();
    while let Some(i) = todo.pop() {
        for d in candidates[i].0.depends_on.clone() {
            if let Some(&j) = index.get(&d) {
                if !candidates[j].1 {
                    candidates[j].1 = true;
                    todo.push(j);
                }
            }
        }
    }
}

fn check_acyclic(checks: &[PlannedCheck]) -> Result<(), PlanError> {
    let index: HashMap<&CheckKey, usize> = checks
        .iter()
        .enumerate()
        .map(|(i, c)| (&c.key, i))
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut state = vec![0u8; checks.len()];
    fn visit(
        i: usize,
        checks: &[PlannedCheck],
        index: &HashMap<&CheckKey, usize>,
        state: &mut [u8],
    ) -> Result<(), PlanError> {
        match state[i] {
            1 => return Err(PlanError::Cycle(checks[i].key.clone())),
            2 => return Ok(()),
            _ => {}
        }
        state[i] = 1;
        for d in &checks[i].depends_on {
            visit(index[d], checks, index, state)?;
        }
        state[i] = 2;
        Ok(())
    }
    for i in 0..checks.len() {
        visit(i, checks, &index, &mut state)?;
    }
    Ok(())
}
