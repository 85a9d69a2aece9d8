//! An XML document read into a small tree with quick-xml: element local names,
//! attributes, text, children; bounded in depth and in elements (the body itself is
//! bounded by the HTTP client). No DTD: a document with one is refused (nothing to
//! expand), and an entity other than XML's five and character references is an error.
//! What the resources need is picked from the tree by name (`resources.rs`), so
//! elements UDS adds in later releases are ignored, as the UDS developer guide asks
//! of clients.

use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// The deepest nesting read (UDS documents are 4 to 5 levels deep).
const MAX_DEPTH: usize = 32;
/// The most elements read.
const MAX_ELEMENTS: usize = 20_000;

/// One element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The local name (`clusterUser`), without a namespace prefix.
    pub name: String,
    /// The attributes (local names), values unescaped.
    pub attrs: Vec<(String, String)>,
    /// The element's own text, trimmed.
    pub text: String,
    /// The child elements, in order.
    pub children: Vec<Element>,
}

impl Element {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child named `name`, if it has any.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.as_str())
            .filter(|t| !t.is_empty())
    }
}

/// Why a body is not an XML document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The body is not UTF-8.
    #[error("the body is not UTF-8 text")]
    NotUtf8,
    /// The parser refused it (its words, and where).
    #[error("not well-formed XML at byte {at}: {why}")]
    Syntax {
        /// The byte offset.
        at: u64,
        /// The parser's words.
        why: String,
    },
    /// There is no element at all (an empty body, text only).
    #[error("the body holds no XML element")]
    NoRoot,
    /// A document type declaration (refused: nothing in UDS needs one).
    #[error("the document has a DTD (<!DOCTYPE>), which UDS documents do not")]
    Dtd,
    /// An entity that is not one of XML's five.
    #[error("the document uses the undeclared entity &{0};")]
    Entity(String),
    /// Deeper than [`MAX_DEPTH`].
    #[error("elements nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// More elements than [`MAX_ELEMENTS`].
    #[error("more than {MAX_ELEMENTS} elements")]
    TooMany,
}

fn element(start: &BytesStart<'_>) -> Result<Element, XmlError> {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in start.attributes() {
        let a = a.map_err(|e| XmlError::Syntax {
            at: 0,
            why: e.to_string(),
        })?;
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| XmlError::Syntax {
                at: 0,
                why: e.to_string(),
            })?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name,
        attrs,
        ..Default::default()
    })
}

/// Parses `body` into its root element.
pub fn parse(body: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    let mut reader = Reader::from_str(text);
    let syntax = |r: &Reader<&[u8]>, e: quick_xml::Error| XmlError::Syntax {
        at: r.buffer_position(),
        why: e.to_string(),
    };
    // The open elements, innermost last.
    let mut open: Vec<Element> = Vec::new();
    let mut count = 0usize;
    let mut root = None;
    loop {
        let event = reader.read_event().map_err(|e| syntax(&reader, e))?;
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() && open.is_empty() => {
                return Err(XmlError::Syntax {
                    at: reader.buffer_position(),
                    why: "a second root element".into(),
                });
            }
            Event::Start(s) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooMany);
                }
                if open.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                open.push(element(&s)?);
            }
            Event::Empty(s) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooMany);
                }
                let e = element(&s)?;
                match open.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => root = Some(e),
                }
            }
            Event::End(_) => {
                let Some(mut done) = open.pop() else {
                    return Err(XmlError::Syntax {
                        at: reader.buffer_position(),
                        why: "an end tag without its start".into(),
                    });
                };
                done.text = done.text.trim().to_string();
                match open.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                if let Some(e) = open.last_mut() {
                    let t = t.xml10_content().map_err(|e| XmlError::Syntax {
                        at: 0,
                        why: e.to_string(),
                    })?;
                    e.text.push_str(&t);
                }
            }
            Event::CData(c) => {
                if let Some(e) = open.last_mut() {
                    e.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| XmlError::Syntax {
                    at: 0,
                    why: e.to_string(),
                })?;
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => resolve_xml_entity(&name)
                        .ok_or_else(|| XmlError::Entity(name.to_string()))?
                        .to_string(),
                    Err(e) => return Err(syntax(&reader, e)),
                };
                if let Some(e) = open.last_mut() {
                    e.text.push_str(&resolved);
                }
            }
            Event::DocType(_) => return Err(XmlError::Dtd),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                if !open.is_empty() {
                    return Err(XmlError::Syntax {
                        at: reader.buffer_position(),
                        why: format!("<{}> is not closed", open[open.len() - 1].name),
                    });
                }
                return root.ok_or(XmlError::NoRoot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_becomes_a_tree_with_text_attributes_and_entities() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<a:root xmlns:a="urn:x" a:v="1 &amp; 2"><b>x &lt; y &#65;</b><c/><b>second</b></a:root>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "root");
        assert_eq!(root.attr("v"), Some("1 & 2"));
        assert_eq!(root.child_text("b"), Some("x < y A"));
        assert_eq!(root.children.len(), 3);
        assert_eq!(root.child_text("c"), None);
    }

    #[test]
    fn hostile_documents_are_refused() {
        assert_eq!(parse(b""), Err(XmlError::NoRoot));
        assert_eq!(parse(b"just text"), Err(XmlError::NoRoot));
        assert_eq!(parse(&[0xff, 0xfe]), Err(XmlError::NotUtf8));
        assert!(matches!(parse(b"<a><b></a>"), Err(XmlError::Syntax { .. })));
        assert!(matches!(parse(b"<a>"), Err(XmlError::Syntax { .. })));
        assert!(matches!(parse(b"<a/><b/>"), Err(XmlError::Syntax { .. })));
        let bomb = br#"<!DOCTYPE a [<!ENTITY x "xxxxxxxx">]><a>&x;</a>"#;
        assert_eq!(parse(bomb), Err(XmlError::Dtd));
        assert_eq!(
            parse(b"<a>&nbsp;</a>"),
            Err(XmlError::Entity("nbsp".into()))
        );
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooDeep));
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS + 1));
        assert_eq!(parse(many.as_bytes()), Err(XmlError::TooMany));
    }
}
