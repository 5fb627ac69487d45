//! User-facing errors and warnings. Each names `path:line:column`, shows the source line and
//! marks the offending text; rendering is miette's, so every front end reports alike.

use std::fmt;
use std::path::{Path, PathBuf};

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};

use crate::api::ast::Span;

/// Index of a file in a [`SourceMap`].
pub type FileId = usize;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The input is rejected.
    Error,
    /// Reported, but the input is accepted.
    Warning,
}

/// A place in a source file, with what to say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The file.
    pub file: FileId,
    /// The bytes.
    pub span: Span,
    /// What to print under the marker; may be empty.
    pub message: String,
}

/// One error or warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// One line saying what is wrong.
    pub message: String,
    /// Where; `None` for problems with no place (an unreadable file).
    pub primary: Option<Label>,
    /// Other places worth showing (the first definition of a duplicate, say).
    pub notes: Vec<Label>,
    /// How to fix it, when that is known.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span` in `file`.
    pub fn error(file: FileId, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            primary: Some(Label {
                file,
                span,
                message: String::new(),
            }),
            notes: Vec::new(),
            help: None,
        }
    }

    /// A warning at `span` in `file`.
    pub fn warning(file: FileId, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, span, message)
        }
    }

    /// An error with no source position.
    pub fn bare(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            primary: None,
            notes: Vec::new(),
            help: None,
        }
    }

    /// Adds text under the primary marker.
    pub fn with_label(mut self, text: impl Into<String>) -> Self {
        if let Some(label) = &mut self.primary {
            label.message = text.into();
        }
        self
    }

    /// Adds another place to show.
    pub fn with_note(mut self, file: FileId, span: Span, text: impl Into<String>) -> Self {
        self.notes.push(Label {
            file,
            span,
            message: text.into(),
        });
        self
    }

    /// Adds a hint.
    pub fn with_help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// One source file's name and text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user would write it.
    pub path: PathBuf,
    /// The contents.
    pub text: String,
}

/// Every file read during a run, so diagnostics can show any of them.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// Adds a file and returns its id.
    pub fn add(&mut self, path: impl Into<PathBuf>, text: String) -> FileId {
        self.files.push(SourceFile {
            path: path.into(),
            text,
        });
        self.files.len() - 1
    }

    /// The file with id `id`.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    /// Every file.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// 1-based line and column (in characters) of byte `offset` of file `id`.
    pub fn line_col(&self, id: FileId, offset: usize) -> (usize, usize) {
        let text = &self.files[id].text;
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// `path:line:column` for a label.
    pub fn location(&self, label: &Label) -> String {
        let (line, col) = self.line_col(label.file, label.span.start);
        format!(
            "{}:{line}:{col}",
            display_path(&self.files[label.file].path)
        )
    }

    /// The diagnostic as the user sees it: a `path:line:col: message` header, the source line
    /// and a marker, then notes and help.
    pub fn render(&self, diagnostic: &Diagnostic, color: bool) -> String {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(400)
            .with_links(false);
        let mut out = String::new();
        let report = Report::new(self, diagnostic);
        if handler.render_report(&mut out, &report).is_err() {
            out = format!("{report}\n");
        }
        out
    }

    /// Every diagnostic rendered, errors and warnings in the order given.
    pub fn render_all(&self, diagnostics: &[Diagnostic], color: bool) -> String {
        diagnostics
            .iter()
            .map(|d| self.render(d, color))
            .collect::<Vec<_>>()
            .join("")
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Paths print with forward slashes so output is the same on every machine.
pub fn display_path(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// Adapts a [`Diagnostic`] to miette. Notes in the primary file become extra labels; notes in
/// other files become related reports with their own source.
struct Report {
    header: String,
    severity: Severity,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
    related: Vec<Report>,
}

impl Report {
    fn new(sources: &SourceMap, d: &Diagnostic) -> Report {
        let Some(primary) = &d.primary else {
            return Report {
                header: d.message.clone(),
                severity: d.severity,
                source: None,
                labels: Vec::new(),
                help: d.help.clone(),
                related: Vec::new(),
            };
        };
        let file = sources.file(primary.file);
        let mut labels = vec![labeled(&file.text, primary, true)];
        let mut related = Vec::new();
        for note in &d.notes {
            if note.file == primary.file {
                labels.push(labeled(&file.text, note, false));
            } else {
                let other = sources.file(note.file);
                related.push(Report {
                    header: format!("{}: {}", sources.location(note), note.message),
                    severity: Severity::Warning,
                    source: Some(NamedSource::new(
                        display_path(&other.path),
                        other.text.clone(),
                    )),
                    labels: vec![labeled(&other.text, note, false)],
                    help: None,
                    related: Vec::new(),
                });
            }
        }
        Report {
            header: format!("{}: {}", sources.location(primary), d.message),
            severity: d.severity,
            source: Some(NamedSource::new(
                display_path(&file.path),
                file.text.clone(),
            )),
            labels,
            help: d.help.clone(),
            related,
        }
    }
}

fn labeled(text: &str, label: &Label, primary: bool) -> LabeledSpan {
    let start = floor_char_boundary(text, label.span.start.min(text.len()));
    let end = floor_char_boundary(text, label.span.end.clamp(start, text.len()));
    let message = (!label.message.is_empty()).then(|| label.message.clone());
    if primary {
        LabeledSpan::new_primary_with_span(message, (start, end - start))
    } else {
        LabeledSpan::new_with_span(message, (start, end - start))
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        (!self.labels.is_empty()).then(|| Box::new(self.labels.iter().cloned()) as Box<_>)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        (!self.related.is_empty())
            .then(|| Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)) as Box<_>)
    }
}
