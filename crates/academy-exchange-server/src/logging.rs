//! `[logger]` (`exchange-http-api.md` §1.2, Python's `LogConfig.init_logger`):
//! a console log plus an optional log file with its own level, rotated like
//! Python's `TimedRotatingFileHandler(when='d', interval=N, backupCount=M)`.
//!
//! [`subscriber`] builds the `tracing` subscriber without installing it: the
//! binary installs it, a program embedding [`crate::serve`] keeps its own.
//!
//! Differences from Python: the console log goes to stderr (stdout carries
//! the binary's `listening on …` line); rotated files are suffixed with the
//! UTC date (Python uses local time), same `%Y-%m-%d` format; the line format
//! is `tracing`'s, not Python's.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

use crate::config::{LogLevel, LoggerConfig};
use crate::error::ServerError;

const DAY: Duration = Duration::from_secs(86_400);

/// Console level when `[logger] level` is absent (Python's WARNING).
pub const DEFAULT_CONSOLE_FILTER: &str = "warn";
/// File level when `[logger] logfile_level` is absent (Python's INFO).
pub const DEFAULT_FILE_FILTER: &str = "info";

/// Builds the subscriber of `[logger]`: console on stderr filtered by
/// `console_filter` (a `tracing` directive that overrides `level`, e.g. from
/// the command line) and, when `logfile` is set, the log file.
///
/// ```no_run
/// use academy_exchange_server::ServerConfig;
/// use academy_exchange_server::logging::subscriber;
/// let config = ServerConfig::from_toml_str("[logger]\nlogfile = '/tmp/x/exchange.log'")?;
/// let subscriber = subscriber(&config.logger, None)?;
/// tracing::subscriber::set_global_default(subscriber).ok();
/// # Ok::<(), academy_exchange_server::ServerError>(())
/// ```
pub fn subscriber(
    config: &LoggerConfig,
    console_filter: Option<&str>,
) -> Result<impl tracing::Subscriber + Send + Sync + 'static, ServerError> {
    let console = console_filter
        .map(str::to_string)
        .unwrap_or_else(|| filter_of(config.level.as_ref(), DEFAULT_CONSOLE_FILTER).to_string());
    let console = EnvFilter::try_new(&console)
        .map_err(|e| ServerError::Config(format!("invalid log filter {console:?}: {e}")))?;
    let console_layer = tracing_subscriber::fmt::layer()
        .with_writer(io::stderr)
        .with_filter(console);
    let file_layer = match &config.logfile {
        None => None,
        Some(path) => {
            let rotation = config.rotate.unwrap_or(false).then(|| Rotation {
                interval_days: config.rotation_interval_days.unwrap_or(1),
                backup_count: config.backup_count.unwrap_or(7),
            });
            let file = RotatingFile::open(path, rotation)?;
            let level = filter_of(config.logfile_level.as_ref(), DEFAULT_FILE_FILTER);
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(Mutex::new(file))
                    .with_filter(EnvFilter::new(level)),
            )
        }
    };
    Ok(tracing_subscriber::registry()
        .with(console_layer)
        .with(file_layer))
}

fn filter_of(level: Option<&LogLevel>, default: &'static str) -> &'static str {
    level.map_or(default, LogLevel::as_filter)
}

/// Rotation of the log file: every `interval_days` days, keeping
/// `backup_count` rotated files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Days between rotations (at least 1).
    pub interval_days: u32,
    /// Rotated files kept (at least 1).
    pub backup_count: u32,
}

impl Rotation {
    fn interval(&self) -> Duration {
        DAY * self.interval_days.max(1)
    }
}

/// An append-only log file, optionally rotated by time as Python's
/// `TimedRotatingFileHandler` does: the first rotation is due one interval
/// after the file's modification time (or now for a new file); the current
/// file is renamed to `<name>.<YYYY-MM-DD>` (the start of the interval it
/// covered) and the oldest backups beyond `backup_count` are deleted.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    rotation: Option<Rotation>,
    rollover_at: SystemTime,
}

impl RotatingFile {
    /// Opens (appends to) `path`, creating its parent directories.
    pub fn open(path: impl AsRef<Path>, rotation: Option<Rotation>) -> Result<Self, ServerError> {
        let path = path.as_ref().to_path_buf();
        let error = |source| ServerError::LogFile {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(error)?;
        }
        let file = append(&path).map_err(error)?;
        let start = file
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now());
        let rollover_at = rotation.map_or(start, |r| start + r.interval());
        Ok(RotatingFile {
            path,
            file,
            rotation,
            rollover_at,
        })
    }

    /// Writes `buf`, rotating first if `now` is past the rotation time.
    pub fn write_at(&mut self, buf: &[u8], now: SystemTime) -> io::Result<usize> {
        if let Some(rotation) = self.rotation
            && now >= self.rollover_at
        {
            self.rotate(rotation, now)?;
        }
        self.file.write(buf)
    }

    fn rotate(&mut self, rotation: Rotation, now: SystemTime) -> io::Result<()> {
        self.file.flush()?;
        let interval = rotation.interval();
        let covered_from = self
            .rollover_at
            .checked_sub(interval)
            .unwrap_or(self.rollover_at);
        let mut rotated = self.path.clone().into_os_string();
        rotated.push(".");
        rotated.push(utc_date(covered_from));
        let rotated = PathBuf::from(rotated);
        if rotated.exists() {
            std::fs::remove_file(&rotated)?;
        }
        std::fs::rename(&self.path, &rotated)?;
        self.file = append(&self.path)?;
        self.delete_old_backups(rotation.backup_count as usize)?;
        let mut next = now + interval;
        while next <= now {
            next += interval;
        }
        self.rollover_at = next;
        Ok(())
    }

    fn delete_old_backups(&self, keep: usize) -> io::Result<()> {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return Ok(());
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let prefix = format!("{}.", name.to_string_lossy());
        let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix(&prefix))
                    .is_some_and(is_date_suffix)
            })
            .map(|e| e.path())
            .collect();
        // The date suffix sorts chronologically.
        backups.sort();
        let excess = backups.len().saturating_sub(keep);
        for old in &backups[..excess] {
            std::fs::remove_file(old)?;
        }
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_at(buf, SystemTime::now())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `YYYY-MM-DD` (Python's `extMatch` for daily rotation).
fn is_date_suffix(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// The UTC calendar date of `t` as `YYYY-MM-DD` (Howard Hinnant's
/// `civil_from_days`), to avoid a date-time dependency for one format.
fn utc_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: u64, secs: u64) -> SystemTime {
        // 2026-11-28 00:00:00 UTC.
        UNIX_EPOCH + Duration::from_secs(1_795_824_000 + days * 86_400 + secs)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(UNIX_EPOCH), "1970-01-01");
        assert_eq!(utc_date(at(0, 86_399)), "2026-11-28");
        assert_eq!(utc_date(at(4, 0)), "2026-12-02");
        assert_eq!(utc_date(at(34, 0)), "2027-01-01");
        // 2028 is a leap year.
        assert_eq!(
            utc_date(UNIX_EPOCH + Duration::from_secs(1_835_395_200)),
            "2028-02-29"
        );
        assert!(is_date_suffix("2026-11-28"));
        assert!(!is_date_suffix("2026-11-28.gz"));
        assert!(!is_date_suffix("20261128xx"));
    }

    #[test]
    fn creates_parent_directories_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/exchange.log");
        let mut f = RotatingFile::open(&path, None).unwrap();
        f.write_all(b"one\n").unwrap();
        drop(f);
        let mut f = RotatingFile::open(&path, None).unwrap();
        f.write_all(b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
    }

    #[test]
    fn unwritable_path_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let err = RotatingFile::open(blocker.join("x.log"), None).unwrap_err();
        assert!(matches!(err, ServerError::LogFile { .. }));
        assert!(err.to_string().contains("x.log"), "{err}");
    }

    #[test]
    fn rotates_every_interval_and_keeps_backup_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exchange.log");
        let rotation = Rotation {
            interval_days: 2,
            backup_count: 2,
        };
        let mut f = RotatingFile::open(&path, Some(rotation)).unwrap();
        // Pin the schedule to a known start (a new file starts "now").
        f.rollover_at = at(2, 0);
        f.write_at(b"day0\n", at(0, 10)).unwrap();
        f.write_at(b"day1\n", at(1, 86_399)).unwrap();
        assert_eq!(names(dir.path()), ["exchange.log"]);
        f.write_at(b"day2\n", at(2, 0)).unwrap();
        assert_eq!(
            names(dir.path()),
            ["exchange.log", "exchange.log.2026-11-28"]
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("exchange.log.2026-11-28")).unwrap(),
            "day0\nday1\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "day2\n");
        // Next rotation two days after the last one, not at the day boundary.
        f.write_at(b"day3\n", at(3, 0)).unwrap();
        assert_eq!(names(dir.path()).len(), 2);
        f.write_at(b"day4\n", at(4, 5)).unwrap();
        f.write_at(b"day6\n", at(6, 10)).unwrap();
        // Three rotations, two backups kept: the oldest is gone.
        assert_eq!(
            names(dir.path()),
            [
                "exchange.log",
                "exchange.log.2026-11-30",
                "exchange.log.2026-12-02"
            ]
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "day6\n");
        // Unrelated files next to the log are never deleted.
        std::fs::write(dir.path().join("exchange.log.old"), "").unwrap();
        f.write_at(b"day8\n", at(8, 20)).unwrap();
        assert!(dir.path().join("exchange.log.old").exists());
    }

    #[test]
    fn without_rotation_the_file_only_grows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exchange.log");
        let mut f = RotatingFile::open(&path, None).unwrap();
        f.write_at(b"a\n", at(0, 0)).unwrap();
        f.write_at(b"b\n", at(400, 0)).unwrap();
        assert_eq!(names(dir.path()), ["exchange.log"]);
    }

    #[test]
    fn bad_console_filter_is_an_error() {
        let config = LoggerConfig::default();
        assert!(subscriber(&config, Some("info,[[[")).is_err());
    }
}
