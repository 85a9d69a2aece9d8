//! Fuzz target: the path a directory server's bytes take through the LDAP probe. The
//! bytes are framed as a stream (the header alone decides where a message ends and
//! refuses one over the limit), each message decoded with a value limit, and its
//! controls and entry read as the checks read them; the same bytes cut at an arbitrary
//! point must frame alike (a partial message is never taken for a whole one). Filters
//! (the spec's user filter) are parsed from the same bytes.
//! Run: `cargo fuzz run ldap_message` in probes/ldap (scripts/fuzz does it briefly).
#![no_main]

use imp_probe_ldap::wire::{controls, decode, frame, Filter, Frame, Op};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let mut guard = 0;
    while let Ok(Frame::Complete(n)) = frame(rest, LIMIT) {
        guard += 1;
        assert!(guard <= data.len() + 1, "framing made no progress");
        assert!(n >= 2 && n <= rest.len(), "a frame of {n} in {} bytes", rest.len());
        // Any prefix of a whole message is partial, never complete.
        let cut = n * usize::from(rest[0] ^ rest[n - 1]) / 256;
        if cut < n {
            assert!(
                !matches!(frame(&rest[..cut], LIMIT), Ok(Frame::Complete(_))),
                "a prefix of {cut} of {n} bytes framed as whole"
            );
        }
        if let Ok(m) = decode(&rest[..n], 1024) {
            let _ = controls::policy_state(&m.controls);
            let _ = controls::paged_cookie(&m.controls);
            if let Op::Entry(e) = &m.op {
                let _ = (e.first("uid"), e.values("mail").len());
            }
        }
        rest = &rest[n..];
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(f) = Filter::parse(text) {
            let mut out = Vec::new();
            f.encode(&mut out);
            // What it prints parses back to the same filter.
            assert_eq!(Filter::parse(&f.to_string()).as_ref(), Ok(&f), "{text}");
        }
    }
});
