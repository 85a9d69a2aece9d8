//! The HTML page's findings beyond the checks: the deployment's exposures and what the
//! spec left unverified.

use crate::analysis::exposures_phrase;
use crate::html::esc;
use crate::json::JsonReport;
use std::fmt::Write as _;

pub(crate) fn exposures_section(s: &mut String, doc: &JsonReport) {
    let ex = &doc.summary.exposures;
    if ex.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "<h2>Exposure: {}</h2>\n<p class=\"meta\">What the deployment accepts and must refuse, each with the setting to change.</p>\n<ul class=\"roots\" id=\"exposures\" data-count=\"{}\">",
        exposures_phrase(ex.len()),
        ex.len()
    );
    for e in ex {
        let st = e.status.as_str();
        let _ = writeln!(
            s,
            "<li class=\"{st}\" data-key=\"{}\"><span class=\"badge\">{}</span> <code>{}</code>: {}{}</li>",
            esc(&e.key),
            st.to_uppercase(),
            esc(&e.key),
            esc(&e.message),
            e.remediation
                .as_deref()
                .map(|f| format!("<div class=\"fix\"><b>change:</b> {}</div>", esc(f)))
                .unwrap_or_default()
        );
    }
    s.push_str("</ul>\n");
}

pub(crate) fn coverage_section(s: &mut String, doc: &JsonReport) {
    let Some(cv) = &doc.coverage else { return };
    if cv.gaps.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "<h2>Not verified</h2>\n<p class=\"meta\">The spec does not give what these checks need{}.</p>\n<ul class=\"roots\" id=\"coverage\" data-gaps=\"{}\" data-tasks-not-verified=\"{}\">",
        if cv.tasks_not_verified.is_empty() {
            String::new()
        } else {
            format!("; tasks not verified: {}", esc(&cv.tasks_not_verified.join(" ")))
        },
        cv.gaps.len(),
        esc(&cv.tasks_not_verified.join(" "))
    );
    for g in &cv.gaps {
        let list = |k: &str| -> String {
            g[k].as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let text = |k: &str| g[k].as_str().unwrap_or("").to_string();
        let _ = writeln!(
            s,
            "<li class=\"skip\" data-field=\"{}\"><code>{}</code> {} ({}): {}<div class=\"fix\"><b>add:</b> {}</div></li>",
            esc(&text("field")),
            esc(&list("checks")),
            esc(&text("effect").replace('_', " ")),
            esc(&list("tasks")),
            esc(&text("why")),
            esc(&text("fix"))
        );
    }
    s.push_str("</ul>\n");
}
