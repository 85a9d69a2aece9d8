//! The codec with canned bytes, and random bytes that must never panic it.

use super::*;

/// A ServerHello (TLS 1.2, TLS_RSA_WITH_AES_128_CBC_SHA, a 3-byte session id, the
/// renegotiation_info extension) as a handshake message.
fn server_hello_msg(version: u16, suite: u16) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&[7u8; 32]);
    body.extend_from_slice(&[3, 1, 2, 3]);
    body.extend_from_slice(&suite.to_be_bytes());
    body.push(0);
    body.extend_from_slice(&[0, 5, 0xff, 0x01, 0, 1, 0]);
    let mut m = vec![2, 0, 0, body.len() as u8];
    m.extend_from_slice(&body);
    m
}

fn certificate_msg(certs: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for c in certs {
        u24be(&mut list, c.len());
        list.extend_from_slice(c);
    }
    let mut body = Vec::new();
    u24be(&mut body, list.len());
    body.extend_from_slice(&list);
    let mut m = vec![11];
    u24be(&mut m, body.len());
    m.extend_from_slice(&body);
    m
}

fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![kind, 3, 3];
    r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    r.extend_from_slice(payload);
    r
}

/// A first flight: ServerHello, Certificate (two certificates), ServerHelloDone.
fn flight() -> Vec<u8> {
    let mut hs = server_hello_msg(0x0303, 0x002f);
    hs.extend(certificate_msg(&[b"leaf-der", b"ca-der"]));
    hs.extend_from_slice(&[14, 0, 0, 0]);
    record(HANDSHAKE, &hs)
}

fn all(reader: &mut Reader) -> Vec<Message> {
    let mut v = Vec::new();
    while let Some(m) = reader.message().unwrap() {
        v.push(m);
    }
    v
}

fn expected_flight() -> Vec<Message> {
    vec![
        Message::ServerHello(ServerHello {
            version: 0x0303,
            suite: 0x002f,
        }),
        Message::Certificate(vec![b"leaf-der".to_vec(), b"ca-der".to_vec()]),
        Message::ServerHelloDone,
    ]
}

#[test]
fn a_first_flight_reads_in_one_piece_and_byte_by_byte() {
    let mut r = Reader::default();
    r.push(&flight());
    assert_eq!(all(&mut r), expected_flight());

    let mut r = Reader::default();
    let mut got = Vec::new();
    for b in flight() {
        r.push(&[b]);
        got.extend(all(&mut r));
    }
    assert_eq!(got, expected_flight());
}

#[test]
fn a_handshake_message_spanning_records_is_reassembled() {
    let mut hs = server_hello_msg(0x0301, 0xc013);
    hs.extend(certificate_msg(&[&[0xAB; 40_000]]));
    // Cut into records of at most 16 KiB, as a server does.
    let mut bytes = Vec::new();
    for piece in hs.chunks(16_384) {
        bytes.extend(record(HANDSHAKE, piece));
    }
    let mut r = Reader::default();
    r.push(&bytes);
    let got = all(&mut r);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0],
        Message::ServerHello(ServerHello {
            version: 0x0301,
            suite: 0xc013
        })
    );
    assert_eq!(got[1], Message::Certificate(vec![vec![0xAB; 40_000]]));
}

#[test]
fn the_supported_versions_extension_gives_the_version() {
    let mut body = Vec::new();
    body.extend_from_slice(&[3, 3]);
    body.extend_from_slice(&[0u8; 32]);
    body.push(0);
    body.extend_from_slice(&[0x13, 0x01, 0]);
    body.extend_from_slice(&[0, 6, 0, 0x2b, 0, 2, 3, 4]);
    let mut m = vec![2, 0, 0, body.len() as u8];
    m.extend_from_slice(&body);
    let mut r = Reader::default();
    r.push(&record(HANDSHAKE, &m));
    assert_eq!(
        all(&mut r),
        [Message::ServerHello(ServerHello {
            version: 0x0304,
            suite: 0x1301
        })]
    );
}

#[test]
fn alerts_and_the_end_of_clear_text_are_messages() {
    let mut r = Reader::default();
    r.push(&record(ALERT, &[2, 70]));
    assert_eq!(
        all(&mut r),
        [Message::Alert {
            level: 2,
            description: 70
        }]
    );
    let mut r = Reader::default();
    r.push(&record(CHANGE_CIPHER_SPEC, &[1]));
    r.push(&record(HANDSHAKE, &[14, 0, 0, 0]));
    // Nothing after the clear part is read.
    assert_eq!(all(&mut r), [Message::Encrypted]);
}

#[test]
fn what_is_not_tls_or_too_large_is_an_error() {
    let mut r = Reader::default();
    r.push(b"HTTP/1.1 400 Bad Request\r\n");
    assert!(matches!(r.message(), Err(WireError::NotTls { .. })));
    let mut r = Reader::default();
    r.push(&[HANDSHAKE, 3, 3, 0xff, 0xff]);
    assert_eq!(r.message(), Err(WireError::RecordTooLong(0xffff)));
    let mut r = Reader::default();
    r.push(&record(HANDSHAKE, &[11, 0x10, 0, 0]));
    assert_eq!(r.message(), Err(WireError::HandshakeTooLong(0x10_0000)));
    // A ServerHello cut short, a certificate list lying about its length.
    let mut r = Reader::default();
    r.push(&record(HANDSHAKE, &[2, 0, 0, 3, 3, 3, 0]));
    assert_eq!(r.message(), Err(WireError::Malformed("ServerHello")));
    let mut r = Reader::default();
    r.push(&record(HANDSHAKE, &[11, 0, 0, 6, 0, 0, 3, 0, 0, 9]));
    assert_eq!(
        r.message(),
        Err(WireError::Malformed("Certificate message"))
    );
    let mut r = Reader::default();
    r.push(&record(ALERT, &[2]));
    assert_eq!(r.message(), Err(WireError::Malformed("alert")));
}

/// Reads the ClientHello back field by field.
#[test]
fn the_client_hello_encodes_what_it_offers() {
    let hello = ClientHello {
        version: 0x0303,
        random: [9; 32],
        server_name: Some("imp1.lab.test"),
        offer: Offer::AeadAndCbc,
    };
    let bytes = hello.encode();
    assert_eq!(&bytes[..3], &[HANDSHAKE, 3, 1]);
    assert_eq!(
        u16::from_be_bytes([bytes[3], bytes[4]]) as usize,
        bytes.len() - 5
    );
    let hs = &bytes[5..];
    assert_eq!(hs[0], 1);
    assert_eq!(
        u32::from_be_bytes([0, hs[1], hs[2], hs[3]]) as usize,
        hs.len() - 4
    );
    let mut c = Cursor { bytes: &hs[4..] };
    assert_eq!(c.uint(2, "v").unwrap(), 0x0303);
    assert_eq!(c.take(32, "r").unwrap(), &[9; 32]);
    assert_eq!(c.vec(1, "sid").unwrap(), &[] as &[u8]);
    let suites = c.vec(2, "suites").unwrap();
    let codes: Vec<u16> = suites
        .chunks(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    assert!(codes.contains(&0xc02f) && codes.contains(&0x002f) && codes.contains(&0xc013));
    assert_eq!(c.vec(1, "compression").unwrap(), &[0]);
    let mut ext = Cursor {
        bytes: c.vec(2, "ext").unwrap(),
    };
    assert!(c.bytes.is_empty());
    let mut kinds = Vec::new();
    while !ext.bytes.is_empty() {
        let kind = ext.uint(2, "k").unwrap();
        let data = ext.vec(2, "d").unwrap();
        if kind == 0 {
            assert!(data.ends_with(b"imp1.lab.test"));
        }
        if kind == 0x000d {
            let algs = &data[2..];
            // SHA-256 first; SHA-1 RSA offered.
            assert_eq!(&algs[..2], &[4, 1]);
            assert!(algs.chunks(2).any(|p| p == [2, 1]));
        }
        kinds.push(kind);
    }
    assert_eq!(kinds, [0x0000, 0x000a, 0x000b, 0x000d, 0x0017, 0xff01]);

    // TLS 1.0: no signature_algorithms (a TLS 1.2 extension), no SNI for an address.
    let old = ClientHello {
        version: 0x0301,
        random: [0; 32],
        server_name: None,
        offer: Offer::AeadAndCbc,
    }
    .encode();
    // AEAD only: no CBC suite (TLS_RSA_WITH_AES_128_CBC_SHA is 0x002f).
    let aead = ClientHello {
        version: 0x0303,
        random: [0; 32],
        server_name: None,
        offer: Offer::AeadOnly,
    }
    .encode();
    let suites_len = u16::from_be_bytes([aead[44], aead[45]]) as usize;
    let aead_suites = &aead[46..46 + suites_len];
    assert!(aead_suites
        .chunks(2)
        .all(|p| p != [0x00, 0x2f] && p != [0xc0, 0x13]));
    assert!(aead_suites.chunks(2).any(|p| p == [0xc0, 0x2f]));
    assert_eq!(&old[9..11], &[3, 1]);
    assert!(old.len() < bytes.len());
}

#[test]
fn random_and_mutated_bytes_never_panic_the_reader() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid = flight();
    for round in 0..20_000 {
        let bytes: Vec<u8> = if round % 2 == 0 {
            let len = (next() % 400) as usize;
            (0..len)
                .map(|i| {
                    // Often a plausible record header, so that the parser goes deep.
                    match i {
                        0 => [HANDSHAKE, ALERT, 20, 23][(next() % 4) as usize],
                        1 => 3,
                        _ => next() as u8,
                    }
                })
                .collect()
        } else {
            let mut v = valid.clone();
            for _ in 0..(1 + next() % 4) {
                let i = (next() as usize) % v.len();
                v[i] = next() as u8;
            }
            v.truncate((next() as usize) % (v.len() + 1));
            v
        };
        let mut r = Reader::default();
        for piece in bytes.chunks(1 + (next() % 50) as usize) {
            r.push(piece);
            // Errors are fine; a panic or an endless loop is not.
            while let Ok(Some(_)) = r.message() {}
        }
    }
}
