//! A small streaming reader over quick-xml for the XML feeds (OVAL, updateinfo): element
//! events by local name (namespace prefixes dropped) with their attributes, and text with
//! entity references resolved.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};

/// What the walker sees.
pub(crate) enum XmlEvent<'a> {
    /// An element opens (an empty one, `<a/>`, is followed by its close at once).
    Open {
        name: &'a str,
        attrs: &'a [(String, String)],
    },
    /// Text inside the innermost open element (entity references resolved).
    Text(&'a str),
    Close {
        name: &'a str,
    },
}

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_owned(),
        None => name.into_owned(),
    }
}

fn attributes(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| format!("malformed attribute: {e}"))?;
        let value = a
            .normalized_value(quick_xml::XmlVersion::default())
            .map_err(|e| format!("malformed attribute value: {e}"))?;
        out.push((local(a.key.as_ref()), value.into_owned()));
    }
    Ok(out)
}

pub(crate) fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What [`walk`] calls: the open elements' local names (outermost first), and the event.
pub(crate) type Visitor<'v> = dyn FnMut(&[String], XmlEvent<'_>) -> Result<(), String> + 'v;

/// Calls `each` for every element and text of the document, in order. The element's
/// ancestors are in `path` (local names, outermost first) when `each` runs.
pub(crate) fn walk(bytes: &[u8], each: &mut Visitor<'_>) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut saw_root = false;
    loop {
        let at = reader.buffer_position();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not well-formed XML at byte {at}: {e}"))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = local(e.name().as_ref());
                let attrs = attributes(e)?;
                saw_root = true;
                each(
                    &path,
                    XmlEvent::Open {
                        name: &name,
                        attrs: &attrs,
                    },
                )?;
                if empty {
                    each(&path, XmlEvent::Close { name: &name })?;
                } else {
                    path.push(name);
                }
            }
            Event::End(_) => {
                let name = path.pop().ok_or("unbalanced closing tag")?;
                each(&path, XmlEvent::Close { name: &name })?;
            }
            Event::Text(t) => {
                let text = t
                    .decode()
                    .map_err(|e| format!("text that is not UTF-8: {e}"))?;
                each(&path, XmlEvent::Text(&text))?;
            }
            Event::CData(t) => {
                let text = t
                    .decode()
                    .map_err(|e| format!("CDATA that is not UTF-8: {e}"))?;
                each(&path, XmlEvent::Text(&text))?;
            }
            Event::GeneralRef(r) => {
                let name = r
                    .decode()
                    .map_err(|e| format!("entity that is not UTF-8: {e}"))?;
                let text: Cow<'_, str> = quick_xml::escape::unescape(&format!("&{name};"))
                    .map(|c| Cow::Owned(c.into_owned()))
                    .map_err(|e| format!("unknown entity &{name};: {e}"))?;
                each(&path, XmlEvent::Text(&text))?;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !path.is_empty() {
        return Err(format!("the document ends inside <{}>", path.join("><")));
    }
    if !saw_root {
        return Err("not an XML document (no element)".to_owned());
    }
    Ok(())
}
