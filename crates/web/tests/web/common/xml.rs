//! A small, strict XML tree built with quick-xml, for checking the feeds: any syntax error,
//! mismatched end tag or unknown entity fails the parse.

use quick_xml::events::Event;
use quick_xml::Reader;

/// One element: its name, attributes and children, and its text (entities resolved).
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child named `name`; panics when there is none.
    pub fn child(&self, name: &str) -> &Element {
        self.children
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("<{}> has no <{name}>", self.name))
    }

    /// Names of the children, in order.
    pub fn child_names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> Result<Element, String> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| err.to_string())?;
        let key = String::from_utf8(a.key.as_ref().to_vec()).map_err(|err| err.to_string())?;
        let value = a.unescape_value().map_err(|err| err.to_string())?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name: String::from_utf8(e.name().as_ref().to_vec()).map_err(|err| err.to_string())?,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

/// Parses a whole document and returns its root element.
pub fn parse(doc: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(doc);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<(Element, String)> = Vec::new();
    let mut root = None;
    let mut saw_decl = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Decl(_) => saw_decl = true,
            Event::Start(e) => stack.push((element(&e)?, String::new())),
            Event::Empty(e) => {
                let el = element(&e)?;
                match stack.last_mut() {
                    Some((parent, _)) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                if let Some((_, raw)) = stack.last_mut() {
                    raw.push_str(&t.decode().map_err(|e| e.to_string())?);
                } else if !t.decode().map_err(|e| e.to_string())?.trim().is_empty() {
                    return Err("text outside the root element".into());
                }
            }
            Event::GeneralRef(r) => {
                let (_, raw) = stack.last_mut().ok_or("entity outside the root element")?;
                raw.push('&');
                raw.push_str(&r.decode().map_err(|e| e.to_string())?);
                raw.push(';');
            }
            Event::CData(_) => return Err("unexpected CDATA".into()),
            Event::End(_) => {
                let (mut el, raw) = stack.pop().ok_or("unbalanced end tag")?;
                el.text = quick_xml::escape::unescape(&raw)
                    .map_err(|e| format!("in <{}>: {e}", el.name))?
                    .into_owned();
                match stack.last_mut() {
                    Some((parent, _)) => parent.children.push(el),
                    None => {
                        if root.is_some() {
                            return Err("two root elements".into());
                        }
                        root = Some(el);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("unclosed elements at the end".into());
    }
    if !saw_decl {
        return Err("no XML declaration".into());
    }
    root.ok_or_else(|| "no root element".into())
}
