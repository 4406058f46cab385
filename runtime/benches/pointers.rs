//! Pointer costs against the bare libraries, as ratios within one run (criterion prints both sides of
//! each group; compare their times):
//! - `pointer_op/*`: one pointer op (mock computed, action recorded durably and audited, worker
//!   notified) against the same op done directly with ndarray on the same mock. Target: the
//!   difference is under 1 ms per op for small data.
//! - `replay_1e6/*`: the datasite replaying a recorded chain (column, `* 2`, `+ 1`, sum) on a
//!   1,000,000-row frame, against the same chain in polars on the same frame. Target: within 1.25x.
//!
//! Run with `cargo bench -p veil --bench pointers`.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::{Array1, array};
use polars::prelude::{ChunkAgg, Column, DataFrame, DataType};
use veil::prelude::*;

fn site(dir: &std::path::Path) -> (Datasite, Client) {
    let site = LaunchOptions::new("bench")
        .dir(dir)
        .reset(true)
        .launch()
        .unwrap();
    let owner = site.login("info@openmined.org", "changethis").unwrap();
    (site, owner)
}

fn pointer_op(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (_site, owner) = site(dir.path());
    let mock = Array1::from_iter((0..100).map(f64::from));
    owner
        .upload_dataset(
            Dataset::new("small")
                .asset(Asset::new("a").data(mock.clone() * 2.0).mock(mock.clone())),
        )
        .unwrap();
    let pointer = owner
        .dataset("small")
        .unwrap()
        .asset("a")
        .unwrap()
        .pointer()
        .unwrap();
    let mut group = c.benchmark_group("pointer_op");
    group.bench_function("bare_ndarray_add", |b| b.iter(|| black_box(&mock) + 1.0));
    group.bench_function("pointer_add", |b| {
        b.iter(|| (black_box(&pointer) + 1.0).unwrap())
    });
    group.bench_function("bare_ndarray_sum", |b| b.iter(|| black_box(&mock).sum()));
    group.bench_function("pointer_sum", |b| {
        b.iter(|| black_box(&pointer).sum().unwrap())
    });
    group.finish();
}

fn replay(c: &mut Criterion) {
    const ROWS: usize = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let (site, owner) = site(dir.path());
    let frame = |scale: f64| {
        DataFrame::new_infer_height(vec![
            Column::new(
                "x".into(),
                (0..ROWS).map(|i| i as f64 * scale).collect::<Vec<_>>(),
            ),
            Column::new(
                "y".into(),
                (0..ROWS).map(|i| (i % 7) as f64).collect::<Vec<_>>(),
            ),
        ])
        .unwrap()
    };
    let real = frame(0.5);
    owner
        .upload_dataset(
            Dataset::new("big").asset(
                Asset::new("t")
                    .data(real.clone())
                    .mock(frame(0.25).head(Some(100))),
            ),
        )
        .unwrap();
    let pointer = owner
        .dataset("big")
        .unwrap()
        .asset("t")
        .unwrap()
        .pointer()
        .unwrap();
    let chain = ((&(&pointer.column("x").unwrap() * 2.0).unwrap() + 1.0).unwrap())
        .sum()
        .unwrap();
    // Loads the asset once; every replay below starts from the loaded frame, as bare polars does.
    let expect = chain.get().unwrap();
    let bare = |df: &DataFrame| {
        let x = df.column("x").unwrap().cast(&DataType::Float64).unwrap();
        let x = x.f64().unwrap();
        ((x * 2.0) + 1.0).sum().unwrap()
    };
    assert_eq!(
        expect,
        Data::F64(
            array![bare(&real)]
                .into_shape_with_order(ndarray::IxDyn(&[]))
                .unwrap()
        )
    );
    let mut group = c.benchmark_group("replay_1e6");
    group.sample_size(20);
    group.bench_function("bare_polars", |b| b.iter(|| bare(black_box(&real))));
    group.bench_function("datasite_replay", |b| {
        b.iter(|| {
            site.clear_results();
            chain.get().unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, pointer_op, replay);
criterion_main!(benches);
