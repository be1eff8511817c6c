//! Template syntax: literals, optional `[...]`, alternatives `(a|b)`, slots `{name}`.

use crate::normalize::tokenize;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// One normalised word.
    Word(String),
    /// Items in order.
    Seq(Vec<Node>),
    /// Exactly one of the branches.
    Alt(Vec<Node>),
    /// The inner node or nothing.
    Opt(Box<Node>),
    /// A slot, by name.
    Slot(String),
}

/// A template that does not parse; `column` counts characters from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct TemplateSyntaxError {
    /// Where the problem was found.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses one template.
pub fn parse(template: &str) -> Result<Node, TemplateSyntaxError> {
    let chars: Vec<char> = template.chars().collect();
    let mut parser = Parser { chars, pos: 0 };
    let node = parser.alternatives(None)?;
    if node == Node::Seq(Vec::new()) {
        return Err(parser.error("empty template"));
    }
    Ok(node)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn error(&self, message: impl Into<String>) -> TemplateSyntaxError {
        TemplateSyntaxError {
            column: self.pos + 1,
            message: message.into(),
        }
    }

    /// `seq ('|' seq)*` up to the closing bracket `close` (or the end).
    fn alternatives(&mut self, close: Option<char>) -> Result<Node, TemplateSyntaxError> {
        let mut branches = vec![self.sequence()?];
        loop {
            match self.chars.get(self.pos) {
                Some('|') => {
                    self.pos += 1;
                    branches.push(self.sequence()?);
                }
                Some(&c) if Some(c) == close => {
                    self.pos += 1;
                    break;
                }
                Some(&c) => return Err(self.error(format!("unexpected {c:?}"))),
                None => match close {
                    Some(c) => return Err(self.error(format!("missing closing {c:?}"))),
                    None => break,
                },
            }
        }
        if branches.len() == 1 {
            return Ok(branches.pop().unwrap_or(Node::Seq(Vec::new())));
        }
        if branches.iter().any(|b| *b == Node::Seq(Vec::new())) {
            return Err(self.error("empty alternative; use [...] for an optional part"));
        }
        Ok(Node::Alt(branches))
    }

    fn sequence(&mut self) -> Result<Node, TemplateSyntaxError> {
        let mut items = Vec::new();
        let mut word = String::new();
        while let Some(&c) = self.chars.get(self.pos) {
            if matches!(c, '|' | ')' | ']') {
                break;
            }
            if c.is_whitespace() || matches!(c, '(' | '[' | '{' | '}') {
                flush(&mut word, &mut items);
            }
            match c {
                '(' | '[' => {
                    self.pos += 1;
                    let close = if c == '(' { ')' } else { ']' };
                    let inner = self.alternatives(Some(close))?;
                    if inner == Node::Seq(Vec::new()) {
                        return Err(self.error("empty group"));
                    }
                    items.push(if c == '[' {
                        Node::Opt(Box::new(inner))
                    } else {
                        inner
                    });
                }
                '{' => {
                    let start = self.pos + 1;
                    let end = self.chars[start..]
                        .iter()
                        .position(|&c| c == '}')
                        .map(|p| start + p)
                        .ok_or_else(|| self.error("missing closing '}'"))?;
                    let name: String = self.chars[start..end].iter().collect::<String>();
                    let name = name.trim();
                    if name.is_empty()
                        || !name
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    {
                        return Err(self.error(format!("bad slot name {name:?}")));
                    }
                    items.push(Node::Slot(name.to_owned()));
                    self.pos = end + 1;
                }
                '}' => return Err(self.error("unexpected '}'")),
                c if c.is_whitespace() => self.pos += 1,
                c => {
                    word.push(c);
                    self.pos += 1;
                }
            }
        }
        flush(&mut word, &mut items);
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Node::Seq(Vec::new()))
        } else {
            Node::Seq(items)
        })
    }
}

fn flush(word: &mut String, items: &mut Vec<Node>) {
    if !word.is_empty() {
        items.extend(tokenize(word).into_iter().map(Node::Word));
        word.clear();
    }
}

impl Node {
    /// Slot names this node can fill, in order, with duplicates.
    pub fn slots(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit_slots(&mut out, false);
        out.into_iter().map(|(n, _)| n).collect()
    }

    /// Slot names every path through this node fills.
    pub fn always_filled_slots(&self) -> Vec<&str> {
        match self {
            Node::Slot(name) => vec![name.as_str()],
            Node::Word(_) | Node::Opt(_) => Vec::new(),
            Node::Seq(items) => items.iter().flat_map(Node::always_filled_slots).collect(),
            Node::Alt(branches) => {
                let mut iter = branches.iter().map(Node::always_filled_slots);
                let first = iter.next().unwrap_or_default();
                let rest: Vec<Vec<&str>> = iter.collect();
                first
                    .into_iter()
                    .filter(|s| rest.iter().all(|r| r.contains(s)))
                    .collect()
            }
        }
    }

    fn visit_slots<'a>(&'a self, out: &mut Vec<(&'a str, bool)>, optional: bool) {
        match self {
            Node::Slot(name) => out.push((name, optional)),
            Node::Word(_) => {}
            Node::Seq(items) | Node::Alt(items) => {
                items.iter().for_each(|n| n.visit_slots(out, optional))
            }
            Node::Opt(inner) => inner.visit_slots(out, true),
        }
    }

    /// Words every match of this node contains (used to skip templates quickly).
    pub fn required_words(&self) -> Vec<&str> {
        match self {
            Node::Word(w) => vec![w.as_str()],
            Node::Slot(_) | Node::Opt(_) => Vec::new(),
            Node::Seq(items) => items.iter().flat_map(Node::required_words).collect(),
            Node::Alt(branches) => {
                let mut iter = branches.iter().map(Node::required_words);
                let first = iter.next().unwrap_or_default();
                let rest: Vec<Vec<&str>> = iter.collect();
                first
                    .into_iter()
                    .filter(|w| rest.iter().all(|r| r.contains(w)))
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Node {
        Node::Word(s.into())
    }

    #[test]
    fn parses_all_constructs() {
        let node = parse("(turn|switch) on [the] {thing}").expect("parses");
        assert_eq!(
            node,
            Node::Seq(vec![
                Node::Alt(vec![w("turn"), w("switch")]),
                w("on"),
                Node::Opt(Box::new(w("the"))),
                Node::Slot("thing".into()),
            ])
        );
    }

    #[test]
    fn literals_are_normalised_like_input() {
        let node = parse("open the driver's window").expect("parses");
        assert_eq!(
            node,
            Node::Seq(vec![w("open"), w("the"), w("drivers"), w("window")])
        );
    }

    #[test]
    fn required_words_skip_optional_and_differing_branches() {
        let node = parse("(set|make) [the] temperature (to|at) {c}").expect("parses");
        assert_eq!(node.required_words(), ["temperature"]);
        let node = parse("(turn the fan up|fan up)").expect("parses");
        assert_eq!(node.required_words(), ["fan", "up"]);
    }

    #[test]
    fn syntax_errors_name_the_column() {
        let err = parse("set [the temperature").expect_err("must be refused");
        assert_eq!(err.message, "missing closing ']'");
        let err = parse("set {Temp}").expect_err("must be refused");
        assert!(err.message.contains("bad slot name"), "{err}");
        assert_eq!(
            parse("(a|)").expect_err("must be refused").message,
            "empty alternative; use [...] for an optional part"
        );
        assert!(parse("a ] b").is_err());
        assert!(parse("   ").is_err());
        assert!(parse("a {b").is_err());
    }

    #[test]
    fn always_filled_slots_exclude_optional() {
        let node = parse("set {a} [to {b}] (for {c}|{c} please)").expect("parses");
        assert_eq!(node.always_filled_slots(), ["a", "c"]);
        assert_eq!(node.slots(), ["a", "b", "c", "c"]);
    }
}
