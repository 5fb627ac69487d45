//! A log file that rotates by size: `Log.Rotation: size` (go-zero's `SizeLimitRotateRule`).
//!
//! Lines go to `<dir>/<prefix>.log`. When a write would take that file past `MaxSize`, it is
//! renamed to a backup named as go-zero names them, `<prefix>-<start>.log`, where `<start>` is
//! the time the file was started in RFC 3339 to the second (UTC here, so
//! `svc-2024-05-01T12:00:00Z.log`; another backup started in the same second gets `.1`, `.2`,
//! ... before `.log`), and a fresh file takes its place. Rotation happens only after a
//! newline, so a line is never split across two files; a line longer than `MaxSize` gets a file
//! of its own. After a rotation a helper thread gzips the backup (`Compress`, to `<backup>.gz`)
//! and deletes backups beyond the newest `MaxBackups` and those started more than `KeepDays`
//! days ago.
//!
//! Hand-written rather than taken from a crate: `file-rotate` limits old files by count *or* by
//! age (`FileLimit`), not both as `MaxBackups` with `KeepDays` needs, and its timestamp suffix
//! forbids a `.` in the base name; `logroller` limits only the number of files; `rolling-file`
//! renumbers `.1`..`.N` files and has no age limit. None names backups as go-zero does, and the
//! whole job is a rename, a gzip and a directory scan.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// Which rotated files are kept.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Keep {
    /// The newest this many backups are kept; 0 keeps all.
    pub(crate) max_backups: usize,
    /// Backups started more than this many days ago are deleted; 0 keeps all.
    pub(crate) keep_days: usize,
    /// Gzip backups.
    pub(crate) compress: bool,
}

/// How long a failed rotation (say, a read-only directory) is not retried; lines keep going to
/// the live file meanwhile.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// The size-rotating file; see the module docs.
pub(crate) struct SizeRotatingFile {
    dir: PathBuf,
    prefix: String,
    /// Bytes the live file may hold; 0 is no limit.
    max_size: u64,
    keep: Keep,
    file: File,
    size: u64,
    /// The live file ends with a newline (or is empty): a rotation may happen here.
    line_start: bool,
    /// When the live file was started, as it will appear in its backup's name.
    started: String,
    /// Stamp and sequence number of the newest backup this writer made.
    last: Option<(String, u32)>,
    /// Gzip and clean-up after the last rotation; joined before the next one.
    post: Option<JoinHandle<()>>,
    hold_until: Option<Instant>,
}

impl SizeRotatingFile {
    /// Opens (appending) or creates `<dir>/<prefix>.log`, creating `dir` if needed.
    pub(crate) fn open(
        dir: impl Into<PathBuf>,
        prefix: &str,
        max_size: u64,
        keep: Keep,
    ) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        let file = open_append(&dir.join(format!("{prefix}.log")))?;
        let size = file.metadata()?.len();
        Ok(SizeRotatingFile {
            dir,
            prefix: prefix.to_owned(),
            max_size,
            keep,
            file,
            size,
            line_start: true,
            started: stamp(OffsetDateTime::now_utc()),
            last: None,
            post: None,
            hold_until: None,
        })
    }

    fn live(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.prefix))
    }

    /// How many leading bytes of `buf` go into the live file now; 0 means rotate first.
    fn fits(&self, buf: &[u8]) -> usize {
        if self.max_size == 0 {
            return buf.len();
        }
        let room = usize::try_from(self.max_size.saturating_sub(self.size)).unwrap_or(usize::MAX);
        if buf.len() <= room {
            return buf.len();
        }
        if let Some(i) = buf[..room].iter().rposition(|&b| b == b'\n') {
            return i + 1;
        }
        if self.size > 0 && self.line_start {
            return 0;
        }
        // An empty file takes an over-long line whole; a started line is finished first.
        buf.iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |i| i + 1)
    }

    /// Renames the live file to its backup name, opens a fresh one and starts the clean-up.
    fn rotate(&mut self) -> io::Result<()> {
        if let Some(post) = self.post.take() {
            let _ = post.join();
        }
        let stamp_ = self.started.clone();
        let mut seq = match &self.last {
            Some((s, n)) if *s == stamp_ => n + 1,
            _ => 0,
        };
        let name = |seq| self.dir.join(backup_name(&self.prefix, &stamp_, seq));
        while name(seq).exists() || with_gz(&name(seq)).exists() {
            seq += 1;
        }
        let backup = name(seq);
        let live = self.live();
        let renamed = match fs::rename(&live, &backup) {
            Ok(()) => true,
            // Deleted or moved away by someone else: nothing to keep, just start a new file.
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        match open_append(&live) {
            Ok(file) => self.file = file,
            Err(e) => {
                if renamed {
                    let _ = fs::rename(&backup, &live);
                }
                return Err(e);
            }
        }
        self.size = 0;
        self.line_start = true;
        self.started = stamp(OffsetDateTime::now_utc());
        if !renamed {
            return Ok(());
        }
        self.last = Some((stamp_, seq));

        let post = PostRotate {
            backup,
            dir: self.dir.clone(),
            prefix: self.prefix.clone(),
            keep: self.keep,
        };
        let job = post.clone();
        self.post = match std::thread::Builder::new()
            .name("log-rotate".into())
            .spawn(move || job.run())
        {
            Ok(handle) => Some(handle),
            Err(_) => {
                post.run();
                None
            }
        };
        Ok(())
    }

    /// Waits for the clean-up of the last rotation.
    fn wait(&mut self) {
        if let Some(post) = self.post.take() {
            let _ = post.join();
        }
    }
}

impl Write for SizeRotatingFile {
    /// Writes all of `buf`, rotating between lines whenever the next line would not fit.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        let mut hold = self.hold_until.is_some_and(|t| Instant::now() < t);
        while done < buf.len() {
            let rest = &buf[done..];
            let n = if hold { rest.len() } else { self.fits(rest) };
            if n == 0 {
                if let Err(e) = self.rotate() {
                    eprintln!(
                        "log rotation of {} failed, retrying in {}s: {e}",
                        self.live().display(),
                        RETRY_AFTER.as_secs()
                    );
                    self.hold_until = Some(Instant::now() + RETRY_AFTER);
                    hold = true;
                }
                continue;
            }
            match self.file.write(&rest[..n]) {
                Ok(0) if done == 0 => return Err(io::ErrorKind::WriteZero.into()),
                Ok(0) => return Ok(done),
                Ok(w) => {
                    self.size += w as u64;
                    self.line_start = rest[w - 1] == b'\n';
                    done += w;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if done == 0 => return Err(e),
                Err(_) => return Ok(done),
            }
        }
        Ok(done)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for SizeRotatingFile {
    fn drop(&mut self) {
        self.wait();
    }
}

/// What follows a rotation, off the writer's thread.
#[derive(Clone)]
struct PostRotate {
    backup: PathBuf,
    dir: PathBuf,
    prefix: String,
    keep: Keep,
}

impl PostRotate {
    fn run(self) {
        if self.keep.compress
            && let Err(e) = gzip(&self.backup)
        {
            eprintln!(
                "log rotation: gzip of {} failed: {e}",
                self.backup.display()
            );
        }
        if let Err(e) = prune(
            &self.dir,
            &self.prefix,
            self.keep,
            OffsetDateTime::now_utc(),
        ) {
            eprintln!("log rotation: cleaning {} failed: {e}", self.dir.display());
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `t` as go-zero's backup names carry it (RFC 3339 to the second), in UTC.
fn stamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn is_stamp(s: &str) -> bool {
    const SHAPE: &[u8] = b"0000-00-00T00:00:00Z";
    s.len() == SHAPE.len()
        && s.bytes().zip(SHAPE).all(|(b, &t)| {
            if t == b'0' {
                b.is_ascii_digit()
            } else {
                b == t
            }
        })
}

fn backup_name(prefix: &str, stamp: &str, seq: u32) -> String {
    if seq == 0 {
        format!("{prefix}-{stamp}.log")
    } else {
        format!("{prefix}-{stamp}.{seq}.log")
    }
}

/// The stamp and sequence number of a backup of `prefix` (plain or gzipped), oldest first when
/// sorted; `None` for any other file (the live file, another service's files).
fn parse_backup(name: &str, prefix: &str) -> Option<(String, u32)> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let rest = rest.strip_suffix(".gz").unwrap_or(rest);
    let rest = rest.strip_suffix(".log")?;
    let (stamp, seq) = match rest.split_once('.') {
        Some((stamp, seq)) if !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()) => {
            (stamp, seq.parse().ok()?)
        }
        Some(_) => return None,
        None => (rest, 0),
    };
    is_stamp(stamp).then(|| (stamp.to_owned(), seq))
}

fn with_gz(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".gz");
    PathBuf::from(s)
}

/// Compresses `path` to `<path>.gz` and removes `path` once that succeeded.
fn gzip(path: &Path) -> io::Result<()> {
    let gz = with_gz(path);
    let result = (|| {
        let mut input = File::open(path)?;
        let out = io::BufWriter::new(File::create(&gz)?);
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        io::copy(&mut input, &mut enc)?;
        enc.finish()?.flush()
    })();
    match result {
        Ok(()) => fs::remove_file(path),
        Err(e) => {
            let _ = fs::remove_file(&gz);
            Err(e)
        }
    }
}

/// Deletes backups of `prefix` in `dir` beyond the newest `keep.max_backups` and those started
/// before `now` minus `keep.keep_days` (go-zero's `SizeLimitRotateRule.OutdatedFiles`).
fn prune(dir: &Path, prefix: &str, keep: Keep, now: OffsetDateTime) -> io::Result<()> {
    if keep.max_backups == 0 && keep.keep_days == 0 {
        return Ok(());
    }
    // A backup caught half-compressed exists twice (`.log` and `.log.gz`): one entry.
    let mut backups: BTreeMap<(String, u32), Vec<PathBuf>> = BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(key) = entry
            .file_name()
            .to_str()
            .and_then(|n| parse_backup(n, prefix))
        {
            backups.entry(key).or_default().push(entry.path());
        }
    }
    let excess = match keep.max_backups {
        0 => 0,
        n => backups.len().saturating_sub(n),
    };
    let days = u32::try_from(keep.keep_days).unwrap_or(u32::MAX);
    let boundary = (days > 0)
        .then(|| now.checked_sub(time::Duration::days(i64::from(days))))
        .flatten()
        .map(stamp);
    for (i, ((started, _), paths)) in backups.iter().enumerate() {
        let too_old = boundary.as_deref().is_some_and(|b| started.as_str() < b);
        if i < excess || too_old {
            for p in paths {
                fs::remove_file(p)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const KEEP_ALL: Keep = Keep {
        max_backups: 0,
        keep_days: 0,
        compress: false,
    };

    /// The backups of `svc` oldest first, then the live file.
    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut backups: Vec<((String, u32), PathBuf)> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter_map(|p| {
                let key = parse_backup(p.file_name()?.to_str()?, "svc")?;
                Some((key, p))
            })
            .collect();
        backups.sort();
        let mut out: Vec<PathBuf> = backups.into_iter().map(|(_, p)| p).collect();
        out.push(dir.join("svc.log"));
        out
    }

    fn read(p: &Path) -> String {
        let mut s = String::new();
        if p.extension().is_some_and(|e| e == "gz") {
            flate2::read::GzDecoder::new(File::open(p).unwrap())
                .read_to_string(&mut s)
                .unwrap();
        } else {
            File::open(p).unwrap().read_to_string(&mut s).unwrap();
        }
        s
    }

    /// `n` numbered lines of varying length.
    fn lines(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("line {i} {}\n", "x".repeat(i % 23)))
            .collect()
    }

    #[test]
    fn writing_past_max_size_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = SizeRotatingFile::open(dir.path(), "svc", 100, KEEP_ALL).unwrap();
        let line = format!("{}\n", "a".repeat(29)); // 30 bytes
        for _ in 0..3 {
            f.write_all(line.as_bytes()).unwrap();
        }
        assert_eq!(files(dir.path()).len(), 1, "no rotation below MaxSize");
        f.write_all(line.as_bytes()).unwrap();
        drop(f);

        let all = files(dir.path());
        assert_eq!(all.len(), 2, "{all:?}");
        let name = all[0].file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("svc-") && name.ends_with("Z.log") && is_stamp(&name[4..24]),
            "{name}"
        );
        assert_eq!(read(&all[0]), line.repeat(3));
        assert_eq!(
            fs::metadata(&all[1]).unwrap().len(),
            30,
            "live file restarts"
        );
    }

    #[test]
    fn max_backups_deletes_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let keep = Keep {
            max_backups: 2,
            ..KEEP_ALL
        };
        let mut f = SizeRotatingFile::open(dir.path(), "svc", 64, keep).unwrap();
        let input = lines(200);
        for l in &input {
            f.write_all(l.as_bytes()).unwrap();
        }
        drop(f);

        let all = files(dir.path());
        assert_eq!(all.len(), 3, "two backups and the live file: {all:?}");
        let kept: String = all.iter().map(|p| read(p)).collect();
        assert!(
            input.concat().ends_with(&kept),
            "the newest lines are kept, in order"
        );
        assert!(kept.len() > 64 * 2 - 30, "{kept}");
    }

    #[test]
    fn every_line_is_kept_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = SizeRotatingFile::open(dir.path(), "svc", 256, KEEP_ALL).unwrap();
        let input = lines(2000);
        // As the batch writer does: many whole lines in one write.
        for batch in input.chunks(37) {
            f.write_all(batch.concat().as_bytes()).unwrap();
        }
        drop(f);

        let all = files(dir.path());
        assert!(all.len() > 100, "{}", all.len());
        let mut joined = String::new();
        for p in &all {
            let text = read(p);
            assert!(text.len() <= 256, "{p:?} holds {} bytes", text.len());
            assert!(text.ends_with('\n'), "{p:?} ends inside a line");
            joined.push_str(&text);
        }
        assert_eq!(joined, input.concat());
    }

    #[test]
    fn through_the_batch_writer() {
        let dir = tempfile::tempdir().unwrap();
        let f = SizeRotatingFile::open(dir.path(), "svc", 4096, KEEP_ALL).unwrap();
        let (w, guard) =
            crate::log::writer::spawn::<()>(Box::new(f), Box::new(|_, _, _| {})).unwrap();
        let input = lines(5000);
        for l in &input {
            w.write_line(l.as_bytes());
        }
        drop(guard);

        let all = files(dir.path());
        assert!(all.len() > 10, "{}", all.len());
        let joined: String = all.iter().map(|p| read(p)).collect();
        assert_eq!(joined, input.concat());
    }

    #[test]
    fn a_line_longer_than_max_size_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = SizeRotatingFile::open(dir.path(), "svc", 10, KEEP_ALL).unwrap();
        let long = format!("{}\n", "L".repeat(30));
        f.write_all(format!("short\n{long}tail\n").as_bytes())
            .unwrap();
        // Pieces of one line arriving separately are not split either.
        f.write_all(b"piece one ").unwrap();
        f.write_all(b"piece two\n").unwrap();
        drop(f);

        let texts: Vec<String> = files(dir.path()).iter().map(|p| read(p)).collect();
        assert_eq!(
            texts,
            ["short\n", long.as_str(), "tail\n", "piece one piece two\n"]
        );
    }

    #[test]
    fn an_existing_live_file_is_appended_to_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("svc.log"), "old line\n".repeat(10)).unwrap(); // 90 bytes
        let mut f = SizeRotatingFile::open(dir.path(), "svc", 100, KEEP_ALL).unwrap();
        f.write_all(b"new 1\nnew line 2\n").unwrap();
        drop(f);

        let texts: Vec<String> = files(dir.path()).iter().map(|p| read(p)).collect();
        assert_eq!(
            texts,
            [
                format!("{}new 1\n", "old line\n".repeat(10)),
                "new line 2\n".into()
            ]
        );
    }

    #[test]
    fn a_live_file_removed_from_outside_is_started_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = SizeRotatingFile::open(dir.path(), "svc", 10, KEEP_ALL).unwrap();
        f.write_all(b"first\n").unwrap();
        fs::remove_file(dir.path().join("svc.log")).unwrap();
        f.write_all(b"second\n").unwrap();
        drop(f);
        let texts: Vec<String> = files(dir.path()).iter().map(|p| read(p)).collect();
        assert_eq!(texts, ["second\n"]);
    }

    #[test]
    fn no_max_size_never_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = SizeRotatingFile::open(dir.path(), "svc", 0, KEEP_ALL).unwrap();
        for l in lines(1000) {
            f.write_all(l.as_bytes()).unwrap();
        }
        drop(f);
        assert_eq!(files(dir.path()).len(), 1);
    }

    #[test]
    fn compress_gzips_backups() {
        let dir = tempfile::tempdir().unwrap();
        let keep = Keep {
            max_backups: 3,
            compress: true,
            ..KEEP_ALL
        };
        let mut f = SizeRotatingFile::open(dir.path(), "svc", 128, keep).unwrap();
        let input = lines(300);
        for l in &input {
            f.write_all(l.as_bytes()).unwrap();
        }
        drop(f);

        let all = files(dir.path());
        assert_eq!(all.len(), 4, "{all:?}");
        for p in &all[..3] {
            assert!(p.to_str().unwrap().ends_with(".log.gz"), "{p:?}");
        }
        let kept: String = all.iter().map(|p| read(p)).collect();
        assert!(input.concat().ends_with(&kept));
    }

    #[test]
    fn keep_days_deletes_backups_started_before_the_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let recent = stamp(now - time::Duration::hours(1));
        let names = [
            "svc-2020-01-01T00:00:00Z.log".to_owned(),
            "svc-2020-01-01T00:00:00Z.1.log.gz".to_owned(),
            format!("svc-{recent}.log"),
            format!("svc-{recent}.log.gz"),
            "svc.log".to_owned(),
            "svc-admin.log".to_owned(),
            "svc-admin-2020-01-01T00:00:00Z.log".to_owned(),
            "svc.2020-01-01.log".to_owned(),
            "other-2020-01-01T00:00:00Z.log".to_owned(),
        ];
        for n in &names {
            fs::write(dir.path().join(n), "x\n").unwrap();
        }
        let keep = Keep {
            keep_days: 7,
            ..KEEP_ALL
        };
        prune(dir.path(), "svc", keep, now).unwrap();

        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want: Vec<String> = names[2..].to_vec();
        want.sort();
        assert_eq!(left, want);
    }

    #[test]
    fn backups_sort_by_start_then_sequence() {
        assert_eq!(
            parse_backup("svc-2024-05-01T12:00:00Z.log", "svc"),
            Some(("2024-05-01T12:00:00Z".into(), 0))
        );
        let ten = parse_backup("svc-2024-05-01T12:00:00Z.10.log.gz", "svc").unwrap();
        let two = parse_backup("svc-2024-05-01T12:00:00Z.2.log", "svc").unwrap();
        assert!(two < ten);
        for other in [
            "svc.log",
            "svc-2024-05-01T12:00:00Z.x.log",
            "svc-2024-05-01T12:00:00Z..log",
            "svc-2024-05-01.log",
            "svc-2024-05-01T12:00:00Z.txt",
        ] {
            assert_eq!(parse_backup(other, "svc"), None, "{other}");
        }
        assert_eq!(
            stamp(OffsetDateTime::from_unix_timestamp(1_714_564_800).unwrap()),
            "2024-05-01T12:00:00Z"
        );
    }
}
