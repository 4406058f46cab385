//! Data as cells see it: handles on frames and arrays the kernel holds, the mock recipes, and the
//! dataset builders that upload them.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use veil_api::ops::Op;

use veil_api::kernel::{DataInfo, Picture, PlotSpec};
use veil_api::view::DataKind;

use crate::bridge::{Handle, Held, KernelCall, Result, call, live, rich_via_rendered};

/// A plot the kernel drew of a frame: a cell ending with it shows the picture (a Vega-Lite chart in
/// JupyterLab, its SVG elsewhere).
#[derive(Debug, Clone)]
pub struct Plot(Picture);

impl Plot {
    /// What it shows, in words.
    pub fn title(&self) -> &str {
        &self.0.title
    }

    /// The picture as an SVG document (to save as a file).
    pub fn svg(&self) -> &str {
        &self.0.svg
    }

    /// The picture as a Vega-Lite v5 spec.
    pub fn vega_lite(&self) -> &Value {
        &self.0.vega_lite
    }

    /// evcxr's display hook: a cell whose value is a plot shows it.
    pub fn evcxr_display(&self) {
        crate::evcxr_show(self);
    }
}

impl crate::Rich for Plot {
    fn bundle(&self) -> Vec<(&'static str, String)> {
        vec![
            ("text/plain", self.0.title.clone()),
            ("image/svg+xml", self.0.svg.clone()),
            (VEGA_LITE, self.0.vega_lite.to_string()),
        ]
    }
}

/// Vega-Lite's MIME type, which JupyterLab draws with the Vega it bundles.
pub const VEGA_LITE: &str = "application/vnd.vegalite.v5+json";

/// A polars frame or an ndarray array held by the kernel. Cheap to clone; the kernel frees it when
/// the last clone is dropped.
#[derive(Clone)]
pub struct Data {
    handle: Arc<Handle>,
    info: DataInfo,
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Data({} {:?})", self.info.kind, self.info.shape)
    }
}

impl Data {
    pub(crate) fn from_held(held: Held<DataInfo>) -> Data {
        let (handle, info) = Handle::held(held);
        Data { handle, info }
    }

    fn ask(call: KernelCall) -> Result<Data> {
        crate::bridge::call(call).map(Data::from_held)
    }

    pub(crate) fn id(&self) -> u64 {
        self.handle.id()
    }

    /// A frame, an array of `f64` or `i64`, or a JSON value (what a code request returned); it
    /// displays as `DataFrame`, `Array<f64>`, `Array<i64>` or `value`.
    pub fn kind(&self) -> DataKind {
        self.info.kind
    }

    /// Rows × columns for a frame; the array's shape otherwise.
    pub fn shape(&self) -> &[usize] {
        &self.info.shape
    }

    /// A frame's column names (empty for arrays).
    pub fn columns(&self) -> &[String] {
        &self.info.columns
    }

    /// Draws `spec` of this frame.
    pub fn plot(&self, spec: PlotSpec) -> Result<Plot> {
        call(KernelCall::Plot {
            data: self.id(),
            plot: spec,
        })
        .map(Plot)
    }

    /// The frame without `column`.
    pub fn drop(&self, column: &str) -> Result<Data> {
        self.drop_many([column])
    }

    /// The frame without `columns`.
    pub fn drop_many<S: AsRef<str>>(&self, columns: impl IntoIterator<Item = S>) -> Result<Data> {
        let columns: Vec<String> = columns
            .into_iter()
            .map(|c| c.as_ref().to_string())
            .collect();
        Data::ask(KernelCall::Drop {
            data: self.id(),
            columns,
        })
    }

    /// An array's values in row-major order (a 0-d result such as a sum gives one value).
    pub fn values(&self) -> Result<Vec<f64>> {
        // JSON has no NaN or infinities: the kernel sends them as `null`.
        let values: Vec<Option<f64>> = call(KernelCall::Values { data: self.id() })?;
        Ok(values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }

    /// The one number this holds: a number a code request returned, or a one-value array such as a
    /// sum.
    pub fn number(&self) -> Result<f64> {
        match self.values()?.as_slice() {
            [v] => Ok(*v),
            values => Err(crate::Error::new(
                "TypeMismatch",
                format!(
                    "this holds {} values, not one; read them with `.values()`",
                    values.len()
                ),
            )),
        }
    }

    /// The value as JSON: what a code request returned (a struct, a map of metrics, ...), or an
    /// array's `shape` and `values`.
    pub fn json(&self) -> Result<Value> {
        call(KernelCall::Json { data: self.id() })
    }

    /// Runs `op` on this value (and `others`) here, in the kernel: the same ops, by the same names,
    /// as a pointer's (`sum`, `column`, `filter`, `+`, ...), on data the cell holds, recorded nowhere.
    pub fn apply(&self, op: Op, others: &[&Data]) -> Result<Data> {
        let others: Vec<u64> = others.iter().map(|d| d.handle.id()).collect();
        Data::ask(KernelCall::Apply {
            data: self.id(),
            op,
            others,
        })
    }
}

veil_api::op_methods!(Data);
veil_api::plot_methods!(Data);

rich_via_rendered!(Data => |d: &Data| live(&d.handle));

/// Resolves `path` against this process's working directory: the kernel's may differ.
pub(crate) fn absolute(path: &Path) -> std::path::PathBuf {
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Reads a CSV file with a header row into a frame.
pub fn read_csv(path: impl AsRef<Path>) -> Result<Data> {
    Data::ask(KernelCall::ReadCsv {
        path: absolute(path.as_ref()),
    })
}

/// Reads a Parquet file into a frame.
pub fn read_parquet(path: impl AsRef<Path>) -> Result<Data> {
    Data::ask(KernelCall::ReadParquet {
        path: absolute(path.as_ref()),
    })
}

/// An f64 array of `shape` from `values` in row-major order; `array(vec![1.0, 2.0], &[2])`.
pub fn array(values: impl Into<Vec<f64>>, shape: &[usize]) -> Result<Data> {
    Data::ask(KernelCall::Array {
        values: values.into(),
        shape: shape.to_vec(),
    })
}

/// Recipes for mock data, run by the kernel; the same seed always gives the same mock.
pub mod mock {
    use veil_api::kernel::Recipe;

    use super::{Data, KernelCall, Result};

    fn made(data: &Data, recipe: Recipe) -> Result<Data> {
        Data::ask(KernelCall::Mock {
            data: data.id(),
            recipe,
        })
    }

    /// Each numeric column shifted by its mean plus uniform noise of its spread: the tutorials'
    /// recipe. Keeps the schema, not the values.
    pub fn shift_and_jitter(data: &Data, seed: u64) -> Result<Data> {
        made(data, Recipe::ShiftAndJitter { seed })
    }

    /// The rows in a random order.
    pub fn shuffle_rows(data: &Data, seed: u64) -> Result<Data> {
        made(data, Recipe::ShuffleRows { seed })
    }

    /// Numeric columns plus Laplace noise of `scale`.
    pub fn laplace_noise(data: &Data, scale: f64, seed: u64) -> Result<Data> {
        made(data, Recipe::LaplaceNoise { seed, scale })
    }

    /// A mock synthesized as `spec` says, to look at before upload: schema only
    /// (`Synthesis::schema_only().range(..).categories(..)`) or DP marginals
    /// (`Synthesis::dp_marginals(epsilon)..`). `Asset::mock_synthesized(spec)` has the datasite
    /// make it, and record how, instead.
    pub fn synthesize(data: &Data, spec: &Synthesis) -> Result<Data> {
        made(data, Recipe::Synthesize { spec: spec.clone() })
    }

    pub use veil_api::mock::Synthesis;
}

pub use veil_api::view::Contributor;

/// One asset of a dataset to upload: the real data and its mock, built with
/// `Asset::new(name).data(&real).mock(&mock)` (or `.no_mock()`, said on purpose).
pub type Asset = veil_api::spec::Asset<Data>;

/// A dataset to upload with [`Client::upload_dataset`](crate::Client::upload_dataset).
pub type Dataset = veil_api::spec::Dataset<Data>;

impl From<&Data> for Data {
    fn from(data: &Data) -> Data {
        data.clone()
    }
}

impl crate::calls::Answer<Data> for Data {
    type Sent = Held<DataInfo>;
    fn answer(held: Held<DataInfo>, _: &crate::site::Client) -> Result<Data> {
        Ok(Data::from_held(held))
    }
}
