//! W3 "filter" end to end on threads(2): `read_parquet(dir).filter(y > 0.5).select([id, x])`,
//! then the sum of `x`; prints the time and the peak RSS (VmHWM).
//!
//! `cargo run --release -p rask-collections --example w3_filter -- [DIR] [gather|partials]`:
//! the W3 files are generated (seed 42) in DIR (default `target/w3`) when missing;
//! `gather` sums the column of the computed batch, `partials` sums each partition in its
//! task (`map_partitions`) and adds the partial sums.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, Float64Array, RecordBatch};
use arrow::compute::sum;
use arrow::datatypes::{DataType, Field, Schema};
use rask_collections::ComputeOptions;
use rask_collections::dataframe::{ParquetOptions, col, io::generate_w3, lit, read_parquet};
use rask_scheduler::ThreadsScheduler;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/w3".into()));
    let mode = args.next().unwrap_or_else(|| "gather".into());
    if !dir.join("part-7.parquet").exists() {
        generate_w3(&dir, 10_000_000, 8, 42)?;
    }
    let options = ComputeOptions::default().scheduler(ThreadsScheduler::new(2));
    let start = Instant::now();
    let df =
        read_parquet(&dir, ParquetOptions::default())?.filter(col("y").gt(lit(0.5)))?.select([col("id"), col("x")])?;
    let total = match mode.as_str() {
        "partials" => {
            let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, true)]));
            let out = schema.clone();
            let partial = move |b: RecordBatch| {
                let x = b.column_by_name("x").expect("x").as_any().downcast_ref::<Float64Array>().expect("f64");
                RecordBatch::try_new(out.clone(), vec![Arc::new(Float64Array::from(vec![sum(x)]))])
            };
            let sums = df.map_partitions("sum_x", partial, schema)?.compute_with(&options)?;
            sum(sums.column(0).as_any().downcast_ref::<Float64Array>().expect("f64")).unwrap_or(0.0)
        }
        _ => {
            let batch = df.compute_with(&options)?;
            let x = batch.column_by_name("x").expect("x");
            sum(x.as_any().downcast_ref::<Float64Array>().expect("f64")).unwrap_or(0.0)
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let status = std::fs::read_to_string("/proc/self/status")?;
    let hwm = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: ?").to_string();
    println!(
        "{{\"case\": \"filter\", \"mode\": \"{mode}\", \"compute_s\": {seconds:.4}, \"sum_x\": {total}, \"{}\"}}",
        hwm.replace('\t', " ")
    );
    Ok(())
}
