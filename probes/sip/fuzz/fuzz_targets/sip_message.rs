//! Fuzz target: the SIP response parsing path of the probe, as bytes from a peer reach
//! it over a stream (framing by Content-Length, then parsing with rsip behind
//! catch_unwind, header access and PIDF reading) and as a whole UDP datagram.
//! Run: `cargo fuzz run sip_message` in probes/sip (scripts/fuzz does it briefly).
#![no_main]

use imp_probe_sip::message::{next_message, read_pidf, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A datagram: one message.
    let _ = imp_probe_sip::parse_response(data);
    // A stream: as many messages as the bytes frame, each looked at as the checks do.
    let mut buf = data.to_vec();
    let mut guard = 0;
    while let Ok(Some(raw)) = next_message(&mut buf) {
        guard += 1;
        assert!(guard <= data.len() + 1, "framing made no progress");
        if let Ok(m) = Message::parse(&raw) {
            let _ = (m.code(), m.method(), m.branch(), m.call_id(), m.cseq(), m.to_tag(), m.reason());
            let _ = read_pidf(&m.body).summary();
        }
    }
});
