//! The client-file reader must never panic, whatever bytes arrive: every input ends as rows, row errors or a file
//! error. Run: `cargo fuzz run client_file` (see README, "Fuzzing").
#![no_main]

use libfuzzer_sys::fuzz_target;
use recaudo_ingestion::file::{self, AsOf, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let as_of = AsOf(chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
    let mut rows = 0u64;
    let result = file::read(data, &ReadOptions::default(), as_of, |_| {}, |r| {
        if let Err(errors) = &r.result {
            assert!(!errors.is_empty(), "a rejected row carries at least one reason");
        }
        rows += 1;
        std::ops::ControlFlow::Continue(())
    });
    if let Ok(summary) = result {
        assert_eq!(summary.rows_total, rows);
        assert_eq!(summary.rows_total, summary.rows_valid + summary.rows_rejected);
    }
});
