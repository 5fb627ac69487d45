//! `.proto` errors, reported like `.api` errors: `path:line:column: message`, the source line and
//! a marker. protox's errors already carry miette source spans; this adds the location header.

use std::fmt;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceCode};

/// Why a `.proto` file could not be used.
#[derive(Debug)]
pub enum ProtoError {
    /// A parse or semantic error from protox, with its source.
    Compile(Box<protox::Error>),
    /// Reading or writing failed.
    Io(String),
}

impl From<protox::Error> for ProtoError {
    fn from(e: protox::Error) -> Self {
        ProtoError::Compile(Box::new(e))
    }
}

impl ProtoError {
    /// `path:line:column` of the first label, when the error has one.
    pub fn location(&self) -> Option<String> {
        let ProtoError::Compile(e) = self else {
            return None;
        };
        let source = e.source_code()?;
        let label = e.labels()?.next()?;
        let contents = source.read_span(label.inner(), 0, 0).ok()?;
        let name = contents
            .name()
            .map(str::to_string)
            .or_else(|| e.file().map(str::to_string))?;
        Some(format!(
            "{name}:{}:{}",
            contents.line() + 1,
            contents.column() + 1
        ))
    }

    /// The error as the user sees it.
    pub fn render(&self, color: bool) -> String {
        match self {
            ProtoError::Io(message) => format!("error: {message}\n"),
            ProtoError::Compile(e) => {
                let theme = if color {
                    GraphicalTheme::unicode()
                } else {
                    GraphicalTheme::unicode_nocolor()
                };
                let handler = GraphicalReportHandler::new_themed(theme)
                    .with_width(400)
                    .with_links(false);
                let header = match (self.location(), e.file()) {
                    (Some(loc), _) => format!("{loc}: {e}"),
                    (None, Some(file)) => format!("{file}: {e}"),
                    (None, None) => e.to_string(),
                };
                let mut out = String::new();
                let located = Located { header, inner: e };
                if handler.render_report(&mut out, &located).is_err() {
                    out = format!("{}\n", located.header);
                }
                out
            }
        }
    }
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::Compile(e) => match self.location() {
                Some(loc) => write!(f, "{loc}: {e}"),
                None => write!(f, "{e}"),
            },
            ProtoError::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ProtoError {}

/// protox's diagnostic with a `path:line:column:` header.
struct Located<'a> {
    header: String,
    inner: &'a protox::Error,
}

impl fmt::Debug for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header)
    }
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header)
    }
}

impl std::error::Error for Located<'_> {}

impl Diagnostic for Located<'_> {
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.help()
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.inner.source_code()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.inner.labels()
    }
    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        self.inner.related()
    }
}
