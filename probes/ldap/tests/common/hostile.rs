//! Directory servers that misbehave, written here (a few lines of BER each) and run on
//! loopback for one test: the lab's real servers cannot be made to send a 2 GiB length
//! or endless entries. Each answers a bind with success (recording the DN it was
//! sent), and misbehaves as told on searches or at once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// How the server misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers the first request with a message whose BER length says 2 GiB, then
    /// sends bytes for as long as the client reads them.
    HugeLength,
    /// Answers each search with entries, each a new user, and never ends it.
    EndlessEntries,
    /// Answers each search with one entry whose displayName is `n` bytes long.
    HugeValue(usize),
    /// Answers every search with alice's entry (uid alice), whatever it asked for.
    AlwaysAlice,
    /// Accepts the connection and never answers.
    Silent,
    /// Answers binds, never searches.
    SilentSearches,
}

/// A running hostile server.
pub struct Hostile {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The DNs it was sent binds for, in order.
    pub binds: Arc<Mutex<Vec<String>>>,
}

/// Starts a server behaving so, on 127.0.0.9.
pub fn serve(behaviour: Behaviour) -> Hostile {
    let listener = TcpListener::bind("127.0.0.9:0").expect("bind 127.0.0.9");
    let addr = listener.local_addr().unwrap();
    let binds: Arc<Mutex<Vec<String>>> = Default::default();
    let seen = binds.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let _ = session(s, behaviour, &seen);
            });
        }
    });
    Hostile { addr, binds }
}

fn session(mut s: TcpStream, b: Behaviour, binds: &Mutex<Vec<String>>) -> std::io::Result<()> {
    if b == Behaviour::Silent {
        let mut sink = [0u8; 4096];
        while s.read(&mut sink)? > 0 {}
        return Ok(());
    }
    let mut n = 0u64;
    loop {
        let Some((id, op, body)) = read_message(&mut s)? else {
            return Ok(());
        };
        if b == Behaviour::HugeLength {
            s.write_all(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01])?;
            let junk = vec![0x41u8; 64 * 1024];
            loop {
                s.write_all(&junk)?;
            }
        }
        match op {
            // BindRequest: version, name, ...
            0x60 => {
                let mut r = &body[..];
                let _version = tlv(&mut r);
                let dn = tlv(&mut r).map(|(_, v)| String::from_utf8_lossy(v).into_owned());
                binds.lock().unwrap().push(dn.unwrap_or_default());
                s.write_all(&message(id, &result(0x61, 0)))?;
            }
            0x63 => {
                let mut r = &body[..];
                let base = tlv(&mut r).map(|(_, v)| v.to_vec()).unwrap_or_default();
                match b {
                    Behaviour::EndlessEntries => {
                        // Entries until the client sends something (an abandon, the
                        // next request): then that is read and answered.
                        s.set_nodelay(true)?;
                        loop {
                            n += 1;
                            let uid = format!("user{n:09}");
                            let e = entry(
                                &format!("uid={uid},ou=people,dc=lab,dc=test"),
                                &[
                                    ("uid", uid.as_bytes()),
                                    ("mail", format!("{uid}@lab.test").as_bytes()),
                                ],
                            );
                            s.write_all(&message(id, &e))?;
                            if n.is_multiple_of(64) && pending(&s)? {
                                break;
                            }
                        }
                    }
                    Behaviour::HugeValue(len) => {
                        write_big_entry(&mut s, id, len)?;
                        s.write_all(&message(id, &result(0x65, 0)))?;
                    }
                    Behaviour::AlwaysAlice => {
                        let e = entry(
                            "uid=alice,ou=people,dc=lab,dc=test",
                            &[
                                ("uid", b"alice"),
                                ("displayName", b"Alice Liddell"),
                                ("mail", b"alice@lab.test"),
                                ("telephoneNumber", b"+1 408 555 0101"),
                            ],
                        );
                        s.write_all(&message(id, &e))?;
                        s.write_all(&message(id, &result(0x65, 0)))?;
                    }
                    // The root DSE is answered (as empty); nothing else.
                    Behaviour::SilentSearches if base.is_empty() => {
                        s.write_all(&message(id, &result(0x65, 0)))?;
                    }
                    Behaviour::SilentSearches | Behaviour::HugeLength | Behaviour::Silent => {}
                }
            }
            // Unbind, abandon: nothing to answer.
            0x42 | 0x50 => {}
            _ => s.write_all(&message(id, &result(0x78, 2)))?,
        }
    }
}

/// Whether the client sent bytes not read yet.
fn pending(s: &TcpStream) -> std::io::Result<bool> {
    s.set_nonblocking(true)?;
    let mut b = [0u8; 1];
    let r = s.peek(&mut b);
    s.set_nonblocking(false)?;
    match r {
        Ok(n) => Ok(n > 0),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// An entry (uid alice) whose displayName is `len` bytes, its headers written first and
/// the value streamed, so that a 100 MB value costs the server no 100 MB buffer.
fn write_big_entry(s: &mut TcpStream, id: u8, len: usize) -> std::io::Result<()> {
    let head = |tag: u8, n: usize| {
        let mut h = vec![tag, 0x84];
        h.extend_from_slice(&(n as u32).to_be_bytes());
        h
    };
    let mut uid_attr = Vec::new();
    {
        let mut a = Vec::new();
        put(&mut a, 0x04, b"uid");
        let mut vals = Vec::new();
        put(&mut vals, 0x04, b"alice");
        put(&mut a, 0x31, &vals);
        put(&mut uid_attr, 0x30, &a);
    }
    let value = head(0x04, len);
    let set = head(0x31, value.len() + len);
    let mut name = Vec::new();
    put(&mut name, 0x04, b"displayName");
    let attr_len = name.len() + set.len() + value.len() + len;
    let attr = head(0x30, attr_len);
    let list_len = uid_attr.len() + attr.len() + attr_len;
    let list = head(0x30, list_len);
    let mut dn = Vec::new();
    put(&mut dn, 0x04, b"uid=alice,ou=people,dc=lab,dc=test");
    let entry_len = dn.len() + list.len() + list_len;
    let entry = head(0x64, entry_len);
    let mut idm = Vec::new();
    put(&mut idm, 0x02, &[id]);
    let msg = head(0x30, idm.len() + entry.len() + entry_len);
    for part in [
        &msg, &idm, &entry, &dn, &list, &uid_attr, &attr, &name, &set, &value,
    ] {
        s.write_all(part)?;
    }
    let chunk = vec![b'x'; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        s.write_all(&chunk[..n])?;
        left -= n;
    }
    Ok(())
}

/// Reads one request: its message id, protocol operation tag and the operation's
/// content.
fn read_message(s: &mut TcpStream) -> std::io::Result<Option<(u8, u8, Vec<u8>)>> {
    let mut head = [0u8; 2];
    if s.read_exact(&mut head).is_err() {
        return Ok(None);
    }
    let len = if head[1] < 0x80 {
        head[1] as usize
    } else {
        let mut b = vec![0u8; (head[1] & 0x7f) as usize];
        s.read_exact(&mut b)?;
        b.iter().fold(0usize, |a, x| (a << 8) | *x as usize)
    };
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    let mut r = &body[..];
    let id = tlv(&mut r)
        .map(|(_, v)| *v.last().unwrap_or(&0))
        .unwrap_or(0);
    let (op, content) = tlv(&mut r)
        .map(|(t, v)| (t, v.to_vec()))
        .unwrap_or((0, Vec::new()));
    Ok(Some((id, op, content)))
}

/// The next element of `r`: its tag and content.
fn tlv<'a>(r: &mut &'a [u8]) -> Option<(u8, &'a [u8])> {
    let tag = *r.first()?;
    let first = *r.get(1)?;
    let (head, len) = if first < 0x80 {
        (2, first as usize)
    } else {
        let n = (first & 0x7f) as usize;
        (
            2 + n,
            r.get(2..2 + n)?
                .iter()
                .fold(0usize, |a, x| (a << 8) | *x as usize),
        )
    };
    let v = r.get(head..head + len)?;
    *r = &r[head + len..];
    Some((tag, v))
}

fn put(out: &mut Vec<u8>, tag: u8, v: &[u8]) {
    out.push(tag);
    match v.len() {
        n if n < 0x80 => out.push(n as u8),
        n => {
            let b = (n as u32).to_be_bytes();
            out.push(0x84);
            out.extend_from_slice(&b);
        }
    }
    out.extend_from_slice(v);
}

fn message(id: u8, op: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    put(&mut m, 0x02, &[id]);
    m.extend_from_slice(op);
    let mut out = Vec::new();
    put(&mut out, 0x30, &m);
    out
}

fn result(tag: u8, code: u8) -> Vec<u8> {
    let mut r = Vec::new();
    put(&mut r, 0x0a, &[code]);
    put(&mut r, 0x04, b"");
    put(&mut r, 0x04, b"");
    let mut out = Vec::new();
    put(&mut out, tag, &r);
    out
}

fn entry(dn: &str, attrs: &[(&str, &[u8])]) -> Vec<u8> {
    let mut list = Vec::new();
    for (name, value) in attrs {
        let mut a = Vec::new();
        put(&mut a, 0x04, name.as_bytes());
        let mut vals = Vec::new();
        put(&mut vals, 0x04, value);
        put(&mut a, 0x31, &vals);
        put(&mut list, 0x30, &a);
    }
    let mut e = Vec::new();
    put(&mut e, 0x04, dn.as_bytes());
    put(&mut e, 0x30, &list);
    let mut out = Vec::new();
    put(&mut out, 0x64, &e);
    out
}
