//! The trunk connection's transaction and dialog handling, against a scripted TCP peer
//! (canned bytes: the real-server behaviour is tested in sip_lab.rs): another
//! transaction's response, a stray NOTIFY of an older run and the peer's own OPTIONS
//! never pass for this run's answer, and each is answered as RFC 3261 and 6665 say.

use imp_probe_sip::message::{next_message, pidf};
use imp_probe_sip::{Conn, Deadline, Message, Request};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn read_one(s: &mut TcpStream, buf: &mut Vec<u8>) -> Message {
    loop {
        if let Some(raw) = next_message(buf).unwrap() {
            return Message::parse(&raw).unwrap();
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
            .await
            .expect("the client answers")
            .unwrap();
        assert!(n > 0, "the client closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn request(method: &str, call_id: &str, cseq: u32, body: &str) -> String {
    format!(
        "{method} sip:imp-verify@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.9:5060;branch=z9hG4bK-peer-{call_id}-{cseq}\r\nFrom: <sip:alice@lab.test>;tag=p1\r\nTo: <sip:imp-verify-watcher@lab.test>;tag=w1\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nSubscription-State: active;expires=60\r\nContent-Type: application/pidf+xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

async fn pair() -> (Conn, TcpStream) {
    let listener = TcpListener::bind("127.0.0.9:0").await.unwrap();
    let peer_addr = listener.local_addr().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let client = imp_verify_net::connect(peer_addr, deadline).await.unwrap();
    let local = client.local_addr().unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (
        Conn::stream(Box::new(client), "tcp", local, peer_addr),
        server,
    )
}

#[tokio::test]
async fn strays_are_answered_and_never_taken_for_the_response() {
    let (mut conn, mut peer) = pair().await;
    let peer_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        let publish = read_one(&mut peer, &mut buf).await;
        assert_eq!(publish.method(), Some("PUBLISH"));
        let echo = |code: &str, branch: &str, call_id: &str, cseq: &str| {
            format!("SIP/2.0 {code}\r\nVia: SIP/2.0/TCP 127.0.0.1;branch={branch}\r\nFrom: <sip:alice@lab.test>;tag=a\r\nTo: <sip:alice@lab.test>;tag=b\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nSIP-ETag: etag-{code}\r\nContent-Length: 0\r\n\r\n")
        };
        let mut script = String::new();
        script.push_str(&request(
            "NOTIFY",
            "stale-from-an-older-run",
            7,
            &pidf("sip:alice@lab.test", "old", "open", "old run"),
        ));
        script.push_str(&request("OPTIONS", "keepalive", 1, ""));
        script.push_str(&echo(
            "200 OK",
            "z9hG4bK-someone-else",
            publish.call_id(),
            publish.cseq(),
        ));
        script.push_str(&echo(
            "200 OK",
            publish.branch(),
            "another-call",
            publish.cseq(),
        ));
        script.push_str(&echo(
            "100 Trying",
            publish.branch(),
            publish.call_id(),
            publish.cseq(),
        ));
        script.push_str(
            &echo(
                "200 OK",
                publish.branch(),
                publish.call_id(),
                publish.cseq(),
            )
            .replace("etag-200 OK", "the-real-etag"),
        );
        peer.write_all(script.as_bytes()).await.unwrap();
        let a = read_one(&mut peer, &mut buf).await;
        let b = read_one(&mut peer, &mut buf).await;
        (a, b)
    });
    let req = Request {
        method: "PUBLISH",
        uri: "sip:alice@lab.test".into(),
        from: "<sip:alice@lab.test>;tag=x".into(),
        to: "<sip:alice@lab.test>".into(),
        call_id: "pub-1@test".into(),
        cseq: 1,
        extra: vec!["Event: presence".into(), "Expires: 60".into()],
        body: None,
    };
    let (resp, sent) = conn
        .transact(&req, Deadline::at(Instant::now() + Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(
        (resp.code(), resp.header("SIP-ETag"), sent),
        (Some(200), Some("the-real-etag"), 1)
    );
    assert_eq!(
        conn.strays,
        vec![
            "NOTIFY answered 481".to_string(),
            "OPTIONS answered 200".to_string()
        ]
    );
    let (a, b) = peer_task.await.unwrap();
    assert_eq!(
        (a.code(), a.call_id(), a.cseq()),
        (Some(481), "stale-from-an-older-run", "7 NOTIFY")
    );
    assert_eq!(
        a.branch(),
        "z9hG4bK-peer-stale-from-an-older-run-7",
        "the answer carries the request's Via"
    );
    assert_eq!((b.code(), b.call_id()), (Some(200), "keepalive"));
}

#[tokio::test]
async fn a_subscription_takes_only_the_notify_it_waits_for_and_answers_all() {
    let (mut conn, mut peer) = pair().await;
    conn.expect_dialog("sub-1");
    let peer_task = tokio::spawn(async move {
        let mut script = request(
            "NOTIFY",
            "sub-1",
            1,
            &pidf("sip:alice@lab.test", "t", "open", "before"),
        );
        script.push_str(&request(
            "NOTIFY",
            "sub-1",
            2,
            &pidf("sip:alice@lab.test", "t", "closed", "after"),
        ));
        peer.write_all(script.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let a = read_one(&mut peer, &mut buf).await;
        let b = read_one(&mut peer, &mut buf).await;
        (a, b, peer)
    });
    let (n, _) = conn
        .notify("sub-1", Instant::now() + Duration::from_secs(5), |m| {
            imp_probe_sip::read_pidf(&m.body)
                .with_note("after")
                .is_some()
        })
        .await
        .unwrap()
        .expect("the NOTIFY of the change");
    assert_eq!(n.cseq(), "2 NOTIFY");
    assert_eq!(
        conn.passed_over,
        vec!["active;expires=60: open (before)".to_string()]
    );
    let (a, b, _peer) = peer_task.await.unwrap();
    assert_eq!(
        (a.code(), a.cseq(), b.code(), b.cseq()),
        (Some(200), "1 NOTIFY", Some(200), "2 NOTIFY")
    );
    // Nothing more comes: the wait ends at its deadline with None, not an error.
    let started = Instant::now();
    let none = conn
        .notify("sub-1", Instant::now() + Duration::from_millis(300), |_| {
            true
        })
        .await
        .unwrap();
    assert!(none.is_none() && started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_flood_of_stray_requests_is_answered_and_counted_not_kept() {
    let (mut conn, mut peer) = pair().await;
    let peer_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        let options = read_one(&mut peer, &mut buf).await;
        let mut script = String::new();
        for i in 0..500 {
            script.push_str(&request("INFO", &format!("flood-{i}"), 1, ""));
        }
        script.push_str(&format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1;branch={}\r\nFrom: <sip:a@lab.test>;tag=a\r\nTo: <sip:a@lab.test>;tag=b\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
            options.branch(),
            options.call_id(),
            options.cseq()
        ));
        peer.write_all(script.as_bytes()).await.unwrap();
        // Every stray is answered (501), however many.
        for _ in 0..500 {
            let answer = read_one(&mut peer, &mut buf).await;
            assert_eq!(answer.code(), Some(501));
        }
    });
    let req = Request {
        method: "OPTIONS",
        uri: "sip:imp1.lab.test".into(),
        from: "<sip:imp-verify@lab.test>;tag=x".into(),
        to: "<sip:imp1.lab.test>".into(),
        call_id: "opt-1@test".into(),
        cseq: 1,
        extra: vec![],
        body: None,
    };
    let (resp, _) = conn
        .transact(&req, Deadline::at(Instant::now() + Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(resp.code(), Some(200));
    peer_task.await.unwrap();
    assert_eq!(conn.strays.len(), imp_probe_sip::MAX_STRAYS);
    assert_eq!(conn.strays_more, 500 - imp_probe_sip::MAX_STRAYS);
}
