//! Finding keys in TOML text: which key sits at a byte offset, and on which line a key is.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// 1-based (line, column) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Dotted path of the innermost key whose key or value span holds `offset`.
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    let table = DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    walk_table(table.get_ref(), offset, &mut path);
    (!path.is_empty()).then(|| path.join("."))
}

fn walk_table(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) {
    for (key, value) in table.iter() {
        if key.span().contains(&offset) {
            path.push(key.get_ref().to_string());
            return;
        }
        if value.span().contains(&offset) || table_holds(value, offset) {
            path.push(key.get_ref().to_string());
            walk_value(value, offset, path);
            return;
        }
    }
}

// Tables opened with a `[header]` have spans that may not cover their keys; look inside.
fn table_holds(value: &Spanned<DeValue<'_>>, offset: usize) -> bool {
    match value.get_ref() {
        DeValue::Table(t) => t.iter().any(|(k, v)| {
            k.span().contains(&offset) || v.span().contains(&offset) || table_holds(v, offset)
        }),
        _ => false,
    }
}

fn walk_value(value: &Spanned<DeValue<'_>>, offset: usize, path: &mut Vec<String>) {
    match value.get_ref() {
        DeValue::Table(t) => walk_table(t, offset, path),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if item.span().contains(&offset) {
                    path.push(i.to_string());
                    walk_value(item, offset, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

/// 1-based line of the dotted `key` in `text`, if the text sets it.
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    let table = DeTable::parse(text).ok()?;
    let mut current: &DeTable<'_> = table.get_ref();
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let (k, v) = current.iter().find(|(k, _)| k.get_ref() == part)?;
        if i + 1 == parts.len() {
            return Some(line_col(text, k.span().start).0);
        }
        match v.get_ref() {
            DeValue::Table(t) => current = t,
            _ => return Some(line_col(text, k.span().start).0),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "version = 1\n\n[mqtt]\nhost = \"x\"\nport = \"nope\"\n\n[nlu.entities.machine]\nvalues = [\"a\", 3]\n";

    #[test]
    fn finds_key_at_offset() {
        let offset = TEXT.find("\"nope\"").expect("present");
        assert_eq!(key_at(TEXT, offset).as_deref(), Some("mqtt.port"));
        let offset = TEXT.find("3]").expect("present");
        assert_eq!(
            key_at(TEXT, offset).as_deref(),
            Some("nlu.entities.machine.values.1")
        );
    }

    #[test]
    fn finds_line_of_key() {
        assert_eq!(line_of(TEXT, "mqtt.port"), Some(5));
        assert_eq!(line_of(TEXT, "nlu.entities.machine.values"), Some(8));
        assert_eq!(line_of(TEXT, "mqtt.user"), None);
        assert_eq!(line_col(TEXT, 0), (1, 1));
    }
}
