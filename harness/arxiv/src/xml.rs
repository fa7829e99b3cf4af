//! A minimal element tree over quick-xml, enough for arXiv's feeds.
//!
//! Elements keep their qualified name (`arxiv:doi`), attributes and the concatenated text of their
//! direct children (text, CDATA, entity and character references); mixed content order is not
//! kept (arXiv's feeds have none). Namespaces are matched by local name, which is robust to the
//! prefixes varying between the 2016 and current API layouts. Building the tree is iterative and
//! depth-limited, so hostile input cannot overflow the stack; every malformation is an error.

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};

use super::error::Error;

/// Deeper documents are rejected (arXiv's feeds nest five levels).
const MAX_DEPTH: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Element {
    /// Qualified name as written (`arxiv:primary_category`).
    pub name: String,
    /// Attributes as (qualified name, unescaped value).
    pub attrs: Vec<(String, String)>,
    /// Concatenated direct text content, unescaped, not trimmed.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The name without its namespace prefix.
    pub fn local(&self) -> &str {
        local_part(&self.name)
    }

    /// The value of the attribute whose local name is `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| local_part(k) == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child with local name `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.local() == name)
    }

    /// Every child with local name `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.local() == name)
    }

    /// The text of the first child named `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

fn local_part(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, local)| local)
}

fn xml_err(reader: &Reader<&[u8]>, e: impl std::fmt::Display) -> Error {
    Error::Xml(format!("{e} (at byte {})", reader.buffer_position()))
}

fn start_element(reader: &Reader<&[u8]>, e: &BytesStart<'_>) -> Result<Element, Error> {
    let name = std::str::from_utf8(e.name().as_ref())
        .map_err(|err| xml_err(reader, err))?
        .to_string();
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| xml_err(reader, err))?;
        let key = std::str::from_utf8(attr.key.as_ref())
            .map_err(|err| xml_err(reader, err))?
            .to_string();
        let value = attr
            .unescape_value()
            .map_err(|err| xml_err(reader, err))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        text: String::new(),
        children: Vec::new(),
    })
}

/// Parses a whole document and returns its root element.
pub(crate) fn parse(xml: &str) -> Result<Element, Error> {
    let mut reader = Reader::from_str(xml);
    // Open elements, innermost last; the root is kept once closed.
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|e| xml_err(&reader, e))?;
        match event {
            Event::Start(e) => {
                if root.is_some() {
                    return Err(xml_err(&reader, "content after the root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(xml_err(
                        &reader,
                        format!("elements nested deeper than {MAX_DEPTH}"),
                    ));
                }
                stack.push(start_element(&reader, &e)?);
            }
            Event::Empty(e) => {
                let element = start_element(&reader, &e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None if root.is_none() => root = Some(element),
                    None => return Err(xml_err(&reader, "content after the root element")),
                }
            }
            Event::End(_) => {
                // quick-xml has already checked that the end tag matches the open one.
                let element = stack
                    .pop()
                    .ok_or_else(|| xml_err(&reader, "unexpected end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::Text(t) => {
                let text = t.xml10_content().map_err(|e| xml_err(&reader, e))?;
                push_text(&reader, &mut stack, &text)?;
            }
            Event::CData(t) => {
                let text = t.xml10_content().map_err(|e| xml_err(&reader, e))?;
                push_text(&reader, &mut stack, &text)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| xml_err(&reader, e))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| xml_err(&reader, e))?;
                        match resolve_predefined_entity(&name) {
                            Some(s) => s.to_string(),
                            // An entity from a DTD we do not read: keep it visible rather than fail.
                            None => format!("&{name};"),
                        }
                    }
                };
                push_text(&reader, &mut stack, &resolved)?;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(Error::Xml(format!("document ends inside <{}>", open.name)));
    }
    root.ok_or_else(|| Error::Xml("no root element".to_string()))
}

fn push_text(reader: &Reader<&[u8]>, stack: &mut [Element], text: &str) -> Result<(), Error> {
    match stack.last_mut() {
        Some(open) => {
            open.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(xml_err(reader, "text outside the root element")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree_with_text_entities_and_cdata() {
        let root = parse(
            r#"<?xml version="1.0"?><feed xmlns:a="x"><a:t k="v &amp; w">A &amp; B &#233;<![CDATA[<c>]]></a:t><e/></feed>"#,
        )
        .unwrap();
        assert_eq!(root.local(), "feed");
        let t = root.child("t").unwrap();
        assert_eq!(t.name, "a:t");
        assert_eq!(t.attr("k"), Some("v & w"));
        assert_eq!(t.text, "A & B é<c>");
        assert!(root.child("e").is_some());
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in [
            "",
            "text",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "<a>&#0;</a>",
            "<a x='1' x='2'/>",
            "<a>\u{0}</a>trailing",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).unwrap_err().to_string().contains("deeper"));
    }
}
