//! One-line descriptions of a stack: `tcp:127.0.0.1:7000+tls:ca=ca.pem,name=localhost+mux`.
//!
//! The same grammar serves code and the command line (like Twisted's
//! `clientFromString`). A description is an **endpoint** followed by
//! **layers**, joined by `+`. Each part is a [`Segment`]: a name, then
//! optionally a colon and arguments.
//!
//! ```text
//! description := segment ( "+" segment )*
//! segment     := NAME [ ":" ARGS ]          NAME = [A-Za-z][A-Za-z0-9_-]*
//! ARGS        := option ( "," option )*     (for layers)
//! option      := KEY "=" VALUE | WORD
//! ```
//!
//! * The endpoint's arguments are positional and belong to whoever builds
//!   the endpoint (`tcp:HOST:PORT`, `tcp:[::1]:7000`, `unix:PATH`): it reads
//!   [`Segment::args`] itself.
//! * A layer's arguments are comma-separated `key=value` pairs or bare words
//!   (`tls:ca=ca.pem,name=localhost,insecure`), parsed here into
//!   [`Segment::options`].
//! * A backslash makes the next character literal, so `+`, `,` and `=` can
//!   appear in values (`unix:/tmp/a\+b`); [`Segment::args_unescaped`] and the
//!   parsed options resolve the escapes, [`Segment::args`] keeps them.
//! * Whitespace around segments, keys and values is ignored.
//!
//! Every error is a [`DescriptionError`] that quotes the offending part and
//! says what was expected:
//!
//! ```
//! # use strata_core::Description;
//! let err = Description::parse("tcp:1+tls:=x").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     r#"in "tls:=x": option "=x" has an empty key (expected KEY=VALUE or WORD)"#
//! );
//! ```

use std::fmt;
use std::str::FromStr;

/// A parsed description: one endpoint, then the layers on top of it,
/// bottom first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// The endpoint: `tcp:127.0.0.1:7000`, `unix:/run/app.sock`, ...
    pub endpoint: Segment,
    /// The layers, bottom first: `tls:...`, `mux`, ...
    pub layers: Vec<Segment>,
}

/// One part of a description: `name` or `name:args`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The part before the first colon: `tcp`, `tls`, `mux`.
    pub name: String,
    /// Everything after the first colon, as written (escapes kept).
    pub args: String,
    /// `args` read as comma-separated options, escapes resolved.
    pub options: Vec<Opt>,
    text: String,
}

/// One option of a [`Segment`]: `key=value`, or a bare word (`value` is `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opt {
    /// The key, or the bare word.
    pub key: String,
    /// The value after `=`, if any.
    pub value: Option<String>,
}

/// A description that does not parse, or a segment whose arguments are not
/// what its builder expects. Quotes the offending segment and part.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("in \"{context}\": {problem} (expected {expected})")]
pub struct DescriptionError {
    /// The segment (or whole description) the problem is in, as written.
    pub context: String,
    /// What is wrong, quoting the bad part.
    pub problem: String,
    /// What would have been right.
    pub expected: String,
}

impl DescriptionError {
    /// An error about `context`.
    pub fn new(
        context: impl Into<String>,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        DescriptionError {
            context: context.into(),
            problem: problem.into(),
            expected: expected.into(),
        }
    }
}

const EXPECTED_DESC: &str = "ENDPOINT[+LAYER...], e.g. tcp:127.0.0.1:7000+tls:name=localhost";

impl Description {
    /// Parse a description. Only the grammar is checked here; whether
    /// `tcp:...` or `tls:...` make sense is up to their builders.
    pub fn parse(s: &str) -> Result<Self, DescriptionError> {
        let parts =
            split_unescaped(s, '+').map_err(|p| DescriptionError::new(s, p, EXPECTED_DESC))?;
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let part = part.trim();
            if part.is_empty() {
                let problem = if s.trim().is_empty() {
                    "the description is empty".to_string()
                } else if i == 0 {
                    "the endpoint before the first \"+\" is missing".to_string()
                } else {
                    format!("layer {i} is empty")
                };
                return Err(DescriptionError::new(s, problem, EXPECTED_DESC));
            }
            segments.push(Segment::parse(part)?);
        }
        let endpoint = segments.remove(0);
        Ok(Description {
            endpoint,
            layers: segments,
        })
    }

    /// The names of the layers, bottom first.
    pub fn layer_names(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.name.as_str()).collect()
    }
}

impl FromStr for Description {
    type Err = DescriptionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Description::parse(s)
    }
}

impl fmt::Display for Description {
    /// The description as written, segments joined by `+`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.endpoint.text)?;
        for l in &self.layers {
            write!(f, "+{}", l.text)?;
        }
        Ok(())
    }
}

impl Segment {
    /// Parse one segment (`name` or `name:args`), without `+`.
    pub fn parse(text: &str) -> Result<Self, DescriptionError> {
        let text = text.trim();
        let (name, args) = match text.split_once(':') {
            Some((n, a)) => (n.trim(), a.trim()),
            None => (text, ""),
        };
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            let problem = if name.is_empty() {
                "the name before \":\" is missing".to_string()
            } else {
                format!("name \"{name}\" is not a word")
            };
            return Err(DescriptionError::new(
                text,
                problem,
                "NAME[:ARGS] with NAME made of letters, digits, '-' and '_'",
            ));
        }
        let options = parse_options(text, args)?;
        Ok(Segment {
            name: name.to_string(),
            args: args.to_string(),
            options,
            text: text.to_string(),
        })
    }

    /// The segment as written (trimmed): what errors quote.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// [`args`](Segment::args) with backslash escapes resolved: a path, say.
    pub fn args_unescaped(&self) -> String {
        unescape(&self.args)
    }

    /// The value of `key=value`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|o| o.key == key)
            .and_then(|o| o.value.as_deref())
    }

    /// Whether `word` was given, bare or as a key.
    pub fn has(&self, word: &str) -> bool {
        self.options.iter().any(|o| o.key == word)
    }

    /// The bare words, in order.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.options
            .iter()
            .filter(|o| o.value.is_none())
            .map(|o| o.key.as_str())
    }

    /// The value of `key`, or an error saying it is missing.
    pub fn require(&self, key: &str, expected: &str) -> Result<&str, DescriptionError> {
        self.get(key)
            .ok_or_else(|| self.error(format!("option \"{key}\" is missing"), expected))
    }

    /// The value of `key` parsed as `T`, if given; an error quoting the value
    /// if it does not parse.
    pub fn parse_opt<T: FromStr>(
        &self,
        key: &str,
        expected: &str,
    ) -> Result<Option<T>, DescriptionError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                self.error(
                    format!("option \"{key}\" has a bad value \"{v}\""),
                    expected,
                )
            }),
        }
    }

    /// Fail on any option whose key is not in `known`.
    pub fn only_options(&self, known: &[&str], expected: &str) -> Result<(), DescriptionError> {
        match self
            .options
            .iter()
            .find(|o| !known.contains(&o.key.as_str()))
        {
            None => Ok(()),
            Some(o) => Err(self.error(format!("unknown option \"{}\"", o.key), expected)),
        }
    }

    /// An error about this segment, quoting it.
    pub fn error(
        &self,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) -> DescriptionError {
        DescriptionError::new(self.text.clone(), problem, expected)
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_options(text: &str, args: &str) -> Result<Vec<Opt>, DescriptionError> {
    const EXPECTED: &str = "KEY=VALUE or WORD";
    if args.is_empty() {
        return Ok(Vec::new());
    }
    let err = |p: String| DescriptionError::new(text, p, EXPECTED);
    let mut out: Vec<Opt> = Vec::new();
    for item in split_unescaped(args, ',').map_err(err)? {
        let item = item.trim();
        if item.is_empty() {
            return Err(err(format!("empty option in \"{args}\"")));
        }
        let opt = match split_unescaped(item, '=').map_err(err)?.as_slice() {
            [word] => Opt {
                key: unescape(word.trim()),
                value: None,
            },
            [key, ..] if key.trim().is_empty() => {
                return Err(err(format!("option \"{item}\" has an empty key")))
            }
            [key, _] => {
                let (_, value) = item.split_at(key.len() + 1);
                Opt {
                    key: unescape(key.trim()),
                    value: Some(unescape(value.trim())),
                }
            }
            _ => {
                return Err(err(format!(
                    "option \"{item}\" has more than one \"=\" (escape it as \\=)"
                )))
            }
        };
        if out.iter().any(|o| o.key == opt.key) {
            return Err(err(format!("option \"{}\" is given twice", opt.key)));
        }
        out.push(opt);
    }
    Ok(out)
}

/// Split on `sep` where it is not preceded by a backslash; escapes are kept.
fn split_unescaped(s: &str, sep: char) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            if chars.next().is_none() {
                return Err(format!("\"{s}\" ends with a lone backslash"));
            }
        } else if c == sep {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoint_and_layers() {
        let d = Description::parse("tcp:127.0.0.1:7000+tls:ca=ca.pem,name=localhost+mux").unwrap();
        assert_eq!(d.endpoint.name, "tcp");
        assert_eq!(d.endpoint.args, "127.0.0.1:7000");
        assert_eq!(d.layer_names(), ["tls", "mux"]);
        let tls = &d.layers[0];
        assert_eq!(tls.get("ca"), Some("ca.pem"));
        assert_eq!(tls.get("name"), Some("localhost"));
        assert!(d.layers[1].options.is_empty());
        assert_eq!(
            d.to_string(),
            "tcp:127.0.0.1:7000+tls:ca=ca.pem,name=localhost+mux"
        );
    }

    #[test]
    fn ipv6_and_escapes() {
        let d = Description::parse("tcp:[::1]:7000").unwrap();
        assert_eq!(d.endpoint.args, "[::1]:7000");
        let d = Description::parse(r"unix:/tmp/a\+b + tls : name = x\,y , insecure").unwrap();
        assert_eq!(d.endpoint.args_unescaped(), "/tmp/a+b");
        assert_eq!(d.layers[0].get("name"), Some("x,y"));
        assert!(d.layers[0].has("insecure"));
        assert_eq!(d.layers[0].words().collect::<Vec<_>>(), ["insecure"]);
    }

    #[test]
    fn errors_quote_the_bad_part() {
        let e = |s: &str| Description::parse(s).unwrap_err().to_string();
        assert_eq!(
            e(""),
            r#"in "": the description is empty (expected ENDPOINT[+LAYER...], e.g. tcp:127.0.0.1:7000+tls:name=localhost)"#
        );
        assert!(
            e("tcp:1++mux").contains("layer 1 is empty"),
            "{}",
            e("tcp:1++mux")
        );
        assert!(e("+mux").contains("endpoint before the first \"+\" is missing"));
        assert!(e("t cp:1").starts_with(r#"in "t cp:1": name "t cp" is not a word"#));
        assert!(e(":1").contains("the name before \":\" is missing"));
        assert!(
            e("tcp:1+tls:a=1,a=2").starts_with(r#"in "tls:a=1,a=2": option "a" is given twice"#)
        );
        assert!(e("tcp:1+tls:a,,b").contains("empty option"));
        assert!(e("tcp:1+tls:a=b=c").contains("more than one"));
        assert!(e(r"tcp:1\").contains("lone backslash"));
    }

    #[test]
    fn helpers() {
        let s = Segment::parse("tls:port=12,x=y,flag").unwrap();
        assert_eq!(s.parse_opt::<u16>("port", "a port").unwrap(), Some(12));
        assert_eq!(s.parse_opt::<u16>("none", "a port").unwrap(), None);
        let err = s.parse_opt::<u16>("x", "a number").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"in "tls:port=12,x=y,flag": option "x" has a bad value "y" (expected a number)"#
        );
        assert!(s
            .require("ca", "ca=FILE")
            .unwrap_err()
            .to_string()
            .contains("\"ca\" is missing"));
        assert!(s.only_options(&["port", "x", "flag"], "").is_ok());
        assert!(s
            .only_options(&["port"], "port=N")
            .unwrap_err()
            .to_string()
            .contains("unknown option \"x\""));
    }
}
