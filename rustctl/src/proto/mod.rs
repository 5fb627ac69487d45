//! The `.proto` front end: protox parses and checks in pure Rust (no `protoc`), prost and tonic
//! generate the message and service code in-process, and the services lower into the model.

pub mod diagnostics;
pub mod lower;
pub mod names;
pub mod resolve;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use prost_types::FileDescriptorSet;

pub use diagnostics::ProtoError;

/// A `.proto` file compiled with its imports.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The file the user named.
    pub file: PathBuf,
    /// Every file involved, imports (including well-known types) first.
    pub descriptors: FileDescriptorSet,
    /// The descriptor of `file` itself, by its name in `descriptors`.
    pub root: String,
    /// 1-based line and column of each element of the root file, by descriptor path
    /// (`[6, i]` is service `i`, `[6, i, 2, j]` its method `j`).
    pub locations: HashMap<Vec<i32>, (i32, i32)>,
}

/// Parses and checks `file`; imports resolve against the file's directory, then `includes`,
/// then the bundled well-known types (`google/protobuf/timestamp.proto` ...).
pub fn compile(file: &Path, includes: &[PathBuf]) -> Result<Compiled, ProtoError> {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut paths = vec![dir];
    paths.extend(includes.iter().cloned());
    let mut resolver = protox::file::ChainFileResolver::new();
    resolver.add(resolve::ConfinedIncludes::new(&paths));
    resolver.add(protox::file::GoogleFileResolver::new());
    compile_with(resolver, file)
}

/// Compiles `text` as the file `name`, importing only the well-known types: for fuzzing and
/// tests, with the same checks as files read from disk.
pub fn compile_str(name: &str, text: &str) -> Result<Compiled, ProtoError> {
    let mut resolver = protox::file::ChainFileResolver::new();
    resolver.add(resolve::InMemory::new(name, text));
    resolver.add(protox::file::GoogleFileResolver::new());
    compile_with(resolver, Path::new(name))
}

fn compile_with(
    resolver: impl protox::file::FileResolver + 'static,
    file: &Path,
) -> Result<Compiled, ProtoError> {
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler
        .include_imports(true)
        .include_source_info(true)
        .open_file(file)
        .map_err(ProtoError::from)?;
    let root = compiler
        .files()
        .last()
        .map(|f| f.name().to_string())
        .unwrap_or_default();
    let mut descriptors = compiler.file_descriptor_set();
    // Locations are kept for the root file's diagnostics only: comments never reach
    // generated code, and the embedded descriptor set stays small.
    let mut locations = HashMap::new();
    for f in &mut descriptors.file {
        let info = f.source_code_info.take();
        if f.name.as_deref() == Some(root.as_str()) {
            for loc in info.into_iter().flat_map(|i| i.location) {
                if let [line, column, ..] = loc.span[..] {
                    locations.insert(loc.path, (line + 1, column + 1));
                }
            }
        }
    }
    Ok(Compiled {
        file: file.to_path_buf(),
        descriptors,
        root,
        locations,
    })
}

/// The prost messages and tonic server and client code for `compiled`, produced in-process:
/// `(file name, contents)` pairs, `mod.rs` first, which includes one file per package.
pub fn generate_code(compiled: &Compiled) -> Result<Vec<(String, String)>, ProtoError> {
    let out = tempfile::tempdir().map_err(|e| ProtoError::Io(e.to_string()))?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(false)
        .emit_rerun_if_changed(false)
        .include_file("mod.rs")
        .out_dir(out.path())
        .compile_fds(compiled.descriptors.clone())
        .map_err(|e| ProtoError::Io(format!("code generation failed: {e}")))?;
    let mut files = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(out.path())
        .map_err(|e| ProtoError::Io(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path).map_err(|e| ProtoError::Io(e.to_string()))?;
        files.push((name, text));
    }
    files.sort_by_key(|(name, _)| name != "mod.rs");
    Ok(files)
}
