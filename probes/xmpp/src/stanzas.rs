//! The stanzas the checks send and the few fields they read back: tokens, bounces,
//! error conditions, roster removal. Wire encoding only; no decision lives here.

use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::jid::{BareJid, Jid};
use tokio_xmpp::parsers::message::{Id, Lang, Message, MessageType};
use tokio_xmpp::parsers::presence::Presence;
use tokio_xmpp::parsers::stanza_error::StanzaError;

/// XEP-0045's protocol namespace.
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
/// XEP-0045's occupant namespace (status codes).
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// XEP-0045's owner namespace (configuration, destruction).
pub const NS_MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// XEP-0030 items.
pub const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// XEP-0030 info.
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// RFC 6121's roster.
pub const NS_ROSTER: &str = "jabber:iq:roster";
/// RFC 6120's stanza errors.
pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// A token unique to this process and moment, so that concurrent or repeated runs never
/// see each other's stanzas.
pub fn unique_token(tag: &str) -> String {
    format!(
        "imp-verify-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// A message of `type_` to `to` whose id and body are `token`.
pub fn token_message(to: Jid, type_: MessageType, token: &str) -> Message {
    let mut msg = Message::new_with_type(type_, Some(to));
    msg.id = Some(Id(token.to_string()));
    msg.bodies.insert(Lang(String::new()), token.to_string());
    msg
}

/// Whether `m` carries `token` as its body.
pub fn has_body(m: &Message, token: &str) -> bool {
    m.bodies.values().any(|b| b == token)
}

/// The defined condition of a stanza's `<error/>` payload as the wire names it
/// (`item-not-found`; a name the server made up is escaped and cut), or `unknown`.
pub fn payload_condition(payloads: &[Element]) -> String {
    payloads
        .iter()
        .find(|p| p.name() == "error")
        .and_then(|e| {
            e.children()
                .find(|c| c.name() != "text" && c.ns() == NS_STANZAS)
                .or_else(|| e.children().find(|c| c.name() != "text"))
                .map(|c| imp_verify_core::text::peer_text(c.name()))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The defined condition of a stanza error as the wire names it.
pub fn error_name(e: &StanzaError) -> String {
    payload_condition(&[Element::from(e.clone())])
}

/// Who sent a presence, for evidence (`the server` when it carries no `from`).
pub fn sender(p: &Presence) -> String {
    p.from
        .as_ref()
        .map(|j| j.to_string())
        .unwrap_or_else(|| "the server".into())
}

/// A roster set that removes `contact` (the subscriptions go with it).
pub fn roster_remove(contact: &BareJid) -> Element {
    use tokio_xmpp::parsers::roster::{Item, Roster, Subscription};
    Roster {
        ver: None,
        items: vec![Item {
            jid: contact.clone(),
            name: None,
            subscription: Subscription::Remove,
            ask: Default::default(),
            groups: vec![],
            approved: None,
        }],
    }
    .into()
}

/// XEP-0045 §10.1.2: the owner's request for an instant room (an empty submitted form).
pub fn instant_room() -> Element {
    "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query>"
        .parse()
        .expect("a constant element")
}

pub use imp_verify_core::ms;
