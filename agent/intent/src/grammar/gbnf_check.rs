//! Test helper: a small reader and recogniser of GBNF as llama.cpp reads it (one rule per
//! line; literals, character classes, groups, `|`, `? * + {m} {m,} {m,n}`, the escapes
//! `\x \u \t \r \n \\ \" \[ \] \-`). No maintained Rust GBNF parser was at hand, so the
//! tests check the generated grammars with this: every rule defined once, every name
//! valid and defined, `root` present, and which answers the grammar admits.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
enum Expr {
    Lit(Vec<char>),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    Ref(String),
    Seq(Vec<Expr>),
    Alt(Vec<Expr>),
    Rep(Box<Expr>, usize, Option<usize>),
}

/// A parsed, checked grammar.
#[derive(Debug)]
pub(crate) struct Grammar {
    rules: BTreeMap<String, Expr>,
}

struct Reader {
    chars: Vec<char>,
    pos: usize,
    refs: BTreeSet<String>,
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Result<char, String> {
        let c = self.peek().ok_or("unexpected end of rule")?;
        self.pos += 1;
        Ok(c)
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.pos += 1;
        }
    }

    fn alternatives(&mut self) -> Result<Expr, String> {
        let mut branches = vec![self.sequence()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            branches.push(self.sequence()?);
        }
        Ok(Expr::Alt(branches))
    }

    fn sequence(&mut self) -> Result<Expr, String> {
        let mut items = Vec::new();
        loop {
            self.skip_spaces();
            let item = match self.peek() {
                None | Some('|') | Some(')') => return Ok(Expr::Seq(items)),
                Some('"') => {
                    self.pos += 1;
                    let mut text = Vec::new();
                    while self.peek() != Some('"') {
                        text.push(self.char()?);
                    }
                    self.pos += 1;
                    Expr::Lit(text)
                }
                Some('[') => {
                    self.pos += 1;
                    let negated = self.peek() == Some('^');
                    if negated {
                        self.pos += 1;
                    }
                    let mut ranges = Vec::new();
                    while self.peek() != Some(']') {
                        let low = self.char()?;
                        let high = if self.peek() == Some('-')
                            && self.chars.get(self.pos + 1) != Some(&']')
                        {
                            self.pos += 1;
                            self.char()?
                        } else {
                            low
                        };
                        ranges.push((low, high));
                    }
                    self.pos += 1;
                    Expr::Class { negated, ranges }
                }
                Some('(') => {
                    self.pos += 1;
                    let inner = self.alternatives()?;
                    if self.next()? != ')' {
                        return Err(format!("missing ')' at {}", self.pos));
                    }
                    inner
                }
                Some(c) if c.is_ascii_alphanumeric() || c == '-' => {
                    let name = self.name();
                    self.refs.insert(name.clone());
                    Expr::Ref(name)
                }
                Some(c) => return Err(format!("unexpected {c:?} at {}", self.pos)),
            };
            items.push(self.repetition(item)?);
        }
    }

    fn repetition(&mut self, item: Expr) -> Result<Expr, String> {
        let (min, max) = match self.peek() {
            Some('?') => (0, Some(1)),
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('{') => {
                self.pos += 1;
                let min = self.int()?;
                let max = match self.next()? {
                    '}' => return Ok(Expr::Rep(Box::new(item), min, Some(min))),
                    ',' if self.peek() == Some('}') => None,
                    ',' => Some(self.int()?),
                    c => return Err(format!("unexpected {c:?} in repetition")),
                };
                if self.peek() != Some('}') {
                    return Err("missing '}' in repetition".into());
                }
                (min, max)
            }
            _ => return Ok(item),
        };
        self.pos += 1;
        Ok(Expr::Rep(Box::new(item), min, max))
    }

    fn int(&mut self) -> Result<usize, String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits: String = self.chars[start..self.pos].iter().collect();
        digits
            .parse()
            .map_err(|e| format!("bad repetition count: {e}"))
    }

    fn name(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// One character of a literal or class, with llama.cpp's escapes.
    fn char(&mut self) -> Result<char, String> {
        let c = self.next()?;
        if c != '\\' {
            return Ok(c);
        }
        let hex = |r: &mut Self, n: usize| -> Result<char, String> {
            let digits: String = (0..n).map(|_| r.next()).collect::<Result<_, _>>()?;
            u32::from_str_radix(&digits, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or(format!("bad escape \\{digits}"))
        };
        match self.next()? {
            'x' => hex(self, 2),
            'u' => hex(self, 4),
            't' => Ok('\t'),
            'r' => Ok('\r'),
            'n' => Ok('\n'),
            c @ ('\\' | '"' | '[' | ']' | '-') => Ok(c),
            c => Err(format!("unknown escape \\{c}")),
        }
    }
}

impl Grammar {
    /// Reads the grammar and checks its names; the error says what is wrong.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut rules = BTreeMap::new();
        let mut refs = BTreeSet::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (name, body) = line
                .split_once(" ::= ")
                .ok_or(format!("not a rule: {line}"))?;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(format!("bad rule name {name:?}"));
            }
            let mut reader = Reader {
                chars: body.chars().collect(),
                pos: 0,
                refs: BTreeSet::new(),
            };
            let expr = reader.alternatives().map_err(|e| format!("{name}: {e}"))?;
            if reader.pos != reader.chars.len() {
                return Err(format!("{name}: unbalanced at {}", reader.pos));
            }
            refs.extend(reader.refs);
            if rules.insert(name.to_owned(), expr).is_some() {
                return Err(format!("{name} defined twice"));
            }
        }
        if let Some(undefined) = refs.iter().find(|r| !rules.contains_key(*r)) {
            return Err(format!("{undefined} is used but not defined"));
        }
        if !rules.contains_key("root") {
            return Err("no root rule".into());
        }
        Ok(Self { rules })
    }

    /// Whether the grammar admits all of `input`.
    pub(crate) fn accepts(&self, input: &str) -> bool {
        let chars: Vec<char> = input.chars().collect();
        self.ends(&Expr::Ref("root".into()), &chars, 0)
            .contains(&chars.len())
    }

    /// Positions where a match of `expr` starting at `pos` can end.
    fn ends(&self, expr: &Expr, s: &[char], pos: usize) -> BTreeSet<usize> {
        match expr {
            Expr::Lit(text) => {
                let end = pos + text.len();
                (s.get(pos..end) == Some(text.as_slice()))
                    .then_some(end)
                    .into_iter()
                    .collect()
            }
            Expr::Class { negated, ranges } => s
                .get(pos)
                .filter(|c| ranges.iter().any(|(a, b)| (a..=b).contains(c)) != *negated)
                .map(|_| pos + 1)
                .into_iter()
                .collect(),
            Expr::Ref(name) => self
                .rules
                .get(name)
                .map(|e| self.ends(e, s, pos))
                .unwrap_or_default(),
            Expr::Seq(items) => items.iter().fold([pos].into(), |at, item| {
                at.iter().flat_map(|&p| self.ends(item, s, p)).collect()
            }),
            Expr::Alt(branches) => branches.iter().flat_map(|b| self.ends(b, s, pos)).collect(),
            Expr::Rep(item, min, max) => {
                let mut frontier: BTreeSet<usize> = [pos].into();
                let mut out = BTreeSet::new();
                for n in 0..=max.unwrap_or(min + s.len() + 1) {
                    if n >= *min {
                        out.extend(frontier.iter().copied());
                    }
                    frontier = frontier
                        .iter()
                        .flat_map(|&p| self.ends(item, s, p))
                        .collect();
                    if frontier.is_empty() {
                        break;
                    }
                }
                out
            }
        }
    }
}

#[test]
fn reads_and_recognises() {
    let g = Grammar::parse(
        "root ::= \"{\" num (\",\" num){0,2} \"}\" [^ \\x00-\\x1F]?\nnum ::= \"-\"? (\"0\" | [1-9] [0-9]*)\n",
    )
    .expect("valid grammar");
    assert!(g.accepts("{1,-20,300}"));
    assert!(g.accepts("{0}x"));
    assert!(!g.accepts("{01}"));
    assert!(!g.accepts("{1,2,3,4}"));
    assert!(!g.accepts("{1} "));
    for bad in [
        "root ::= a\n",
        "root ::= \"x\nroot ::= \"y\"\n",
        "root ::= (\"x\"\n",
        "root ::= \"\\q\"\n",
        "a_b ::= \"x\"\n",
        "x ::= \"x\"\n",
        "root ::= \"x\"\nroot ::= \"y\"\n",
    ] {
        assert!(Grammar::parse(bad).is_err(), "{bad}");
    }
}
