//! `veil_jobs`: the support library every code request is compiled with.
//!
//! Built once as a shared library (a Rust `dylib`) holding the whole dependency set. The datasite
//! compiles each submitted function against it, after `use veil_jobs::prelude::*;` and before a
//! generated `main` that loads the function's inputs from
//! the working directory (`in/<n>.parquet`, `in/<n>.f64.npy`, `in/<n>.i64.npy`, `in/<n>.json`), calls
//! it and writes what it returned (`out.parquet`, `out.f64.npy`, `out.i64.npy` or `out.json`).
//!
//! Exit codes the datasite reads: 0 done, 3 the function returned an `Err`, 4 an input did not fit its
//! parameter, 5 the output could not be written; a panic exits with 101.

#![allow(missing_docs)]

use std::fmt::Display;
use std::fs::File;
use std::path::{Path, PathBuf};

use ndarray::{ArrayBase, ArrayD, Dimension, OwnedRepr};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use polars::prelude::{DataFrame, ParquetReader, ParquetWriter, SerReader};

/// What a submitted function has in scope: polars' prelude, the common ndarray names, serde.
pub mod prelude {
    pub use ndarray::{
        Array, Array0, Array1, Array2, Array3, ArrayBase, ArrayD, ArrayView, ArrayView1,
        ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Dimension, Ix1, Ix2, IxDyn, ShapeBuilder,
        Zip, array, concatenate, s, stack,
    };
    pub use polars::prelude::*;
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::{self, json};
}

/// Why a job stopped early.
pub enum Failure {
    /// The function returned an `Err` (exit 3).
    Returned(String),
    /// An input did not fit its parameter (exit 4).
    Input(String),
    /// The output could not be written (exit 5).
    Output(String),
}

/// Runs a job: the generated `main` calls this with the code that loads inputs, calls the function and
/// writes its output.
///
/// Generic code is compiled into every job, so each generic function here is a thin shell around
/// one that is compiled once, in the library.
pub fn main(job: impl FnOnce(&Job) -> Result<(), Failure>) {
    finish(job(&Job {
        dir: PathBuf::from("."),
    }))
}

fn finish(outcome: Result<(), Failure>) {
    let (code, message) = match outcome {
        Ok(()) => return,
        Err(Failure::Returned(m)) => (3, format!("the function returned an error: {m}")),
        Err(Failure::Input(m)) => (4, m),
        Err(Failure::Output(m)) => (5, format!("the result could not be written: {m}")),
    };
    eprintln!("veil: {message}");
    std::process::exit(code);
}

/// The job's working directory.
pub struct Job {
    dir: PathBuf,
}

impl Job {
    /// Input `index` (parameter `param`), loaded as the parameter's type.
    pub fn input<T: Input>(&self, index: usize, param: &str) -> Result<T, Failure> {
        let (path, kind) = self.locate(index, param)?;
        T::load(&path, kind).map_err(|wanted| mismatch(param, wanted, kind))
    }

    /// Input `index`'s file and how it was stored.
    fn locate(&self, index: usize, param: &str) -> Result<(PathBuf, InputKind), Failure> {
        let dir = self.dir.join("in");
        let prefix = format!("{index}.");
        let file = std::fs::read_dir(&dir)
            .map_err(|e| Failure::Input(format!("reading {}: {e}", dir.display())))?
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .ok_or_else(|| Failure::Input(format!("input {index} (`{param}`) is missing")))?;
        let name = file.file_name().to_string_lossy().into_owned();
        Ok((file.path(), InputKind::from_file_name(&name)))
    }

    /// Writes the function's output.
    pub fn output(&self, output: Result<Output, String>) -> Result<(), Failure> {
        let output = output.map_err(Failure::Returned)?;
        let fail = |e: &dyn Display| Failure::Output(e.to_string());
        match output {
            Output::Frame(mut df) => {
                let file = File::create(self.dir.join("out.parquet")).map_err(|e| fail(&e))?;
                ParquetWriter::new(file)
                    .finish(&mut df)
                    .map_err(|e| fail(&e))?;
            }
            Output::F64(a) => {
                let file = File::create(self.dir.join("out.f64.npy")).map_err(|e| fail(&e))?;
                a.write_npy(file).map_err(|e| fail(&e))?;
            }
            Output::I64(a) => {
                let file = File::create(self.dir.join("out.i64.npy")).map_err(|e| fail(&e))?;
                a.write_npy(file).map_err(|e| fail(&e))?;
            }
            Output::Json(v) => {
                let file = File::create(self.dir.join("out.json")).map_err(|e| fail(&e))?;
                serde_json::to_writer(file, &v).map_err(|e| fail(&e))?;
            }
        }
        Ok(())
    }
}

fn mismatch(param: &str, wanted: &str, kind: InputKind) -> Failure {
    Failure::Input(format!(
        "parameter `{param}` takes {wanted}, but its input is {}; change the parameter's type or bind another input",
        kind.describe()
    ))
}

/// How an input was stored.
#[derive(Clone, Copy)]
pub enum InputKind {
    Frame,
    F64,
    I64,
    Json,
}

impl InputKind {
    fn from_file_name(name: &str) -> InputKind {
        if name.ends_with(".parquet") {
            InputKind::Frame
        } else if name.ends_with(".f64.npy") {
            InputKind::F64
        } else if name.ends_with(".i64.npy") {
            InputKind::I64
        } else {
            InputKind::Json
        }
    }

    fn describe(self) -> &'static str {
        match self {
            InputKind::Frame => "a DataFrame",
            InputKind::F64 => "an array of f64",
            InputKind::I64 => "an array of i64",
            InputKind::Json => "a constant",
        }
    }
}

/// A type a parameter may have. `load` returns, on a mismatch, what the type takes.
pub trait Input: Sized {
    fn load(path: &Path, kind: InputKind) -> Result<Self, &'static str>;
}

fn open(path: &Path) -> Result<File, &'static str> {
    File::open(path).map_err(|_| "a readable input")
}

fn floats(path: &Path, kind: InputKind) -> Result<ArrayD<f64>, &'static str> {
    match kind {
        InputKind::F64 => ArrayD::<f64>::read_npy(open(path)?).map_err(|_| "an f64 array"),
        InputKind::I64 => Ok(ArrayD::<i64>::read_npy(open(path)?)
            .map_err(|_| "an i64 array")?
            .mapv(|v| v as f64)),
        _ => Err("an array"),
    }
}

fn integers(path: &Path, kind: InputKind) -> Result<ArrayD<i64>, &'static str> {
    match kind {
        InputKind::I64 => ArrayD::<i64>::read_npy(open(path)?).map_err(|_| "an i64 array"),
        _ => Err("an array of i64"),
    }
}

impl Input for DataFrame {
    fn load(path: &Path, kind: InputKind) -> Result<Self, &'static str> {
        match kind {
            InputKind::Frame => ParquetReader::new(open(path)?)
                .finish()
                .map_err(|_| "a DataFrame"),
            _ => Err("a DataFrame"),
        }
    }
}

impl<D: Dimension> Input for ArrayBase<OwnedRepr<f64>, D> {
    fn load(path: &Path, kind: InputKind) -> Result<Self, &'static str> {
        floats(path, kind)?
            .into_dimensionality::<D>()
            .map_err(|_| "an array of another number of dimensions")
    }
}

impl<D: Dimension> Input for ArrayBase<OwnedRepr<i64>, D> {
    fn load(path: &Path, kind: InputKind) -> Result<Self, &'static str> {
        integers(path, kind)?
            .into_dimensionality::<D>()
            .map_err(|_| "an array of another number of dimensions")
    }
}

macro_rules! json_input {
    ($($t:ty),*) => {$(
        impl Input for $t {
            fn load(path: &Path, kind: InputKind) -> Result<Self, &'static str> {
                let wanted = concat!("a constant of type `", stringify!($t), "`");
                match kind {
                    InputKind::Json => serde_json::from_reader(std::io::BufReader::new(open(path)?))
                        .map_err(|_| wanted),
                    _ => Err(wanted),
                }
            }
        }
    )*};
}
json_input!(
    f32,
    i64,
    i32,
    u32,
    u64,
    usize,
    bool,
    String,
    Vec<String>,
    Vec<bool>,
    serde_json::Value
);

// Numbers and lists of numbers come from a constant or from a (1-d) array.
impl Input for f64 {
    fn load(path: &Path, kind: InputKind) -> Result<Self, &'static str> {
        match kind {
            InputKind::Json => serde_json::from_reader(open(path)?).map_err(|_| "a number"),
            _ => {
                let a = floats(path, kind)?;
                match a.len() {
                    1 => Ok(a.iter().next().copied().unwrap_or_default()),
                    _ => Err("one number"),
                }
            }
        }
    }
}

impl Input for Vec<f64> {
    fn load(path: &Path, kind: InputKind) -> Result<Self, &'static str> {
        match kind {
            InputKind::Json => serde_json::from_reader(open(path)?).map_err(|_| "a list of numbers"),
            _ => Ok(floats(path, kind)?.iter().copied().collect()),
        }
    }
}

impl Input for Vec<i64> {
    fn load(path: &Path, kind: InputKind) -> Result<Self, &'static str> {
        match kind {
            InputKind::Json => {
                serde_json::from_reader(open(path)?).map_err(|_| "a list of integers")
            }
            _ => Ok(integers(path, kind)?.iter().copied().collect()),
        }
    }
}

/// What a function returned, ready to write.
pub enum Output {
    Frame(DataFrame),
    F64(ArrayD<f64>),
    I64(ArrayD<i64>),
    Json(serde_json::Value),
}

/// Frames and arrays, written in their own formats.
pub trait Known {
    fn known(&self) -> Result<Output, String>;
}

impl Known for DataFrame {
    fn known(&self) -> Result<Output, String> {
        Ok(Output::Frame(self.clone()))
    }
}

macro_rules! known_array {
    ($t:ty => $variant:ident, $as:ty) => {
        impl<D: Dimension> Known for ArrayBase<OwnedRepr<$t>, D> {
            fn known(&self) -> Result<Output, String> {
                Ok(Output::$variant(self.mapv(|v| v as $as).into_dyn()))
            }
        }
    };
}
known_array!(f64 => F64, f64);
known_array!(f32 => F64, f64);
known_array!(i64 => I64, i64);
known_array!(i32 => I64, i64);
known_array!(u32 => I64, i64);
known_array!(usize => I64, i64);

impl<T: Known, E: Display> Known for Result<T, E> {
    fn known(&self) -> Result<Output, String> {
        match self {
            Ok(v) => v.known(),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The generated `main` wraps the function's value in `Out` and calls `(&&&Out(value)).veil_output()`:
/// method lookup tries `&&&Out` (frames and arrays), then `&&Out` (a `Result` of a serialisable value),
/// then `&Out` (any serialisable value), so the most specific writer wins without specialisation.
pub struct Out<T>(pub T);

pub trait ViaKnown {
    fn veil_output(&self) -> Result<Output, String>;
}

impl<T: Known> ViaKnown for &&Out<T> {
    fn veil_output(&self) -> Result<Output, String> {
        self.0.known()
    }
}

pub trait ViaResult {
    fn veil_output(&self) -> Result<Output, String>;
}

impl<T: serde::Serialize, E: Display> ViaResult for &Out<Result<T, E>> {
    fn veil_output(&self) -> Result<Output, String> {
        match &self.0 {
            Ok(v) => json(v),
            Err(e) => Err(e.to_string()),
        }
    }
}

pub trait ViaSerialize {
    fn veil_output(&self) -> Result<Output, String>;
}

impl<T: serde::Serialize> ViaSerialize for Out<T> {
    fn veil_output(&self) -> Result<Output, String> {
        json(&self.0)
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<Output, String> {
    serde_json::to_value(value)
        .map(Output::Json)
        .map_err(|e| format!("it cannot be written as JSON: {e}"))
}
