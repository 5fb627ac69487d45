//! `api format`: the syntax tree printed back in one canonical layout.
//!
//! Tabs indent; fields of a struct line up in columns (name, type, tag) the way gofmt aligns
//! them; `info` and `@server` keys line up too; top-level statements are separated by one blank
//! line; a blank line the author left between fields or routes is kept (several collapse to one).
//! Every comment is printed again: a comment on its own line stays above the node that follows
//! it, and a comment after code on the same line stays at the end of that line.
//! `format(format(x)) == format(x)`, and the formatted file parses to the same tree.

use super::ast::*;

/// Formats a file that parsed without errors. `text` is the source the tree came from.
pub fn format(file: &ApiFile, text: &str) -> String {
    let mut p = Printer {
        text,
        comments: &file.comments,
        next_comment: 0,
        out: String::new(),
        indent: 0,
        last_end: 0,
        block_opened_at: None,
    };
    for (i, item) in file.items.iter().enumerate() {
        if i > 0 {
            p.blank_line();
        }
        p.comments_before(item.span().start, i > 0);
        match item {
            Item::Syntax(s) => {
                p.line_start();
                p.push(&format!("syntax = {}", s.version.raw));
                p.line_end(s.span.end);
            }
            Item::Info(info) => p.key_values("info", &info.entries, info.span),
            Item::Import(import) => p.import(import),
            Item::Type(stmt) => p.type_stmt(stmt),
            Item::Service(service) => p.service(service),
        }
    }
    p.comments_before(usize::MAX, true);
    let mut out = p.out;
    while out.ends_with("\n\n") {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

struct Printer<'a> {
    text: &'a str,
    comments: &'a [Comment],
    next_comment: usize,
    out: String,
    indent: usize,
    /// The source offset of the last thing printed, to find blank lines and trailing comments.
    last_end: usize,
    /// `out.len()` right after a line that opens a block (`{` or `(`) and holds nothing else:
    /// no blank line follows such a line. Recorded, not read back from `out`, because a comment
    /// or a value can end with the same characters.
    block_opened_at: Option<usize>,
}

/// What the line being ended holds so far, for the comments appended to it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// Code, perhaps with block comments: a comment may follow on the same line.
    Code,
    /// A `//` comment, which runs to the end of the line.
    LineComment,
    /// Comments continued on lines of their own.
    Broken,
}

/// One struct field laid out as columns.
struct FieldRow<'f> {
    name: String,
    ty: String,
    tag: String,
    field: &'f Field,
}

impl Printer<'_> {
    fn line_start(&mut self) {
        for _ in 0..self.indent {
            self.out.push('\t');
        }
    }

    fn push(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// Ends the current line, first appending a comment that sat on the same source line after
    /// the node ending at `end`.
    fn line_end(&mut self, end: usize) {
        self.end_line(end);
    }

    /// Ends a line that opens a block (`{`, `(`), one indent level deeper after it.
    fn open_block(&mut self, end: usize) {
        self.indent += 1;
        if self.end_line(end) == LineState::Code {
            self.block_opened_at = Some(self.out.len());
        }
    }

    /// [`Self::line_end`], telling what the line ended with.
    fn end_line(&mut self, end: usize) -> LineState {
        self.last_end = self.boundary(self.last_end.max(end));
        let mut line = LineState::Code;
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start < self.last_end {
                // A comment inside the node just printed (e.g. between a method and its path):
                // keep it, at the end of this line.
                self.append_comment(c.text.as_str(), &mut line);
                self.next_comment += 1;
                continue;
            }
            // Only a comment that follows on the same line with nothing but spacing (or the
            // opener this line ends with) before it trails this line; one after more code (a
            // field after `{`) belongs to that code.
            let between = &self.text[self.last_end..c.span.start];
            if !between
                .chars()
                .all(|ch| matches!(ch, ' ' | '\t' | '\u{FEFF}' | '{' | '('))
            {
                break;
            }
            self.append_comment(c.text.as_str(), &mut line);
            self.last_end = c.span.end;
            self.next_comment += 1;
        }
        self.out.push('\n');
        line
    }

    /// Appends a comment to the line being ended; after a `//` comment, which runs to the end
    /// of the line, the next one starts a line of its own (it would be swallowed otherwise),
    /// at the current indent: openers (`{`, `(`) raise the indent before ending their line, so
    /// such a comment sits where the next run puts it, inside the block. At the top level the
    /// next run sees such comments as standing between statements, so they get the blank line
    /// that separates statements.
    fn append_comment(&mut self, text: &str, line: &mut LineState) {
        match line {
            LineState::Code => self.out.push(' '),
            LineState::LineComment | LineState::Broken => {
                if *line == LineState::LineComment && self.indent == 0 {
                    self.out.push('\n');
                }
                self.out.push('\n');
                self.line_start();
                // Once the line is broken, each further comment takes a line of its own, as
                // the comments inside a block are printed.
                *line = LineState::Broken;
            }
        }
        self.out.push_str(text);
        if *line == LineState::Code && text.starts_with("//") {
            *line = LineState::LineComment;
        }
    }

    /// `offset` moved back to a character boundary (and into the text), so slicing never panics
    /// whatever whitespace (a byte-order mark, say) sits between tokens.
    fn boundary(&self, offset: usize) -> usize {
        let mut i = offset.min(self.text.len());
        while !self.text.is_char_boundary(i) {
            i -= 1;
        }
        i
    }

    fn blank_line(&mut self) {
        if !self.out.is_empty()
            && !self.out.ends_with("\n\n")
            && self.block_opened_at != Some(self.out.len())
        {
            self.out.push('\n');
        }
    }

    /// Keeps one blank line where the author left at least one before source offset `pos`.
    fn gap(&mut self, pos: usize) {
        let pos = self.boundary(pos);
        if self.last_end < pos && line_breaks(&self.text[self.last_end..pos]) >= 2 {
            self.blank_line();
        }
    }

    /// Prints, each on its own line, the comments that start before `pos`.
    fn comments_before(&mut self, pos: usize, keep_gaps: bool) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start >= pos {
                break;
            }
            if keep_gaps {
                self.gap(c.span.start);
            }
            self.line_start();
            self.push(&c.text);
            self.out.push('\n');
            self.last_end = self.boundary(self.last_end.max(c.span.end));
            self.next_comment += 1;
        }
        if keep_gaps && pos != usize::MAX {
            self.gap(pos);
        }
    }

    /// Whether a comment not printed yet starts before `pos` (inside the node ending there).
    fn comment_before(&self, pos: usize) -> bool {
        self.comments
            .get(self.next_comment)
            .is_some_and(|c| c.span.start < pos)
    }

    /// `name (` key: value ... `)` with the values lined up.
    fn key_values(&mut self, name: &str, entries: &[KeyValue], span: Span) {
        self.line_start();
        if entries.is_empty() && !self.comment_before(span.end) {
            self.push(&format!("{name} ()"));
            self.line_end(span.end);
            return;
        }
        self.push(&format!("{name} ("));
        let first = entries.first().map_or(span.end, |e| e.span.start);
        self.open_block(first.min(span.start + name.len()));
        let width = entries
            .iter()
            .map(|e| e.key.name.chars().count())
            .max()
            .unwrap_or(0);
        for e in entries {
            self.comments_before(e.span.start, true);
            self.line_start();
            let pad = width - e.key.name.chars().count();
            self.push(&format!(
                "{}:{} {}",
                e.key.name,
                " ".repeat(pad),
                e.value.raw
            ));
            self.line_end(e.span.end);
        }
        self.comments_before(span.end - 1, true);
        self.indent -= 1;
        self.line_start();
        self.push(")");
        self.line_end(span.end);
    }

    fn import(&mut self, import: &ImportStmt) {
        self.line_start();
        if !import.grouped {
            self.push(&format!("import {}", import.paths[0].raw));
            self.line_end(import.span.end);
            return;
        }
        self.push("import (");
        self.open_block(import.span.start + "import".len());
        for path in &import.paths {
            self.comments_before(path.span.start, true);
            self.line_start();
            self.push(&path.raw);
            self.line_end(path.span.end);
        }
        self.comments_before(import.span.end - 1, true);
        self.indent -= 1;
        self.line_start();
        self.push(")");
        self.line_end(import.span.end);
    }

    fn type_stmt(&mut self, stmt: &TypeStmt) {
        if !stmt.grouped {
            self.line_start();
            self.push("type ");
            self.type_decl(&stmt.decls[0]);
            return;
        }
        self.line_start();
        self.push("type (");
        self.open_block(stmt.span.start + "type".len());
        for (i, decl) in stmt.decls.iter().enumerate() {
            self.comments_before(decl.span.start, i > 0);
            self.line_start();
            self.type_decl(decl);
        }
        self.comments_before(stmt.span.end - 1, true);
        self.indent -= 1;
        self.line_start();
        self.push(")");
        self.line_end(stmt.span.end);
    }

    /// The declaration after `type ` (or its indent inside a group); ends its last line.
    fn type_decl(&mut self, decl: &TypeDecl) {
        self.push(&decl.name.name);
        match &decl.kind {
            TypeDeclKind::Struct(body) => {
                self.push(" ");
                self.struct_body(body);
                self.line_end(body.span.end);
            }
            TypeDeclKind::Alias { equals, target } => {
                self.push(if *equals { " = " } else { " " });
                self.type_expr(target);
                self.line_end(decl.span.end);
            }
        }
    }

    /// `{ fields }` or `struct { fields }`, leaving the line open after `}`.
    fn struct_body(&mut self, body: &StructBody) {
        if body.struct_keyword {
            self.push("struct ");
        }
        if body.fields.is_empty() && !self.comment_before(body.span.end) {
            self.push("{}");
            return;
        }
        self.push("{");
        self.open_block(body.span.start + 1);
        let mut section: Vec<FieldRow<'_>> = Vec::new();
        for (i, field) in body.fields.iter().enumerate() {
            let starts_section =
                i == 0 || self.has_gap_or_comment(body.fields[i - 1].span.end, field.span.start);
            if starts_section || is_multiline(field) {
                self.flush_fields(&mut section);
            }
            if is_multiline(field) {
                self.comments_before(field.span.start, i > 0);
                self.multiline_field(field);
            } else {
                if starts_section {
                    self.comments_before(field.span.start, i > 0);
                }
                section.push(self.field_row(field));
            }
        }
        self.flush_fields(&mut section);
        self.comments_before(body.span.end - 1, true);
        self.indent -= 1;
        self.line_start();
        self.push("}");
        self.last_end = self.last_end.max(body.span.end);
    }

    /// Whether a blank line or a comment separates two fields: either ends a column section.
    fn has_gap_or_comment(&self, prev_end: usize, start: usize) -> bool {
        let start = self.boundary(start);
        let between = &self.text[self.boundary(prev_end.min(start))..start];
        // Skip the rest of the previous field's line: a trailing comment does not split columns.
        let after_line = after_line_break(between).unwrap_or("");
        after_line
            .trim_start_matches([' ', '\t'])
            .starts_with(['\n', '\r'])
            || after_line.contains("//")
            || after_line.contains("/*")
    }

    fn field_row<'f>(&self, field: &'f Field) -> FieldRow<'f> {
        let (name, ty) = match &field.kind {
            FieldKind::Named { name, ty } => (
                name.name.clone(),
                self.type_expr_inline(ty).unwrap_or_default(),
            ),
            FieldKind::Embedded { pointer, name } => (
                format!("{}{}", if *pointer { "*" } else { "" }, name.name),
                String::new(),
            ),
        };
        let tag = field
            .tag
            .as_ref()
            .map(|t| format!("`{}`", t.raw))
            .unwrap_or_default();
        FieldRow {
            name,
            ty,
            tag,
            field,
        }
    }

    fn flush_fields(&mut self, section: &mut Vec<FieldRow<'_>>) {
        let name_w = section
            .iter()
            .filter(|r| !r.ty.is_empty())
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(0);
        let ty_w = section
            .iter()
            .filter(|r| !r.tag.is_empty())
            .map(|r| r.ty.chars().count())
            .max()
            .unwrap_or(0);
        for row in section.drain(..) {
            self.line_start();
            let mut line = row.name.clone();
            if !row.ty.is_empty() {
                line.push_str(&" ".repeat(name_w - row.name.chars().count() + 1));
                line.push_str(&row.ty);
            }
            if !row.tag.is_empty() {
                let col = if row.ty.is_empty() {
                    row.name.chars().count()
                } else {
                    name_w + 1 + row.ty.chars().count()
                };
                let target = if row.ty.is_empty() {
                    col
                } else {
                    name_w + 1 + ty_w
                };
                line.push_str(&" ".repeat(target.saturating_sub(col) + 1));
                line.push_str(&row.tag);
            }
            self.push(&line);
            self.line_end(row.field.span.end);
        }
    }

    /// A field whose type spans lines (an anonymous struct somewhere inside).
    fn multiline_field(&mut self, field: &Field) {
        self.line_start();
        if let FieldKind::Named { name, ty } = &field.kind {
            self.push(&name.name);
            self.push(" ");
            self.type_expr(ty);
        }
        if let Some(tag) = &field.tag {
            self.push(&format!(" `{}`", tag.raw));
        }
        self.line_end(field.span.end);
    }

    /// A type on one line, or `None` when it holds a non-empty anonymous struct.
    fn type_expr_inline(&self, ty: &TypeExpr) -> Option<String> {
        Some(match &ty.kind {
            TypeKind::Named(n) => n.clone(),
            TypeKind::Pointer(inner) => format!("*{}", self.type_expr_inline(inner)?),
            TypeKind::Slice(inner) => format!("[]{}", self.type_expr_inline(inner)?),
            TypeKind::Array(n, inner) => format!("[{n}]{}", self.type_expr_inline(inner)?),
            TypeKind::Map(k, v) => format!(
                "map[{}]{}",
                self.type_expr_inline(k)?,
                self.type_expr_inline(v)?
            ),
            TypeKind::Interface => "interface{}".to_string(),
            TypeKind::Struct(body) if body.fields.is_empty() => {
                if body.struct_keyword {
                    "struct {}".into()
                } else {
                    "{}".into()
                }
            }
            TypeKind::Struct(_) => return None,
        })
    }

    /// Any type, anonymous structs as indented blocks; leaves the line open.
    fn type_expr(&mut self, ty: &TypeExpr) {
        match self.type_expr_inline(ty) {
            Some(s) => self.push(&s),
            None => self.type_expr_block(ty),
        }
    }

    fn type_expr_block(&mut self, ty: &TypeExpr) {
        match &ty.kind {
            TypeKind::Pointer(inner) => {
                self.push("*");
                self.type_expr_block(inner);
            }
            TypeKind::Slice(inner) => {
                self.push("[]");
                self.type_expr_block(inner);
            }
            TypeKind::Array(n, inner) => {
                self.push(&format!("[{n}]"));
                self.type_expr_block(inner);
            }
            TypeKind::Map(k, v) => {
                self.push("map[");
                self.type_expr(k);
                self.push("]");
                self.type_expr(v);
            }
            TypeKind::Struct(body) => self.struct_body(body),
            TypeKind::Named(_) | TypeKind::Interface => self.type_expr(ty),
        }
    }

    fn service(&mut self, service: &ServiceStmt) {
        if let Some(server) = &service.server {
            self.at_server(server);
            self.comments_before(service.name.span.start, false);
        }
        self.line_start();
        self.push(&format!("service {} {{", service.name.name));
        self.open_block(service.name.span.end);
        for (i, item) in service.items.iter().enumerate() {
            self.comments_before(item.span.start, i > 0);
            self.service_item(item);
        }
        self.comments_before(service.span.end - 1, true);
        self.indent -= 1;
        self.line_start();
        self.push("}");
        self.line_end(service.span.end);
    }

    fn at_server(&mut self, server: &AtServer) {
        self.line_start();
        if server.entries.is_empty() && !self.comment_before(server.span.end) {
            self.push("@server ()");
            self.line_end(server.span.end);
            return;
        }
        self.push("@server (");
        let first = server
            .entries
            .first()
            .map_or(server.span.end, |e| e.span.start);
        self.open_block(first.min(server.span.start + "@server".len()));
        let width = server
            .entries
            .iter()
            .map(|e| e.key.name.chars().count())
            .max()
            .unwrap_or(0);
        for e in &server.entries {
            self.comments_before(e.span.start, true);
            self.line_start();
            let values: Vec<&str> = e.values.iter().map(|v| v.raw.as_str()).collect();
            let pad = width - e.key.name.chars().count();
            self.push(&format!(
                "{}:{} {}",
                e.key.name,
                " ".repeat(pad),
                values.join(", ")
            ));
            self.line_end(e.span.end);
        }
        self.comments_before(server.span.end - 1, true);
        self.indent -= 1;
        self.line_start();
        self.push(")");
        self.line_end(server.span.end);
    }

    fn service_item(&mut self, item: &ServiceItem) {
        match &item.doc {
            Some(AtDoc::Text(value, span)) => {
                self.line_start();
                self.push(&format!("@doc {}", value.raw));
                self.line_end(span.end);
            }
            Some(AtDoc::Entries(entries, span)) => self.key_values("@doc", entries, *span),
            None => {}
        }
        match &item.handler {
            HandlerAnnotation::Handler(name, span) => {
                self.comments_before(span.start, false);
                self.line_start();
                self.push(&format!("@handler {}", name.name));
                self.line_end(span.end);
            }
            HandlerAnnotation::Server(server) => {
                self.comments_before(server.span.start, false);
                self.at_server(server);
            }
        }
        let route = &item.route;
        self.comments_before(route.span.start, false);
        self.line_start();
        self.push(&format!("{} {}", route.method.name, route.path.name));
        if let Some(req) = &route.request {
            self.push(" ");
            self.body(req);
        }
        if let Some(resp) = &route.response {
            self.push(" returns ");
            self.body(resp);
        }
        self.line_end(route.span.end);
    }
}

impl Printer<'_> {
    fn body(&mut self, body: &Body) {
        self.push("(");
        if let Some(ty) = &body.ty {
            self.type_expr(ty);
        }
        self.push(")");
    }
}

/// How many line breaks `s` holds, counted as the grammar counts them: `\r\n`, `\n` and a lone
/// `\r` each end a line.
fn line_breaks(s: &str) -> usize {
    s.matches('\n').count() + s.matches('\r').count() - s.matches("\r\n").count()
}

/// The text after the first line break of `s` (see [`line_breaks`]), if it has one.
fn after_line_break(s: &str) -> Option<&str> {
    let i = s.find(['\n', '\r'])?;
    let rest = &s[i + 1..];
    Some(if s[i..].starts_with("\r\n") {
        &rest[1..]
    } else {
        rest
    })
}

/// Whether a field's type contains a non-empty anonymous struct, which prints over several lines.
fn is_multiline(field: &Field) -> bool {
    fn multi(ty: &TypeExpr) -> bool {
        match &ty.kind {
            TypeKind::Struct(body) => !body.fields.is_empty(),
            TypeKind::Pointer(i) | TypeKind::Slice(i) | TypeKind::Array(_, i) => multi(i),
            TypeKind::Map(k, v) => multi(k) || multi(v),
            _ => false,
        }
    }
    matches!(&field.kind, FieldKind::Named { ty, .. } if multi(ty))
}
