//! Append-only CSV files whose header may grow: old rows are kept under a widened header.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// A results header: fixed leading columns, one column per extra matrix axis, fixed
/// trailing columns (the shape of runs.csv, summary.csv and tasks.csv alike).
pub fn header_with_axes(lead: &[&str], axes: &[String], tail: &[&str]) -> Vec<String> {
    lead.iter()
        .map(|s| s.to_string())
        .chain(axes.iter().cloned())
        .chain(tail.iter().map(|s| s.to_string()))
        .collect()
}

/// A CSV file open for appending rows and flushing each one.
pub struct AppendCsv {
    path: PathBuf,
    writer: csv::Writer<File>,
    pub header: Vec<String>,
}

/// Existing rows as column -> value maps, in file order.
pub type Rows = Vec<HashMap<String, String>>;

impl AppendCsv {
    /// Opens `path` for appending rows with `wanted` columns, returning the rows it held.
    /// A file with another header is rewritten with `wanted` plus its extra columns at the
    /// end, so no value is lost. A last row cut short (by a crash, a full disk, a power
    /// cut) is moved to `<stem>-torn-<timestamp>.csv` beside the file, never deleted, and
    /// the file is rewritten without it, so the run can append after whole rows again.
    pub fn open(path: &Path, wanted: &[String]) -> anyhow::Result<(AppendCsv, Rows)> {
        let Contents {
            header: old_header,
            rows,
            torn,
        } = if path.exists() {
            read_contents(path)?
        } else {
            Contents::default()
        };
        if let Some(torn) = &torn {
            let aside = move_aside(path, torn)?;
            eprintln!(
                "warning: {}: its last row (line {}) was cut short, as a crash or a full disk leaves it; \
                 moved it to {} and going on without it",
                path.display(),
                torn.line,
                aside.display()
            );
        }
        let mut header: Vec<String> = wanted.to_vec();
        for c in &old_header {
            if !header.contains(c) {
                header.push(c.clone());
            }
        }
        if !path.exists() || old_header != header || torn.is_some() {
            rewrite(path, &header, &rows)?;
        }
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        Ok((
            AppendCsv {
                path: path.to_path_buf(),
                writer,
                header,
            },
            rows,
        ))
    }

    /// Writes one row (by column name; absent columns empty) and flushes it to the file.
    pub fn append(&mut self, row: &[(&str, String)]) -> anyhow::Result<()> {
        self.append_unflushed(row)?;
        self.flush()
    }

    pub fn append_unflushed(&mut self, row: &[(&str, String)]) -> anyhow::Result<()> {
        let record = self.header.iter().map(|h| {
            row.iter()
                .find(|(k, _)| k == h)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        });
        self.writer
            .write_record(record)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Hands the rows written so far to the operating system.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.writer
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Flushes and waits until the rows are on the disk (`fsync`), so a power cut keeps them.
    pub fn sync_data(&mut self) -> anyhow::Result<()> {
        self.flush()?;
        self.writer
            .get_ref()
            .sync_data()
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// Writes `header` and `rows` to a temporary file beside `path`, then renames it over
/// `path`, so a crash leaves either the old file or the new one.
fn rewrite(path: &Path, header: &[String], rows: &Rows) -> anyhow::Result<()> {
    let records = rows.iter().map(|r| {
        header
            .iter()
            .map(|h| r.get(h).map(String::as_str).unwrap_or(""))
    });
    super::atomic::write_csv(path, header, records)
}

/// Saves a torn last record as `<stem>-torn-<timestamp>.csv` beside `path` (on the disk
/// before the caller rewrites `path` without it); returns the new file's path.
fn move_aside(path: &Path, torn: &TornTail) -> anyhow::Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stamp = super::file_timestamp();
    let mut aside = dir.join(format!("{stem}-torn-{stamp}.csv"));
    let mut n = 1;
    while aside.exists() {
        aside = dir.join(format!("{stem}-torn-{stamp}-{n}.csv"));
        n += 1;
    }
    let mut f =
        File::create_new(&aside).with_context(|| format!("cannot write {}", aside.display()))?;
    f.write_all(&torn.bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", aside.display()))?;
    Ok(aside)
}

/// A record cut short at the end of a file: what an append interrupted by a crash, a
/// full disk or a power cut leaves (no final newline, or too few fields).
#[derive(Debug, Clone, PartialEq)]
pub struct TornTail {
    /// The line the record starts on (the header is line 1).
    pub line: u64,
    /// The record's bytes as found, up to the end of the file.
    pub bytes: Vec<u8>,
}

/// A CSV file as read: its header, its whole rows, and a torn last record if there is one.
#[derive(Debug, Default)]
pub struct Contents {
    pub header: Vec<String>,
    pub rows: Rows,
    pub torn: Option<TornTail>,
}

/// Reads a whole CSV file with a header into maps. Only the last record may be torn; a
/// malformed record before it is an error naming the file and line.
pub fn read_contents(path: &Path) -> anyhow::Result<Contents> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(bytes.as_slice());
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("{}: bad header", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut records = Vec::new();
    let mut record = csv::ByteRecord::new();
    while reader
        .read_byte_record(&mut record)
        .with_context(|| format!("cannot read {}", path.display()))?
    {
        records.push(record.clone());
    }
    let line_of = |r: &csv::ByteRecord| r.position().map_or(0, |p| p.line());
    let whole =
        |r: &csv::ByteRecord| r.len() == header.len() && std::str::from_utf8(r.as_slice()).is_ok();
    let torn = match records.last() {
        Some(last) if !bytes.ends_with(b"\n") || !whole(last) => {
            let start = last.position().map_or(0, |p| p.byte()) as usize;
            let torn = TornTail {
                line: line_of(last),
                bytes: bytes[start.min(bytes.len())..].to_vec(),
            };
            records.pop();
            Some(torn)
        }
        _ => None,
    };
    let mut rows = Vec::with_capacity(records.len());
    for r in &records {
        if r.len() != header.len() {
            bail!(
                "{}: line {}: malformed CSV: {} fields where the header has {}",
                path.display(),
                line_of(r),
                r.len(),
                header.len()
            );
        }
        let record = csv::StringRecord::from_byte_record(r.clone()).map_err(|e| {
            anyhow::anyhow!(
                "{}: line {}: malformed CSV: {}",
                path.display(),
                line_of(r),
                e.utf8_error()
            )
        })?;
        rows.push(
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_string))
                .collect(),
        );
    }
    Ok(Contents { header, rows, torn })
}

/// Reads a whole CSV file with a header into maps, for a reader that must not change it:
/// a torn last record is left in place and skipped with a warning (the next `run` moves it
/// aside). Other errors name the file and line.
pub fn read(path: &Path) -> anyhow::Result<(Vec<String>, Rows)> {
    let Contents { header, rows, torn } = read_contents(path)?;
    if let Some(torn) = torn {
        eprintln!(
            "warning: {}: its last row (line {}) was cut short; reading without it (the next `conclab run` moves it aside)",
            path.display(),
            torn.line
        );
    }
    Ok((header, rows))
}

/// The columns between `after` and `before` of a results header: the matrix axes.
pub fn axes_between(header: &[String], after: &str, before: &str) -> Option<Vec<String>> {
    let start = header.iter().position(|h| h == after)? + 1;
    let end = header.iter().position(|h| h == before)?;
    Some(
        header
            .get(start..end)
            .map(|s| s.to_vec())
            .unwrap_or_default(),
    )
}

/// Reads a results CSV whose axes sit between `after` and `before`, each row through
/// `parse`; an error names the file and line. The file's own module owns the column names.
pub fn read_typed<T>(
    path: &Path,
    (after, before): (&str, &str),
    parse: impl Fn(&Field<'_>, &[String]) -> anyhow::Result<T>,
) -> anyhow::Result<(Vec<String>, Vec<T>)> {
    if !path.is_file() {
        bail!("{} is missing: run the experiment first", path.display());
    }
    let (header, rows) = read(path)?;
    let Some(axes) = axes_between(&header, after, before) else {
        bail!(
            "{}: not a conclab file (it needs the columns \"{after}\" and \"{before}\")",
            path.display()
        );
    };
    let typed = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            parse(&Field(r), &axes).with_context(|| format!("{}: line {}", path.display(), i + 2))
        })
        .collect::<anyhow::Result<Vec<T>>>()?;
    Ok((axes, typed))
}

/// One row of a results CSV, its values typed on the way out.
pub struct Field<'a>(pub &'a HashMap<String, String>);

impl Field<'_> {
    pub fn text(&self, key: &str) -> String {
        self.0.get(key).cloned().unwrap_or_default()
    }

    pub fn number(&self, key: &str) -> anyhow::Result<f64> {
        let v = self.0.get(key).map(String::as_str).unwrap_or("");
        v.parse()
            .map_err(|_| anyhow::anyhow!("column {key}: \"{v}\" is not a number"))
    }

    /// A value that older files lack or leave empty.
    pub fn optional(&self, key: &str) -> Option<f64> {
        self.0
            .get(key)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite())
    }

    pub fn axes(&self, axes: &[String]) -> Vec<(String, String)> {
        axes.iter().map(|a| (a.clone(), self.text(a))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn appends_and_widens_without_losing_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        let (mut f, rows) = AppendCsv::open(&path, &cols(&["a", "b"])).unwrap();
        assert!(rows.is_empty());
        f.append(&[("a", "1".into()), ("b", "2".into())]).unwrap();
        drop(f);
        let (mut f, rows) = AppendCsv::open(&path, &cols(&["a", "x", "b"])).unwrap();
        assert_eq!(rows.len(), 1);
        f.append(&[("a", "3".into()), ("x", "9".into())]).unwrap();
        drop(f);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "a,x,b\n1,,2\n3,9,\n");
    }

    #[test]
    fn a_torn_last_row_is_moved_aside_and_the_file_rewritten_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        std::fs::write(&path, "a,b,c\n1,2,3\n4,5,6\ntamp,dead").unwrap();
        let (mut f, rows) = AppendCsv::open(&path, &cols(&["a", "b", "c"])).unwrap();
        assert_eq!(rows.len(), 2);
        f.append(&[("a", "7".into()), ("b", "8".into()), ("c", "9".into())])
            .unwrap();
        drop(f);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "a,b,c\n1,2,3\n4,5,6\n7,8,9\n"
        );
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("runs-torn-") && n.ends_with(".csv"))
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(&aside[0])).unwrap(),
            "tamp,dead"
        );
    }

    #[test]
    fn a_last_row_without_its_newline_counts_as_torn_even_with_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.csv");
        std::fs::write(&path, "a,b\n1,2\n3,4").unwrap();
        let c = read_contents(&path).unwrap();
        assert_eq!(c.rows.len(), 1);
        assert_eq!(
            c.torn,
            Some(TornTail {
                line: 3,
                bytes: b"3,4".to_vec()
            })
        );
        let (header, rows) = read(&path).unwrap();
        assert_eq!((header.len(), rows.len()), (2, 1));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "a,b\n1,2\n3,4",
            "a reader leaves the file as it is"
        );
    }

    #[test]
    fn a_whole_file_has_no_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        std::fs::write(&path, "a,b\n1,\"x\ny\"\n3,4\n").unwrap();
        let c = read_contents(&path).unwrap();
        assert_eq!(c.rows.len(), 2);
        assert_eq!(c.rows[0]["b"], "x\ny");
        assert!(c.torn.is_none());
    }

    #[test]
    fn a_malformed_row_in_the_middle_is_an_error_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        std::fs::write(&path, "a,b\n1,2\n3\n5,6\n").unwrap();
        let e = format!("{:#}", read(&path).unwrap_err());
        assert!(e.contains("runs.csv: line 3: malformed CSV"), "{e}");
        let e = format!(
            "{:#}",
            AppendCsv::open(&path, &cols(&["a", "b"])).err().unwrap()
        );
        assert!(e.contains("line 3"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "a,b\n1,2\n3\n5,6\n",
            "left as it was"
        );
    }
}
