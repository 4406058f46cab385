//! One-line loaders for the files tutorials start from.

use std::fs::File;
use std::path::Path;

use polars::prelude::{CsvReadOptions, DataFrame, ParquetReader, SerReader};

use crate::error::{Error, Result};

/// Reads a CSV file with a header row into a frame, inferring column types from the whole file.
pub fn read_csv(path: impl AsRef<Path>) -> Result<DataFrame> {
    let path = existing_file(path.as_ref())?;
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(None)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|reader| reader.finish())
        .map_err(Error::data(format!("reading CSV file {}", path.display())))
}

/// Reads a Parquet file into a frame.
pub fn read_parquet(path: impl AsRef<Path>) -> Result<DataFrame> {
    let path = existing_file(path.as_ref())?;
    let file = File::open(path).map_err(Error::io(format!("opening {}", path.display())))?;
    ParquetReader::new(file)
        .finish()
        .map_err(Error::data(format!(
            "reading Parquet file {}",
            path.display()
        )))
}

fn existing_file(path: &Path) -> Result<&Path> {
    if path.is_file() {
        return Ok(path);
    }
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "the current directory".into());
    Err(Error::not_found(
        "file",
        path.display().to_string(),
        format!("check the path; relative paths start from {cwd}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::ParquetWriter;

    #[test]
    fn csv_and_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("t.csv");
        std::fs::write(&csv, "a,b\n1,x\n2.5,y\n").unwrap();
        let mut df = read_csv(&csv).unwrap();
        assert_eq!(df.shape(), (2, 2));
        assert_eq!(df.column("a").unwrap().dtype().to_string(), "f64");

        let pq = dir.path().join("t.parquet");
        ParquetWriter::new(File::create(&pq).unwrap())
            .finish(&mut df)
            .unwrap();
        assert_eq!(read_parquet(&pq).unwrap(), df);

        let err = read_csv(dir.path().join("missing.csv")).unwrap_err();
        assert!(matches!(err, Error::NotFound { kind: "file", .. }));
        assert!(err.to_string().contains("missing.csv"), "{err}");
    }
}
