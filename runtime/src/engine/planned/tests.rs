//! Parity: each chain of steps gives the same value (or an error on both sides) in memory
//! (`ops::eval` on the whole frame) and on the plan path (DataFusion over the same rows written as
//! Parquet files and read in place), over the tutorial data and generated data with nulls, NaN,
//! ties, booleans, text, empty filters, and rows split across several files.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::{Column, DataFrame, DataType, ParquetWriter};

use super::*;
use crate::engine::ops::{self, Agg, Arith, Compare, Op, Reduce, Unary};

fn tutorial() -> DataFrame {
    crate::load::read_csv(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../notebooks/data/breast_cancer_wisconsin_diagnostic.csv"
    ))
    .unwrap()
}

/// 60 rows: `id` unique, `x` floats with NaN and nulls, `k` integers with ties and nulls, `flag`
/// booleans, `label` text with nulls.
fn generated() -> DataFrame {
    let n = 60;
    let x: Vec<Option<f64>> = (0..n)
        .map(|i| match i % 11 {
            3 => None,
            7 => Some(f64::NAN),
            _ => Some(((i * 37) % 23) as f64 / 7.0 - 1.5),
        })
        .collect();
    let k: Vec<Option<i64>> = (0..n)
        .map(|i| if i % 13 == 5 { None } else { Some(i % 4) })
        .collect();
    let label: Vec<Option<&str>> = (0..n)
        .map(|i| match i % 5 {
            0 => None,
            1 | 3 => Some("a"),
            2 => Some("b"),
            _ => Some("c"),
        })
        .collect();
    DataFrame::new_infer_height(vec![
        Column::new("id".into(), (0..n).collect::<Vec<i64>>()),
        Column::new("x".into(), x),
        Column::new("k".into(), k),
        Column::new(
            "flag".into(),
            (0..n).map(|i| i % 3 == 0).collect::<Vec<_>>(),
        ),
        Column::new("label".into(), label),
    ])
    .unwrap()
}

/// Writes `df` as `parts` Parquet files in `dir`, rows in order across them.
fn write_parts(df: &DataFrame, dir: &Path, parts: usize) {
    let per = df.height().div_ceil(parts);
    for p in 0..parts {
        let mut part = df.slice((p * per) as i64, per);
        let file = std::fs::File::create(dir.join(format!("part-{p}.parquet"))).unwrap();
        ParquetWriter::new(file).finish(&mut part).unwrap();
    }
}

fn asset() -> Step {
    Step::new(
        Op::Asset {
            asset_id: "a".into(),
        },
        [],
    )
}

fn in_memory(df: &DataFrame, steps: &[Step]) -> Result<Data> {
    let mut values: Vec<Data> = Vec::new();
    for step in steps {
        let value = match &step.op {
            Op::Asset { .. } => Data::Frame(df.clone()),
            op => {
                let inputs: Vec<&Data> = step.inputs.iter().map(|i| &values[*i]).collect();
                ops::eval(op, &inputs)?
            }
        };
        values.push(value);
    }
    Ok(values.pop().unwrap())
}

fn planned(engine: &Engine, dir: &Path, steps: &[Step]) -> Result<Data> {
    let sources = HashMap::from([("a".to_string(), Source::Parquet(dir.to_path_buf()))]);
    to_data(engine.run(steps, &sources)?)
}

/// Equal within rounding: 1e-9 relative, or 1e-12 absolute (a spread of equal values is 0 in one
/// order of summing and 2e-16 in another).
fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan())
        || a == b
        || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
        || (a - b).abs() <= 1e-12
}

/// A frame column's values as text, numbers as `f64` to compare within rounding.
fn cells(column: &Column) -> Vec<Result<Option<f64>, Option<String>>> {
    if column.dtype().is_primitive_numeric() || column.dtype().is_bool() {
        let floats = column.cast(&DataType::Float64).unwrap();
        floats.f64().unwrap().iter().map(Ok).collect()
    } else {
        let text = column.cast(&DataType::String).unwrap();
        text.str()
            .unwrap()
            .iter()
            .map(|v| Err(v.map(str::to_string)))
            .collect()
    }
}

fn same(label: &str, memory: &Result<Data>, plan: &Result<Data>) {
    match (memory, plan) {
        (Err(_), Err(_)) => {}
        (Ok(Data::F64(a)), Ok(Data::F64(b))) => {
            assert_eq!(a.shape(), b.shape(), "{label}: shapes");
            for (x, y) in a.iter().zip(b.iter()) {
                assert!(close(*x, *y), "{label}: {a} in memory, {b} planned");
            }
        }
        (Ok(Data::Frame(a)), Ok(Data::Frame(b))) => {
            let names = |df: &DataFrame| -> Vec<String> {
                df.get_column_names()
                    .iter()
                    .map(|c| c.to_string())
                    .collect()
            };
            assert_eq!(names(a), names(b), "{label}: columns");
            assert_eq!(a.height(), b.height(), "{label}: rows\n{a}\n{b}");
            for (ca, cb) in a.columns().iter().zip(b.columns()) {
                for (x, y) in cells(ca).into_iter().zip(cells(cb)) {
                    let ok = match (&x, &y) {
                        (Ok(Some(p)), Ok(Some(q))) => close(*p, *q),
                        _ => x == y,
                    };
                    assert!(
                        ok,
                        "{label}: column {}: {x:?} vs {y:?}\n{a}\n{b}",
                        ca.name()
                    );
                }
            }
        }
        _ => panic!("{label}: in memory {memory:?}, planned {plan:?}"),
    }
}

fn reduce(kind: Reduce) -> Op {
    Op::Reduce { kind, axis: None }
}

fn column(name: &str) -> Op {
    Op::Column { name: name.into() }
}

fn cmp(kind: Compare, v: f64) -> Op {
    Op::Compare {
        kind,
        scalar: Some(v),
    }
}

fn arith(kind: Arith, v: f64, scalar_left: bool) -> Op {
    Op::Arith {
        kind,
        scalar: Some(v),
        scalar_left,
    }
}

const REDUCTIONS: [Reduce; 6] = [
    Reduce::Sum,
    Reduce::Mean,
    Reduce::Min,
    Reduce::Max,
    Reduce::Var,
    Reduce::Std,
];

/// Chains over the generated frame; each names what it exercises.
fn generated_chains() -> Vec<(String, Vec<Step>)> {
    let mut chains: Vec<(String, Vec<Step>)> = Vec::new();
    for name in ["x", "k", "id", "flag"] {
        for kind in REDUCTIONS {
            chains.push((
                format!("{kind:?} of {name}"),
                vec![
                    asset(),
                    Step::new(column(name), [0]),
                    Step::new(reduce(kind), [1]),
                ],
            ));
        }
        chains.push((
            format!("{name} as an array"),
            vec![asset(), Step::new(column(name), [0])],
        ));
    }
    for kind in [
        Compare::Lt,
        Compare::Le,
        Compare::Gt,
        Compare::Ge,
        Compare::Eq,
        Compare::Ne,
    ] {
        for v in [0.5, 1.0, f64::NAN] {
            chains.push((
                format!("x {kind:?} {v}"),
                vec![
                    asset(),
                    Step::new(column("x"), [0]),
                    Step::new(cmp(kind, v), [1]),
                ],
            ));
        }
        chains.push((
            format!("x {kind:?} k"),
            vec![
                asset(),
                Step::new(column("x"), [0]),
                Step::new(column("k"), [0]),
                Step::new(Op::Compare { kind, scalar: None }, [1, 2]),
            ],
        ));
    }
    for kind in [
        Arith::Add,
        Arith::Sub,
        Arith::Mul,
        Arith::Div,
        Arith::Rem,
        Arith::Pow,
    ] {
        for (v, left) in [(2.0, false), (2.0, true), (0.0, false), (-1.5, true)] {
            chains.push((
                format!("x {kind:?} {v} (scalar left: {left})"),
                vec![
                    asset(),
                    Step::new(column("x"), [0]),
                    Step::new(arith(kind, v, left), [1]),
                ],
            ));
        }
        chains.push((
            format!("x {kind:?} k"),
            vec![
                asset(),
                Step::new(column("x"), [0]),
                Step::new(column("k"), [0]),
                Step::new(
                    Op::Arith {
                        kind,
                        scalar: None,
                        scalar_left: false,
                    },
                    [1, 2],
                ),
            ],
        ));
    }
    for kind in [Unary::Neg, Unary::Abs, Unary::Sqrt, Unary::Exp, Unary::Log] {
        chains.push((
            format!("{kind:?} of x"),
            vec![
                asset(),
                Step::new(column("x"), [0]),
                Step::new(Op::Unary { kind }, [1]),
            ],
        ));
    }
    // Filters: by a comparison, by a text match, by a mask with NaN (kept), and empty ones.
    for (what, threshold) in [("some rows", 0.5), ("no rows", 1e9)] {
        for kind in REDUCTIONS {
            chains.push((
                if threshold > 1.0 && kind != Reduce::Sum {
                    format!("error: {kind:?} of k where x > {threshold} ({what})")
                } else {
                    format!("{kind:?} of k where x > {threshold} ({what})")
                },
                vec![
                    asset(),
                    Step::new(column("x"), [0]),
                    Step::new(cmp(Compare::Gt, threshold), [1]),
                    Step::new(Op::Filter, [0, 2]),
                    Step::new(column("k"), [3]),
                    Step::new(reduce(kind), [4]),
                ],
            ));
        }
        chains.push((
            format!("rows where x > {threshold} ({what})"),
            vec![
                asset(),
                Step::new(column("x"), [0]),
                Step::new(cmp(Compare::Gt, threshold), [1]),
                Step::new(Op::Filter, [0, 2]),
            ],
        ));
        chains.push((
            format!("row count where x > {threshold} ({what})"),
            vec![
                asset(),
                Step::new(column("x"), [0]),
                Step::new(cmp(Compare::Gt, threshold), [1]),
                Step::new(Op::Filter, [0, 2]),
                Step::new(Op::RowCount, [3]),
            ],
        ));
        chains.push((
            format!("k's values where x > {threshold} ({what})"),
            vec![
                asset(),
                Step::new(column("x"), [0]),
                Step::new(column("k"), [0]),
                Step::new(cmp(Compare::Gt, threshold), [1]),
                Step::new(Op::Filter, [2, 3]),
            ],
        ));
    }
    chains.push((
        "rows labelled b, counted".into(),
        vec![
            asset(),
            Step::new(
                Op::TextEquals {
                    column: "label".into(),
                    value: "b".into(),
                },
                [0],
            ),
            Step::new(Op::Filter, [0, 1]),
            Step::new(Op::RowCount, [2]),
        ],
    ));
    chains.push((
        "rows where x itself is the mask (NaN keeps)".into(),
        vec![
            asset(),
            Step::new(column("x"), [0]),
            Step::new(Op::Filter, [0, 1]),
        ],
    ));
    for (by, descending) in [("id", true), ("x", false), ("x", true), ("label", false)] {
        chains.push((
            format!("sorted by {by} (descending: {descending}), first 9"),
            vec![
                asset(),
                Step::new(
                    Op::Sort {
                        by: by.into(),
                        descending,
                    },
                    [0],
                ),
                Step::new(Op::Head { n: 9 }, [1]),
                Step::new(
                    Op::Select {
                        columns: vec![by.into()],
                    },
                    [2],
                ),
            ],
        ));
    }
    chains.push((
        "first 7 rows".into(),
        vec![asset(), Step::new(Op::Head { n: 7 }, [0])],
    ));
    chains.push((
        "first 100 rows of 60".into(),
        vec![asset(), Step::new(Op::Head { n: 100 }, [0])],
    ));
    chains.push((
        "label and x".into(),
        vec![
            asset(),
            Step::new(
                Op::Select {
                    columns: vec!["label".into(), "x".into()],
                },
                [0],
            ),
        ],
    ));
    chains.push((
        "a computed column replacing k, and a new one".into(),
        vec![
            asset(),
            Step::new(column("id"), [0]),
            Step::new(arith(Arith::Mul, 2.0, false), [1]),
            Step::new(Op::WithColumn { name: "k".into() }, [0, 2]),
            Step::new(
                Op::WithColumn {
                    name: "twice".into(),
                },
                [3, 2],
            ),
        ],
    ));
    chains.push((
        "a filter on a selection, by a column it does not show".into(),
        vec![
            asset(),
            Step::new(
                Op::Select {
                    columns: vec!["id".into()],
                },
                [0],
            ),
            Step::new(column("x"), [0]),
            Step::new(cmp(Compare::Lt, 0.0), [2]),
            Step::new(Op::Filter, [1, 3]),
        ],
    ));
    // Groups: by integers with nulls, text with nulls, booleans and floats, after filters that keep
    // some rows or none; value counts; descriptions.
    let every_agg = |name: &str| -> Vec<(String, Agg)> {
        [
            Agg::Count,
            Agg::Sum,
            Agg::Mean,
            Agg::Min,
            Agg::Max,
            Agg::Std,
        ]
        .into_iter()
        .map(|a| (name.to_string(), a))
        .collect()
    };
    for by in ["k", "label", "flag", "x"] {
        chains.push((
            format!("grouped by {by}"),
            vec![
                asset(),
                Step::new(
                    Op::GroupBy {
                        by: by.into(),
                        aggs: [every_agg("x"), vec![("id".into(), Agg::Sum)]].concat(),
                    },
                    [0],
                ),
            ],
        ));
        chains.push((
            format!("value counts of {by}"),
            vec![
                asset(),
                Step::new(Op::ValueCounts { column: by.into() }, [0]),
            ],
        ));
    }
    for (what, threshold) in [("some rows", 0.5), ("no rows", 1e9)] {
        let filtered = || {
            vec![
                asset(),
                Step::new(column("x"), [0]),
                Step::new(cmp(Compare::Gt, threshold), [1]),
                Step::new(Op::Filter, [0, 2]),
            ]
        };
        let mut grouped = filtered();
        grouped.push(Step::new(
            Op::GroupBy {
                by: "label".into(),
                aggs: every_agg("k"),
            },
            [3],
        ));
        chains.push((
            format!("grouped by label where x > {threshold} ({what})"),
            grouped,
        ));
        let mut described = filtered();
        described.push(Step::new(Op::Describe, [3]));
        chains.push((
            format!("described where x > {threshold} ({what})"),
            described,
        ));
        let mut counted = filtered();
        counted.push(Step::new(Op::ValueCounts { column: "k".into() }, [3]));
        counted.push(Step::new(column("count"), [4]));
        counted.push(Step::new(reduce(Reduce::Sum), [5]));
        chains.push((
            format!("value counts of k, summed, where x > {threshold} ({what})"),
            counted,
        ));
    }
    // Joins: many to many on a key with ties and nulls, to aggregates, to nothing.
    let join = |on: &str, left: bool| Op::Join {
        on: on.into(),
        left,
    };
    for left in [false, true] {
        chains.push((
            format!("self-joined on k (left: {left})"),
            vec![asset(), Step::new(join("k", left), [0, 0])],
        ));
        chains.push((
            format!("rows with their label's count (left: {left})"),
            vec![
                asset(),
                Step::new(
                    Op::ValueCounts {
                        column: "label".into(),
                    },
                    [0],
                ),
                Step::new(join("label", left), [0, 1]),
            ],
        ));
        chains.push((
            format!("rows x > 0.5 with k's group over rows x < 0 (left: {left})"),
            vec![
                asset(),
                Step::new(column("x"), [0]),
                Step::new(cmp(Compare::Gt, 0.5), [1]),
                Step::new(Op::Filter, [0, 2]),
                Step::new(cmp(Compare::Lt, 0.0), [1]),
                Step::new(Op::Filter, [0, 4]),
                Step::new(
                    Op::GroupBy {
                        by: "k".into(),
                        aggs: vec![("x".into(), Agg::Mean)],
                    },
                    [5],
                ),
                Step::new(join("k", left), [3, 6]),
            ],
        ));
        chains.push((
            format!("rows joined to no rows (left: {left})"),
            vec![
                asset(),
                Step::new(column("x"), [0]),
                Step::new(cmp(Compare::Gt, 1e9), [1]),
                Step::new(Op::Filter, [0, 2]),
                Step::new(join("id", left), [0, 3]),
            ],
        ));
    }
    chains.push((
        "error: joined on a missing column".into(),
        vec![asset(), Step::new(join("nope", false), [0, 0])],
    ));
    chains.push((
        "described".into(),
        vec![asset(), Step::new(Op::Describe, [0])],
    ));
    chains.push((
        "error: text described".into(),
        vec![
            asset(),
            Step::new(
                Op::Select {
                    columns: vec!["label".into()],
                },
                [0],
            ),
            Step::new(Op::Describe, [1]),
        ],
    ));
    chains.push((
        "error: grouped with no aggregates".into(),
        vec![
            asset(),
            Step::new(
                Op::GroupBy {
                    by: "k".into(),
                    aggs: vec![],
                },
                [0],
            ),
        ],
    ));
    // Errors on both sides: text as numbers, a missing column, an array where a frame is needed.
    chains.push((
        "error: text as numbers".into(),
        vec![asset(), Step::new(column("label"), [0])],
    ));
    chains.push((
        "error: a missing column".into(),
        vec![asset(), Step::new(column("nope"), [0])],
    ));
    chains.push((
        "error: a column of an array".into(),
        vec![
            asset(),
            Step::new(column("x"), [0]),
            Step::new(column("x"), [1]),
        ],
    ));
    chains
}

fn tutorial_chains() -> Vec<(String, Vec<Step>)> {
    let mut chains = Vec::new();
    for kind in REDUCTIONS {
        chains.push((
            format!("{kind:?} of texture1 where radius1 > 15"),
            vec![
                asset(),
                Step::new(column("radius1"), [0]),
                Step::new(cmp(Compare::Gt, 15.0), [1]),
                Step::new(Op::Filter, [0, 2]),
                Step::new(column("texture1"), [3]),
                Step::new(reduce(kind), [4]),
            ],
        ));
    }
    chains.push((
        "malignant rows, counted".into(),
        vec![
            asset(),
            Step::new(
                Op::TextEquals {
                    column: "Diagnosis".into(),
                    value: "M".into(),
                },
                [0],
            ),
            Step::new(Op::Filter, [0, 1]),
            Step::new(Op::RowCount, [2]),
        ],
    ));
    chains.push((
        "the five largest areas".into(),
        vec![
            asset(),
            Step::new(
                Op::Sort {
                    by: "area1".into(),
                    descending: true,
                },
                [0],
            ),
            Step::new(Op::Head { n: 5 }, [1]),
            Step::new(
                Op::Select {
                    columns: vec!["area1".into(), "Diagnosis".into()],
                },
                [2],
            ),
        ],
    ));
    chains.push((
        "radius by diagnosis".into(),
        vec![
            asset(),
            Step::new(
                Op::GroupBy {
                    by: "Diagnosis".into(),
                    aggs: vec![
                        ("radius1".into(), Agg::Mean),
                        ("radius1".into(), Agg::Count),
                    ],
                },
                [0],
            ),
        ],
    ));
    chains.push((
        "diagnoses counted".into(),
        vec![
            asset(),
            Step::new(
                Op::ValueCounts {
                    column: "Diagnosis".into(),
                },
                [0],
            ),
        ],
    ));
    chains.push((
        "each row with its diagnosis's count".into(),
        vec![
            asset(),
            Step::new(
                Op::ValueCounts {
                    column: "Diagnosis".into(),
                },
                [0],
            ),
            Step::new(
                Op::Join {
                    on: "Diagnosis".into(),
                    left: true,
                },
                [0, 1],
            ),
        ],
    ));
    chains.push((
        "radius and area described".into(),
        vec![
            asset(),
            Step::new(
                Op::Select {
                    columns: vec!["radius1".into(), "area1".into()],
                },
                [0],
            ),
            Step::new(Op::Describe, [1]),
        ],
    ));
    chains.push((
        "radius over texture, mean".into(),
        vec![
            asset(),
            Step::new(column("radius1"), [0]),
            Step::new(column("texture1"), [0]),
            Step::new(
                Op::Arith {
                    kind: Arith::Div,
                    scalar: None,
                    scalar_left: false,
                },
                [1, 2],
            ),
            Step::new(reduce(Reduce::Mean), [3]),
        ],
    ));
    chains
}

/// Runs `chains` both ways over `frame` (written as `parts` files); the chains that are errors on
/// both sides are those named `error: ...`, and every other gives a value.
fn check(frame: &DataFrame, parts: usize, chains: Vec<(String, Vec<Step>)>) {
    check_on(
        &Engine::new(Limits::default()).unwrap(),
        frame,
        parts,
        chains,
    );
}

fn check_on(engine: &Engine, frame: &DataFrame, parts: usize, chains: Vec<(String, Vec<Step>)>) {
    let dir = tempfile::tempdir().unwrap();
    write_parts(frame, dir.path(), parts);
    let mut failures = Vec::new();
    for (label, steps) in chains {
        let memory = in_memory(frame, &steps);
        let plan = planned(engine, dir.path(), &steps);
        if memory.is_err() != label.starts_with("error: ") {
            failures.push(format!("{label}: in memory {memory:?}"));
            continue;
        }
        let compared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            same(&label, &memory, &plan)
        }));
        if let Err(panic) = compared {
            failures.push(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| label.clone()),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_plan_path_gives_what_memory_gives_on_generated_data() {
    check(&generated(), 3, generated_chains());
}

#[test]
fn the_plan_path_gives_what_memory_gives_on_the_tutorial_data() {
    check(&tutorial(), 2, tutorial_chains());
}

#[test]
fn a_result_over_the_limit_is_refused_while_it_streams() {
    let frame = generated();
    let dir = tempfile::tempdir().unwrap();
    write_parts(&frame, dir.path(), 3);
    let engine = Engine::new(Limits {
        max_values: 100,
        ..Limits::default()
    })
    .unwrap();
    let whole = planned(&engine, dir.path(), &[asset()]);
    let message = whole.unwrap_err().to_string();
    assert!(message.contains("more than 100 values"), "{message}");
    // A reduction of the same rows fits.
    let sum = planned(
        &engine,
        dir.path(),
        &[
            asset(),
            Step::new(column("id"), [0]),
            Step::new(reduce(Reduce::Sum), [1]),
        ],
    )
    .unwrap();
    assert_eq!(
        sum.as_f64().unwrap().iter().copied().collect::<Vec<_>>(),
        vec![1770.0]
    );
}

#[test]
fn an_op_the_plan_path_lacks_is_refused_with_the_ops_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_parts(&generated(), dir.path(), 1);
    let engine = Engine::new(Limits::default()).unwrap();
    let err = planned(&engine, dir.path(), &[asset(), Step::new(Op::ToArray, [0])])
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not run `to_array`"), "{err}");
    assert!(err.contains("filter") && err.contains("head"), "{err}");
    // Inputs from rows a filter set apart do not combine.
    let err = planned(
        &engine,
        dir.path(),
        &[
            asset(),
            Step::new(column("x"), [0]),
            Step::new(cmp(Compare::Gt, 0.0), [1]),
            Step::new(Op::Filter, [1, 2]),
            Step::new(
                Op::Arith {
                    kind: Arith::Add,
                    scalar: None,
                    scalar_left: false,
                },
                [1, 3],
            ),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("different rows"), "{err}");
}

#[test]
fn listed_files_read_in_path_order_and_a_sample_spreads_over_them() {
    let frame = generated();
    let dir = tempfile::tempdir().unwrap();
    write_parts(&frame, dir.path(), 3);
    let engine = Engine::new(Limits::default()).unwrap();
    let files: Vec<_> = (0..3)
        .map(|p| dir.path().join(format!("part-{p}.parquet")))
        .collect();
    let (schema, rows) = footer(&files[1]).unwrap();
    assert_eq!(rows, 20);
    assert_eq!(schema.fields().len(), frame.width());
    let ids = |data: &Data| -> Vec<f64> {
        let column = data.as_frame().unwrap().column("id").unwrap();
        let floats = column.cast(&DataType::Float64).unwrap();
        floats.f64().unwrap().iter().map(Option::unwrap).collect()
    };
    let sources = HashMap::from([("a".to_string(), Source::Files(files.clone()))]);
    let whole = to_data(engine.run(&[asset()], &sources).unwrap()).unwrap();
    assert_eq!(ids(&whole), (0..60).map(f64::from).collect::<Vec<_>>());
    // Every ninth row of the sixty, from all three files.
    let sample = engine.sample(&Source::Files(files), 60, 7).unwrap();
    let sample = to_data(Output::Frame(sample)).unwrap();
    assert_eq!(ids(&sample), vec![0.0, 9.0, 18.0, 27.0, 36.0, 45.0, 54.0]);
}

#[test]
fn a_ballista_cluster_of_two_executors_gives_what_memory_gives() {
    let cluster = veil_plan::standalone::Cluster::start(2, 1).unwrap();
    let engine = Engine::ballista(cluster.url(), Limits::default()).unwrap();
    assert_eq!(engine.location(), cluster.url());
    check_on(&engine, &generated(), 3, generated_chains());
    check_on(&engine, &tutorial(), 2, tutorial_chains());
    // A result over the limit is refused as it streams back from the cluster too.
    let small = Engine::ballista(
        cluster.url(),
        Limits {
            max_values: 100,
            ..Limits::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_parts(&generated(), dir.path(), 2);
    let message = planned(&small, dir.path(), &[asset()])
        .unwrap_err()
        .to_string();
    assert!(message.contains("more than 100 values"), "{message}");
    // The plans ran on the cluster, not here: without it, none runs.
    drop(cluster);
    assert!(planned(&engine, dir.path(), &[asset()]).is_err());
}

#[test]
fn an_engine_address_that_is_not_a_schedulers_is_refused() {
    for bad in [
        "localhost:50050",
        "df://",
        "http://localhost:50050",
        "df://a b",
    ] {
        let message = Engine::ballista(bad, Limits::default())
            .err()
            .unwrap()
            .to_string();
        assert!(message.contains("df://HOST:PORT"), "{bad}: {message}");
    }
}
