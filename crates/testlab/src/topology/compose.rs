//! `docker-compose.yml`, the lab's containerised twin, generated from the same table:
//! a service a server of the default profile, each running `fixtures/lab/lab __exec
//! NAME` with the rendered configs of `init`, healthy when `lab ready NAME` answers, on
//! the host's loopback addresses; and, under the `verify` profile, imp-verify's own
//! image run against it. `imp-verify-lab compose > docker-compose.yml` writes it; a
//! unit test keeps the file equal to it.

use super::{Profile, Topology};
use std::fmt::Write;

const HEADER: &str = r#"# The lab of fixtures/lab/lab as containers, for machines with Docker. Generated from
# the lab's topology (crates/testlab/src/topology): `cargo run -q -p imp-verify-testlab
# --bin imp-verify-lab -- compose > docker-compose.yml`; a test keeps it so.
#
#   docker compose build                      # the images (Dockerfile: targets lab, tool)
#   docker compose up -d                      # the lab, on the host's 127.0.0.20-29
#   imp-verify all --spec target/lab/lab.toml # from the host, or from the tool's image:
#   docker compose --profile verify run --rm imp-verify   # JUnit and JSON in target/compose/
#   docker compose down
#
# `init` makes the CA, certificates, secrets, configs and the spec into target/lab (as
# `lab init` does; the spec's paths are relative to its folder, so it serves the host
# and any container that mounts the folder); each other service runs one server in the
# foreground. The servers listen on the host's loopback addresses (network_mode: host),
# exactly as the native lab's (IMPV_LAB_BASE moves both), so that one spec fits both;
# the two never run at once.
"#;

fn lab_env(out: &mut String, indent: &str) {
    let _ = writeln!(out, "{indent}environment:");
    let _ = writeln!(out, "{indent}  IMPV_LAB_DIR: /lab/target/lab");
    let _ = writeln!(out, "{indent}  IMPV_LAB_BASE: ${{IMPV_LAB_BASE:-20}}");
    let _ = writeln!(out, "{indent}  IMPV_LAB_SPEC_PATHS: relative");
}

/// The compose file of the twin (the default profile's servers).
pub fn compose_file() -> String {
    let t = Topology::new(20, Profile::default()).expect("the default lab is valid");
    let mut out = String::from(HEADER);
    out.push_str(
        "\nx-lab-server: &lab-server\n  image: imp-verify-lab:bookworm\n  network_mode: host\n  volumes:\n    - ./fixtures:/lab/fixtures:ro\n    - ./target/lab:/lab/target/lab\n",
    );
    lab_env(&mut out, "  ");
    out.push_str("  restart: unless-stopped\n  depends_on:\n    init:\n      condition: service_completed_successfully\n");
    out.push_str("\nservices:\n  init:\n    image: imp-verify-lab:bookworm\n    build:\n      context: .\n      target: lab\n    network_mode: host\n    volumes:\n      - ./fixtures:/lab/fixtures:ro\n      - ./target/lab:/lab/target/lab\n");
    lab_env(&mut out, "    ");
    out.push_str("    command: [\"fixtures/lab/lab\", \"init\"]\n");
    for s in &t.servers {
        let socks: Vec<String> = s.sockets.iter().map(ToString::to_string).collect();
        let _ = write!(
            out,
            "\n  # {} ({}): {} on host {}, ready: {}\n  {}:\n    <<: *lab-server\n    command: [\"fixtures/lab/lab\", \"__exec\", \"{}\"]\n    healthcheck:\n      test: [\"CMD\", \"fixtures/lab/lab\", \"ready\", \"{}\"]\n      interval: 2s\n      retries: 15\n",
            s.name,
            s.kind.name(),
            socks.join(" "),
            s.hosts.iter().map(|n| format!("BASE+{n}")).collect::<Vec<_>>().join(","),
            s.ready,
            s.name,
            s.name,
            s.name
        );
    }
    out.push_str("\n  # imp-verify's image (the Dockerfile's default target) against the twin, under the\n  # `verify` profile: `docker compose --profile verify run --rm imp-verify`.\n  imp-verify:\n    image: imp-verify:bookworm\n    build:\n      context: .\n      target: tool\n    profiles: [\"verify\"]\n    network_mode: host\n    volumes:\n      - ./target/lab:/spec:ro\n      - ./target/compose:/out\n");
    out.push_str("    command: [\"all\", \"--spec\", \"/spec/lab.toml\", \"--no-progress\", \"--color\", \"never\", \"--junit\", \"/out/junit.xml\", \"--json\", \"/out/report.json\"]\n    depends_on:\n");
    for s in &t.servers {
        let _ = writeln!(out, "      {}:\n        condition: service_healthy", s.name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_compose_yml_is_generated_from_the_table() {
        let path = crate::repo_root().join("docker-compose.yml");
        let committed = std::fs::read_to_string(&path).unwrap();
        assert!(
            committed == compose_file(),
            "docker-compose.yml is not what the lab's topology makes: run `cargo run -q -p imp-verify-testlab --bin imp-verify-lab -- compose > docker-compose.yml`"
        );
    }

    #[test]
    fn every_server_is_a_service_that_runs_it_and_asks_it() {
        let text = compose_file();
        let t = Topology::new(20, Profile::default()).unwrap();
        for s in &t.servers {
            assert!(text.contains(&format!("\n  {}:\n    <<: *lab-server\n    command: [\"fixtures/lab/lab\", \"__exec\", \"{}\"]", s.name, s.name)));
            assert!(text.contains(&format!(
                "[\"CMD\", \"fixtures/lab/lab\", \"ready\", \"{}\"]",
                s.name
            )));
            assert!(text.contains(&format!(
                "      {}:\n        condition: service_healthy",
                s.name
            )));
        }
    }
}
