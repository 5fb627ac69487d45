//! From `.api` text to the typed [`ApiFile`], with syntax errors as diagnostics.
//!
//! The file is parsed one top-level statement at a time. When a statement fails, the error is
//! recorded and parsing resumes at the next line that starts a statement (`type`, `service`,
//! `@server`, ...), so one run reports several syntax errors and keeps every good statement.

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest_derive::Parser;

use super::ast::*;
use super::tag::Tag;
use crate::diagnostic::{Diagnostic, FileId};

#[derive(Parser)]
#[grammar = "api/api.pest"]
struct ApiParser;

/// Deepest nesting of brackets, and most type prefixes on one line, that the parser accepts.
/// Real contracts stay far below; the limit keeps hostile input from exhausting the stack.
const MAX_NESTING: usize = 64;

/// Parses one file's text. Returns the statements that parsed and the syntax errors, if any.
pub fn parse(text: &str, file: FileId) -> (ApiFile, Vec<Diagnostic>) {
    let mut out = ApiFile::default();
    let mut errors = Vec::new();
    if let Some(err) = check_nesting(text, file) {
        return (out, vec![err]);
    }
    // Fast path: the whole file in one pass. pest indexes the input's lines on every call, so
    // statement-by-statement parsing (below) is kept for files with errors.
    if let Ok(pairs) = ApiParser::parse(Rule::file, text) {
        let builder = Builder { offset: 0 };
        for pair in pairs.clone().flatten() {
            if pair.as_rule() == Rule::COMMENT {
                out.comments.push(builder.comment(&pair));
            }
        }
        for pair in pairs.flat_map(|p| p.into_inner()) {
            if !matches!(pair.as_rule(), Rule::COMMENT | Rule::EOI) {
                out.items.push(builder.item(pair));
            }
        }
        return (out, errors);
    }
    let mut pos = 0;
    while pos <= text.len() {
        let rest = &text[pos..];
        if let Ok(pairs) = ApiParser::parse(Rule::end_of_file, rest) {
            let builder = Builder { offset: pos };
            for pair in pairs.flatten() {
                if pair.as_rule() == Rule::COMMENT {
                    out.comments.push(builder.comment(&pair));
                }
            }
            break;
        }
        match ApiParser::parse(Rule::next_item, rest) {
            Ok(mut pairs) => {
                let pair = pairs.next().expect("next_item always yields its pair");
                let end = pair.as_span().end();
                let builder = Builder { offset: pos };
                for inner in pair.clone().into_inner().flatten() {
                    if inner.as_rule() == Rule::COMMENT {
                        out.comments.push(builder.comment(&inner));
                    }
                }
                for inner in pair.into_inner() {
                    if inner.as_rule() != Rule::COMMENT && inner.as_rule() != Rule::EOI {
                        out.items.push(builder.item(inner));
                    }
                }
                if end == 0 {
                    break;
                }
                pos += end;
            }
            Err(err) => {
                let at = match err.location {
                    InputLocation::Pos(p) => p,
                    InputLocation::Span((s, _)) => s,
                };
                let at = pos + at;
                errors.push(syntax_error(text, file, at, &err.variant));
                match next_statement(text, at) {
                    Some(next) => pos = next,
                    None => break,
                }
            }
        }
    }
    out.comments.sort_by_key(|c| c.span.start);
    out.comments.dedup();
    (out, errors)
}

/// The start of the first line after `at` that begins a top-level statement.
fn next_statement(text: &str, at: usize) -> Option<usize> {
    let mut line_start = text[at..].find('\n').map(|i| at + i + 1)?;
    loop {
        let line = &text[line_start..];
        let trimmed = line.trim_start_matches([' ', '\t']);
        let starts = ["type", "service", "@server", "import", "info", "syntax"]
            .iter()
            .any(|kw| {
                trimmed.starts_with(kw)
                    && !trimmed[kw.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
        if starts {
            return Some(line_start);
        }
        line_start = line.find('\n').map(|i| line_start + i + 1)?;
    }
}

fn syntax_error(text: &str, file: FileId, at: usize, variant: &ErrorVariant<Rule>) -> Diagnostic {
    let expected = match variant {
        // After a field only a tag or the end of the line may follow.
        ErrorVariant::ParsingError { positives, .. } if positives.contains(&Rule::tag) => {
            "expected a tag in back quotes or the end of the line".to_string()
        }
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(describe).collect();
            names.sort_unstable();
            names.dedup();
            match names.len() {
                0 => String::from("unexpected input"),
                1 => format!("expected {}", names[0]),
                n => format!("expected {} or {}", names[..n - 1].join(", "), names[n - 1]),
            }
        }
        ErrorVariant::CustomError { message } => message.clone(),
    };
    let found = found_at(text, at);
    let end = at + found.len().max(1);
    let span = Span::new(at, end.min(text.len()).max(at));
    let found = if found.is_empty() {
        match text[at..].chars().next() {
            None => "end of file".to_string(),
            Some(_) => "end of line".to_string(),
        }
    } else if found.contains('`') {
        format!("'{found}'")
    } else {
        format!("`{found}`")
    };
    let mut d = Diagnostic::error(file, span, format!("{expected}, found {found}"));
    if text[at..].starts_with('`') {
        d = d.with_help("a tag opened with ` must be closed with ` on the same line");
    }
    if text[at..].starts_with("/*") {
        d = d.with_help("this block comment is not closed with `*/`");
    }
    d
}

/// The token at `at`, for "found ..." in messages.
fn found_at(text: &str, at: usize) -> &str {
    let rest = &text[at.min(text.len())..];
    let first = rest.chars().next();
    let len = match first {
        None => 0,
        Some(c) if c.is_alphanumeric() || c == '_' => rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len()),
        Some(c) if c.is_whitespace() => 0,
        Some(c) => c.len_utf8(),
    };
    &rest[..len]
}

/// How a rule reads in "expected ..." messages; `None` hides it.
fn describe(rule: &Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::syntax_stmt | Rule::kw_syntax => "`syntax`",
        Rule::info_stmt | Rule::kw_info => "`info`",
        Rule::import_stmt | Rule::kw_import => "`import`",
        Rule::type_stmt | Rule::kw_type => "`type`",
        Rule::service_stmt | Rule::kw_service => "`service`",
        Rule::at_server | Rule::at_server_kw => "`@server`",
        Rule::at_doc | Rule::at_doc_kw => "`@doc`",
        Rule::at_handler | Rule::at_handler_kw => "`@handler`",
        Rule::kw_struct => "`struct`",
        Rule::kw_returns => "`returns`",
        Rule::info_entry | Rule::server_entry | Rule::key => "`key: value`",
        Rule::string => "a string",
        Rule::raw_string | Rule::tag => "a `raw string`",
        Rule::bare_text | Rule::bare_value | Rule::server_values => "a value",
        Rule::import_group => "`(`",
        Rule::type_group => "`(`",
        Rule::type_struct | Rule::type_alias => "a type name",
        Rule::struct_body => "`{`",
        Rule::field | Rule::named_field | Rule::embedded_field => "a field",
        Rule::data_type
        | Rule::pointer_type
        | Rule::slice_type
        | Rule::array_type
        | Rule::map_type
        | Rule::interface_type
        | Rule::struct_type
        | Rule::named_type => "a type",
        Rule::array_len => "an array length",
        Rule::service_name => "a service name",
        Rule::service_item => "`@handler`",
        Rule::route | Rule::http_method => "an HTTP method (get, post, ...)",
        Rule::path => "a path starting with `/`",
        Rule::body => "`(`",
        Rule::ident => "an identifier",
        Rule::lparen => "`(`",
        Rule::rparen => "`)`",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::lbracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::colon => "`:`",
        Rule::equals => "`=`",
        Rule::comma => "`,`",
        Rule::star => "`*`",
        Rule::semicolon => "`;`",
        Rule::EOI | Rule::end_of_file => "end of file",
        _ => return None,
    })
}

/// Rejects input nested deeper than [`MAX_NESTING`] before pest's recursion sees it.
fn check_nesting(text: &str, file: FileId) -> Option<Diagnostic> {
    let bytes = text.as_bytes();
    let (mut depth, mut on_line, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        let skip_to = |from: usize, end: &[u8]| -> usize {
            text[from..]
                .find(std::str::from_utf8(end).unwrap_or("\n"))
                .map_or(bytes.len(), |j| from + j + end.len())
        };
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = skip_to(i + 2, b"\n") - 1,
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_to(i + 2, b"*/") - 1,
            b'`' => i = skip_to(i + 1, b"`") - 1,
            b'"' => i = skip_to(i + 1, b"\"") - 1,
            b'\n' => on_line = 0,
            b'(' | b'[' | b'{' => {
                depth += 1;
                on_line += 1;
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'*' => on_line += 1,
            _ => {}
        }
        if depth > MAX_NESTING || on_line > MAX_NESTING * 2 {
            return Some(
                Diagnostic::error(file, Span::new(i, i + 1), "nesting is too deep")
                    .with_help(format!("rustctl accepts at most {MAX_NESTING} levels")),
            );
        }
        i += 1;
    }
    None
}

/// Turns pest pairs into AST nodes; `offset` is where the parsed slice starts in the file.
struct Builder {
    offset: usize,
}

/// The children of a pair that carry meaning: no comments, no punctuation.
fn children<'i>(pair: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    pair.into_inner().filter(|p| {
        !matches!(
            p.as_rule(),
            Rule::COMMENT
                | Rule::lparen
                | Rule::rparen
                | Rule::lbrace
                | Rule::rbrace
                | Rule::lbracket
                | Rule::rbracket
                | Rule::colon
                | Rule::equals
                | Rule::comma
                | Rule::semicolon
                | Rule::kw_syntax
                | Rule::kw_info
                | Rule::kw_import
                | Rule::kw_type
                | Rule::kw_service
                | Rule::kw_returns
                | Rule::kw_map
                | Rule::kw_interface
                | Rule::at_server_kw
                | Rule::at_doc_kw
                | Rule::at_handler_kw
        )
    })
}

impl Builder {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(s.start(), s.end()).shifted(self.offset)
    }

    fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(pair),
        }
    }

    fn comment(&self, pair: &Pair<'_, Rule>) -> Comment {
        Comment {
            text: pair.as_str().trim_end().to_string(),
            span: self.span(pair),
        }
    }

    fn value(&self, pair: &Pair<'_, Rule>) -> Value {
        let raw = pair.as_str();
        let span = self.span(pair);
        match pair.as_rule() {
            Rule::string => Value {
                text: raw[1..raw.len() - 1].to_string(),
                quote: Quote::Double,
                raw: raw.to_string(),
                span,
            },
            Rule::raw_string => Value {
                text: raw[1..raw.len() - 1].to_string(),
                quote: Quote::Raw,
                raw: raw.to_string(),
                span,
            },
            _ => {
                // Only what the grammar treats as spacing: a bare value of other whitespace
                // (form feeds, say) is still a value, or formatting would drop it.
                let trimmed = raw.trim_end_matches([' ', '\t']);
                Value {
                    text: trimmed.to_string(),
                    quote: Quote::Bare,
                    raw: trimmed.to_string(),
                    span: Span::new(span.start, span.start + trimmed.len()),
                }
            }
        }
    }

    fn item(&self, pair: Pair<'_, Rule>) -> Item {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::syntax_stmt => {
                let version = children(pair).next().map(|p| self.value(&p));
                Item::Syntax(SyntaxStmt {
                    version: version.expect("grammar: syntax has a string"),
                    span,
                })
            }
            Rule::info_stmt => Item::Info(InfoStmt {
                entries: children(pair).map(|p| self.key_value(p)).collect(),
                span,
            }),
            Rule::import_stmt => {
                let inner = children(pair).next().expect("grammar: import has a path");
                let (grouped, paths) = if inner.as_rule() == Rule::import_group {
                    (true, children(inner).map(|p| self.value(&p)).collect())
                } else {
                    (false, vec![self.value(&inner)])
                };
                Item::Import(ImportStmt {
                    grouped,
                    paths,
                    span,
                })
            }
            Rule::type_stmt => {
                let inner = children(pair).next().expect("grammar: type has a body");
                let (grouped, decls) = if inner.as_rule() == Rule::type_group {
                    (true, children(inner).map(|p| self.type_decl(p)).collect())
                } else {
                    (false, vec![self.type_decl(inner)])
                };
                Item::Type(TypeStmt {
                    grouped,
                    decls,
                    span,
                })
            }
            Rule::service_stmt => Item::Service(self.service(pair)),
            rule => unreachable!("grammar: unexpected top-level rule {rule:?}"),
        }
    }

    fn key_value(&self, pair: Pair<'_, Rule>) -> KeyValue {
        let span = self.span(&pair);
        let mut it = children(pair);
        let key = self.ident(&it.next().expect("grammar: entry has a key"));
        let value = self.value(&it.next().expect("grammar: entry has a value"));
        KeyValue { key, value, span }
    }

    fn type_decl(&self, pair: Pair<'_, Rule>) -> TypeDecl {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        // `children` drops punctuation, `=` included.
        let equals = pair
            .clone()
            .into_inner()
            .any(|p| p.as_rule() == Rule::equals);
        let mut it = children(pair).peekable();
        let name = self.ident(&it.next().expect("grammar: type has a name"));
        let kind = if rule == Rule::type_struct {
            let struct_keyword = it.next_if(|p| p.as_rule() == Rule::kw_struct).is_some();
            let body = it.next().expect("grammar: struct has a body");
            TypeDeclKind::Struct(self.struct_body(body, struct_keyword))
        } else {
            let target = it
                .find(|p| p.as_rule() == Rule::data_type)
                .expect("grammar: alias has a type");
            TypeDeclKind::Alias {
                equals,
                target: self.data_type(target),
            }
        };
        TypeDecl { name, kind, span }
    }

    fn struct_body(&self, pair: Pair<'_, Rule>, struct_keyword: bool) -> StructBody {
        StructBody {
            struct_keyword,
            span: self.span(&pair),
            fields: children(pair).map(|p| self.field(p)).collect(),
        }
    }

    fn field(&self, pair: Pair<'_, Rule>) -> Field {
        let span = self.span(&pair);
        let mut kind = None;
        let mut tag = None;
        for p in children(pair) {
            match p.as_rule() {
                Rule::named_field => {
                    let mut it = children(p);
                    let name = self.ident(&it.next().expect("grammar: field has a name"));
                    let ty = self.data_type(it.next().expect("grammar: field has a type"));
                    kind = Some(FieldKind::Named { name, ty });
                }
                Rule::embedded_field => {
                    let mut pointer = false;
                    let mut name = None;
                    for q in children(p) {
                        match q.as_rule() {
                            Rule::star => pointer = true,
                            _ => name = Some(self.ident(&q)),
                        }
                    }
                    kind = Some(FieldKind::Embedded {
                        pointer,
                        name: name.expect("grammar: embedded field has a name"),
                    });
                }
                Rule::tag => tag = Some(Tag::parse(p.as_str(), self.span(&p))),
                _ => {}
            }
        }
        Field {
            kind: kind.expect("grammar: field has a kind"),
            tag,
            span,
        }
    }

    fn data_type(&self, pair: Pair<'_, Rule>) -> TypeExpr {
        // `data_type` wraps exactly one alternative.
        let pair = if pair.as_rule() == Rule::data_type {
            children(pair)
                .next()
                .expect("grammar: data_type has one child")
        } else {
            pair
        };
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let text = pair.as_str();
        let mut it = children(pair).filter(|p| p.as_rule() != Rule::star);
        let kind = match rule {
            Rule::named_type => TypeKind::Named(text.to_string()),
            Rule::interface_type => TypeKind::Interface,
            Rule::pointer_type => TypeKind::Pointer(Box::new(self.operand(&mut it))),
            Rule::slice_type => TypeKind::Slice(Box::new(self.operand(&mut it))),
            Rule::map_type => {
                let key = self.operand(&mut it);
                TypeKind::Map(Box::new(key), Box::new(self.operand(&mut it)))
            }
            Rule::array_type => {
                let len = it.next().expect("grammar: array has a length");
                // The grammar allows only digits; a length too large for u64 saturates and the
                // validator reports it.
                let n = len.as_str().parse::<u64>().unwrap_or(u64::MAX);
                TypeKind::Array(n, Box::new(self.operand(&mut it)))
            }
            Rule::struct_type => {
                let mut struct_keyword = false;
                let mut body = None;
                for p in it {
                    match p.as_rule() {
                        Rule::kw_struct => struct_keyword = true,
                        _ => body = Some(p),
                    }
                }
                let body = body.expect("grammar: anonymous struct has a body");
                TypeKind::Struct(self.struct_body(body, struct_keyword))
            }
            rule => unreachable!("grammar: unexpected type rule {rule:?}"),
        };
        TypeExpr { kind, span }
    }

    fn operand<'i>(&self, it: &mut impl Iterator<Item = Pair<'i, Rule>>) -> TypeExpr {
        self.data_type(it.next().expect("grammar: type operand"))
    }

    fn service(&self, pair: Pair<'_, Rule>) -> ServiceStmt {
        let span = self.span(&pair);
        let mut server = None;
        let mut name = None;
        let mut items = Vec::new();
        for p in children(pair) {
            match p.as_rule() {
                Rule::at_server => server = Some(self.at_server(p)),
                Rule::service_name => name = Some(self.ident(&p)),
                Rule::service_item => items.push(self.service_item(p)),
                _ => {}
            }
        }
        ServiceStmt {
            server,
            name: name.expect("grammar: service has a name"),
            items,
            span,
        }
    }

    fn at_server(&self, pair: Pair<'_, Rule>) -> AtServer {
        let span = self.span(&pair);
        let entries = children(pair)
            .map(|entry| {
                let span = self.span(&entry);
                let mut it = children(entry);
                let key = self.ident(&it.next().expect("grammar: entry has a key"));
                let values = it
                    .next()
                    .map(|vs| children(vs).map(|v| self.value(&v)).collect())
                    .unwrap_or_default();
                ServerEntry { key, values, span }
            })
            .collect();
        AtServer { entries, span }
    }

    fn service_item(&self, pair: Pair<'_, Rule>) -> ServiceItem {
        let span = self.span(&pair);
        let mut doc = None;
        let mut handler = None;
        let mut route = None;
        for p in children(pair) {
            let pspan = self.span(&p);
            match p.as_rule() {
                Rule::at_doc => {
                    let parts: Vec<_> = children(p).collect();
                    doc = Some(match parts.first().map(|p| p.as_rule()) {
                        Some(Rule::string) | Some(Rule::raw_string) => {
                            AtDoc::Text(self.value(&parts[0]), pspan)
                        }
                        _ => AtDoc::Entries(
                            parts.into_iter().map(|p| self.key_value(p)).collect(),
                            pspan,
                        ),
                    });
                }
                Rule::at_handler => {
                    let id = children(p).next().expect("grammar: @handler has a name");
                    handler = Some(HandlerAnnotation::Handler(self.ident(&id), pspan));
                }
                Rule::at_server => handler = Some(HandlerAnnotation::Server(self.at_server(p))),
                Rule::route => route = Some(self.route(p)),
                _ => {}
            }
        }
        let route: Route = route.expect("grammar: service item has a route");
        ServiceItem {
            doc,
            handler: handler.expect("grammar: route has a handler annotation"),
            span: Span::new(span.start, route.span.end),
            route,
        }
    }

    fn route(&self, pair: Pair<'_, Rule>) -> Route {
        // pest's span for a rule ending in optional parts runs over the whitespace and comments
        // tried before them; the route ends where its last token does.
        let start = self.span(&pair).start;
        let end = pair
            .clone()
            .into_inner()
            .filter(|p| p.as_rule() != Rule::COMMENT)
            .map(|p| self.span(&p).end)
            .max()
            .unwrap_or(start);
        let span = Span::new(start, end);
        let mut method = None;
        let mut path = None;
        let mut request = None;
        let mut response = None;
        let mut after_returns = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::http_method => method = Some(self.ident(&p)),
                Rule::path => path = Some(self.ident(&p)),
                Rule::kw_returns => after_returns = true,
                Rule::body if after_returns => response = Some(self.body(p)),
                Rule::body => request = Some(self.body(p)),
                _ => {}
            }
        }
        Route {
            method: method.expect("grammar: route has a method"),
            path: path.expect("grammar: route has a path"),
            request,
            response,
            span,
        }
    }

    fn body(&self, pair: Pair<'_, Rule>) -> Body {
        let span = self.span(&pair);
        let ty = children(pair)
            .find(|p| p.as_rule() == Rule::data_type)
            .map(|p| self.data_type(p));
        Body { ty, span }
    }
}
