//! The values an asset holds: a polars `DataFrame` or an ndarray array of `f64` or `i64`; and, for
//! the results of code requests, any value serde can write as JSON.
//!
//! On disk frames are Parquet, arrays are `.npy` and other values JSON, all self-describing, so a blob
//! can be checked and opened by other tools during an audit.

use std::fmt;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};

use ndarray::{ArrayD, Axis, Dimension};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use polars::io::mmap::MmapBytesReader;
use polars::prelude::{DataFrame, ParquetReader, ParquetWriter, SerReader};

use crate::display::{self, Render, Table};
use crate::error::{Error, Result};
use crate::plot::Plot;
use veil_api::kernel::PlotSpec;

/// A frame or an array: what an asset's real data and mock are made of.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// A polars data frame.
    Frame(DataFrame),
    /// An n-dimensional array of floats.
    F64(ArrayD<f64>),
    /// An n-dimensional array of integers.
    I64(ArrayD<i64>),
    /// Any other value, as JSON: what a code request returns when it is not a frame or an array (a
    /// number, a struct, a map of metrics). Assets never hold one.
    Json(serde_json::Value),
}

pub use veil_api::view::{DataKind, Schema};

/// The kind named `s` as the datasite stores it, or a corrupt-storage error.
pub(crate) fn parse_kind(s: &str) -> Result<DataKind> {
    DataKind::parse(s)
        .ok_or_else(|| Error::corrupt("reading an asset", format!("unknown data kind `{s}`")))
}

impl Data {
    /// The kind of value.
    pub fn kind(&self) -> DataKind {
        match self {
            Data::Frame(_) => DataKind::Frame,
            Data::F64(_) => DataKind::ArrayF64,
            Data::I64(_) => DataKind::ArrayI64,
            Data::Json(_) => DataKind::Json,
        }
    }

    /// About how many bytes the value occupies in memory.
    pub fn approx_bytes(&self) -> usize {
        match self {
            Data::Frame(df) => df.estimated_size(),
            Data::F64(a) => a.len() * size_of::<f64>(),
            Data::I64(a) => a.len() * size_of::<i64>(),
            Data::Json(v) => v.to_string().len(),
        }
    }

    /// About how many bytes the value costs in memory, its own bookkeeping included: for a small
    /// value that is most of it (measured with a counting allocator: three numbers in an array take
    /// 160 bytes, a one-row frame of three columns 1.5 KB, a small JSON object 780 bytes).
    pub fn footprint(&self) -> usize {
        /// The value's header, its shape and the shared pointer it is kept behind.
        const VALUE: usize = 144;
        /// A frame column's own: its name, type, chunk list and buffer headers.
        const COLUMN: usize = 512;
        VALUE
            + match self {
                Data::Frame(df) => df.estimated_size() + COLUMN * df.width(),
                // Parsed JSON keeps each map in tree nodes of a few hundred bytes.
                Data::Json(v) => 512 + 8 * v.to_string().len(),
                Data::F64(_) | Data::I64(_) => self.approx_bytes(),
            }
    }

    /// Draws `spec` of this value (see [`crate::plot`]).
    pub fn plot(&self, spec: PlotSpec) -> Result<Plot> {
        crate::plot::draw(self, &spec)
    }

    /// Rows and columns of a frame, or the array's shape.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Data::Frame(df) => vec![df.height(), df.width()],
            Data::F64(a) => a.shape().to_vec(),
            Data::I64(a) => a.shape().to_vec(),
            Data::Json(v) => match v {
                serde_json::Value::Array(items) => vec![items.len()],
                serde_json::Value::Object(fields) => vec![fields.len()],
                _ => vec![],
            },
        }
    }

    /// The schema a mock must share with the data.
    pub fn schema(&self) -> Schema {
        match self {
            Data::Frame(df) => Schema::Frame {
                columns: df
                    .columns()
                    .iter()
                    .map(|c| (c.name().to_string(), c.dtype().to_string()))
                    .collect(),
            },
            Data::F64(a) => Schema::Array {
                dtype: "f64".into(),
                trailing: a.shape().iter().skip(1).copied().collect(),
            },
            Data::I64(a) => Schema::Array {
                dtype: "i64".into(),
                trailing: a.shape().iter().skip(1).copied().collect(),
            },
            Data::Json(_) => Schema::Json,
        }
    }

    /// The frame, if this is one.
    pub fn as_frame(&self) -> Option<&DataFrame> {
        match self {
            Data::Frame(df) => Some(df),
            _ => None,
        }
    }

    /// The `f64` array, if this is one.
    pub fn as_f64(&self) -> Option<&ArrayD<f64>> {
        match self {
            Data::F64(a) => Some(a),
            _ => None,
        }
    }

    /// The `i64` array, if this is one.
    pub fn as_i64(&self) -> Option<&ArrayD<i64>> {
        match self {
            Data::I64(a) => Some(a),
            _ => None,
        }
    }

    /// The JSON value, if this is one.
    pub fn as_json(&self) -> Option<&serde_json::Value> {
        match self {
            Data::Json(v) => Some(v),
            _ => None,
        }
    }

    /// Checks that `mock` may stand in for `self`: same kind and same schema.
    pub(crate) fn check_mock(&self, asset: &str, mock: &Data) -> Result<()> {
        let what = format!("mock of asset `{asset}`");
        if self.kind() != mock.kind() {
            return Err(Error::invalid(
                what,
                format!(
                    "the data is a {} but the mock is a {}",
                    self.kind(),
                    mock.kind()
                ),
                "build the mock with the same type as the data",
            ));
        }
        if self == mock {
            return Err(Error::invalid(
                what,
                "it is the real data itself, so every scientist would see the real values",
                "make a mock that keeps the schema and not the values (`mock::shift_and_jitter(&frame, seed)`), or declare `Asset::no_mock()`",
            ));
        }
        let (data, mock) = (self.schema(), mock.schema());
        if data != mock {
            let problem = match (&data, &mock) {
                (Schema::Frame { columns: d }, Schema::Frame { columns: m }) => {
                    frame_schema_difference(d, m)
                }
                _ => format!("the data has schema {data} but the mock has {mock}"),
            };
            return Err(Error::invalid(
                what,
                problem,
                "give the mock the same columns, in the same order and with the same types, as the data",
            ));
        }
        Ok(())
    }

    /// Encodes as Parquet (frames) or `.npy` (arrays).
    /// The bytes the datasite stores and sends it as: Parquet for a frame, `.npy` for an array, JSON
    /// for a value.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        match self {
            Data::Frame(df) => {
                ParquetWriter::new(&mut buf)
                    .finish(&mut df.clone())
                    .map_err(Error::data("encoding a frame as Parquet"))?;
            }
            Data::F64(a) => a
                .write_npy(&mut buf)
                .map_err(npy_error("encoding an array"))?,
            Data::I64(a) => a
                .write_npy(&mut buf)
                .map_err(npy_error("encoding an array"))?,
            Data::Json(v) => {
                serde_json::to_writer(&mut buf, v).map_err(npy_error("encoding JSON"))?
            }
        }
        Ok(buf)
    }

    /// A value from the bytes [`Data::encode`] made for one of `kind`; see [`Data::read`].
    pub fn decode(kind: DataKind, bytes: &[u8]) -> Result<Data> {
        Data::read(kind, Cursor::new(bytes))
    }

    /// A value of `kind` read from `source`: bytes in memory, or a file (a served datasite writes
    /// each part of an upload to one as it arrives, and Parquet is read from it in place).
    ///
    /// The bytes may come from anyone (an owner's upload, a code run's output): what they declare
    /// is checked before anything is allocated for it. An array's shape must account for exactly
    /// the bytes that follow its header, and a frame may not declare more than
    /// [`MAX_DECODED_BYTES`] in its metadata (its sizes, and 16 bytes per row and column), so a
    /// small forged header cannot make the datasite allocate terabytes. Not bounded: Parquet page
    /// headers, which may still claim large pages within a small file (a code run's forged
    /// `out.parquet` is decoded in the datasite process; see the crate's `# Security model`).
    pub fn read(kind: DataKind, mut source: impl MmapBytesReader) -> Result<Data> {
        Ok(match kind {
            DataKind::Frame => {
                let mut reader = ParquetReader::new(source);
                let declared: usize = reader
                    .get_metadata()
                    .map_err(Error::data("decoding a Parquet frame"))?
                    .row_groups
                    .iter()
                    .fold(0usize, |sum, g| {
                        // What the file says it holds, and at least 16 bytes per row and column
                        // (a string view) whatever it says.
                        let cells = g.num_rows().saturating_mul(g.parquet_columns().len());
                        sum.saturating_add(g.total_byte_size().max(cells.saturating_mul(16)))
                    });
                if declared > MAX_DECODED_BYTES {
                    return Err(too_big("a Parquet frame", declared));
                }
                Data::Frame(
                    reader
                        .finish()
                        .map_err(Error::data("decoding a Parquet frame"))?,
                )
            }
            DataKind::ArrayF64 => {
                check_npy(&mut source)?;
                Data::F64(
                    ArrayD::<f64>::read_npy(BufReader::new(source))
                        .map_err(npy_error("decoding an array"))?,
                )
            }
            DataKind::ArrayI64 => {
                check_npy(&mut source)?;
                Data::I64(
                    ArrayD::<i64>::read_npy(BufReader::new(source))
                        .map_err(npy_error("decoding an array"))?,
                )
            }
            DataKind::Json => Data::Json(
                serde_json::from_reader(BufReader::new(source))
                    .map_err(npy_error("decoding JSON"))?,
            ),
        })
    }

    /// The first `n` rows (of a frame, or along an array's first axis) as a header and string cells.
    pub(crate) fn preview(&self, n: usize) -> (Vec<String>, Vec<Vec<String>>) {
        match self {
            Data::Frame(df) => {
                let headers = df.columns().iter().map(|c| c.name().to_string()).collect();
                let head = df.head(Some(n));
                let rows = (0..head.height())
                    .filter_map(|i| head.get(i))
                    .map(|row| row.iter().map(|v| any_value(v)).collect())
                    .collect();
                (headers, rows)
            }
            Data::F64(a) => array_preview(a, n),
            Data::I64(a) => array_preview(a, n),
            Data::Json(v) => json_preview(v, n),
        }
    }

    /// A one-line description: kind and shape.
    pub fn describe(&self) -> String {
        match self {
            Data::Json(serde_json::Value::Array(items)) => format!("list of {}", items.len()),
            Data::Json(serde_json::Value::Object(fields)) => {
                format!("record of {} fields", fields.len())
            }
            Data::Json(_) => "value".into(),
            _ => format!("{} {}", self.kind(), shape_text(&self.shape())),
        }
    }

    pub(crate) fn preview_table(&self, title: &str, n: usize) -> Table {
        let (headers, rows) = self.preview(n);
        let mut table = Table::new(title).headers(headers);
        table.rows = rows;
        let total = self.shape().first().copied().unwrap_or(0);
        if total > n {
            table
                .notes
                .push(format!("{} — first {n} of {total} rows", self.describe()));
        } else {
            table.notes.push(self.describe());
        }
        table
    }
}

veil_api::plot_methods!(Data);

impl Render for Data {
    fn text(&self) -> String {
        self.preview_table("Data", 10).text()
    }

    fn html(&self) -> String {
        self.preview_table("Data", 10).html()
    }
}

impl fmt::Display for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

fn frame_schema_difference(data: &[(String, String)], mock: &[(String, String)]) -> String {
    for (d, m) in data.iter().zip(mock) {
        if d.0 != m.0 {
            return format!("the data has column `{}` where the mock has `{}`", d.0, m.0);
        }
        if d.1 != m.1 {
            return format!(
                "column `{}` is {} in the data but {} in the mock",
                d.0, d.1, m.1
            );
        }
    }
    if data.len() > mock.len() {
        format!("the mock lacks column `{}`", data[mock.len()].0)
    } else {
        format!("the mock has an extra column `{}`", mock[data.len()].0)
    }
}

pub(crate) fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("({})", dims.join(" × "))
}

fn any_value(v: &polars::prelude::AnyValue<'_>) -> String {
    use polars::prelude::AnyValue;
    match v {
        AnyValue::Null => "null".into(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        other => other.to_string(),
    }
}

fn array_preview<T: fmt::Display>(a: &ArrayD<T>, n: usize) -> (Vec<String>, Vec<Vec<String>>) {
    match a.ndim() {
        0 => (
            vec!["value".into()],
            vec![vec![
                a.iter().next().map(|v| v.to_string()).unwrap_or_default(),
            ]],
        ),
        1 => (
            vec!["value".into()],
            a.iter().take(n).map(|v| vec![v.to_string()]).collect(),
        ),
        _ => {
            let row_len: usize = a.shape()[1..].iter().product();
            let shown = row_len.min(20);
            let mut headers: Vec<String> = if a.ndim() == 2 {
                (0..shown).map(|i| i.to_string()).collect()
            } else {
                (0..shown).map(|i| format!("[{i}]")).collect()
            };
            if row_len > shown {
                headers.push("…".into());
            }
            let rows = a
                .axis_iter(Axis(0))
                .take(n)
                .map(|row| {
                    let mut cells: Vec<String> =
                        row.iter().take(shown).map(|v| v.to_string()).collect();
                    if row_len > shown {
                        cells.push("…".into());
                    }
                    cells
                })
                .collect();
            (headers, rows)
        }
    }
}

/// An object as `key | value` rows, an array of objects as a table, anything else as one `value` cell.
fn json_preview(v: &serde_json::Value, n: usize) -> (Vec<String>, Vec<Vec<String>>) {
    use serde_json::Value;
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match v {
        Value::Object(fields) => (
            vec!["key".into(), "value".into()],
            fields
                .iter()
                .take(n)
                .map(|(k, v)| vec![k.clone(), cell(v)])
                .collect(),
        ),
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
            let mut headers: Vec<String> = Vec::new();
            for item in items {
                for k in item.as_object().into_iter().flat_map(|o| o.keys()) {
                    if !headers.contains(k) {
                        headers.push(k.clone());
                    }
                }
            }
            let rows = items
                .iter()
                .take(n)
                .map(|item| {
                    headers
                        .iter()
                        .map(|h| item.get(h).map(cell).unwrap_or_default())
                        .collect()
                })
                .collect();
            (headers, rows)
        }
        Value::Array(items) => (
            vec!["value".into()],
            items.iter().take(n).map(|v| vec![cell(v)]).collect(),
        ),
        other => (vec!["value".into()], vec![vec![cell(other)]]),
    }
}

/// The most bytes one value may declare when it is decoded: the real side's replay budget (a
/// replay holds at most this much at once), so no value it could not hold is ever allocated.
pub const MAX_DECODED_BYTES: usize = 4 << 30;

fn too_big(what: &str, declared: usize) -> Error {
    Error::Data {
        context: format!("decoding {what}"),
        message: format!(
            "it declares {} uncompressed, over the {} a value may hold; send a smaller value",
            display::human_bytes(declared as u64),
            display::human_bytes(MAX_DECODED_BYTES as u64)
        ),
    }
}

/// Ok if the `.npy` header at the start of `source` declares a shape of 8-byte elements that the
/// bytes after it hold exactly: checked before the reader allocates for the shape. Leaves `source`
/// at its start.
fn check_npy(source: &mut (impl Read + Seek)) -> Result<()> {
    let context = "decoding an array";
    let header =
        ndarray_npy::npy::header::Header::from_reader(&mut *source).map_err(npy_error(context))?;
    let io = |e: std::io::Error| Error::Data {
        context: context.into(),
        message: e.to_string(),
    };
    let start = source.stream_position().map_err(io)?;
    let follow = source.seek(SeekFrom::End(0)).map_err(io)? - start;
    source.rewind().map_err(io)?;
    let declared = header
        .shape
        .iter()
        .try_fold(8usize, |n, &d| n.checked_mul(d))
        .unwrap_or(usize::MAX);
    if declared > MAX_DECODED_BYTES {
        return Err(too_big("an array", declared));
    }
    if declared as u64 != follow {
        return Err(Error::Data {
            context: context.into(),
            message: format!(
                "its header declares shape {:?} ({declared} bytes) but {follow} bytes follow it",
                header.shape,
            ),
        });
    }
    Ok(())
}

fn npy_error<E: fmt::Display>(context: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::Data {
        context: context.into(),
        message: e.to_string(),
    }
}

impl From<DataFrame> for Data {
    fn from(df: DataFrame) -> Data {
        Data::Frame(df)
    }
}

impl<D: Dimension> From<ndarray::Array<f64, D>> for Data {
    fn from(a: ndarray::Array<f64, D>) -> Data {
        Data::F64(a.into_dyn())
    }
}

impl<D: Dimension> From<ndarray::Array<i64, D>> for Data {
    fn from(a: ndarray::Array<i64, D>) -> Data {
        Data::I64(a.into_dyn())
    }
}

impl TryFrom<Data> for DataFrame {
    type Error = Error;
    fn try_from(d: Data) -> Result<DataFrame> {
        match d {
            Data::Frame(df) => Ok(df),
            other => Err(kind_mismatch("a DataFrame", &other)),
        }
    }
}

impl TryFrom<Data> for ArrayD<f64> {
    type Error = Error;
    fn try_from(d: Data) -> Result<ArrayD<f64>> {
        match d {
            Data::F64(a) => Ok(a),
            other => Err(kind_mismatch("an Array<f64>", &other)),
        }
    }
}

impl TryFrom<Data> for ArrayD<i64> {
    type Error = Error;
    fn try_from(d: Data) -> Result<ArrayD<i64>> {
        match d {
            Data::I64(a) => Ok(a),
            other => Err(kind_mismatch("an Array<i64>", &other)),
        }
    }
}

fn kind_mismatch(wanted: &str, got: &Data) -> Error {
    Error::invalid(
        "conversion",
        format!("wanted {wanted} but the value is a {}", got.kind()),
        "match on `Data` or convert to the type the asset holds",
    )
}

/// The displayed shape of a stored blob, for listings that do not load it.
pub(crate) fn shape_from_json(json: &str) -> Vec<usize> {
    serde_json::from_str(json).unwrap_or_default()
}

pub(crate) fn render_preview(data: &Data, title: &str, rows: usize) -> (String, String) {
    let table = data.preview_table(title, rows);
    let (headers, body) = (table.headers.clone(), table.rows.clone());
    let mut html = display::title_html(title);
    for n in &table.notes {
        html.push_str(&display::muted_html(n));
    }
    html.push_str(&display::html_table(&headers, &body));
    (table.text(), html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use polars::prelude::*;

    /// An `.npy` file of `<f8` whose header declares `shape` (a Python tuple), followed by `body`.
    fn forged_npy(shape: &str, body: &[u8]) -> Vec<u8> {
        let mut dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + dict.len() + 1) % 64 != 0 {
            dict.push(' ');
        }
        dict.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((dict.len() as u16).to_le_bytes());
        out.extend(dict.as_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn a_forged_header_is_refused_before_anything_is_allocated() {
        let two = forged_npy("(2,)", &[0; 16]);
        assert_eq!(
            Data::decode(DataKind::ArrayF64, &two).unwrap(),
            Data::F64(array![0.0, 0.0].into_dyn())
        );
        // 2^50 elements from a 100-byte file: on main this aborted the process allocating 8 PiB.
        for (shape, body) in [
            ("(1125899906842624,)", 16),
            ("(4294967296, 4294967296, 4294967296)", 0),
            ("(3,)", 16),
            ("(1,)", 16),
        ] {
            let err = Data::decode(DataKind::ArrayF64, &forged_npy(shape, &vec![0; body]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("over the 4.0 GiB a value may hold")
                    || err.contains("bytes follow it"),
                "{shape}: {err}"
            );
        }
        let err = Data::decode(DataKind::ArrayI64, &forged_npy("(1125899906842624,)", &[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("a value may hold"), "{err}");
    }

    fn frame() -> DataFrame {
        DataFrame::new_infer_height(vec![
            Column::new("a".into(), [1.0, 2.0, 3.0]),
            Column::new("b".into(), ["x", "y", "z"]),
        ])
        .unwrap()
    }

    #[test]
    fn frames_and_arrays_round_trip() {
        for data in [
            Data::from(frame()),
            Data::from(array![[1.0, 2.0], [3.0, 4.5]]),
            Data::from(array![1_i64, 2, 3]),
        ] {
            let bytes = data.encode().unwrap();
            assert_eq!(Data::decode(data.kind(), &bytes).unwrap(), data);
        }
    }

    #[test]
    fn mock_must_match_kind_and_schema() {
        let data = Data::from(frame());
        let renamed = DataFrame::new_infer_height(vec![
            Column::new("a".into(), [1.0]),
            Column::new("c".into(), ["x"]),
        ])
        .unwrap();
        let err = data.check_mock("t", &Data::from(renamed)).unwrap_err();
        assert!(
            err.to_string()
                .contains("column `b` where the mock has `c`"),
            "{err}"
        );

        let retyped = DataFrame::new_infer_height(vec![
            Column::new("a".into(), [1_i64]),
            Column::new("b".into(), ["x"]),
        ])
        .unwrap();
        let err = data.check_mock("t", &Data::from(retyped)).unwrap_err();
        assert!(
            err.to_string()
                .contains("column `a` is f64 in the data but i64"),
            "{err}"
        );

        let err = data.check_mock("t", &Data::from(array![1.0])).unwrap_err();
        assert!(
            err.to_string()
                .contains("data is a DataFrame but the mock is a Array<f64>"),
            "{err}"
        );

        // Fewer rows is fine; a different trailing dimension is not.
        let arr = Data::from(array![[1.0, 2.0], [3.0, 4.0]]);
        arr.check_mock("t", &Data::from(array![[0.0, 0.0]]))
            .unwrap();
        assert!(
            arr.check_mock("t", &Data::from(array![[0.0, 0.0, 0.0]]))
                .is_err()
        );
    }

    #[test]
    fn previews() {
        let (headers, rows) = Data::from(frame()).preview(2);
        assert_eq!(headers, ["a", "b"]);
        assert_eq!(rows, [["1.0", "x"], ["2.0", "y"]]);
        let (_, rows) = Data::from(array![1_i64, 2, 3]).preview(5);
        assert_eq!(rows.len(), 3);
        let html = Data::from(frame()).html();
        assert!(
            html.contains(">a</th>") && html.contains("<th style="),
            "{html}"
        );
    }
}
