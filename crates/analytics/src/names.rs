//! Interned names, so that aggregates allocate a string once per distinct name rather
//! than once per span.

use std::collections::HashMap;

/// Distinct strings, each with a dense id.
#[derive(Debug, Default)]
pub(crate) struct Names {
    ids: HashMap<Box<str>, u32>,
    texts: Vec<Box<str>>,
}

impl Names {
    /// The id of `text`, adding it when new.
    pub(crate) fn intern(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = self.texts.len() as u32;
        self.texts.push(text.into());
        self.ids.insert(text.into(), id);
        id
    }

    /// The text of an id this table gave out.
    pub(crate) fn text(&self, id: u32) -> &str {
        self.texts.get(id as usize).map_or("", |text| text)
    }
}
