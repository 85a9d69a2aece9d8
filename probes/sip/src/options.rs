//! `sip.options` and `sip.presence-gateway`: OPTIONS over the trunk's transports.

use super::{connect, options, tasks, transport_name, Ctx, Trunk};
use crate::conn::Conn;
use imp_verify_core::spec::Transport;
use imp_verify_core::{CheckCtx, Outcome};
use std::time::Instant;

pub(crate) async fn check_options(
    c: &Ctx,
    trunk: &Trunk,
    transport: Transport,
    host: &str,
    port: u16,
    cx: CheckCtx,
) -> Outcome {
    let (trunk_task, secure) = tasks(c.spec.workflow);
    let budget = cx.budget();
    let started = Instant::now();
    let run = async {
        let mut conn = connect(c, trunk, transport, host, port).await?;
        let addr = conn.peer;
        options(&mut conn, host, &trunk.domain, Instant::now() + budget)
            .await
            .map(|(r, sent)| (r, sent, addr))
    };
    let out = match tokio::time::timeout(budget, run).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no final response to OPTIONS within {} ms",
            budget.as_millis()
        )),
    };
    let name = transport_name(transport);
    match out {
        Ok((r, sent, addr)) if r.code == 200 => Outcome::pass(format!("{host} answers OPTIONS over {name}: {} {}", r.code, r.reason))
            .with("target", addr)
            .with("status_line", format!("SIP/2.0 {} {}", r.code, r.reason))
            .with("server", &r.server)
            .with("transmissions", sent)
            .metric("options_ms", imp_verify_core::ms(started.elapsed())),
        Ok((r, _, addr)) => Outcome::fail(
            format!("{host} answers OPTIONS over {name} with {} {}", r.code, r.reason),
            format!("The node refuses the trunk's requests: check the SIP proxy's listeners and its routing of the trunk's traffic (task {trunk_task})"),
        )
        .with("target", addr)
        .with("status_line", format!("SIP/2.0 {} {}", r.code, r.reason)),
        Err(e) => Outcome::fail(
            format!("{host}:{port} over {name}: {e}"),
            if transport == Transport::Tls {
                format!("Check the Cisco SIP Proxy's TLS listener, the TLS peer subjects and the certificates exchanged between CUCM and IM&P (tasks {trunk_task}, {secure})")
            } else {
                format!("Check that the Cisco SIP Proxy runs on the node and listens for {name} on port {port}, and that the trunk's SRV name {} points here (task {trunk_task})", trunk.srv_name)
            },
        ),
    }
    .with("transport", name)
}

/// `sip.presence-gateway`: the CUCM node named as presence gateway answers OPTIONS.
pub(crate) async fn check_gateway(
    c: &Ctx,
    trunk: &Trunk,
    transport: Transport,
    host: &str,
    port: u16,
    cx: CheckCtx,
) -> Outcome {
    let (task, _) = tasks(c.spec.workflow);
    let budget = cx.budget();
    let started = Instant::now();
    let name = transport_name(transport);
    let run = async {
        // Over TLS the gateway is asked without a client certificate: the trunk's is
        // CUCM's own, not IM&P's.
        let mut conn = if transport == Transport::Tls {
            let addr = c.addr(host, port).await?;
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            let local = tcp.local_addr().map_err(|e| e.to_string())?;
            let (tls, facts) = c
                .net
                .tls
                .handshake(tcp, host, None)
                .await
                .map_err(|e| format!("{addr}: {e}"))?;
            if !facts.verified() {
                return Err(format!(
                    "the TLS connection is not trusted: {}",
                    facts
                        .verify_error
                        .clone()
                        .or(facts.handshake_error.clone())
                        .unwrap_or_default()
                ));
            }
            Conn::stream(Box::new(tls), "tls", local, addr)
        } else {
            connect(c, trunk, transport, host, port).await?
        };
        let addr = conn.peer;
        options(&mut conn, host, &trunk.domain, Instant::now() + budget)
            .await
            .map(|(r, sent)| (r, sent, addr))
    };
    let out = match tokio::time::timeout(budget, run).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no final response to OPTIONS within {} ms",
            budget.as_millis()
        )),
    };
    let fix = format!(
        "On IM&P (Presence > Gateways) the presence gateway must be {host} with the trunk's transport and port; on {host} the Cisco CallManager service must run and its SIP trunk to IM&P must accept the IM&P nodes (task {task})"
    );
    match out {
        Ok((r, sent, addr)) => {
            let o = if r.code == 200 {
                Outcome::pass(format!(
                    "the presence gateway {host} answers OPTIONS over {name}: {} {}",
                    r.code, r.reason
                ))
            } else {
                Outcome::fail(
                    format!(
                        "the presence gateway {host} answers OPTIONS over {name} with {} {}",
                        r.code, r.reason
                    ),
                    fix,
                )
            };
            o.with("target", addr)
                .with("status_line", format!("SIP/2.0 {} {}", r.code, r.reason))
                .with("server", &r.server)
                .with("transmissions", sent)
                .metric("options_ms", imp_verify_core::ms(started.elapsed()))
        }
        Err(e) => Outcome::fail(
            format!("the presence gateway {host}:{port} over {name}: {e}"),
            fix,
        ),
    }
    .with("transport", name)
}
