//! Append-only CSV files whose header may grow: old rows are kept under a widened header.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::Context;

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
    /// end, so no value is lost.
    pub fn open(path: &Path, wanted: &[String]) -> anyhow::Result<(AppendCsv, Rows)> {
        let (old_header, rows) = if path.exists() {
            read(path)?
        } else {
            (Vec::new(), Vec::new())
        };
        let mut header: Vec<String> = wanted.to_vec();
        for c in &old_header {
            if !header.contains(c) {
                header.push(c.clone());
            }
        }
        let fresh = !path.exists() || old_header != header;
        let file = if fresh {
            let tmp = path.with_extension("csv.tmp");
            {
                let mut w = csv::Writer::from_path(&tmp)
                    .with_context(|| format!("cannot write {}", tmp.display()))?;
                w.write_record(&header)?;
                for r in &rows {
                    w.write_record(
                        header
                            .iter()
                            .map(|h| r.get(h).map(String::as_str).unwrap_or("")),
                    )?;
                }
                w.flush()?;
            }
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            OpenOptions::new().append(true).open(path)
        } else {
            OpenOptions::new().append(true).open(path)
        }
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

    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.writer
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// Reads a whole CSV file with a header into maps; errors name the file and line.
pub fn read(path: &Path) -> anyhow::Result<(Vec<String>, Rows)> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("{}: bad header", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record =
            record.with_context(|| format!("{}: line {}: malformed CSV", path.display(), i + 2))?;
        rows.push(
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_string))
                .collect(),
        );
    }
    Ok((header, rows))
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
}
