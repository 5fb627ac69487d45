//! A Dockerfile followed outside a container, for the instructions rustctl's template writes.
//!
//! Each stage gets a directory standing for its `/`; `FROM <stage>` starts from a copy of that
//! stage's directory, `FROM <image>` from an empty one (what an image brings, a toolchain or
//! glibc, is this machine's). `COPY` copies from the build context (less what its ignore file
//! leaves out, as `docker build` sends it) or from an earlier stage's directory; `RUN` runs its
//! text with `sh -c` in the stage's WORKDIR. Anything this does not follow fails loudly, so a
//! Dockerfile the test cannot follow never passes by being skipped.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What a stage's instructions have set, and the directory standing for its `/`.
#[derive(Clone)]
pub struct Stage {
    pub name: String,
    pub root: PathBuf,
    pub workdir: String,
    pub env: Vec<(String, String)>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub user: Option<String>,
}

impl Stage {
    /// `path` in the stage's filesystem (a relative one from its WORKDIR).
    pub fn path(&self, path: &str) -> PathBuf {
        let abs = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{}/{path}", self.workdir)
        };
        let parts = components(&abs).unwrap_or_else(|| panic!("{path}: `..` is not followed"));
        parts.iter().fold(self.root.clone(), |p, part| p.join(part))
    }
}

/// What following a Dockerfile takes from outside it.
pub struct Build<'a> {
    /// Names the Dockerfile in messages.
    pub what: &'a str,
    pub context: &'a Path,
    pub ignore: &'a Ignore,
    /// Where the stages' directories go (emptied first).
    pub stages: PathBuf,
    /// The cargo target directory mounted at `target/` where a build runs, shared by the
    /// Dockerfiles followed (as a BuildKit cache mount would be).
    pub cache: &'a Path,
    /// The environment `RUN` adds to this process's.
    pub env: Vec<(OsString, OsString)>,
    /// How the tool a `RUN cargo install` line installs is installed here instead.
    pub install_hint: String,
}

/// Variables of the process running the tests that would steer the Dockerfile's builds away
/// from what they say (a build in a container sees none of them).
const NOT_IN_A_CONTAINER: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
];

/// Follows `dockerfile` and returns its last stage.
pub fn follow(dockerfile: &str, b: &Build) -> Stage {
    if b.stages.exists() {
        std::fs::remove_dir_all(&b.stages).unwrap();
    }
    let mut done: Vec<Stage> = Vec::new();
    let mut current: Option<Stage> = None;
    for line in dockerfile.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        assert!(
            !line.ends_with('\\'),
            "{}: a continued line is not followed: {line}",
            b.what
        );
        let (op, arg) = line.split_once(' ').unwrap_or((line, ""));
        let arg = arg.trim();
        if op == "FROM" {
            done.extend(current.take());
            let words: Vec<&str> = arg.split_whitespace().collect();
            let (base, name) = match words.as_slice() {
                [base] => (*base, done.len().to_string()),
                [base, kw, name] if kw.eq_ignore_ascii_case("as") => (*base, name.to_string()),
                _ => panic!("{}: FROM {arg}: not followed", b.what),
            };
            let root = b.stages.join(format!("{}-{name}", done.len()));
            std::fs::create_dir_all(&root).unwrap();
            current = Some(match done.iter().find(|s| s.name == base) {
                Some(from) => {
                    copy_tree(&from.root, &root);
                    Stage {
                        name,
                        root,
                        ..from.clone()
                    }
                }
                None => Stage {
                    name,
                    root,
                    workdir: "/".into(),
                    env: Vec::new(),
                    entrypoint: Vec::new(),
                    cmd: Vec::new(),
                    user: None,
                },
            });
            continue;
        }
        let stage = current
            .as_mut()
            .unwrap_or_else(|| panic!("{}: {op} before FROM", b.what));
        let json = |a: &str| -> Vec<String> {
            serde_json::from_str(a)
                .unwrap_or_else(|e| panic!("{}: {op} {a}: not the exec form: {e}", b.what))
        };
        match op {
            "WORKDIR" => {
                stage.workdir = if arg.starts_with('/') {
                    arg.to_string()
                } else {
                    format!("{}/{arg}", stage.workdir)
                };
                std::fs::create_dir_all(stage.path(".")).unwrap();
            }
            "ENV" => {
                let (k, v) = arg
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{}: ENV {arg}: not KEY=value", b.what));
                assert!(
                    !v.contains([' ', '"', '\'', '$']),
                    "{}: ENV {arg}: quoting and expansion are not followed",
                    b.what
                );
                stage.env.push((k.to_string(), v.to_string()));
            }
            "COPY" => copy(stage, &done, arg, b),
            "RUN" => run(stage, arg, b),
            "ENTRYPOINT" => stage.entrypoint = json(arg),
            "CMD" => stage.cmd = json(arg),
            "USER" => stage.user = Some(arg.to_string()),
            // The ports are read from the config, which the test points at free ones.
            "EXPOSE" => {}
            other => panic!("{}: {other} is not followed", b.what),
        }
    }
    current.unwrap_or_else(|| panic!("{}: no FROM", b.what))
}

fn copy(stage: &Stage, done: &[Stage], arg: &str, b: &Build) {
    let mut words: Vec<&str> = arg.split_whitespace().collect();
    let from = match words
        .first()
        .copied()
        .and_then(|w| w.strip_prefix("--from="))
    {
        Some(name) => {
            words.remove(0);
            let stage = done.iter().find(|s| s.name == name);
            Some(stage.unwrap_or_else(|| panic!("{}: COPY --from={name}: no such stage", b.what)))
        }
        None => None,
    };
    assert!(
        !words.iter().any(|w| w.starts_with("--")),
        "{}: COPY {arg}: a flag that is not followed",
        b.what
    );
    let (dest, sources) = words
        .split_last()
        .filter(|(_, s)| !s.is_empty())
        .unwrap_or_else(|| panic!("{}: COPY {arg}: no source", b.what));
    let into_dir = dest.ends_with('/') || sources.len() > 1;
    let dest = stage.path(dest);
    for src in sources {
        let (source, in_context) = match from {
            // From another stage: its path from that stage's `/`, symlinks followed.
            Some(other) => (other.root.join(src.trim_start_matches('/')), None),
            None => {
                let rel = components(src)
                    .unwrap_or_else(|| panic!("{}: COPY {src}: outside the context", b.what));
                assert!(
                    !b.ignore.excludes(&rel),
                    "{}: COPY {src}: the ignore file leaves it out of the build context, so \
                     `docker build` would not find it",
                    b.what
                );
                (b.context.join(src), Some(rel))
            }
        };
        let meta = std::fs::metadata(&source)
            .unwrap_or_else(|e| panic!("{}: COPY {src}: {} ({e})", b.what, source.display()));
        if meta.is_dir() {
            // A directory's contents go into the destination.
            match in_context {
                Some(rel) => copy_context(&source, &rel, b.ignore, &dest),
                None => copy_tree(&source, &dest),
            }
        } else {
            let target = if into_dir {
                dest.join(source.file_name().unwrap())
            } else {
                dest.clone()
            };
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(&source, &target)
                .unwrap_or_else(|e| panic!("{}: COPY {src}: {e}", b.what));
        }
    }
}

fn run(stage: &Stage, arg: &str, b: &Build) {
    assert!(
        !arg.starts_with('['),
        "{}: RUN {arg}: the exec form is not followed",
        b.what
    );
    let words: Vec<&str> = arg.split_whitespace().collect();
    // A tool install (the chef stage's) is done once, outside the test, into a directory that
    // is on this RUN environment's PATH; what is checked is that the tool found there is the
    // release the line installs.
    if let ["cargo", "install", krate, "--locked", "--version", version] = words.as_slice() {
        let out = shell(
            stage,
            &format!("cargo {} --version", subcommand(krate, b)),
            b,
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.split_whitespace().any(|w| w == *version),
            "{}: RUN {arg}: the {krate} found here is not {version} (`--version` says {:?}); \
             install it with `{}`",
            b.what,
            said.trim(),
            b.install_hint
        );
        return;
    }
    assert!(
        !arg.contains("cargo install"),
        "{}: RUN {arg}: only `cargo install <tool> --locked --version <v>` is followed",
        b.what
    );
    if arg.starts_with("cargo build") || arg.starts_with("cargo chef cook") {
        let target = stage.path("target");
        if std::fs::symlink_metadata(&target).is_err() {
            std::fs::create_dir_all(b.cache).unwrap();
            std::os::unix::fs::symlink(b.cache, &target).unwrap();
        }
    }
    let out = shell(stage, arg, b);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(80).collect();
    assert!(
        out.status.success(),
        "{}: RUN {arg} failed ({}):\n{}",
        b.what,
        out.status,
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

/// The cargo subcommand a `cargo install`ed crate adds (`cargo-chef` → `chef`).
fn subcommand<'a>(krate: &'a str, b: &Build) -> &'a str {
    krate
        .strip_prefix("cargo-")
        .unwrap_or_else(|| panic!("{}: cargo install {krate}: not a cargo subcommand", b.what))
}

fn shell(stage: &Stage, command: &str, b: &Build) -> std::process::Output {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(command).current_dir(stage.path("."));
    for var in NOT_IN_A_CONTAINER {
        cmd.env_remove(var);
    }
    cmd.envs(b.env.iter().map(|(k, v)| (k, v)))
        .envs(stage.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap_or_else(|e| panic!("{}: sh -c {command}: {e}", b.what))
}

/// A path of the build context as its components; None if it climbs out.
fn components(path: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => out.push(p.to_string()),
        }
    }
    Some(out)
}

/// Copies the context directory `dir` (at `rel` in the context) into `dest`, less what the
/// ignore file leaves out. Symlinks are copied as links, as `docker build` sends them.
fn copy_context(dir: &Path, rel: &[String], ignore: &Ignore, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut path = rel.to_vec();
        path.push(name.clone());
        if ignore.excludes(&path) {
            continue;
        }
        let kind = entry.file_type().unwrap();
        let to = dest.join(&name);
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &to).unwrap();
        } else if kind.is_dir() {
            copy_context(&entry.path(), &path, ignore, &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// What `docker run` starts from: a copy of the image's filesystem in `dir`, which anyone may
/// enter (as `/` in an image).
pub fn container(image: &Stage, dir: &Path) -> Stage {
    use std::os::unix::fs::PermissionsExt;
    copy_tree(&image.root, dir);
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    Stage {
        root: dir.to_path_buf(),
        ..image.clone()
    }
}

/// A `USER uid:gid` line's ids (names would need the image's /etc/passwd: not followed).
pub fn user_ids(user: &str) -> (u32, u32) {
    let ids = user
        .split_once(':')
        .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)));
    ids.unwrap_or_else(|| panic!("USER {user}: only numeric uid:gid is followed"))
}

/// Copies a stage's directory tree; symlinks stay links.
fn copy_tree(from: &Path, to: &Path) {
    copy_context(from, &[], &Ignore(Vec::new()), to);
}

/// The patterns of a `.dockerignore`, as Docker matches them: against paths from the context's
/// root, `*` and `?` within one name, `**` for any number of directories, and a pattern that
/// matches a directory leaves out all it holds. `!` exceptions and character classes are not
/// followed (reading one fails).
pub struct Ignore(Vec<Vec<String>>);

impl Ignore {
    /// BuildKit's rule: `<Dockerfile>.dockerignore` beside the Dockerfile wins over the
    /// context's `.dockerignore`.
    pub fn for_dockerfile(dockerfile: &Path, context: &Path) -> Ignore {
        let mut beside = dockerfile.as_os_str().to_owned();
        beside.push(".dockerignore");
        let file = [PathBuf::from(beside), context.join(".dockerignore")]
            .into_iter()
            .find(|f| f.is_file());
        let text = file
            .map(|f| std::fs::read_to_string(f).unwrap())
            .unwrap_or_default();
        Ignore::parse(&text)
    }

    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            assert!(
                !line.starts_with('!') && !line.contains(['[', '\\']),
                "ignore pattern {line:?}: `!`, classes and escapes are not followed"
            );
            let parts = components(line).unwrap_or_else(|| panic!("ignore pattern {line:?}"));
            assert!(
                parts.iter().all(|p| p == "**" || !p.contains("**")),
                "ignore pattern {line:?}: `**` inside a name is not followed"
            );
            patterns.push(parts);
        }
        Ignore(patterns)
    }

    /// Whether `path` (components from the context's root) or a directory above it is left out.
    pub fn excludes(&self, path: &[String]) -> bool {
        self.0
            .iter()
            .any(|p| (1..=path.len()).any(|n| glob_path(p, &path[..n])))
    }
}

fn glob_path(pattern: &[String], path: &[String]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((p, rest)) if p == "**" => (0..=path.len()).any(|i| glob_path(rest, &path[i..])),
        Some((p, rest)) => {
            !path.is_empty() && glob_name(p.as_bytes(), path[0].as_bytes()) && {
                glob_path(rest, &path[1..])
            }
        }
    }
}

fn glob_name(p: &[u8], name: &[u8]) -> bool {
    match p.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob_name(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && glob_name(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && glob_name(rest, &name[1..]),
    }
}
