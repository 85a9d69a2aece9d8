//! A search as its answers arrive: each entry handed out as it is read, counted on
//! receipt against the most the caller takes; at that count the operation is abandoned
//! (RFC 4511 §4.11) and nothing more of it is read.

use super::{Conn, WireError};
use crate::wire::message::{Control, Request, SearchRequest};
use crate::wire::{Entry, LdapResult, Op};

/// What a search gave next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An entry.
    Entry(Entry),
    /// Continuation references (another server holds part of the tree).
    Reference(Vec<String>),
    /// The server ended the search (its result, and the done message's controls).
    Done(LdapResult, Vec<Control>),
    /// The server sent more entries and references than the caller takes: the search
    /// was abandoned there.
    Stopped,
}

/// A search under way on a connection.
pub struct Search<'c> {
    conn: &'c mut Conn,
    id: i32,
    items: u64,
    max: u64,
    over: bool,
}

impl Conn {
    /// Starts a search with `controls`, taking at most `max` entries and references
    /// (counted as they arrive, whatever size limit the request asked of the server).
    pub async fn search(
        &mut self,
        request: SearchRequest<'_>,
        controls: &[Control],
        max: u64,
    ) -> Result<Search<'_>, WireError> {
        let id = self.send(&Request::Search(request), controls).await?;
        Ok(Search {
            conn: self,
            id,
            items: 0,
            max,
            over: false,
        })
    }
}

impl Search<'_> {
    /// The next item; after `Done` or `Stopped`, `Stopped` again.
    pub async fn next(&mut self) -> Result<Item, WireError> {
        if self.over {
            return Ok(Item::Stopped);
        }
        loop {
            let m = self.conn.answer(self.id).await?;
            let item = match m.op {
                Op::Entry(e) => Item::Entry(e),
                Op::Reference(r) => Item::Reference(r),
                Op::SearchDone(r) => {
                    self.over = true;
                    return Ok(Item::Done(r, m.controls));
                }
                Op::Intermediate => continue,
                _ => return Err(WireError::Unexpected),
            };
            self.items += 1;
            if self.items > self.max {
                self.over = true;
                self.conn.send(&Request::Abandon(self.id), &[]).await?;
                return Ok(Item::Stopped);
            }
            return Ok(item);
        }
    }
}
